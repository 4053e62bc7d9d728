"""Collisions in a rollout log: which side of the ego was hit, by what, and who was at fault.

    >>> from cordillera.eval.metrics.collisions import contacts, at_fault_collisions
    >>> hits = contacts(log, cfg.pdm)              # every (step, agent) overlap, classified
    >>> faults = at_fault_collisions(log, cfg.pdm)  # the nuPlan / NAVSIM at-fault rules

Two traditions, both from the same overlaps (`LogStep.collisions`):
- AlpaSim (scorers/collision.py): an actor touching the ego's front bumper line is a front collision, one
  touching the rear bumper line a rear collision, anything else lateral; at fault = front or lateral. Every
  overlapping actor is classified (AlpaSim itself keeps only the last one per step, a known bug).
- nuPlan / NAVSIM (get_collision_type + the NC metric): a collision while the ego is stopped is not at fault; with
  a stopped track it is; a track behind the ego (bearing > 150 deg) is a rear hit, not at fault; a track on the
  front bumper is at fault; a lateral hit is at fault only while the ego straddles lanes or is off the drivable
  area. Tracks already overlapping at the first step, and tracks once found not at fault, are ignored after.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cordillera.eval.metrics.config import PDMConfig, STATIC_OBJECT_TYPES, VRU_TYPES
from cordillera.eval.metrics.rollout_log import RolloutLog, StepValues
from cordillera.geometry import rotate

__all__ = ["Contact", "AtFaultCollision", "contacts", "at_fault_collisions", "no_at_fault_collisions",
           "side_counts", "collision_onsets", "category_of", "bearing", "segment_hits_box"]


@dataclass(frozen=True)
class Contact:
    """One agent overlapping the ego at one step."""

    step: int
    agent: int
    side: str  # "front" | "rear" | "lateral": AlpaSim bumper-line geometry
    category: str  # "vehicle" | "vru" | "static"
    ego_stopped: bool
    agent_stopped: bool
    agent_behind: bool  # nuPlan: bearing from the ego heading to the agent centre > behind_angle_deg


@dataclass(frozen=True)
class AtFaultCollision:
    step: int
    agent: int
    kind: str  # nuPlan collision type: "stopped_track" | "front" | "lateral"
    category: str
    score: float  # NAVSIM NC value this collision caps the score at (0 or static_collision_score)


def category_of(agent_type: int) -> str:
    """'static' for cones, barriers and debris, 'vru' for pedestrians, cyclists and animals, else 'vehicle'."""
    if agent_type in {int(t) for t in STATIC_OBJECT_TYPES}:
        return "static"
    if agent_type in {int(t) for t in VRU_TYPES}:
        return "vru"
    return "vehicle"


def bearing(origin: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Unsigned angle (M,) between the heading of poses origin (M, 3) and the direction to points (M, 2) [rad].

    A point on the origin itself has bearing 0 (straight ahead), where nuPlan would divide by zero.
    """
    rel = np.asarray(points, dtype=np.float64) - origin[:, :2]
    norm = np.hypot(rel[:, 0], rel[:, 1])
    cos = (np.cos(origin[:, 2]) * rel[:, 0] + np.sin(origin[:, 2]) * rel[:, 1]) / np.where(norm > 0, norm, 1.0)
    return np.where(norm > 0, np.arccos(np.clip(cos, -1.0, 1.0)), 0.0)


