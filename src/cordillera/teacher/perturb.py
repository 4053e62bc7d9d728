"""Ego perturbations for data generation: short windows in which the executed plan is not the teacher's.

    >>> from cordillera.teacher.perturb import PerturbConfig, schedule, perturb_plan
    >>> windows = schedule(PerturbConfig(), steps=150, dt=0.1, rng=np.random.default_rng(0))
    >>> executed = perturb_plan(result.poses, windows[0])

Students trained only on the teacher's own states never see the car slightly off its line, and so never learn
to come back (the DAgger / ChauffeurNet argument). During a window the controller tracks the teacher's plan
shifted sideways, turned and stretched in time, so the ego drifts off; at every state, inside and after the
window, the recorded label is still the teacher's clean plan from that (drifted) state: a recovery.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PerturbConfig", "Perturbation", "schedule", "perturb_plan", "active"]


@dataclass(frozen=True)
class PerturbConfig:
    rate_per_s: float = 0.08  # expected perturbation windows per simulated second (~1 per 12 s episode)
    min_duration_s: float = 0.5  # [s] shortest window
    max_duration_s: float = 1.5  # [s] longest window
    lateral_m: float = 0.8  # [m] largest sideways shift of the executed plan (half a lane's slack)
    heading_rad: float = 0.08  # [rad] largest turn of the executed plan (~4.6 deg)
    speed_factor: float = 0.15  # executed speed is scaled by a factor in [1 - this, 1 + this]

    def __post_init__(self) -> None:
        if not (self.rate_per_s >= 0 and 0 < self.min_duration_s <= self.max_duration_s):
            raise ValueError(f"PerturbConfig: need rate_per_s >= 0 and 0 < min_duration_s <= max_duration_s, "
                             f"got {self.rate_per_s}, {self.min_duration_s}, {self.max_duration_s}")
        if min(self.lateral_m, self.heading_rad) < 0 or not 0 <= self.speed_factor < 1:
            raise ValueError("PerturbConfig: offsets must be >= 0 and speed_factor in [0, 1)")


@dataclass(frozen=True)
class Perturbation:
    """One window [start, end) in simulation steps and the offsets applied to the executed plan in it."""

    start: int
    end: int
    lateral_m: float  # [m] +left
    heading_rad: float  # [rad] +counter-clockwise
    speed_factor: float  # executed speed / planned speed

    def to_dict(self) -> dict:
        return {"lateral_m": self.lateral_m, "heading_rad": self.heading_rad, "speed_factor": self.speed_factor,
                "start_step": self.start, "end_step": self.end}


def schedule(config: PerturbConfig, steps: int, dt: float, rng: np.random.Generator) -> list[Perturbation]:
    """Non-overlapping windows over `steps` simulation steps: a Poisson number of them at uniform starts,
    offsets uniform within the configured bounds. The same rng state gives the same windows."""
    count = int(rng.poisson(config.rate_per_s * steps * dt))
    starts = np.sort(rng.integers(0, max(steps, 1), size=count))
    out: list[Perturbation] = []
    for start in starts:
        length = max(1, int(round(rng.uniform(config.min_duration_s, config.max_duration_s) / dt)))
        lateral = float(rng.uniform(-config.lateral_m, config.lateral_m))
        heading = float(rng.uniform(-config.heading_rad, config.heading_rad))
        speed = float(rng.uniform(1.0 - config.speed_factor, 1.0 + config.speed_factor))
        if out and start < out[-1].end:
            continue
        out.append(Perturbation(int(start), int(min(start + length, steps)), lateral, heading, speed))
    return out


def active(windows: list[Perturbation], step: int) -> Perturbation | None:
    return next((w for w in windows if w.start <= step < w.end), None)


def perturb_plan(poses: np.ndarray, p: Perturbation) -> np.ndarray:
    """The executed plan (64, 3): the path re-timed by speed_factor (pose k moves to arc length s_k x factor,
    held at the last pose past the end), then turned by heading_rad about the ego and shifted lateral_m left."""
    poses = np.asarray(poses, dtype=np.float64)
    xy = np.vstack([[0.0, 0.0], poses[:, :2]])
    seg = np.hypot(*np.diff(xy, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    target = np.minimum(s[1:] * p.speed_factor, s[-1])
    if s[-1] > 1e-6:
        x = np.interp(target, s, xy[:, 0])
        y = np.interp(target, s, xy[:, 1])
        yaw = np.interp(target, s, np.concatenate([[0.0], np.unwrap(poses[:, 2])]))
    else:  # a standing plan: nothing to re-time
        x, y, yaw = poses[:, 0], poses[:, 1], poses[:, 2]
    c, sn = np.cos(p.heading_rad), np.sin(p.heading_rad)
    out = np.empty_like(poses)
    out[:, 0] = c * x - sn * y
    out[:, 1] = sn * x + c * y + p.lateral_m
    out[:, 2] = np.arctan2(np.sin(yaw + p.heading_rad), np.cos(yaw + p.heading_rad))
    return out
