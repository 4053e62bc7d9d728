"""Traffic behaviour with the real simulator: IDM, signals, stop signs, crosswalks, right of way."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cordillera.geometry import box_corners, boxes_overlap
from cordillera.world import sim
from cordillera.world.traffic import idm_acceleration

PARKED_EGO = {"lane": "north_out.0", "s": 70.0, "speed": 0.0}  # out of everyone's way


def run(state, seconds):
    for _ in range(int(round(seconds / state.world.config.dt))):
        state = sim.step(state)
    return state


def agent(state, name):
    return state.agents.names.index(name)


def test_idm_matches_hand_computed_values():
    # s* = 2 + 10*1.5 + 10*(10-8)/(2*sqrt(1.5*2.5)) = 22.1640; a = 1.5*(1 - 0.5^4 - (22.1640/30)^2)
    acc = idm_acceleration(10.0, 20.0, 30.0, 8.0, 1.5, 2.0, 1.5, 2.5)
    s_star = 2.0 + 15.0 + 20.0 / (2.0 * math.sqrt(3.75))
    assert acc == pytest.approx(1.5 * (1.0 - 0.0625 - (s_star / 30.0) ** 2), rel=1e-12)
    assert acc == pytest.approx(0.58751, abs=1e-5)
    # free road: only the speed term
    assert idm_acceleration(10.0, 20.0, np.inf, 0.0, 1.5, 2.0, 1.5, 2.5) == pytest.approx(1.5 * 0.9375)
    # at the desired speed on a free road: zero
    assert idm_acceleration(20.0, 20.0, np.inf, 0.0, 1.5, 2.0, 1.5, 2.5) == pytest.approx(0.0)


def test_follower_acceleration_in_the_simulator_is_idm(scenario_factory):
    """One step of the compiled kernel reproduces the IDM formula for a follower behind a slower leader."""
    sc = scenario_factory(
        params={"length_m": 400.0},
        ego={"lane": "bwd.0", "s": 10.0, "speed": 0.0},
        agents=[
            {"id": "lead", "lane": "fwd.0", "s": 100.0, "speed": 8.0, "behavior": {"desired_speed": 8.0}},
            {"id": "follow", "lane": "fwd.0", "s": 60.0, "speed": 10.0, "behavior": {"desired_speed": 20.0}},
        ],
    )
    state = sim.reset(sc, 0)
    a = state.agents
    i = agent(state, "follow")
    gap = 40.0 - (a.length[i] + a.length[agent(state, "lead")]) / 2.0
    expected = idm_acceleration(10.0, 20.0, gap, 8.0, 1.5, 2.0, 1.5, 2.5)
    nxt = sim.step(state)
    assert nxt.agents.a[i] == pytest.approx(expected, rel=1e-9)
    assert nxt.agents.v[i] == pytest.approx(10.0 + expected * 0.1, rel=1e-9)


def test_vehicle_stops_at_red_and_goes_on_green(scenario_factory):
    # east approach signal: red for t < 24 s (offset 24 s in a 48 s cycle), green from 24 s
    sc = scenario_factory("intersection", {"lanes_per_direction": 1}, ego=PARKED_EGO, duration=40.0,
                          agents=[{"id": "car", "lane": "east_in.0", "s": 30.0, "speed": 10.0}])
    state = sim.reset(sc, 0)
    road = state.road
    line = road.stop_lines[[sl.lane for sl in road.stop_lines].index(road.lane_id("east_in.0"))]
    assert road.signals[line.signal].state_at(10.0).name == "RED"
    i = agent(state, "car")
    state = run(state, 20.0)
    front = state.agents.u[i] + state.agents.length[i] / 2.0
    assert state.agents.v[i] < 0.05
    assert line.s - 3.0 < front < line.s  # waiting just behind the line
    state = run(state, 10.0)  # green from t = 24 s
    assert state.agents.u[i] > line.s + 10.0
    assert state.agents.v[i] > 3.0


def test_red_light_runner_ignores_the_signal(scenario_factory):
    sc = scenario_factory("intersection", {"lanes_per_direction": 1}, ego=PARKED_EGO, duration=10.0,
                          agents=[{"id": "car", "lane": "east_in.0", "s": 30.0, "speed": 10.0,
                                   "behavior": {"ignore_signals": True}}])
    state = run(sim.reset(sc, 0), 8.0)
    assert state.agents.u[agent(state, "car")] > 80.0


def _north_crosswalk(road):
    return next(cw for cw in road.crosswalks if cw.polygon[:, 1].min() > 0 and np.ptp(cw.polygon[:, 0]) > 5.0)


def test_walker_waits_for_the_walk_phase_and_a_turning_car_yields(scenario_factory):
    """The north crosswalk is walkable while the north head is red (from 23 s); the east approach turns
    green at 24 s, and a car turning right from it into the north arm must wait for the walker."""
    from cordillera.world.roads import build_map

    road = build_map("intersection", {"lanes_per_direction": 1})
    cw = _north_crosswalk(road)
    assert road.signals[cw.signal].state_at(10.0).name == "GREEN"  # walkers wait then
    direction = (cw.end - cw.start) / np.linalg.norm(cw.end - cw.start)
    path = [(cw.start - 2.0 * direction).tolist(), (cw.end + 2.0 * direction).tolist()]
    sc = scenario_factory(
        "intersection", {"lanes_per_direction": 1}, ego={"lane": "west_out.0", "s": 60.0, "speed": 0.0},
        duration=45.0,
        agents=[
            {"id": "car", "lane": "east_in.0", "s": 60.0, "speed": 0.0, "behavior": {"goal_lane": "north_out.0"}},
            {"id": "walker", "type": "pedestrian", "position": path[0],
             "behavior": {"kind": "walk", "desired_speed": 1.0, "path": path}},
        ],
    )
    state = sim.reset(sc, 0)
    car, walker = agent(state, "car"), agent(state, "walker")
    import shapely

    zone = shapely.Polygon(cw.polygon)
    min_dist, waited_for_walker, walker_entered_at = np.inf, False, None
    for _ in range(450):
        state = sim.step(state)
        a = state.agents
        on_crosswalk = zone.contains(shapely.Point(a.x[walker], a.y[walker]))
        if on_crosswalk and walker_entered_at is None:
            walker_entered_at = state.t
        min_dist = min(min_dist, math.hypot(a.x[car] - a.x[walker], a.y[car] - a.y[walker]))
        if on_crosswalk and a.v[car] < 0.1 and a.y[car] > -5.0:
            waited_for_walker = True
    assert walker_entered_at is not None and walker_entered_at > 23.0  # it waited for the walk phase
    assert waited_for_walker
    assert min_dist > 2.0
    assert state.agents.y[car] > 20.0  # the car went on once the crosswalk was clear


def test_stop_sign_full_stop_then_proceed(scenario_factory):
    sc = scenario_factory("t_junction", {}, ego={"lane": "west_out.0", "s": 60.0, "speed": 0.0}, duration=20.0,
                          agents=[{"id": "car", "lane": "south_in.0", "s": 50.0, "speed": 8.0,
                                   "behavior": {"goal_lane": "east_out.0"}}])
    state = sim.reset(sc, 0)
    i = agent(state, "car")
    line_s = state.road.stop_lines[0].s
    stopped_steps = 0
    for _ in range(200):
        state = sim.step(state)
        front = state.agents.u[i] + state.agents.length[i] / 2.0
        if state.agents.v[i] < 0.01 and line_s - 3.0 < front < line_s:
            stopped_steps += 1
    assert stopped_steps >= 10  # at least 1 s at a standstill at the line
    assert state.agents.u[i] > line_s + 15.0  # then it went through


def test_unprotected_left_waits_for_oncoming_traffic(scenario_factory):
    sc = scenario_factory(
        "intersection", {"lanes_per_direction": 1}, ego={"lane": "west_out.0", "s": 60.0, "speed": 0.0},
        duration=15.0,
        agents=[
            {"id": "left", "lane": "south_in.0", "s": 70.0, "speed": 5.0, "behavior": {"goal_lane": "west_out.0"}},
            {"id": "oncoming", "lane": "north_in.0", "s": 45.0, "speed": 12.0, "behavior": {"goal_lane": "south_out.0"}},
        ],
    )
    state = sim.reset(sc, 0)
    i, j = agent(state, "left"), agent(state, "oncoming")
    line = state.road.stop_lines[0].s  # every approach is 80 m long with its line at the end
    turner_entered = oncoming_cleared = None
    for _ in range(150):
        state = sim.step(state)
        a = state.agents
        corners = box_corners(a.x[[i, j]], a.y[[i, j]], a.yaw[[i, j]], a.length[[i, j]], a.width[[i, j]])
        assert not boxes_overlap(corners[0], corners[1])
        if turner_entered is None and a.u[i] - a.length[i] / 2 > line:
            turner_entered = state.t
        if oncoming_cleared is None and a.y[j] < -10.0:  # through the junction, on the south arm
            oncoming_cleared = state.t
    assert oncoming_cleared is not None and turner_entered is not None
    assert turner_entered > oncoming_cleared - 1.0  # the turner waited until the oncoming car was through
    assert state.agents.x[i] < -15.0  # and completed the turn


def test_dense_highway_traffic_never_collides(scenario_factory):
    sc = scenario_factory("highway", {"lanes": 3, "length_m": 1500.0}, ego={"lane": "main.1", "s": 50.0, "speed": 0.0},
                          traffic={"vehicles": 60, "speed_range": [15.0, 30.0], "min_gap_m": 12.0}, duration=30.0)
    state = sim.reset(sc, 3)
    for _ in range(300):
        state = sim.step(state)
        a = state.agents
        idx = np.flatnonzero(a.active)
        c = box_corners(a.x[idx], a.y[idx], a.yaw[idx], a.length[idx], a.width[idx])
        hit = boxes_overlap(c[:, None], c[None, :])
        np.fill_diagonal(hit, False)
        assert not hit.any(), f"agents overlap at t={state.t}"


def test_curve_speed_cap_slows_traffic_in_a_tight_bend(scenario_factory):
    sc = scenario_factory("curved", {"radius_m": 25.0, "angle_deg": 90.0, "speed_limit": 20.0},
                          ego={"lane": "bwd.0", "s": 5.0, "speed": 0.0}, duration=15.0,
                          agents=[{"id": "car", "lane": "fwd.0", "s": 5.0, "speed": 15.0}])
    state = sim.reset(sc, 0)
    i = agent(state, "car")
    state = run(state, 15.0)
    log = np.array([step.agents[i] for step in state.log])  # x, y, yaw, v, ...
    yaw_rate = np.diff(np.unwrap(log[:, 2])) / 0.1
    lateral = np.abs(yaw_rate * log[1:, 3])
    assert lateral.max() > 1.0  # it did drive the bend
    assert lateral.max() < 4.0  # near the 2 m/s^2 comfort bound, far below 20^2 / 25 = 16 m/s^2


def test_replayed_agent_follows_its_recording_and_leaves_at_the_end(scenario_factory):
    traj = [[20.0 + 3.0 * k, -1.75, 0.0] for k in range(16)]  # 15 m/s for 3 s, recorded at 0.2 s
    sc = scenario_factory(ego={"lane": "fwd.0", "s": 5.0, "speed": 0.0}, duration=5.0,
                          agents=[{"id": "log", "position": [20.0, -1.75],
                                   "behavior": {"kind": "replay", "trajectory": traj, "replay_dt": 0.2}}])
    state = sim.reset(sc, 0)
    i = agent(state, "log")
    for _ in range(13):  # t = 1.3 s: half-way between recorded poses 6 and 7
        state = sim.step(state)
    assert state.agents.x[i] == pytest.approx(20.0 + 3.0 * 6.5)
    assert state.agents.v[i] == pytest.approx(15.0)
    for _ in range(17):  # t = 3.0 s: the last recorded pose
        state = sim.step(state)
    assert state.agents.active[i] and state.agents.x[i] == pytest.approx(65.0)
    state = sim.step(state)
    assert not state.agents.active[i]  # the recording ended