def segment_hits_box(p0: np.ndarray, p1: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Whether segments p0-p1 (M, 2) touch oriented boxes (M, 5) [x, y, yaw, length, width] (Liang-Barsky)."""
    a = rotate(np.asarray(p0, dtype=np.float64) - boxes[:, :2], -boxes[:, 2])
    b = rotate(np.asarray(p1, dtype=np.float64) - boxes[:, :2], -boxes[:, 2])
    d = b - a
    half = boxes[:, 3:5] / 2.0
    lo, hi = np.zeros(len(a)), np.ones(len(a))
    ok = np.ones(len(a), dtype=bool)
    for axis in (0, 1):
        for p, q in ((-d[:, axis], a[:, axis] + half[:, axis]), (d[:, axis], half[:, axis] - a[:, axis])):
            parallel = np.abs(p) < 1e-12
            ok &= ~(parallel & (q < 0))
            r = np.where(parallel, 0.0, q / np.where(parallel, 1.0, p))
            lo = np.where(~parallel & (p < 0), np.maximum(lo, r), lo)
            hi = np.where(~parallel & (p > 0), np.minimum(hi, r), hi)
    return ok & (lo <= hi)


def contacts(log: RolloutLog, cfg: PDMConfig | None = None) -> list[Contact]:
    """Every (step, agent) overlap in the log, in step order, classified by side and by the nuPlan tests."""
    cfg = cfg or PDMConfig()
    pairs = [(k, i) for k, hits in enumerate(log.collisions) for i in hits]
    if not pairs:
        return []
    steps = np.array([k for k, _ in pairs])
    agents = np.array([i for _, i in pairs])
    boxes = log.agents[steps, agents][:, [0, 1, 2, 5, 6]]
    corners = log.corners[steps]
    front = segment_hits_box(corners[:, 0], corners[:, 3], boxes)
    rear = segment_hits_box(corners[:, 1], corners[:, 2], boxes)
    behind = bearing(log.ego[steps, :3], boxes[:, :2]) > np.deg2rad(cfg.behind_angle_deg)
    ego_stopped = log.speed[steps] <= cfg.collision_stopped_speed_mps
    agent_stopped = np.abs(log.agents[steps, agents, 3]) <= cfg.collision_stopped_speed_mps
    out = []
    for j, (k, i) in enumerate(pairs):
        side = "front" if front[j] else "rear" if rear[j] else "lateral"
        out.append(Contact(int(k), int(i), side, category_of(int(log.agent_types[i])), bool(ego_stopped[j]),
                           bool(agent_stopped[j]), bool(behind[j])))
    return out


def at_fault_collisions(log: RolloutLog, cfg: PDMConfig | None = None,
                        hits: list[Contact] | None = None) -> list[AtFaultCollision]:
    """The nuPlan / NAVSIM at-fault collisions of the log (module docstring), in step order."""
    cfg = cfg or PDMConfig()
    hits = contacts(log, cfg) if hits is None else hits
    ignored = set(log.collisions[0])
    out = []
    for c in hits:
        if c.agent in ignored:
            continue
        if c.ego_stopped:
            kind = None
        elif c.agent_stopped:
            kind = "stopped_track"
        elif c.agent_behind:
            kind = None  # an active rear collision
        elif c.side == "front":
            kind = "front"
        elif log.multiple_lanes[c.step] or log.offroad[c.step]:
            kind = "lateral"
        else:
            kind = None
        if kind is None:
            ignored.add(c.agent)
            continue
        score = cfg.static_collision_score if c.category == "static" else 0.0
        out.append(AtFaultCollision(c.step, c.agent, kind, c.category, score))
    return out


def no_at_fault_collisions(log: RolloutLog, cfg: PDMConfig | None = None,
                           faults: list[AtFaultCollision] | None = None) -> StepValues:
    """NC per step: 1, or the lowest score of the at-fault collisions at that step (0.5 static, 0 otherwise).

    The scenario NC is the minimum over steps.
    """
    faults = at_fault_collisions(log, cfg) if faults is None else faults
    values = np.ones(log.steps)
    for f in faults:
        values[f.step] = min(values[f.step], f.score)
    return StepValues(values, np.ones(log.steps, dtype=bool))


def side_counts(log: RolloutLog, hits: list[Contact]) -> dict[str, np.ndarray]:
    """(T,) int counts of agents hitting the ego's front, rear and side at each step (AlpaSim split)."""
    out = {side: np.zeros(log.steps, dtype=np.int64) for side in ("front", "rear", "lateral")}
    for c in hits:
        out[c.side][c.step] += 1
    return out


def collision_onsets(log: RolloutLog) -> list[tuple[int, int]]:
    """(step, agent) where an agent starts overlapping the ego (overlaps already present at step 0 excluded)."""
    out = []
    for k in range(1, log.steps):
        before = set(log.collisions[k - 1])
        out.extend((k, i) for i in log.collisions[k] if i not in before)
    return out
