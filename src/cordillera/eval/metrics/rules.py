"""Traffic-rule checks the long tail needs, and the scenario's own success criteria.

    >>> from cordillera.eval.metrics.rules import stopped_for_school_bus, yielded_to_emergency_vehicle
    >>> stopped_for_school_bus(log).value        # 1.0 pass, 0.0 fail, None when no loading bus was near
    >>> scenario_success(log, faults).success

Each rule returns a RuleResult: whether it applied to this rollout, and the steps where it was broken.
No benchmark publishes these checks; the thresholds are in RuleConfig with their reasons.
- school bus: a stopped school bus is loading (the log has no stop-arm flag). Breaking the rule = the ego
  moves up alongside a loading bus (into the band beside its length, within school_bus_lateral_m of its axis,
  from either direction). Applies when a loading bus was within school_bus_range_m of the ego.
- emergency vehicle: while an active vehicle with sirens (Flag.EMERGENCY) is within emergency_range_m and the
  ego sits in its path (ahead of it, within emergency_path_half_width_m of its heading line), the ego must,
  within emergency_reaction_s, leave the path or slow to emergency_yield_speed_mps. Each stretch in the path
  is one encounter; a stretch cut off by the end of the log is not judged.
- crosswalk: the ego box must not enter a crosswalk while a pedestrian, cyclist or animal stands in it.
  Applies when a crosswalk across the route was occupied while the ego was within crosswalk_range_m.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from cordillera.eval.metrics.collisions import AtFaultCollision
from cordillera.eval.metrics.config import MetricsConfig, RuleConfig
from cordillera.eval.metrics.rollout_log import RolloutLog
from cordillera.geometry import rotate
from cordillera.world.agents import Flag

__all__ = ["RuleResult", "ScenarioOutcome", "stopped_for_school_bus", "yielded_to_emergency_vehicle",
           "crosswalk_respected", "scenario_success"]


@dataclass(frozen=True)
class RuleResult:
    applicable: bool
    violations: tuple[int, ...] = ()  # steps where the rule was broken

    @property
    def passed(self) -> bool:
        return not self.violations

    @property
    def value(self) -> float | None:
        """1.0 pass, 0.0 fail, None when the rule did not apply."""
        return (1.0 if self.passed else 0.0) if self.applicable else None


def _in_agent_frame(log: RolloutLog) -> np.ndarray:
    """(T, N, 2) ego box centre in each agent's frame (x along the agent's heading) [m]."""
    rel = log.ego_center[:, None, :2] - log.agents[..., :2]
    return rotate(rel, -log.agents[..., 2])


def stopped_for_school_bus(log: RolloutLog, cfg: RuleConfig | None = None) -> RuleResult:
    """The ego did not drive up alongside a school bus that was stopped (loading)."""
    cfg = cfg or RuleConfig()
    bus = log.active & ((log.flags & int(Flag.SCHOOL_BUS)) != 0)
    loading = bus & (np.abs(log.agents[..., 3]) < cfg.school_bus_stopped_mps)
    if not loading.any():
        return RuleResult(False)
    rel = _in_agent_frame(log)
    dist = np.hypot(rel[..., 0], rel[..., 1])
    applicable = bool((loading & (dist <= cfg.school_bus_range_m)).any())
    beside = (np.abs(rel[..., 0]) <= log.agents[..., 5] / 2.0) & (np.abs(rel[..., 1]) <= cfg.school_bus_lateral_m)
    entered = beside.copy()
    entered[1:] &= ~beside[:-1]
    entered[0] = False
    steps = np.flatnonzero((entered & loading).any(axis=1))
    return RuleResult(applicable or bool(len(steps)), tuple(int(k) for k in steps))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True in a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def yielded_to_emergency_vehicle(log: RolloutLog, cfg: RuleConfig | None = None) -> RuleResult:
    """The ego got out of the way of (or slowed for) every emergency vehicle coming up behind or towards it."""
    cfg = cfg or RuleConfig()
    ev = log.active & ((log.flags & int(Flag.EMERGENCY)) != 0)
    if not ev.any():
        return RuleResult(False)
    rel = _in_agent_frame(log)
    in_path = ev & (rel[..., 0] > 0) & (rel[..., 0] <= cfg.emergency_range_m) \
        & (np.abs(rel[..., 1]) <= cfg.emergency_path_half_width_m)
    reaction = int(round(cfg.emergency_reaction_s / log.dt))
    slow = log.speed <= cfg.emergency_yield_speed_mps
    applicable, violations = False, []
    for n in np.flatnonzero(in_path.any(axis=0)):
        for start, end in _runs(in_path[:, n]):
            applicable = True
            deadline = start + reaction
            if end > deadline and not slow[start: deadline + 1].any():
                violations.append(deadline)
    return RuleResult(applicable, tuple(sorted(violations)))


def crosswalk_respected(log: RolloutLog, cfg: RuleConfig | None = None) -> RuleResult:
    """The ego box never entered a crosswalk while a crosswalk user stood in it."""
    cfg = cfg or RuleConfig()
    on_route = [cw for cw in log.road.crosswalks if set(cw.lanes) & set(log.route.lanes)]
    if not on_route:
        return RuleResult(False)
    polys = np.array([shapely.Polygon(cw.polygon) for cw in on_route])
    ego = shapely.polygons(log.corners)
    inside = shapely.intersects(ego[:, None], polys[None, :])  # (T, C)
    users = log.active & log.agent_mask(cfg.crosswalk_users)  # (T, N)
    occupied = np.zeros_like(inside)
    if users.any():
        k, n = np.nonzero(users)
        xy = log.agents[k, n, :2]
        for c, poly in enumerate(polys):
            hit = shapely.contains_xy(poly, xy[:, 0], xy[:, 1])
            occupied[k[hit], c] = True
    centres = shapely.points(log.ego_center[:, :2])
    near = shapely.distance(centres[:, None], polys[None, :]) <= cfg.crosswalk_range_m
    entered = inside.copy()
    entered[1:] &= ~inside[:-1]
    entered[0] = False
    steps = np.flatnonzero((entered & occupied).any(axis=1))
    return RuleResult(bool((occupied & near).any()), tuple(int(k) for k in steps))


@dataclass(frozen=True)
class ScenarioOutcome:
    criteria_met: bool  # the scenario's success.kind: reached the goal, or lasted (always true for survive)
    at_fault_collision: bool
    offroad: bool
    rules_passed: bool  # every applicable rule passed
    success: bool  # all of the above


def scenario_success(log: RolloutLog, faults: list[AtFaultCollision], rules: tuple[RuleResult, ...] = (),
                     config: MetricsConfig | None = None) -> ScenarioOutcome:
    """Success from the scenario's criteria plus safety: no at-fault collision, never off-road, rules kept.

    reach_goal: the rear axle ends within goal_distance_m (+ goal_slack_m) of the route's end, the test
    world.rollout.summarize uses. Without a scenario the criteria count as met.
    """
    config = config or MetricsConfig()
    scenario = log.scenario
    met = True
    if scenario is not None and scenario.success.kind == "reach_goal":
        s, _, _ = log.route.path.project(log.ego[-1:, :2])
        remaining = log.route.length - float(s[0])
        met = remaining <= scenario.success.goal_distance_m + config.goal_slack_m
    collided = bool(faults)
    offroad = bool(log.offroad.any())
    rules_ok = all(r.passed for r in rules if r.applicable)
    return ScenarioOutcome(met, collided, offroad, rules_ok, met and not collided and not offroad and rules_ok)
