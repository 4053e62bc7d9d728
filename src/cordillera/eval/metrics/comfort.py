"""Comfort: nuPlan's bounds over the driven states (history comfort, HC) and NAVSIM v2's two-frame extended
comfort (EC) between consecutive plans.

    >>> from cordillera.eval.metrics.comfort import history_comfort, extended_comfort
    >>> hc = history_comfort(log)        # StepValues: 1 where every bound holds at that step
    >>> ec = extended_comfort(log)       # PlanPairs: one pass/fail per pair of consecutive plans

Signals follow NAVSIM's pdm_comfort_metrics: Savitzky-Golay smoothing of accelerations, Savitzky-Golay
derivatives for jerk, yaw rate and yaw acceleration (windows in ComfortConfig). HC reads the logged
rear-axle longitudinal acceleration, lateral acceleration v * yaw_rate and the heading; NAVSIM reads the same
quantities at the box centre of its simulated states (the difference is the rotation terms over 1.4 m).
Plans carry poses only, so EC differentiates their positions twice for the acceleration vector.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.ndimage import correlate1d
from scipy.signal import savgol_coeffs

from cordillera import constants as C
from cordillera.eval.metrics.config import ComfortConfig, ExtendedComfortConfig
from cordillera.eval.metrics.rollout_log import RolloutLog, StepValues

__all__ = ["savgol", "unwrap", "comfort_signals", "history_comfort", "history_comfort_score", "PlanPairs",
           "plan_sequence", "plan_features", "extended_comfort", "extended_comfort_score"]


@lru_cache(maxsize=128)
def _savgol_matrix(window: int, poly: int, deriv: int, dt: float) -> np.ndarray:
    """(window, window): row j dotted with a window of samples gives the fitted polynomial's deriv-th derivative
    at sample j of that window (the least-squares fit scipy's savgol_filter makes, mode "interp")."""
    return np.stack([savgol_coeffs(window, poly, deriv=deriv, delta=dt, pos=j, use="dot") for j in range(window)])


def savgol(y: np.ndarray, window: int, poly: int, deriv: int = 0, dt: float = 1.0, axis: int = -1) -> np.ndarray:
    """Savitzky-Golay smoothing / derivative along `axis`, as scipy's savgol_filter in "interp" mode: the
    centred fit inside, the first and last window's fit at the ends. The window shrinks (to an odd length)
    and the order with it for short series. Rounded to 8 decimals like NAVSIM's extractors, so a constant
    signal on a bound stays on it. Computed as matrix products over cached coefficients (scipy's edge fits
    cost milliseconds per call).
    """
    y = np.ascontiguousarray(np.moveaxis(np.asarray(y, dtype=np.float64), axis, -1))
    n = y.shape[-1]
    w = min(window, n)
    w -= 1 - w % 2  # odd
    p = min(poly, w - 1)
    if n == 0 or w < 1 or deriv > p:
        return np.moveaxis(np.zeros_like(y), -1, axis)
    m = _savgol_matrix(w, p, deriv, float(dt))
    half = w // 2
    out = correlate1d(y, m[half], axis=-1, mode="constant")  # centred fits; the ends are replaced below
    out[..., :half] = y[..., :w] @ m[:half].T
    out[..., n - half:] = y[..., n - w:] @ m[half + 1:].T
    return np.moveaxis(np.round(out, 8), -1, axis)


def unwrap(angles: np.ndarray, axis: int = -1) -> np.ndarray:
    """Headings made continuous along `axis` (steps of more than pi folded by 2 pi) [rad]."""
    a = np.asarray(angles, dtype=np.float64)
    if a.shape[axis] < 2:
        return a.copy()
    step = np.diff(a, axis=axis)
    fold = np.cumsum(np.round(step / (2.0 * np.pi)), axis=axis) * (2.0 * np.pi)
    first = np.take(a, [0], axis=axis)
    return np.concatenate([first, np.take(a, range(1, a.shape[axis]), axis=axis) - fold], axis=axis)


def comfort_signals(log: RolloutLog, cfg: ComfortConfig | None = None) -> dict[str, np.ndarray]:
    """(T,) arrays of the six nuPlan comfort quantities of the driven states [SI units]."""
    cfg = cfg or ComfortConfig()
    dt = log.dt
    lon = savgol(log.ego[:, 4], cfg.accel_window, 2)
    lat = savgol(log.ego[:, 3] * log.ego[:, 6], cfg.accel_window, 2)
    magnitude = savgol(np.hypot(log.ego[:, 4], log.ego[:, 3] * log.ego[:, 6]), cfg.accel_window, 2)
    heading = unwrap(log.ego[:, 2])
    return {
        "lon_accel": lon,
        "lat_accel": lat,
        "jerk": savgol(magnitude, cfg.jerk_window, 2, deriv=1, dt=dt),
        "lon_jerk": savgol(lon, cfg.jerk_window, 2, deriv=1, dt=dt),
        "yaw_rate": savgol(heading, cfg.yaw_window, 2, deriv=1, dt=dt),
        "yaw_accel": savgol(heading, cfg.yaw_window, cfg.yaw_accel_poly, deriv=2, dt=dt),
    }


def history_comfort(log: RolloutLog, cfg: ComfortConfig | None = None) -> StepValues:
    """HC per step: 1.0 where all six quantities lie strictly inside the nuPlan bounds, else 0.0."""
    cfg = cfg or ComfortConfig()
    s = comfort_signals(log, cfg)
    ok = (
        (s["lon_accel"] > cfg.min_lon_accel) & (s["lon_accel"] < cfg.max_lon_accel)
        & (np.abs(s["lat_accel"]) < cfg.max_abs_lat_accel)
        & (np.abs(s["jerk"]) < cfg.max_abs_jerk)
        & (np.abs(s["lon_jerk"]) < cfg.max_abs_lon_jerk)
        & (np.abs(s["yaw_accel"]) < cfg.max_abs_yaw_accel)
        & (np.abs(s["yaw_rate"]) < cfg.max_abs_yaw_rate)
    )
    return StepValues(ok.astype(np.float64), np.ones(log.steps, dtype=bool))


def history_comfort_score(step: StepValues) -> float:
    """Scenario HC: 1 if every valid step is comfortable, else 0 (nuPlan ego_is_comfortable over the log)."""
    values = step.values[step.valid]
    return float(values.min()) if len(values) else 1.0


@dataclass(frozen=True)
class PlanPairs:
    """Consecutive plans compared on their overlap: one entry per pair (P,).

    t0: (P,) time of the later plan [s]; overlap: (P,) shared poses; passed: (P,) bool;
    rms: name -> (P,) RMS difference of that feature [SI units]; valid: (P,) enough overlap to compare.
    """

    t0: np.ndarray
    overlap: np.ndarray
    passed: np.ndarray
    rms: dict
    valid: np.ndarray


def plan_sequence(log: RolloutLog) -> list[tuple[float, np.ndarray]]:
    """(t0, (64, 3) world-frame poses) of each distinct plan the controller tracked, in time order."""
    out: list[tuple[float, np.ndarray]] = []
    for plan, t0 in zip(log.plans, log.plan_t0):
        if plan is None:
            continue
        if not out or abs(t0 - out[-1][0]) > 1e-9:
            out.append((float(t0), np.asarray(plan, dtype=np.float64)))
    return out


def plan_features(poses: np.ndarray, dt: float, cfg: ExtendedComfortConfig | None = None) -> dict[str, np.ndarray]:
    """EC features of pose sequences (..., n, 3) at spacing dt: acceleration magnitude, jerk, yaw rate and
    yaw acceleration, each (..., n)."""
    cfg = cfg or ExtendedComfortConfig()
    poses = np.asarray(poses, dtype=np.float64)
    accel = savgol(poses[..., :2], cfg.accel_window, 2, deriv=2, dt=dt, axis=-2)
    magnitude = np.hypot(accel[..., 0], accel[..., 1])
    heading = unwrap(poses[..., 2])
    return {
        "accel": magnitude,
        "jerk": savgol(magnitude, cfg.jerk_window, 2, deriv=1, dt=dt),
        "yaw_rate": savgol(heading, cfg.yaw_window, 2, deriv=1, dt=dt),
        "yaw_accel": savgol(heading, cfg.yaw_window, 2, deriv=2, dt=dt),
    }


def extended_comfort(log: RolloutLog, cfg: ExtendedComfortConfig | None = None, plan_dt: float = C.DT) -> PlanPairs:
    """EC for every pair of consecutive plans: pose k of a plan made at t0 is at t0 + (k + 1) * plan_dt, so a plan
    made m steps later shares its first P - m poses with the earlier plan's last P - m."""
    cfg = cfg or ExtendedComfortConfig()
    plans = plan_sequence(log)
    n_pairs = max(len(plans) - 1, 0)
    names = ("accel", "jerk", "yaw_rate", "yaw_accel")
    limits = {"accel": cfg.max_rms_accel, "jerk": cfg.max_rms_jerk, "yaw_rate": cfg.max_rms_yaw_rate,
              "yaw_accel": cfg.max_rms_yaw_accel}
    rms = {k: np.full(n_pairs, np.nan) for k in names}
    if n_pairs == 0:
        empty = np.zeros(0)
        return PlanPairs(empty, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool), rms, np.zeros(0, dtype=bool))
    t0 = np.array([t for t, _ in plans])
    poses = np.stack([p for _, p in plans])  # (P + 1, 64, 3)
    length = poses.shape[1]
    shift = np.rint(np.diff(t0) / plan_dt).astype(np.int64)
    overlap = np.maximum(length - shift, 0)
    valid = overlap >= cfg.min_overlap
    for m in np.unique(shift[valid]):  # one vectorised comparison per shift (usually a single group)
        members = np.flatnonzero(valid & (shift == m))
        both = np.concatenate([poses[members, m:], poses[members + 1, : length - m]])  # earlier, then later plans
        f = plan_features(both, plan_dt, cfg)
        for k in names:
            earlier, later = f[k][: len(members)], f[k][len(members):]
            rms[k][members] = np.sqrt(np.mean((earlier - later) ** 2, axis=-1))
    passed = valid.copy()
    for k in names:
        passed &= np.where(valid, rms[k] <= limits[k], False)
    return PlanPairs(t0[1:], overlap, passed | ~valid, rms, valid)


def extended_comfort_score(pairs: PlanPairs) -> float:
    """Scenario EC: the fraction of valid consecutive-plan pairs that pass (1 with fewer than two plans).

    NAVSIM scores EC per frame and averages the frame scores, so the mean over pairs is its closed-loop reading.
    """
    passed = pairs.passed[pairs.valid]
    return float(passed.mean()) if len(passed) else 1.0
