"""Route planning, the route path, ego-frame waypoints and navigation text."""

from __future__ import annotations

import copy
import gc
import weakref

import numpy as np
import pytest

from cordillera.world.roads import (
    MapError,
    build_map,
    navigation_text,
    plan_route,
    plan_route_by_turns,
    route_from_pose,
    route_waypoints,
)

INTERSECTION = build_map("intersection", {"lanes_per_direction": 2, "arm_length_m": 80.0})
PROTECTED = build_map("intersection", {"lanes_per_direction": 2, "protected_left": True})
MERGE = build_map("highway_merge")


def _lane_names(road, route):
    names = {v: k for k, v in road.names.items()}
    return [names[i] for i in route.lanes]


def _check_path(road, route):
    """The path starts at the start lane's start, ends at the goal's end and passes every lane where it says."""
    first, last = road.lanes[route.lanes[0]], road.lanes[route.lanes[-1]]
    np.testing.assert_allclose(route.path.points[0], first.centerline.points[0], atol=1e-9)
    np.testing.assert_allclose(route.path.points[-1], last.centerline.points[-1], atol=1e-9)
    assert np.all(np.diff(route.lane_offsets) > 0)
    for k, lane_id in enumerate(route.lanes):
        on_lane = road.lanes[lane_id].centerline.interpolate(route.entry_s[k])[0]
        on_path = route.path.interpolate(route.lane_offsets[k])[0]
        np.testing.assert_allclose(on_path, on_lane, atol=1e-6)
    assert np.diff(route.path.s).min() > 0


def test_left_turn_route_through_the_intersection():
    route = plan_route(INTERSECTION, "south_in.1", "west_out.1")
    assert _lane_names(INTERSECTION, route) == ["south_in.1", "south.left", "west_out.1"]
    _check_path(INTERSECTION, route)
    turn = INTERSECTION.lanes[INTERSECTION.names["south.left"]]
    assert route.lane_offsets.tolist() == pytest.approx([0.0, 80.0, 80.0 + turn.length])
    assert route.length == pytest.approx(160.0 + turn.length)
    assert route.lane_index_at(85.0) == 1


def test_route_changes_lanes_to_reach_a_turn():
    route = plan_route(INTERSECTION, "south_in.0", "west_out.1")
    assert _lane_names(INTERSECTION, route) == ["south_in.0", "south_in.1", "south.left", "west_out.1"]
    _check_path(INTERSECTION, route)
    assert route.exit_s[0] < 80.0 and route.entry_s[1] > route.exit_s[0]  # the change moves forward
    pocket = plan_route(PROTECTED, "south_in.0", "west_out.1")
    assert _lane_names(PROTECTED, pocket) == ["south_in.0", "south_in.1", "south_in.2", "south.left", "west_out.1"]
    _check_path(PROTECTED, pocket)


def test_shortest_route_prefers_no_lane_change():
    route = plan_route(INTERSECTION, "south_in.0", "north_out.0")
    assert _lane_names(INTERSECTION, route) == ["south_in.0", "south.straight.0", "north_out.0"]
    assert route.path.points.shape == (4, 2)  # three straight lanes; shared points appear once
    assert route.length == pytest.approx(80.0 + INTERSECTION.lanes[route.lanes[1]].length + 80.0)


def test_unreachable_goal_names_both_lanes():
    with pytest.raises(MapError, match="from lane 'north_out.0' to lane 'south_in.0'"):
        plan_route(INTERSECTION, "north_out.0", "south_in.0")
    straight = build_map("straight")
    with pytest.raises(MapError, match="from lane 'fwd.0' to lane 'bwd.0'"):
        plan_route(straight, "fwd.0", "bwd.0")
    with pytest.raises(MapError, match="unknown lane 'nowhere'"):
        plan_route(straight, "fwd.0", "nowhere")


