"""Intervals and the paired test, against hand-computed values."""

import math

import numpy as np
import pytest

from cordillera.eval.stats import bootstrap_interval, paired_difference, rng_for, wilson_interval


def test_wilson_matches_the_closed_form():
    lo, hi = wilson_interval(17, 20)
    assert lo == pytest.approx(0.6396, abs=1e-4)
    assert hi == pytest.approx(0.9476, abs=1e-4)
    lo, hi = wilson_interval(0, 10)  # all failures: the interval still has width
    assert lo == 0.0
    assert hi == pytest.approx(1.96**2 / (10 + 1.96**2), abs=1e-3)
    assert wilson_interval(10, 10)[1] == 1.0
    assert wilson_interval(0, 0) is None


def test_bootstrap_is_seeded_and_brackets_the_mean():
    values = [0.2, 0.9, 0.4, 1.0, 0.7]
    a = bootstrap_interval(values, seed=3, name="x")
    assert a == bootstrap_interval(values, seed=3, name="x")
    assert a != bootstrap_interval(values, seed=4, name="x")
    assert a[0] <= np.mean(values) <= a[1]
    assert bootstrap_interval([0.5, 0.5, 0.5]) == (0.5, 0.5)
    assert bootstrap_interval([]) is None


def test_bootstrap_of_a_ratio_statistic():
    rows = np.array([[1.0, 0.0], [2.0, 1.0], [1.0, 1.0]])
    lo, hi = bootstrap_interval(rows, statistic=lambda s: s[..., 0].sum(-1) / np.maximum(1, s[..., 1].sum(-1)))
    assert 0.0 < lo <= 2.0 <= hi <= 4.0


def test_paired_difference_exact_permutation():
    # three pairs all improving by 1: of the 8 sign patterns, 2 reach |mean| = 1 -> p = 0.25
    d = paired_difference([0, 0, 0], [1, 1, 1])
    assert (d.n, d.delta, d.mean_a, d.mean_b) == (3, 1.0, 0.0, 1.0)
    assert d.p_value == pytest.approx(0.25)
    assert d.ci == (1.0, 1.0)
    same = paired_difference([0.3, 0.5], [0.3, 0.5])
    assert same.delta == 0.0 and same.p_value == 1.0
    assert paired_difference([], []) is None


def test_paired_difference_sampled_for_many_pairs():
    rng = np.random.default_rng(0)
    a = rng.uniform(size=40)
    d = paired_difference(a, a + 0.3, seed=1)
    assert d.delta == pytest.approx(0.3)
    assert d.p_value < 0.01  # (0 + 1) / (2000 + 1) at best
    assert d.p_value >= 1 / 2001
    with pytest.raises(ValueError):
        paired_difference([1, 2], [1])


def test_rng_for_depends_on_name_not_order():
    assert rng_for(0, "a").integers(1 << 30) == rng_for(0, "a").integers(1 << 30)
    assert rng_for(0, "a").integers(1 << 30) != rng_for(0, "b").integers(1 << 30)
    assert math.isfinite(rng_for(5, "z").uniform())
