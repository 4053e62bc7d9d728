"""MOBIL discretionary lane changes in the real simulator."""

from __future__ import annotations

import pytest

from cordillera.world import sim


def run(state, seconds):
    for _ in range(int(round(seconds / state.world.config.dt))):
        state = sim.step(state)
    return state


def agent(state, name):
    return state.agents.names.index(name)


def test_mobil_overtakes_a_slow_leader_and_keeps_its_lane_otherwise(scenario_factory):
    agents = [
        {"id": "slow", "lane": "main.1", "s": 100.0, "speed": 10.0, "behavior": {"desired_speed": 10.0}},
        {"id": "fast", "lane": "main.1", "s": 60.0, "speed": 25.0,
         "behavior": {"desired_speed": 28.0, "lane_changes": True}},
        {"id": "alone", "lane": "main.0", "s": 300.0, "speed": 20.0,
         "behavior": {"desired_speed": 20.0, "lane_changes": True}},
    ]
    sc = scenario_factory("highway", {"lanes": 3, "length_m": 1500.0}, ego={"lane": "main.1", "s": 20.0, "speed": 0.0},
                          agents=agents, duration=10.0)
    state = sim.reset(sc, 0)
    road = state.road
    lane_y = {name: road.lanes[road.lane_id(name)].centerline.points[0, 1] for name in ("main.0", "main.1", "main.2")}
    state = run(state, 8.0)
    a = state.agents
    fast, slow, alone = agent(state, "fast"), agent(state, "slow"), agent(state, "alone")
    assert a.x[fast] > a.x[slow] + 10.0  # it passed the slow car
    assert a.y[fast] == pytest.approx(lane_y["main.0"]) or a.y[fast] == pytest.approx(lane_y["main.2"])
    assert a.y[alone] == pytest.approx(lane_y["main.0"])  # no reason to move
    assert not a.flags[fast] & (16 | 32)  # blinkers off after the manoeuvre


def test_no_lane_change_into_a_gap_that_would_make_the_follower_brake_hard(scenario_factory):
    agents = [
        {"id": "slow", "lane": "main.1", "s": 100.0, "speed": 10.0, "behavior": {"desired_speed": 10.0}},
        {"id": "fast", "lane": "main.1", "s": 70.0, "speed": 20.0,
         "behavior": {"desired_speed": 28.0, "lane_changes": True}},
        # a fast car right behind-beside on each neighbour lane
        {"id": "left_rear", "lane": "main.2", "s": 62.0, "speed": 30.0, "behavior": {"desired_speed": 30.0}},
        {"id": "right_rear", "lane": "main.0", "s": 62.0, "speed": 30.0, "behavior": {"desired_speed": 30.0}},
    ]
    sc = scenario_factory("highway", {"lanes": 3, "length_m": 1500.0}, ego={"lane": "main.1", "s": 20.0, "speed": 0.0},
                          agents=agents, duration=3.0)
    state = sim.reset(sc, 0)
    fast = agent(state, "fast")
    y0 = state.agents.y[fast]
    state = run(state, 1.0)  # covers its MOBIL turn (once every 10 steps, staggered by index)
    a = state.agents
    assert abs(a.x[agent(state, "left_rear")] - a.x[fast]) < 10.0  # still alongside on both sides
    assert a.y[fast] == pytest.approx(y0)  # boxed in: it stays behind the slow car for now
