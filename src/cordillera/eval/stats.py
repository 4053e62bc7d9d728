"""Confidence intervals and the paired test behind summaries and `cordillera eval compare`.

    >>> from cordillera.eval.stats import wilson_interval, bootstrap_interval, paired_difference
    >>> wilson_interval(17, 20)                              # rate 0.85 -> (0.640, 0.948)
    >>> bootstrap_interval([0.9, 0.4, 1.0], seed=0)          # percentile CI of the mean
    >>> paired_difference(a, b, seed=0).p_value              # sign-flip permutation test on b - a

- Rates (a yes/no per scenario): Wilson score interval, closed form, good at small n and near 0 or 1 where
  the normal approximation breaks down (Brown, Cai & DasGupta 2001).
- Means of bounded scores (EPDMS, route completion, ...) and ratios (km per incident): percentile bootstrap
  over scenarios, seeded, so a summary is reproducible byte for byte.
- Paired comparison of two runs on the same items: the mean difference, a paired bootstrap interval, and
  a two-sided sign-flip permutation p-value (exact over all 2^n sign patterns up to n = EXACT_MAX_N).
"""

from __future__ import annotations

import itertools
import math
import zlib
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

__all__ = ["StatsConfig", "wilson_interval", "bootstrap_interval", "PairedDifference", "paired_difference",
           "EXACT_MAX_N", "rng_for"]

EXACT_MAX_N = 12  # up to 2^12 = 4096 sign patterns the permutation test is enumerated, beyond it sampled


@dataclass(frozen=True)
class StatsConfig:
    confidence: float = 0.95  # two-sided coverage of every interval
    resamples: int = 2000  # bootstrap / permutation draws; percentile CIs settle to ~0.01 by then
    seed: int = 0  # every draw is seeded from this and the statistic's name, so output is reproducible


def rng_for(seed: int, name: str) -> np.random.Generator:
    """A generator seeded by `seed` and a name, so a statistic's draws do not depend on computation order."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def _z(confidence: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2.0))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval of a rate successes / n; None when n == 0."""
    if n <= 0:
        return None
    z = _z(confidence)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends, where rounding would stray
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return lo, hi


def bootstrap_interval(values: Sequence[float] | np.ndarray, seed: int = 0, name: str = "mean",
                       confidence: float = 0.95, resamples: int = 2000,
                       statistic: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[float, float] | None:
    """Percentile bootstrap interval of statistic(values) (default: the mean) over resampled rows.

    values: (n,) or (n, k) rows; statistic maps (resamples, n[, k]) to (resamples,). None when n == 0.
    """
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n == 0:
        return None
    stat = statistic or (lambda sample: sample.mean(axis=1))
    idx = rng_for(seed, name).integers(0, n, size=(resamples, n))
    draws = stat(x[idx])
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(draws, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


@dataclass(frozen=True)
class PairedDifference:
    n: int  # pairs compared
    mean_a: float
    mean_b: float
    delta: float  # mean(b - a)
    ci: tuple[float, float]  # paired bootstrap interval of delta
    p_value: float  # two-sided sign-flip permutation test of mean(b - a) == 0


def paired_difference(a: Sequence[float], b: Sequence[float], seed: int = 0, name: str = "delta",
                      confidence: float = 0.95, resamples: int = 2000) -> PairedDifference | None:
    """b - a on paired values (the same scenarios under two runs); None when there are no pairs."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values need equal shapes, got {a.shape} and {b.shape}")
    n = len(a)
    if n == 0:
        return None
    d = b - a
    observed = abs(d.mean())
    if n <= EXACT_MAX_N:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    else:
        signs = rng_for(seed, name + "/signs").choice((1.0, -1.0), size=(resamples, n))
    flipped = np.abs((signs * d).mean(axis=1))
    exceed = int(np.sum(flipped >= observed - 1e-12))
    p = exceed / len(signs) if n <= EXACT_MAX_N else (exceed + 1) / (len(signs) + 1)
    ci = bootstrap_interval(d, seed, name, confidence, resamples)
    return PairedDifference(n, float(a.mean()), float(b.mean()), float(d.mean()), ci, float(min(p, 1.0)))
