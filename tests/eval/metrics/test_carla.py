"""CARLA leaderboard reading: penalty products, route completion, outside-lanes share, stop signs."""

from __future__ import annotations

import numpy as np
import pytest

from cordillera.eval.metrics.carla import (
    carla_metrics, collision_infractions, infraction_penalty, outside_route_lanes_pct, route_completion_pct,
    stop_sign_infractions,
)
from cordillera.eval.metrics.config import CarlaConfig
from cordillera.world.agents import AgentType
from cordillera.world.roads import build_map
from cordillera.world.roads.map import SignalState

CAR, PED, CONE, CYCLIST = (int(AgentType.CAR), int(AgentType.PEDESTRIAN), int(AgentType.CONE),
                           int(AgentType.CYCLIST))


def test_penalty_factors_multiply_per_instance():
    assert infraction_penalty({"collisions_vehicle": 2}) == pytest.approx(0.36)
    assert infraction_penalty({"collisions_pedestrian": 1, "red_light": 1}) == pytest.approx(0.35)
    assert infraction_penalty({"stop_infraction": 1, "collisions_static": 1}) == pytest.approx(0.52)
    assert infraction_penalty({"yield_emergency_vehicle": 1, "scenario_timeout": 1}) == pytest.approx(0.49)
    assert infraction_penalty({"collisions_vehicle": 1}, outside_pct=50.0) == pytest.approx(0.3)
    assert infraction_penalty({"min_speed": 3}) == 1.0  # off, as on the leaderboard since 2024
    assert infraction_penalty({"min_speed": 1}, cfg=CarlaConfig(apply_min_speed=True)) == pytest.approx(0.7)
    with pytest.raises(ValueError, match="unknown infraction"):
        infraction_penalty({"speeding": 1})


def test_route_completion_uses_the_furthest_progress(kit):
    centers, v = kit.straight_ego(20.0, 10.0, 51)
    log = kit.make_log(centers, v)
    assert route_completion_pct(log, 100.0) == pytest.approx(50.0)
    assert route_completion_pct(log, 40.0) == 100.0


def test_outside_route_lanes_share(kit):
    centers, v = kit.straight_ego(20.0, 10.0, 20)
    centers[10:, 1] = 1.75  # the oncoming lane from step 10: that step's move is hypot(1, 3.5) m
    jump = np.hypot(1.0, 3.5)
    pct = outside_route_lanes_pct(kit.make_log(centers, v))
    assert pct == pytest.approx(100.0 * (9.0 + jump) / (18.0 + jump))
    stopped, v0 = kit.straight_ego(20.0, 0.0, 5, y=1.75)
    assert outside_route_lanes_pct(kit.make_log(stopped, v0)) == 0.0


def test_collision_categories(kit):
    centers, v = kit.straight_ego(20.0, 10.0, 10)
    rows = lambda k: [kit.agent_row(centers[k, 0] + (4.2 if k >= 2 else 40.0), -1.75, v=5.0),  # noqa: E731
                      kit.agent_row(centers[k, 0] + (2.6 if k >= 5 else 50.0), -1.2, length=0.6, width=0.6),
                      kit.agent_row(centers[k, 0] - (2.5 if k >= 7 else 60.0), -2.5, length=0.4, width=0.4)]
    log = kit.make_log(centers, v, np.array([rows(k) for k in range(10)]), (CYCLIST, PED, CONE))
    assert collision_infractions(log) == {"pedestrian": 1, "vehicle": 1, "static": 1}
    r = carla_metrics(log, target_m=9.0)
    assert r.route_completion == pytest.approx(100.0) and r.infraction_penalty == pytest.approx(0.5 * 0.6 * 0.65)
    assert r.driving_score == pytest.approx(100.0 * 0.5 * 0.6 * 0.65)


def test_red_light_counts_once_per_crossing(kit):
    road = build_map("intersection", {"lanes_per_direction": 1})
    steps = 10
    centers = np.stack([np.full(steps, 1.75), -20.0 + np.arange(steps), np.full(steps, np.pi / 2)], -1)
    signals = np.full((steps, len(road.signals)), int(SignalState.RED))
    log = kit.make_log(centers, np.full(steps, 10.0), road=road, route_lanes=(0, 9, 5), signals=signals)
    r = carla_metrics(log, target_m=9.0, emergency_failures=1)
    assert (r.red_light, r.yield_emergency_vehicle) == (1, 1)
    assert r.infraction_penalty == pytest.approx(0.7 * 0.7)


def _stop_sign_log(kit, ys, speeds):
    """Ego centre driving +y at x = 1.75 towards the T-junction's stop line at y = -6.5 (front = centre + 2.4)."""
    road = build_map("t_junction", {"control": "stop", "sidewalks": False})
    ys = np.asarray(ys, dtype=np.float64)
    centers = np.stack([np.full(len(ys), 1.75), ys, np.full(len(ys), np.pi / 2)], -1)
    return kit.make_log(centers, speeds, road=road, route_lanes=(4, 11, 3))


def test_rolling_through_a_stop_sign_is_an_infraction(kit):
    log = _stop_sign_log(kit, -20.0 + np.arange(13), 10.0)  # front at -17.6 + k: past -6.5 at step 12
    assert [k for k, _ in log.stop_line_crossings] == [12]
    assert [k for k, _ in stop_sign_infractions(log)] == [12]


def test_stopping_within_four_metres_of_the_line_is_compliant(kit):
    approach = list(-20.0 + np.arange(11))  # front reaches -7.6
    wait = [-9.5] * 5  # front at -7.1, 0.6 m before the line
    go = [-9.0, -8.5, -8.0, -7.5, -7.0]  # front crosses at -6.6 -> -6.1
    speeds = [10.0] * 11 + [0.0] * 5 + [5.0] * 5
    log = _stop_sign_log(kit, approach + wait + go, speeds)
    assert len(log.stop_line_crossings) == 1 and stop_sign_infractions(log) == []
    # stopping further back than 4 m does not count
    far = _stop_sign_log(kit, list(-20.0 + np.arange(5)) + [-16.0] * 5 + list(-15.0 + np.arange(11)),
                         [10.0] * 5 + [0.0] * 5 + [10.0] * 11)
    assert len(stop_sign_infractions(far)) == 1
