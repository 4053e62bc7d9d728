"""AlpaSim-style metrics: collisions by side, off-road, close encounters, scene score and km per incident.

    >>> from cordillera.eval.metrics.alpasim import alpasim_metrics, km_per_incident
    >>> m = alpasim_metrics(log, reference_progress_m=90.0)
    >>> m.scene_score, m.collision_at_fault, m.distance_m
    >>> km_per_incident([m1, m2, m3])          # suite level: total km / total incidents

Definitions follow AlpaSim's eval (alpasim.md section 3):
- collision front / rear / lateral: every actor overlapping the ego, classified by which bumper line it
  touches (collisions.py); at fault = front or lateral.
- offroad: an ego corner off the drivable area, which also flags an ego entirely off the road (AlpaSim's
  edge-distance test misses that case).
- close encounter: any actor overlapping the ego box. The Alpamayo-R1 paper reports a "close encounter
  rate" without a formula; AlpaSim's collision test runs on slightly shrunk boxes, so its overlap *is* the
  close encounter. AlpaSim counts an incident as an off-road or close encounter, and its at-fault variant as an
  off-road or at-fault collision.
- every rollout is cut at its first incident (inclusive); progress, distance and the failure reasons are
  measured on the cut rollout. Progress is the route progress of the box centre over the reference progress
  (AlpaSim uses the logged human path; the harness supplies a reference planner's progress).
- scene score = min(clip(progress, 0, 1) / 0.8, 1), or 1 if the reference travels under 5 m; 0 with an
  at-fault collision or off-road.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np

from cordillera.eval.metrics.collisions import Contact, contacts
from cordillera.eval.metrics.config import AlpaSimConfig
from cordillera.eval.metrics.rollout_log import RolloutLog

__all__ = ["AlpaSimResult", "alpasim_metrics", "km_per_incident", "incident_steps"]


@dataclass(frozen=True)
class AlpaSimResult:
    collision_front: int  # actors that hit the front bumper line (distinct per actor, cut rollout)
    collision_rear: int
    collision_lateral: int
    collision_any: bool
    collision_at_fault: bool
    offroad: bool
    close_encounter: bool
    first_incident_s: float | None  # time of the first incident [s], None without one
    progress: float  # route progress over the reference progress, clipped to [0, 1]
    distance_m: float  # distance driven until the first incident (inclusive) [m]
    incidents: int  # 1 if the rollout had an off-road or close encounter
    incidents_at_fault: int  # 1 if it had an off-road or an at-fault collision (within the cut rollout)
    scene_score: float

    def as_dict(self) -> dict:
        return asdict(self)


def incident_steps(log: RolloutLog) -> np.ndarray:
    """(T,) bool: off-road or any actor overlapping the ego."""
    overlap = np.array([len(c) > 0 for c in log.collisions])
    return log.offroad | overlap


def alpasim_metrics(log: RolloutLog, reference_progress_m: float, cfg: AlpaSimConfig | None = None,
                    hits: list[Contact] | None = None) -> AlpaSimResult:
    """AlpaSim metrics of one rollout, cut at its first incident."""
    cfg = cfg or AlpaSimConfig()
    hits = contacts(log) if hits is None else hits
    incident = incident_steps(log)
    first = int(np.argmax(incident)) if incident.any() else None
    end = log.steps if first is None else first + 1
    kept = [c for c in hits if c.step < end]
    sides = {side: len({c.agent for c in kept if c.side == side}) for side in ("front", "rear", "lateral")}
    at_fault = sides["front"] + sides["lateral"] > 0
    offroad = bool(log.offroad[:end].any())
    any_collision = bool(kept)
    s = log.route_s_center[:end]
    progress_m = max(float(s[-1] - s[0]), 0.0)
    if reference_progress_m < cfg.min_reference_travel_m:
        progress, progress_score = 1.0, 1.0
    else:
        progress = float(np.clip(progress_m / reference_progress_m, 0.0, 1.0))
        progress_score = min(progress / cfg.progress_for_full_score, 1.0)
    return AlpaSimResult(
        collision_front=sides["front"],
        collision_rear=sides["rear"],
        collision_lateral=sides["lateral"],
        collision_any=any_collision,
        collision_at_fault=at_fault,
        offroad=offroad,
        close_encounter=any_collision,
        first_incident_s=None if first is None else float(log.t[first]),
        progress=progress,
        distance_m=float(log.step_distance[:end].sum()),
        incidents=int(first is not None),
        incidents_at_fault=int(at_fault or offroad),
        scene_score=0.0 if (at_fault or offroad) else float(progress_score),
    )


def km_per_incident(results: Iterable[AlpaSimResult], at_fault: bool = False) -> float:
    """Suite level: total distance driven [km] over total incidents (AlpaSim avg_dist_between_incidents).

    inf when no rollout had an incident.
    """
    results = list(results)
    distance_km = sum(r.distance_m for r in results) / 1000.0
    incidents = sum(r.incidents_at_fault if at_fault else r.incidents for r in results)
    return distance_km / incidents if incidents else float("inf")
