"""Scenario -> initial agents: placement, routes, background traffic, bad placements."""

from __future__ import annotations

import numpy as np
import pytest

from cordillera.world import sim
from cordillera.world.agents import DEFAULT_SIZE, AgentType, Behavior


def test_agents_are_placed_where_the_scenario_says(scenario_factory):
    sc = scenario_factory(agents=[
        {"id": "car", "lane": "fwd.1", "s": 30.0, "d": 0.5, "speed": 7.0},
        {"id": "bus", "type": "bus", "lane": "bwd.0", "s": 10.0, "speed": 5.0},
        {"id": "cone", "type": "cone", "position": [60.0, -3.0], "heading": 0.3, "behavior": {"kind": "static"}},
    ])
    state = sim.reset(sc, 0)
    a, road = state.agents, state.road
    (xy,), _ = road.pose_at(road.lane_id("fwd.1"), [30.0], [0.5])
    assert (a.x[0], a.y[0]) == pytest.approx(tuple(xy))
    assert a.length[1] == DEFAULT_SIZE[AgentType.BUS][0]
    assert a.yaw[1] == pytest.approx(np.pi) or a.yaw[1] == pytest.approx(-np.pi)
    assert (a.x[2], a.y[2], a.yaw[2], a.v[2]) == pytest.approx((60.0, -3.0, 0.3, 0.0))
    assert a.behavior[2] == Behavior.STATIC and a.path[2] == -1
    assert a.v_desired[0] == pytest.approx(road.lanes[road.lane_id("fwd.1")].speed_limit)


def test_background_traffic_is_seeded_and_keeps_its_gaps(scenario_factory):
    sc = scenario_factory("highway", {"lanes": 3, "length_m": 800.0}, ego={"lane": "main.1", "s": 100.0, "speed": 20.0},
                          traffic={"vehicles": 30, "min_gap_m": 15.0, "keep_clear_of_ego_m": 25.0})
    a = sim.reset(sc, 7).agents
    b = sim.reset(sc, 7).agents
    c = sim.reset(sc, 8).agents
    assert a.n == 30
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, c.x)
    for lane_y in np.unique(np.round(a.y, 3)):
        xs = np.sort(a.x[np.isclose(a.y, lane_y)])
        assert np.all(np.diff(xs) >= 15.0)
    state = sim.reset(sc, 7)
    center = sim._ego_box(state)[:2]
    assert np.min(np.hypot(a.x - center[0], a.y - center[1])) >= 25.0


def test_goal_lane_route_with_a_lane_change(scenario_factory):
    sc = scenario_factory("intersection", {}, ego={"lane": "west_out.0", "s": 60.0, "speed": 0.0},
                          agents=[{"id": "car", "lane": "south_in.0", "s": 10.0, "speed": 5.0,
                                   "behavior": {"goal_lane": "west_out.1"}}])
    state = sim.reset(sc, 0)
    route = state.routes[state.agents.path[0]]
    road = state.road
    assert route[0] == road.lane_id("south_in.0") and route[-1] == road.lane_id("west_out.1")
    assert road.lane_id("south.left") in route


@pytest.mark.parametrize("agent, message", [
    ({"id": "x", "lane": "fwd.0", "s": 9999.0}, r"agents\[0\].s: 9999.0 is beyond the end"),
    ({"id": "x", "lane": "nope"}, "unknown lane 'nope'"),
    ({"id": "x", "position": [0.0, 500.0], "behavior": {"kind": "idm"}}, "must start on a lane"),
    ({"id": "x", "lane": "fwd.0", "behavior": {"route": ["fwd.0", "bwd.0"]}}, "neither follows nor neighbours"),
])
def test_bad_placements_name_the_agent(scenario_factory, agent, message):
    with pytest.raises(ValueError, match=message):
        sim.reset(scenario_factory(agents=[agent]), 0)


def test_background_pedestrians_stay_on_sidewalks_and_crosswalks(scenario_factory):
    import shapely

    sc = scenario_factory("intersection", {}, ego={"lane": "south_in.1", "s": 20.0, "speed": 0.0},
                          traffic={"pedestrians": 30}, duration=30.0)
    state = sim.reset(sc, 2)
    road = state.road
    walkable = shapely.union_all(
        [shapely.buffer(shapely.LineString(sw.path.points), sw.width / 2 + 0.3) for sw in road.sidewalks]
        + [shapely.Polygon(cw.polygon).buffer(0.3) for cw in road.crosswalks])
    peds = np.flatnonzero(state.agents.type == AgentType.PEDESTRIAN)
    assert len(peds) == 30
    crossed = set()
    for _ in range(300):
        state = sim.step(state)
        a = state.agents
        assert shapely.contains_xy(walkable, a.x[peds], a.y[peds]).all()
        for cw in road.crosswalks:
            inside = shapely.contains_xy(shapely.Polygon(cw.polygon), a.x[peds], a.y[peds])
            crossed.update(peds[inside].tolist())
    assert crossed  # some of them crossed the road at a crosswalk
