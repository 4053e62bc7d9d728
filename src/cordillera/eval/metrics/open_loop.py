"""Open-loop trajectory errors with Alpamayo's semantics, so numbers compare with its published ones.

    >>> from cordillera.eval.metrics.open_loop import min_ade
    >>> out = min_ade(pred, gt)              # pred (B, K, 64, 2), gt (B, 64, 2), metres, 0.1 s apart
    >>> out["min_ade"], out["min_ade@3.0s"]  # each (B,)

- min_ade: the sample k* with the lowest mean L2 error over the full horizon is picked once; minADE@h is the
  mean L2 of that same k* over the first h seconds (not re-minimised per horizon).
- ade / fde: of the first sample (Alpamayo's ADE uses a dummy log-probability, so it always takes sample 0).
- speeds_ahead: the speed `seconds` ahead (geometry.plan_speed: one pose step over dt) of the samples'
  mean plan against the ground truth's, signed; a planner that keeps its speed where the log brakes shows here
  long before it shows in ADE.
- corner_distance: the 4 corners of a (4.0 m x 3.0 m) box at each pose (Alpamayo's 8-corner box without its
  height), min over samples independently per (time, corner), then mean over time and corners.
XY only: a trailing yaw column is ignored except by corner_distance, which needs it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from cordillera.geometry import box_corners, plan_speed

__all__ = ["min_ade", "ade", "fde", "min_fde", "corner_distance", "speeds_ahead"]

DEFAULT_HORIZONS_S = (0.5, 1.0, 3.0, 5.0)  # [s] Alpamayo min_ade/by_t


def _errors(pred, gt) -> np.ndarray:
    """L2 errors (..., K, T) of pred (..., K, T, >=2) against gt (..., T, >=2) on x, y."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.ndim < 3 or pred.shape[-1] < 2:
        raise ValueError(f"pred: expected shape (..., K, T, 2), got {pred.shape}")
    if gt.shape[:-1] != pred.shape[:-3] + pred.shape[-2:-1] or gt.shape[-1] < 2:
        raise ValueError(f"gt: expected shape {pred.shape[:-3] + pred.shape[-2:-1] + (2,)} to match pred "
                         f"{pred.shape}, got {gt.shape}")
    return np.linalg.norm(pred[..., :2] - gt[..., None, :, :2], axis=-1)


def _steps(horizon_s: float, dt: float, n: int) -> int:
    steps = int(round(horizon_s / dt))
    if not 1 <= steps <= n:
        raise ValueError(f"horizon {horizon_s} s is {steps} steps at dt {dt} s; the trajectories have {n}")
    return steps


def min_ade(pred, gt, dt: float = 0.1, horizons_s: Sequence[float] = DEFAULT_HORIZONS_S) -> dict[str, np.ndarray]:
    """minADE over K samples and at each horizon on the same chosen sample.

    pred: (..., K, T, 2) [m]; gt: (..., T, 2) [m]; dt: pose spacing [s].
    Returns {"min_ade": (...), "min_ade@{h}s": (...) for h in horizons_s} (h printed as a float: "3.0").
    """
    err = _errors(pred, gt)  # (..., K, T)
    per_sample = err.mean(axis=-1)  # (..., K)
    best = np.argmin(per_sample, axis=-1)  # (...)
    chosen = np.take_along_axis(err, best[..., None, None], axis=-2)[..., 0, :]  # (..., T)
    out = {"min_ade": chosen.mean(axis=-1)}
    for h in horizons_s:
        out[f"min_ade@{float(h)}s"] = chosen[..., : _steps(float(h), dt, err.shape[-1])].mean(axis=-1)
    return out


def ade(pred, gt, dt: float = 0.1, horizons_s: Sequence[float] = ()) -> dict[str, np.ndarray]:
    """ADE of the first sample over the full horizon ("ade") and over the first h seconds ("ade@{h}s")."""
    err = _errors(pred, gt)[..., 0, :]  # (..., T)
    out = {"ade": err.mean(axis=-1)}
    for h in horizons_s:
        out[f"ade@{float(h)}s"] = err[..., : _steps(float(h), dt, err.shape[-1])].mean(axis=-1)
    return out


def fde(pred, gt) -> np.ndarray:
    """Final displacement error (...) of the first sample [m]."""
    return _errors(pred, gt)[..., 0, -1]


def min_fde(pred, gt) -> np.ndarray:
    """Lowest final displacement error (...) over the samples [m]."""
    return _errors(pred, gt)[..., -1].min(axis=-1)


def corner_distance(pred, gt, length_m: float = 4.0, width_m: float = 3.0) -> np.ndarray:
    """Mean over time and corners of the distance to the closest sample's box corner (...) [m].

    pred: (..., K, T, 3) [x, y, yaw]; gt: (..., T, 3). The box defaults are Alpamayo's (L, W) = (4.0, 3.0).
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.ndim < 3 or pred.shape[-1] != 3 or gt.shape != pred.shape[:-3] + pred.shape[-2:]:
        raise ValueError(f"corner_distance: expected pred (..., K, T, 3) and gt (..., T, 3), got {pred.shape} "
                         f"and {gt.shape}")
    pc = box_corners(pred[..., 0], pred[..., 1], pred[..., 2], length_m, width_m)  # (..., K, T, 4, 2)
    gc = box_corners(gt[..., 0], gt[..., 1], gt[..., 2], length_m, width_m)  # (..., T, 4, 2)
    dist = np.linalg.norm(pc - gc[..., None, :, :, :], axis=-1)  # (..., K, T, 4)
    return dist.min(axis=-3).mean(axis=(-2, -1))


def speeds_ahead(pred, gt, seconds: float = 2.0, dt: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """(predicted, true) speeds `seconds` ahead [m/s], each (...): the predicted one is the mean over the K
    samples of pred (..., K, T, >=2); gt (..., T, >=2). Subtract the start speed for the change."""
    err = _errors(pred, gt)  # validates the shapes
    _steps(seconds, dt, err.shape[-1])
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    flat_pred = pred.reshape(-1, *pred.shape[-2:])
    speeds = np.array([plan_speed(p, seconds, dt) for p in flat_pred]).reshape(pred.shape[:-2])
    truth = np.array([plan_speed(g, seconds, dt) for g in gt.reshape(-1, *gt.shape[-2:])]).reshape(gt.shape[:-2])
    return speeds.mean(axis=-1), truth
