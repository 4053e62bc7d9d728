"""Long-tail rule checks and scenario success on hand-made logs."""

from __future__ import annotations

import numpy as np
import pytest

from cordillera.eval.metrics.collisions import at_fault_collisions
from cordillera.eval.metrics.rules import (
    RuleResult, crosswalk_respected, scenario_success, stopped_for_school_bus, yielded_to_emergency_vehicle,
)
from cordillera.scenarios.schema import load_scenario
from cordillera.world.agents import AgentType, Flag
from cordillera.world.roads import build_map

BUS, CAR, PED = int(AgentType.BUS), int(AgentType.CAR), int(AgentType.PEDESTRIAN)


def _bus_log(kit, ego_speeds, bus_speed=0.0, bus_x=60.0, flags=int(Flag.SCHOOL_BUS)):
    """A 12 m school bus facing -x in the oncoming lane at bus_x (spanning bus_x +- 6); the ego drives +x from 20."""
    steps = len(ego_speeds)
    centers, v = kit.straight_ego(20.0, ego_speeds, steps)
    bus = np.array([[kit.agent_row(bus_x - bus_speed * 0.1 * k, 1.75, yaw=np.pi, v=bus_speed, length=12.0,
                                   width=2.6)] for k in range(steps)])
    return kit.make_log(centers, v, bus, (BUS,), flags=np.full((steps, 1), flags))


def test_driving_past_a_loading_school_bus_breaks_the_rule(kit):
    # the ego centre reaches x = 54 (the bus's rear end, facing -x) at step 34
    result = stopped_for_school_bus(_bus_log(kit, [10.0] * 60))
    assert result.applicable and result.violations == (34,) and result.value == 0.0


def test_stopping_behind_the_school_bus_passes(kit):
    speeds = [10.0] * 20 + [0.0] * 40  # stops at x = 40, 14 m short of the bus
    result = stopped_for_school_bus(_bus_log(kit, speeds))
    assert result.applicable and result.passed and result.value == 1.0


def test_school_bus_rule_does_not_apply_to_a_moving_bus_or_without_one(kit):
    assert stopped_for_school_bus(_bus_log(kit, [10.0] * 60, bus_speed=8.0)).value is None
    assert stopped_for_school_bus(_bus_log(kit, [10.0] * 60, flags=0)).value is None
    far = _bus_log(kit, [0.0] * 30, bus_x=150.0)  # loading, but 130 m away from a parked ego
    assert stopped_for_school_bus(far) == RuleResult(False)


def _ev_log(kit, ego_speeds, ego_y=None, ev_speed=15.0, steps=60):
    """An emergency vehicle 30 m behind the ego in its lane, closing in at ev_speed."""
    centers, v = kit.straight_ego(20.0, ego_speeds, steps)
    if ego_y is not None:
        centers[:, 1] = ego_y
    ev = np.array([[kit.agent_row(-10.0 + ev_speed * 0.1 * k, -1.75, v=ev_speed)] for k in range(steps)])
    return kit.make_log(centers, v, ev, (CAR,), flags=np.full((steps, 1), int(Flag.EMERGENCY)))


def test_blocking_an_emergency_vehicle_breaks_the_rule(kit):
    result = yielded_to_emergency_vehicle(_ev_log(kit, [10.0] * 60))
    assert result.applicable and result.violations == (40,)  # 4 s after it came within 60 m


def test_slowing_down_for_the_emergency_vehicle_passes(kit):
    speeds = np.concatenate([np.linspace(10.0, 2.0, 30), np.full(30, 2.0)])
    result = yielded_to_emergency_vehicle(_ev_log(kit, speeds))
    assert result.applicable and result.passed


def test_leaving_its_path_passes_and_a_short_log_is_not_judged(kit):
    ys = np.where(np.arange(60) >= 20, 1.75, -1.75)  # moves 3.5 m aside at step 20
    assert yielded_to_emergency_vehicle(_ev_log(kit, [10.0] * 60, ego_y=ys)).passed
    short = yielded_to_emergency_vehicle(_ev_log(kit, [10.0] * 30, steps=30))
    assert short.applicable and short.passed
    assert yielded_to_emergency_vehicle(_ev_log(kit, [10.0] * 60, ego_y=1.75)).value is None  # never in its path


def _crosswalk_log(kit, ys, ped_active=None):
    """Intersection with 1 lane per direction: the ego centre drives +y at x = 1.75; crosswalk 0 spans
    y in [-10, -7]; a pedestrian stands in it at x = -2 (the other lane)."""
    road = build_map("intersection", {"lanes_per_direction": 1})
    ys = np.asarray(ys, dtype=np.float64)
    steps = len(ys)
    centers = np.stack([np.full(steps, 1.75), ys, np.full(steps, np.pi / 2)], -1)
    ped = np.array([[kit.agent_row(-2.0, -8.5, length=0.6, width=0.6)]] * steps)
    active = None if ped_active is None else np.asarray(ped_active).reshape(steps, 1)
    return kit.make_log(centers, 5.0, ped, (PED,), active=active, road=road, route_lanes=(0, 9, 5))


def test_entering_an_occupied_crosswalk_breaks_the_rule(kit):
    # the front bumper (centre + 2.4) reaches the crosswalk at y = -10 when the centre passes -12.4
    result = crosswalk_respected(_crosswalk_log(kit, -20.0 + 0.5 * np.arange(20)))
    assert result.applicable and result.violations == (16,)


def test_waiting_before_the_occupied_crosswalk_passes(kit):
    result = crosswalk_respected(_crosswalk_log(kit, [-20.0 + 0.5 * k for k in range(14)] + [-13.5] * 10))
    assert result.applicable and result.passed


def test_crosswalk_emptied_before_the_ego_arrives(kit):
    ys = -20.0 + 0.5 * np.arange(20)
    result = crosswalk_respected(_crosswalk_log(kit, ys, ped_active=np.arange(20) < 10))
    assert result.applicable and result.passed  # occupied while the ego was near, free when it entered
    assert crosswalk_respected(_crosswalk_log(kit, ys, ped_active=np.zeros(20, dtype=bool))).value is None


def _goal_scenario():
    return load_scenario({"map": {"builder": "straight", "params": {"lanes_per_direction": 1, "length_m": 200.0,
                                                                   "sidewalks": False}},
                          "ego": {"lane": "fwd.0", "s": 150.0}, "success": {"kind": "reach_goal", "time_s": 5.0}})


@pytest.mark.parametrize("steps, met", [(45, True), (30, False)])
def test_reach_goal_uses_the_rear_axle_distance_to_the_route_end(kit, steps, met):
    # rear axle = centre - 1.4: after 44 steps at 10 m/s it is at 192.6, 7.4 m from the end (<= 5 + 5 slack)
    centers, v = kit.straight_ego(150.0, 10.0, steps)
    log = kit.make_log(centers, v, scenario=_goal_scenario())
    outcome = scenario_success(log, at_fault_collisions(log))
    assert outcome.criteria_met == met and outcome.success == met


def test_success_needs_safety_and_rules(kit):
    centers, v = kit.straight_ego(20.0, 10.0, 10)
    log = kit.make_log(centers, v)
    assert scenario_success(log, []).success  # no scenario: criteria count as met
    assert not scenario_success(log, [], (RuleResult(True, (3,)),)).success
    assert scenario_success(log, [], (RuleResult(False),)).success  # a rule that did not apply
    off, v2 = kit.straight_ego(20.0, 10.0, 10, y=20.0)
    assert not scenario_success(kit.make_log(off, v2), []).success
