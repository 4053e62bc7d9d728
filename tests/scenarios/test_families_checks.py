"""The checks behind "a family does what it says": fire times, the scripted stopping and evading plans, and
that broken promises are reported rather than passed."""

import dataclasses

import numpy as np
import pytest

from cordillera.scenarios.checks import (
    ScriptedDriver, brake_on_conflict, check_sample, check_visibility, evading_path, run_policy,
)
from cordillera.scenarios.families import get_family
from cordillera.scenarios.families.base import Evade
from cordillera.scenarios.schema import load_scenario
from cordillera.world import sim
from cordillera.world.rollout import summarize


def _straight(agents=(), events=(), duration=8.0, speed=10.0, lanes=1):
    return load_scenario({
        "map": {"builder": "straight", "params": {"length_m": 300.0, "lanes_per_direction": lanes}},
        "ego": {"lane": "fwd.0", "s": 20.0, "speed": speed},
        "agents": list(agents), "events": list(events),
        "success": {"kind": "survive", "time_s": duration},
    })


def _lane_path(state):
    route = state.world.route.path
    return route.interpolate(np.arange(0.0, route.length, 1.0))[0]


def test_run_policy_reports_when_each_event_fired():
    scenario = _straight(
        agents=[{"id": "lead", "lane": "fwd.0", "s": 60.0, "speed": 10.0}],
        events=[{"agent": "lead", "trigger": {"kind": "time", "time_s": 2.0}, "action": {"kind": "hard_brake"}},
                {"agent": "lead", "trigger": {"kind": "time", "time_s": 50.0}, "action": {"kind": "stop"}}])
    final = sim.reset(scenario)
    _, fired_at = run_policy(scenario, ScriptedDriver(_lane_path(final), 10.0))
    assert fired_at == [2.0, None]


def test_scripted_driver_cruises_then_brakes_once_told():
    scenario = _straight(duration=6.0)
    driver = ScriptedDriver(_lane_path(sim.reset(scenario)), 10.0, decel=6.0, brake_if=lambda state: state.t >= 1.0)
    final, _ = run_policy(scenario, driver)
    speeds = np.array([s.ego[3] for s in final.log])
    times = np.array([s.t for s in final.log])
    assert speeds[times <= 1.0].min() > 9.5  # cruising
    assert speeds[-1] < 0.1  # 10 m/s at 6 m/s^2 takes 1.7 s plus the reaction and tracking lag
    assert driver.brake_from == pytest.approx(1.0 + 0.3)


def test_scripted_driver_stops_before_the_end_of_its_path():
    scenario = _straight(duration=25.0, speed=13.0)
    path = _lane_path(sim.reset(scenario))[:120]  # 120 m of road
    final, _ = run_policy(scenario, ScriptedDriver(path, 13.0))
    assert final.log[-1].ego[3] < 0.1
    assert final.log[-1].ego[0] < path[-1, 0] - 5.0


def test_evading_path_clears_a_stalled_car_and_returns():
    scenario = _straight(agents=[{"id": "stalled", "type": "stalled_vehicle", "lane": "fwd.0", "s": 80.0,
                                  "behavior": {"kind": "static"}}], lanes=2)
    state = sim.reset(scenario)
    path, speed, stop = evading_path(state, Evade(side="left"), ("stalled",))
    assert speed == pytest.approx(10.0) and stop is None
    beside = (path[:, 0] > 77.7) & (path[:, 0] < 82.3)  # alongside the stalled car (4.6 m long at x = 80)
    lane_y = -5.25  # fwd.0 with two lanes per direction
    shift = path[beside, 1] - lane_y
    assert shift.min() >= 0.95 + 0.6 + 0.95 - 1e-6  # car half width + margin + ego half width
    assert abs(path[-1, 1] - lane_y) < 1e-6 and abs(path[0, 1] - lane_y) < 1e-6  # back in lane afterwards
    final, _ = run_policy(scenario, ScriptedDriver(path, speed))
    assert summarize(final)["outcome"] == "survived"


def test_evading_path_can_hold_and_stop():
    scenario = _straight(agents=[{"id": "behind", "lane": "fwd.0", "s": 5.0, "speed": 10.0}], duration=10.0)
    state = sim.reset(scenario)
    pull_over = Evade(side="right", shift_m=3.0, hold=True, stop=True, from_start=True)
    path, _, stop = evading_path(state, pull_over, ("behind",))
    assert path[-1, 1] == pytest.approx(-1.75 - 3.0)
    assert stop is not None and 0.0 < stop < 60.0
    with pytest.raises(ValueError, match="at least one hazard"):
        evading_path(state, pull_over, ())


def test_brake_on_conflict_ignores_what_stays_out_of_the_way():
    scenario = _straight(agents=[
        {"id": "parked", "type": "parked_car", "lane": "bwd.0", "s": 200.0, "behavior": {"kind": "static"}},
        {"id": "blocker", "type": "stalled_vehicle", "lane": "fwd.0", "s": 45.0, "behavior": {"kind": "static"}},
    ])
    state = sim.reset(scenario)
    state = sim.step(state)
    assert not brake_on_conflict("parked")(state)  # in the other lane
    assert brake_on_conflict("blocker")(state)  # in the ego's lane, 25 m ahead


def test_a_broken_visibility_promise_is_reported():
    family = dataclasses.replace(get_family("stalled_vehicle"), visibility="occluded")
    final, _ = run_policy(family.sample(0), ScriptedDriver(_lane_path(sim.reset(family.sample(0))), 5.0))
    info, problems = check_visibility(final, family)
    assert info["visible_at_start"] and problems == [
        "hazard not occluded at the start (in view True, visible 1.00)"]
    rear = dataclasses.replace(family, visibility="rear")
    assert check_visibility(final, rear)[1] == ["hazard already in the front camera's view at the start"]


def test_an_event_that_never_fires_and_a_failed_plan_are_reported():
    door = get_family("car_door_opening")

    def far_trigger(p):
        doc = door.template(p)
        doc["events"][0]["trigger"] = {"kind": "time", "time_s": 99.0}
        return doc

    never = dataclasses.replace(door, template=far_trigger)
    report = check_sample(never, 0)
    assert report.problems == ["events[0] (door_open on door_car) never fired"]
    wrong_side = dataclasses.replace(get_family("wrong_way_driver"), evade=Evade(side="left", shift_m=0.0, hold=True))
    report = check_sample(wrong_side, 0)
    assert any(p.startswith("evade plan collides") for p in report.problems)
