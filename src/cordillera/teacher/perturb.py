"""Ego perturbations for data generation: short windows in which the executed plan is not the teacher's.

    >>> from cordillera.teacher.perturb import PerturbConfig, schedule, perturb_plan
    >>> windows = schedule(PerturbConfig(), steps=150, dt=0.1, rng=np.random.default_rng(0))
    >>> executed = perturb_plan(result.poses, windows[0])

Students trained only on the teacher's own states never see the car slightly off its line, and so never learn
to come back (the DAgger / ChauffeurNet argument). During a window the controller tracks the teacher's plan
shifted sideways, turned and stretched in time, so the ego drifts off; at every state, inside and after the
window, the recorded label is still the teacher's clean plan from that (drifted) state: a recovery.

Late braking (`PerturbConfig.late_brake_probability`): the teacher starts braking for a stopped vehicle 40 m or
more before it, so its data never hold the ego arriving fast and close, the state a student that brakes too late
reaches (docs/architecture.md, "Perception head"). When the teacher's plan begins to brake, with this
probability the executed plan keeps the ego's speed along the teacher's path for one window (`late_brake`):
the ego arrives later and faster, and the labels in and after the window are the teacher's harder stop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cordillera.geometry import plan_speed

__all__ = ["PerturbConfig", "Perturbation", "schedule", "perturb_plan", "active", "late_brake", "brakes"]

BRAKE_DROP_MPS = 2.0  # a plan "brakes" when its speed 2 s ahead is this much below the speed now [m/s]
BRAKE_MIN_SPEED_MPS = 3.0  # ... and the ego moves at least this fast


@dataclass(frozen=True)
class PerturbConfig:
    rate_per_s: float = 0.08  # expected perturbation windows per simulated second (~1 per 12 s episode)
    min_duration_s: float = 0.5  # [s] shortest window
    max_duration_s: float = 1.5  # [s] longest window
    lateral_m: float = 0.8  # [m] largest sideways shift of the executed plan (half a lane's slack)
    heading_rad: float = 0.08  # [rad] largest turn of the executed plan (~4.6 deg)
    speed_factor: float = 0.15  # executed speed is scaled by a factor in [1 - this, 1 + this]
    late_brake_probability: float = 0.0  # chance that the ego keeps its speed for a window when the teacher
    #                                      starts to brake (0: off, the datasets measured so far)

    def __post_init__(self) -> None:
        if not 0.0 <= self.late_brake_probability <= 1.0:
            raise ValueError(f"PerturbConfig: late_brake_probability must be in [0, 1], got "
                             f"{self.late_brake_probability}")
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
    hold_speed: float | None = None  # [m/s] late braking: the executed plan keeps this speed along the path

    def to_dict(self) -> dict:
        doc = {"lateral_m": self.lateral_m, "heading_rad": self.heading_rad, "speed_factor": self.speed_factor,
               "start_step": self.start, "end_step": self.end}
        return doc | ({"hold_speed": self.hold_speed} if self.hold_speed is not None else {})


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


def brakes(poses: np.ndarray, speed: float, dt: float = 0.1) -> bool:
    """Whether a plan (64, 3) from an ego at `speed` [m/s] brakes: its speed 2 s ahead is BRAKE_DROP_MPS lower."""
    return speed >= BRAKE_MIN_SPEED_MPS and plan_speed(poses, 2.0, dt) <= speed - BRAKE_DROP_MPS


def late_brake(config: PerturbConfig, step: int, speed: float, dt: float, rng: np.random.Generator) -> Perturbation:
    """A late-braking window from `step`: the ego keeps `speed` for a duration drawn like the other windows."""
    length = max(1, int(round(rng.uniform(config.min_duration_s, config.max_duration_s) / dt)))
    return Perturbation(int(step), int(step) + length, 0.0, 0.0, 1.0, hold_speed=float(speed))


def perturb_plan(poses: np.ndarray, p: Perturbation, dt: float = 0.1) -> np.ndarray:
    """The executed plan (64, 3): the path re-timed by speed_factor (pose k moves to arc length s_k x factor,
    held at the last pose past the end), then turned by heading_rad about the ego and shifted lateral_m left.
    With hold_speed, pose k moves to arc length (k + 1) dt hold_speed instead, along the path and straight on
    past its end (the teacher's stop is not kept)."""
    poses = np.asarray(poses, dtype=np.float64)
    xy, s, path_yaw = _path(poses)
    if p.hold_speed is not None:
        return _hold(poses, xy, s, path_yaw, p.hold_speed, dt)
    target = np.minimum(s[1:] * p.speed_factor, s[-1])
    if s[-1] > 1e-6:
        x = np.interp(target, s, xy[:, 0])
        y = np.interp(target, s, xy[:, 1])
        yaw = np.interp(target, s, path_yaw)
    else:  # a standing plan: nothing to re-time
        x, y, yaw = poses[:, 0], poses[:, 1], poses[:, 2]
    c, sn = np.cos(p.heading_rad), np.sin(p.heading_rad)
    out = np.empty_like(poses)
    out[:, 0] = c * x - sn * y
    out[:, 1] = sn * x + c * y + p.lateral_m
    out[:, 2] = np.arctan2(np.sin(yaw + p.heading_rad), np.cos(yaw + p.heading_rad))
    return out


def _path(poses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A plan as a path from the ego: points (65, 2) from the origin, their arc lengths (65,), unwrapped yaws (65,)."""
    xy = np.vstack([[0.0, 0.0], poses[:, :2]])
    s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
    return xy, s, np.concatenate([[0.0], np.unwrap(poses[:, 2])])


def _hold(poses: np.ndarray, xy: np.ndarray, s: np.ndarray, yaw: np.ndarray, speed: float, dt: float) -> np.ndarray:
    """The teacher's path (extended straight along its last heading) driven at a constant speed."""
    target = speed * dt * np.arange(1, len(poses) + 1)
    inside = np.minimum(target, s[-1])
    beyond = np.maximum(target - s[-1], 0.0)
    out = np.empty_like(poses)
    out[:, 0] = np.interp(inside, s, xy[:, 0]) + beyond * np.cos(yaw[-1])
    out[:, 1] = np.interp(inside, s, xy[:, 1]) + beyond * np.sin(yaw[-1])
    heading = np.interp(inside, s, yaw)
    out[:, 2] = np.arctan2(np.sin(heading), np.cos(heading))
    return out
