"""Typed messages between the world and policies: Plan, Observation, PrivilegedObservation.

A student policy receives an `Observation` (what a real car has); only teachers and metrics receive a
`PrivilegedObservation`, which adds the full WorldState. The split is by type, so a student cannot read
ground truth by accident.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cordillera import constants as C

__all__ = ["Plan", "Observation", "PrivilegedObservation", "PlanError", "validate_plan_array"]


class PlanError(ValueError):
    """A plan has the wrong shape or non-finite values."""


def validate_plan_array(poses: Any, name: str = "plan poses") -> np.ndarray:
    """Return poses as a (64, 3) float64 array [x, y, yaw] or raise PlanError naming the problem
    (not numeric, wrong shape, or the first pose index holding NaN or inf)."""
    try:
        arr = np.asarray(poses, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PlanError(f"{name} must be a numeric array of shape ({C.PLAN_STEPS}, 3): {exc}") from None
    if arr.shape != (C.PLAN_STEPS, 3):
        raise PlanError(f"{name} must have shape ({C.PLAN_STEPS}, 3), got {arr.shape}")
    finite = np.isfinite(arr)
    if not finite.all():
        bad = int(np.flatnonzero(~finite.all(axis=1))[0])
        raise PlanError(f"{name} contain NaN or inf at index {bad}")
    return arr


@dataclass(frozen=True)
class Plan:
    """64 future poses (x, y, yaw) at 0.1 s spacing in the ego frame at request time (pose k is at (k+1)*0.1 s).

    samples: optional (K, 64, 3) alternatives; reasoning: optional Chain-of-Causation record or text.
    """

    poses: np.ndarray
    samples: np.ndarray | None = None
    reasoning: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "poses", validate_plan_array(self.poses))
        if self.samples is not None:
            s = np.asarray(self.samples, dtype=np.float64)
            if s.ndim != 3 or s.shape[1:] != (C.PLAN_STEPS, 3) or not np.all(np.isfinite(s)):
                raise PlanError(f"plan.samples: must be finite with shape (K, {C.PLAN_STEPS}, 3), got {s.shape}")
            object.__setattr__(self, "samples", s)

    @staticmethod
    def from_speed_profile(speeds: np.ndarray, curvature: float = 0.0) -> "Plan":
        """A plan that drives the given speeds (64,) [m/s] along a constant-curvature arc [1/m]."""
        v = np.asarray(speeds, dtype=np.float64)
        dist = np.cumsum(v * C.DT)
        if abs(curvature) < 1e-9:
            return Plan(np.stack([dist, np.zeros_like(dist), np.zeros_like(dist)], -1))
        yaw = dist * curvature
        return Plan(np.stack([np.sin(yaw) / curvature, (1 - np.cos(yaw)) / curvature, yaw], -1))


@dataclass(frozen=True)
class Observation:
    """What the car itself knows at time t (ego frame at t unless said otherwise).

    ego_history: (16, 3) [x, y, yaw] at t-1.5 s ... t (last row is (0, 0, 0)).
    route_waypoints: (20, 2) upcoming route centreline points [m].
    cameras: camera name -> (T, H, W, 3) uint8 frames, oldest first (empty until a rig is requested).
    bev: (H, W, 3) uint8 top-down raster centred on the ego, or None when not requested.
    """

    t: float
    ego_history: np.ndarray
    speed: float  # [m/s]
    acceleration: float  # [m/s^2]
    yaw_rate: float  # [rad/s]
    route_waypoints: np.ndarray
    navigation: str
    cameras: dict[str, np.ndarray] = field(default_factory=dict)
    camera_timestamps: dict[str, np.ndarray] = field(default_factory=dict)
    bev: np.ndarray | None = None


@dataclass(frozen=True)
class PrivilegedObservation(Observation):
    """An Observation plus the full WorldState (teachers, baselines with perfect perception, metrics)."""

    state: Any = None