def test_plan_route_by_turns():
    route = plan_route_by_turns(INTERSECTION, "south_in.0", ["left"])
    assert _lane_names(INTERSECTION, route) == ["south_in.0", "south_in.1", "south.left", "west_out.1"]
    right = plan_route_by_turns(INTERSECTION, "east_in.1", ["right"])
    assert _lane_names(INTERSECTION, right) == ["east_in.1", "east_in.0", "east.right", "north_out.0"]
    with pytest.raises(MapError, match=r"turns\[0\]: must be"):
        plan_route_by_turns(INTERSECTION, "south_in.0", ["u-turn"])
    with pytest.raises(MapError, match=r"turns\[1\]: no 'left' turn reachable"):
        plan_route_by_turns(INTERSECTION, "south_in.0", ["left", "left"])


def test_waypoints_in_the_ego_frame():
    road = build_map("straight", {"lanes_per_direction": 1, "length_m": 100.0})
    route = plan_route(road, "fwd.0", "fwd.0")
    pose = np.array([10.0, -1.75 + 0.5, 0.0])  # 0.5 m left of the lane centre, heading along it
    wp = route_waypoints(route, pose, n=5, spacing_m=2.0)
    np.testing.assert_allclose(wp, [[0, -0.5], [2, -0.5], [4, -0.5], [6, -0.5], [8, -0.5]], atol=1e-9)
    turned = route_waypoints(route, np.array([10.0, -1.75, np.pi / 2]), n=3, spacing_m=2.0)
    np.testing.assert_allclose(turned, [[0, 0], [0, -2], [0, -4]], atol=1e-9)  # the path runs to the ego's right
    end = route_waypoints(route, np.array([99.0, -1.75, 0.0]), n=4, spacing_m=2.0)
    np.testing.assert_allclose(end[:, 0], [0, 1, 1, 1], atol=1e-9)  # clamped at the destination


def test_waypoints_follow_a_turn():
    route = plan_route(INTERSECTION, "south_in.1", "west_out.1")
    start = INTERSECTION.lanes[route.lanes[0]].centerline.interpolate(75.0)[0]
    wp = route_waypoints(route, np.array([start[0], start[1], np.pi / 2]), n=30, spacing_m=2.0)
    assert wp[0] == pytest.approx([0.0, 0.0], abs=1e-9)
    assert wp[-1, 1] > 10.0  # the route swings left
    assert np.all(np.hypot(*np.diff(wp, axis=0).T) <= 2.0 + 1e-9)


@pytest.mark.parametrize(
    "goal,s,text",
    [
        ("west_out.1", 40.0, "turn left in 40 m"),
        ("west_out.1", 43.0, "turn left in 35 m"),
        ("west_out.1", 79.0, "turn left now"),
        ("west_out.1", 90.0, "turn left now"),
        ("north_out.1", 50.0, "go straight through the intersection in 30 m"),
        ("north_out.1", 110.0, "follow the road"),
        ("west_out.1", 999.0, "arrive at the destination now"),
    ],
)
def test_navigation_text_at_the_intersection(goal, s, text):
    route = plan_route(INTERSECTION, "south_in.1", goal)
    assert navigation_text(INTERSECTION, route, s) == text


def test_navigation_text_right_turn_and_arrival():
    route = plan_route(INTERSECTION, "south_in.0", "east_out.0")
    assert navigation_text(INTERSECTION, route, 65.0) == "turn right in 15 m"
    end = route.length
    assert navigation_text(INTERSECTION, route, end - 25.0) == "arrive at the destination in 25 m"
    assert navigation_text(INTERSECTION, route, end - 61.0) == "follow the road"


def test_navigation_text_on_a_ramp():
    route = plan_route(MERGE, "ramp.entry", "main.0")
    assert _lane_names(MERGE, route) == ["ramp.entry", "ramp.accel", "main.0"]
    _check_path(MERGE, route)
    merge_at = route.lane_end_on_path(1)
    assert navigation_text(MERGE, route, merge_at - 120.0) == "merge left in 120 m"
    assert navigation_text(MERGE, route, merge_at + 1.0) == "merge left now"
    assert navigation_text(MERGE, route, route.lane_offsets[2] + 10.0) == "follow the road"
    highway = build_map("highway", {"length_m": 1000.0})
    far = plan_route(highway, "main.0", "main.0")
    assert navigation_text(highway, far, 0.0) == "follow the road"
    assert navigation_text(highway, far, 952.0) == "arrive at the destination in 50 m"


