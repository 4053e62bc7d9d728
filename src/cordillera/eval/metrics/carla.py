"""CARLA-leaderboard reading of a rollout: route completion, infractions and the driving score.

    >>> from cordillera.eval.metrics.carla import carla_metrics, route_target_m
    >>> r = carla_metrics(log, route_target_m(log, reference_progress_m=90.0))
    >>> r.driving_score, r.route_completion     # both in percent, as the leaderboard prints them

driving score = route completion x infraction penalty, the penalty being the product over infractions of
their factors (statistics_manager.py PENALTY_VALUE_DICT; every instance multiplies again) times
(1 - share of the distance driven outside the route's lanes), the leaderboard's percentage penalty for
OUTSIDE_ROUTE_LANES (outside = off the road or in an oncoming lane). Infractions detected from the log:
- collisions: each time an actor starts overlapping the ego (fault plays no part in CARLA); pedestrians and
  animals count as pedestrians, cyclists as vehicles (bicycles are vehicles in CARLA), cones, barriers and
  debris as static objects;
- red light: the front bumper crosses a signalised stop line of the route against red (same test as TLC);
- stop sign: it crosses a stop-sign line (or a signal that is dark, i.e. an all-way stop) without having been
  slower than 0.1 m/s within 4 m before it (scenario_runner RunningStopTest);
- failing to yield to an emergency vehicle: from rules.yielded_to_emergency_vehicle, passed in.
Scenario timeouts and minimum-speed checks need traffic context the log does not judge; callers may pass
their counts in `extra` (min speed stays off unless CarlaConfig.apply_min_speed, as on the leaderboard).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from cordillera.eval.metrics.collisions import collision_onsets
from cordillera.eval.metrics.config import CarlaConfig
from cordillera.eval.metrics.pdm import red_light_crossings
from cordillera.eval.metrics.rollout_log import RolloutLog
from cordillera.world.agents import AgentType
from cordillera.world.roads.map import Control, SignalState

__all__ = ["CarlaResult", "route_target_m", "route_completion_pct", "outside_route_lanes_pct",
           "collision_infractions", "stop_sign_infractions", "infraction_penalty", "carla_metrics"]

_PEDESTRIAN = {int(AgentType.PEDESTRIAN), int(AgentType.ANIMAL)}
_STATIC = {int(AgentType.CONE), int(AgentType.BARRIER), int(AgentType.DEBRIS)}


@dataclass(frozen=True)
class CarlaResult:
    route_completion: float  # [%] of the route target reached
    outside_route_lanes: float  # [%] of the distance driven outside the route's lanes
    collisions_pedestrian: int
    collisions_vehicle: int
    collisions_static: int
    red_light: int
    stop_infraction: int
    yield_emergency_vehicle: int
    scenario_timeout: int
    min_speed: int
    infraction_penalty: float  # product of the penalty factors and the outside-lanes share, in [0, 1]
    driving_score: float  # [%] route completion x infraction penalty

    def as_dict(self) -> dict:
        return asdict(self)


def route_target_m(log: RolloutLog, reference_progress_m: float, goal_slack_m: float = 5.0) -> float:
    """How far along the route the scenario asks the ego to get from its start [m].

    reach_goal scenarios: to within goal_distance_m (+ the slack world.rollout.summarize allows) of the route's
    end. Others (survive): the reference progress, since the route outlasts the rollout.
    """
    scenario = log.scenario
    start = float(np.clip(log.route_s_center[0], 0.0, log.route.length))
    if scenario is not None and scenario.success.kind == "reach_goal":
        return max(log.route.length - start - scenario.success.goal_distance_m - goal_slack_m, 1e-6)
    return max(float(reference_progress_m), 1e-6)


def route_completion_pct(log: RolloutLog, target_m: float) -> float:
    """Furthest route progress of the box centre over target_m, in percent, clipped to [0, 100]."""
    s = log.route_s_center
    best = float(np.max(s) - s[0])
    return float(np.clip(100.0 * best / target_m, 0.0, 100.0))


def outside_route_lanes_pct(log: RolloutLog) -> float:
    """Share of the distance driven with the box centre off the road or in an oncoming lane [%]."""
    total = float(log.step_distance.sum())
    if total <= 0.0:
        return 0.0
    outside = log.offroad | log.oncoming
    return 100.0 * float(log.step_distance[outside].sum()) / total


def collision_infractions(log: RolloutLog) -> dict[str, int]:
    """Collision onsets by CARLA category."""
    out = {"pedestrian": 0, "vehicle": 0, "static": 0}
    for _, agent in collision_onsets(log):
        kind = int(log.agent_types[agent])
        out["pedestrian" if kind in _PEDESTRIAN else "static" if kind in _STATIC else "vehicle"] += 1
    return out


def stop_sign_infractions(log: RolloutLog, cfg: CarlaConfig | None = None) -> list[tuple[int, object]]:
    """(step, StopLine) where the ego crossed a stop-sign (or dark-signal) line without stopping first."""
    cfg = cfg or CarlaConfig()
    s, d = log.route_s_front, log.route_d_front
    lines = {id(sl): (s_line, width) for s_line, sl, width in log.route_stop_lines()}
    out = []
    for k, sl in log.stop_line_crossings:
        dark = (sl.control == Control.SIGNAL and sl.signal is not None and log.signals.shape[1] > sl.signal
                and int(log.signals[k, sl.signal]) == int(SignalState.DARK))
        if sl.control != Control.STOP and not dark:
            continue
        s_line, width = lines[id(sl)]
        zone = (s[: k + 1] >= s_line - cfg.stop_zone_m) & (s[: k + 1] <= s_line) & (np.abs(d[: k + 1]) <= width)
        if not np.any(zone & (log.speed[: k + 1] < cfg.stop_speed_mps)):
            out.append((k, sl))
    return out


def infraction_penalty(counts: dict[str, int], outside_pct: float = 0.0, cfg: CarlaConfig | None = None) -> float:
    """Product of the leaderboard penalty factors, one factor per infraction instance, times
    (1 - outside_pct / 100) for the share of driving outside the route's lanes.

    counts keys: collisions_pedestrian, collisions_vehicle, collisions_static, red_light, stop_infraction,
    yield_emergency_vehicle, scenario_timeout, min_speed (missing keys count 0).
    """
    cfg = cfg or CarlaConfig()
    factors = {
        "collisions_pedestrian": cfg.collision_pedestrian,
        "collisions_vehicle": cfg.collision_vehicle,
        "collisions_static": cfg.collision_static,
        "red_light": cfg.red_light,
        "stop_infraction": cfg.stop_sign,
        "yield_emergency_vehicle": cfg.yield_emergency_vehicle,
        "scenario_timeout": cfg.scenario_timeout,
        "min_speed": cfg.min_speed if cfg.apply_min_speed else 1.0,
    }
    unknown = set(counts) - set(factors)
    if unknown:
        raise ValueError(f"unknown infraction(s) {sorted(unknown)}; known: {sorted(factors)}")
    penalty = 1.0 - float(np.clip(outside_pct, 0.0, 100.0)) / 100.0
    for name, n in counts.items():
        penalty *= factors[name] ** int(n)
    return float(penalty)


def carla_metrics(log: RolloutLog, target_m: float, emergency_failures: int = 0, extra: dict[str, int] | None = None,
                  cfg: CarlaConfig | None = None) -> CarlaResult:
    """Route completion, infraction counts and the driving score of one rollout (percent units)."""
    cfg = cfg or CarlaConfig()
    hits = collision_infractions(log)
    counts = {
        "collisions_pedestrian": hits["pedestrian"],
        "collisions_vehicle": hits["vehicle"],
        "collisions_static": hits["static"],
        "red_light": len(red_light_crossings(log)),
        "stop_infraction": len(stop_sign_infractions(log, cfg)),
        "yield_emergency_vehicle": int(emergency_failures),
        "scenario_timeout": 0,
        "min_speed": 0,
    }
    for name, n in (extra or {}).items():
        if name not in counts:
            raise ValueError(f"extra: unknown infraction {name!r}; known: {sorted(counts)}")
        counts[name] += int(n)
    outside = outside_route_lanes_pct(log)
    penalty = infraction_penalty(counts, outside, cfg)
    completion = route_completion_pct(log, target_m)
    return CarlaResult(route_completion=completion, outside_route_lanes=outside, infraction_penalty=penalty,
                       driving_score=completion * penalty, **counts)
