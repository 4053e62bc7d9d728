"""Scripted events fire at their triggers and do what they say."""

from __future__ import annotations

import numpy as np
import pytest

from cordillera.world import sim
from cordillera.world.agents import Behavior, Flag


def run_until(state, predicate, max_steps=300):
    for _ in range(max_steps):
        if predicate(state):
            return state
        state = sim.step(state)
    raise AssertionError("condition never met")


def test_time_trigger_hard_brake(scenario_factory):
    sc = scenario_factory(ego={"lane": "fwd.0", "s": 5.0, "speed": 0.0},
                          agents=[{"id": "lead", "lane": "fwd.0", "s": 60.0, "speed": 12.0, "behavior": {"desired_speed": 12.0}}],
                          events=[{"agent": "lead", "trigger": {"kind": "time", "time_s": 1.0},
                                   "action": {"kind": "hard_brake", "decel": 7.0}}])
    state = sim.reset(sc, 0)
    state = run_until(state, lambda s: s.t >= 1.0 - 1e-9)
    assert state.fired == (False,)
    state = sim.step(state)
    assert state.fired == (True,)
    assert state.agents.a[0] == pytest.approx(-7.0)
    assert state.agents.flags[0] & Flag.BRAKE
    state = run_until(state, lambda s: s.agents.v[0] == 0.0, 40)
    assert state.t == pytest.approx(1.1 + 12.0 / 7.0, abs=0.11)


def test_distance_trigger_fires_when_the_ego_is_close(scenario_factory):
    sc = scenario_factory(ego={"lane": "fwd.0", "s": 5.0, "speed": 10.0},
                          agents=[{"id": "ped", "type": "pedestrian", "position": [50.0, -9.0],
                                   "behavior": {"kind": "static", "path": [[50.0, -9.0], [50.0, 3.0]]}}],
                          events=[{"agent": "ped", "trigger": {"kind": "ego_distance", "distance_m": 25.0},
                                   "action": {"kind": "dart_out", "speed": 2.5}}])
    state = sim.reset(sc, 0)
    state = run_until(state, lambda s: s.fired[0])
    ego_center = state.log[-2].ego_center[:2]
    assert np.hypot(*(ego_center - [50.0, -9.0])) <= 25.0 + 1e-9  # fired on the first step within 25 m
    assert np.hypot(*(state.log[-3].ego_center[:2] - [50.0, -9.0])) > 25.0
    assert state.agents.behavior[0] == Behavior.WALK and state.agents.v[0] == pytest.approx(2.5)
    y0 = state.agents.y[0]
    state = sim.step(state)
    assert state.agents.y[0] == pytest.approx(y0 + 0.25)


def test_time_to_arrival_trigger(scenario_factory):
    sc = scenario_factory(ego={"lane": "fwd.0", "s": 5.0, "speed": 10.0},
                          agents=[{"id": "car", "type": "parked_car", "lane": "fwd.parking", "s": 80.0,
                                   "behavior": {"kind": "static"}}],
                          params={"parking_lane": True},
                          events=[{"agent": "car", "trigger": {"kind": "ego_time_to_arrival", "tta_s": 3.0},
                                   "action": {"kind": "door_open", "width_m": 0.9}}])
    state = sim.reset(sc, 0)
    width0, d0 = state.agents.width[0], state.agents.d[0]
    state = run_until(state, lambda s: s.fired[0])
    assert state.agents.width[0] == pytest.approx(width0 + 0.9)
    assert state.agents.flags[0] & Flag.DOOR_OPEN
    assert state.agents.d[0] == pytest.approx(d0 + 0.45)  # the box grew towards the traffic lane


def test_cut_in_moves_to_the_neighbour_lane(scenario_factory):
    sc = scenario_factory(ego={"lane": "fwd.0", "s": 5.0, "speed": 10.0},
                          agents=[{"id": "cutter", "lane": "fwd.1", "s": 30.0, "speed": 12.0}],
                          events=[{"agent": "cutter", "trigger": {"kind": "time", "time_s": 0.0},
                                   "action": {"kind": "cut_in", "direction": "right", "duration_s": 2.0}}])
    state = sim.reset(sc, 0)
    road = state.road
    y_target = road.lanes[road.lane_id("fwd.0")].centerline.points[0, 1]
    y_start = state.agents.y[0]
    state = sim.step(state)
    assert state.agents.flags[0] & Flag.BLINK_RIGHT
    for _ in range(10):
        state = sim.step(state)
    assert y_target < state.agents.y[0] < y_start  # half-way across after ~1 s
    for _ in range(15):
        state = sim.step(state)
    assert state.agents.y[0] == pytest.approx(y_target, abs=1e-9)


def test_appear_and_pull_out(scenario_factory):
    sc = scenario_factory(ego={"lane": "fwd.0", "s": 5.0, "speed": 0.0},
                          agents=[{"id": "debris", "type": "debris", "lane": "fwd.0", "s": 50.0,
                                   "behavior": {"kind": "static"}, "active": False},
                                  {"id": "parked", "type": "parked_car", "lane": "fwd.1", "s": 20.0,
                                   "behavior": {"kind": "static"}}],
                          events=[{"agent": "debris", "trigger": {"kind": "time", "time_s": 0.5},
                                   "action": {"kind": "appear"}},
                                  {"agent": "parked", "trigger": {"kind": "time", "time_s": 1.0},
                                   "action": {"kind": "pull_out", "speed": 8.0}}])
    state = sim.reset(sc, 0)
    assert not state.agents.active[0]
    state = run_until(state, lambda s: s.t > 2.0)
    assert state.agents.active[0]
    assert state.agents.behavior[1] == Behavior.IDM and state.agents.v[1] > 0.5


def test_impossible_events_are_rejected_at_reset(scenario_factory):
    sc = scenario_factory(params={"lanes_per_direction": 1},
                          agents=[{"id": "car", "lane": "fwd.0", "s": 30.0, "speed": 10.0},
                                  {"id": "ped", "type": "pedestrian", "position": [50.0, -9.0],
                                   "behavior": {"kind": "static"}}],
                          events=[{"agent": "car", "trigger": {"kind": "time", "time_s": 0.0},
                                   "action": {"kind": "cut_in", "direction": "right"}}])
    with pytest.raises(ValueError, match=r"events\[0\].action: agent 'car' has no right neighbour lane"):
        sim.reset(sc, 0)
    sc = scenario_factory(agents=[{"id": "ped", "type": "pedestrian", "position": [50.0, -9.0],
                                   "behavior": {"kind": "static"}}],
                          events=[{"agent": "ped", "trigger": {"kind": "time", "time_s": 0.0},
                                   "action": {"kind": "dart_out", "speed": 2.0}}])
    with pytest.raises(ValueError, match="needs a behavior.path"):
        sim.reset(sc, 0)