TWO_LANES = build_map("straight", {"lanes_per_direction": 2})


def test_route_from_pose_follows_the_lane_the_car_overtook_into():
    route = plan_route(TWO_LANES, "fwd.0", "fwd.0")  # the right lane, y = -5.25, to the road's end
    on_route = np.array([50.0, -5.0, 0.0])
    assert route_from_pose(TWO_LANES, route, on_route) is route
    overtaking = np.array([50.0, -1.9, 0.05])  # in fwd.1, the left lane
    local = route_from_pose(TWO_LANES, route, overtaking)
    assert _lane_names(TWO_LANES, local) == ["fwd.1"]  # no lane change back: the road's end is reached either way
    wp = route_waypoints(local, overtaking, n=5, spacing_m=2.0)
    np.testing.assert_allclose(wp[0], [0.0, 0.15 * np.cos(0.05)], atol=0.02)  # starts beside the car, 0.15 m left
    assert np.abs(route_waypoints(route, overtaking, n=5)[:, 1]).min() > 3.0  # the planned lane is a lane away
    np.testing.assert_allclose(local.path.points[-1], [300.0, -1.75], atol=1e-9)


def test_route_from_pose_changes_back_before_a_turn():
    route = plan_route_by_turns(INTERSECTION, "south_in.1", ["left"])  # the left turn leaves from the inner lane
    pose = np.array([5.25, -60.0, np.pi / 2])  # in south_in.0, the outer lane, 45 m before the junction
    local = route_from_pose(INTERSECTION, route, pose)
    assert _lane_names(INTERSECTION, local)[:3] == ["south_in.0", "south_in.1", "south.left"]
    assert local.lanes[-1] == route.lanes[-1]
    wp = route_waypoints(local, pose, n=40, spacing_m=1.0)
    assert abs(wp[0, 1]) < 0.05  # begins in the car's lane ...
    assert wp[-1, 1] == pytest.approx(3.5, abs=0.05)  # ... and is one lane to the left 39 m on, in time for the turn


def test_route_from_pose_at_the_very_end_of_the_other_lane():
    """An ego that reached the road's end in the lane beside its route (lane_change_for_turn:20001 raised
    here): the re-planned route still has a path, ending where the lane ends."""
    route = plan_route(TWO_LANES, "fwd.0", "fwd.0")
    at_end = np.array([300.0, -1.75, 0.0])  # the end of fwd.1
    local = route_from_pose(TWO_LANES, route, at_end)
    assert _lane_names(TWO_LANES, local) == ["fwd.1"] and local.length >= 1.0 - 1e-9
    wp = route_waypoints(local, at_end, n=3)
    assert np.isfinite(wp).all() and np.linalg.norm(wp[-1]) < 1.5


def test_route_from_pose_keeps_the_route_in_the_oncoming_lane_or_off_the_road():
    route = plan_route(TWO_LANES, "fwd.1", "fwd.1")
    oncoming = np.array([50.0, 1.75, 0.0])  # in bwd.1 but heading with the route: passing a blocked lane
    assert route_from_pose(TWO_LANES, route, oncoming) is route
    assert route_from_pose(TWO_LANES, route, np.array([50.0, -40.0, 0.0])) is route


def test_route_from_pose_cache_does_not_keep_maps_alive():
    road = copy.copy(TWO_LANES)  # a map of its own (build_map keeps the maps it built)
    route = plan_route(road, "fwd.0", "fwd.0")
    assert _lane_names(road, route_from_pose(road, route, np.array([50.0, -1.75, 0.0]))) == ["fwd.1"]
    alive = weakref.ref(road)
    del road, route
    gc.collect()
    assert alive() is None
