"""Procedural map builders: every parameter set validates, names resolve, geometry and control are right."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cordillera.world.roads import BUILDERS, Boundary, MapError, RoadMap, build_map

PARAM_SETS = {
    "straight": [
        {},
        {"lanes_per_direction": 1, "median_m": 2.0, "parking_lane": True},
        {"lanes_per_direction": 4, "two_way": False, "sidewalks": False, "length_m": 50},
        {"lanes_per_direction": 3, "two_way": False, "parking_lane": True, "lane_width": 3.0},
    ],
    "curved": [
        {},
        {"angle_deg": -60.0, "radius_m": 30.0, "lanes_per_direction": 1, "lead_m": 0.0},
        {"angle_deg": 180.0, "radius_m": 50.0, "parking_lane": True, "median_m": 1.5},
        {"angle_deg": 45.0, "two_way": False, "lanes_per_direction": 3},
    ],
    "intersection": [
        {},
        {"lanes_per_direction": 1},
        {"lanes_per_direction": 3, "protected_left": True},
        {"lanes_per_direction": 1, "protected_left": True, "sidewalks": False},
        {"signalized": False, "arm_length_m": 40},
        {"signalized": False, "protected_left": True},
    ],
    "t_junction": [
        {},
        {"control": "yield", "major_lanes": 2, "minor_lanes": 2},
        {"major_lanes": 3, "sidewalks": False},
    ],
    "highway": [{}, {"lanes": 1}, {"lanes": 6, "length_m": 200}],
    "highway_merge": [{}, {"lanes": 2, "accel_lane_m": 80, "merge_start_m": 150}, {"lanes": 4}],
}
CASES = [(name, p) for name, sets in PARAM_SETS.items() for p in sets]


def _names(road: RoadMap) -> dict[int, str]:
    return {v: k for k, v in road.names.items()}


def test_every_builder_is_covered():
    assert set(PARAM_SETS) == set(BUILDERS)


@pytest.mark.parametrize("name,params", CASES)
def test_built_maps_validate_and_are_named(name, params):
    road = build_map(name, params)
    road.validate()
    assert road.name == name
    assert set(road.params) >= set(params) and all(road.params[k] == v for k, v in params.items())
    assert sorted(road.names.values()) == list(range(len(road.lanes)))  # every lane named exactly once
    for lane_name, i in road.names.items():
        assert road.lane_id(lane_name) == i


@pytest.mark.parametrize("name,params", CASES)
def test_connected_lanes_meet_and_centrelines_are_finely_sampled(name, params):
    road = build_map(name, params)
    for lane in road.lanes:
        for j in lane.successors:
            gap = np.hypot(*(lane.centerline.points[-1] - road.lanes[j].centerline.points[0]))
            assert gap < 1e-9
            heading_jump = lane.centerline.heading_at(lane.length) - road.lanes[j].centerline.heading_at(0.0)
            assert abs(math.remainder(float(heading_jump), 2 * math.pi)) < 0.12  # ~ one sample's turn on a curve
        # curves are sampled at <= 2 m; a longer segment must be a straight piece tangent to its neighbours
        line = lane.centerline
        turn = np.abs(np.diff(np.unwrap(line.heading_at(line.s[:-1] + 1e-9))))
        long = np.flatnonzero(np.diff(line.s) > 2.0)
        bends = np.concatenate([[0.0], turn, [0.0]])  # heading change at each vertex
        assert np.all(np.maximum(bends[long], bends[long + 1]) < 0.05)


@pytest.mark.parametrize("name,params", CASES)
def test_drivable_area_covers_every_centreline(name, params):
    road = build_map(name, params)
    points = np.concatenate([lane.centerline.points for lane in road.lanes])
    assert road.in_drivable_area(points).all()
    xmin, ymin, xmax, ymax = road.bounds()
    assert not road.in_drivable_area(np.array([[xmax + 50.0, ymax + 50.0], [xmin - 5.0, ymin - 5.0]])).any()


# ---- parameters ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,params,message",
    [
        ("straight", {"lane_width": 0.3}, r"straight\.lane_width: must be in \[2\.5, 5\.0\], got 0\.3"),
        ("straight", {"lanes_per_direction": 5}, r"straight\.lanes_per_direction: must be in \[1, 4\], got 5"),
        ("straight", {"lanes_per_direction": 1.5}, r"straight\.lanes_per_direction: must be an integer"),
        ("straight", {"length_m": float("nan")}, r"straight\.length_m: must be a finite number"),
        ("straight", {"two_way": "yes"}, r"straight\.two_way: must be true or false, got 'yes'"),
        ("straight", {"speed_limit": True}, r"straight\.speed_limit: must be a finite number"),
        ("straight", {"lenght_m": 100}, r"straight\.lenght_m: unknown parameter; known: .*length_m"),
        ("curved", {"radius_m": 15.0}, r"curved\.radius_m: must be in \(15\.0, 5000\.0\], got 15\.0"),
        ("curved", {"radius_m": 16.0, "lanes_per_direction": 4}, r"curved\.radius_m: must be >= road half width"),
        ("curved", {"angle_deg": 0}, r"curved\.angle_deg: must be nonzero"),
        ("intersection", {"lanes_per_direction": 4}, r"intersection\.lanes_per_direction: must be in \[1, 3\]"),
        ("intersection", {"green_s": -1}, r"intersection\.green_s: must be in"),
        ("t_junction", {"control": "signal"}, r"t_junction\.control: must be one of \['stop', 'yield'\], got 'signal'"),
        ("highway_merge", {"accel_lane_m": 500}, r"highway_merge\.accel_lane_m: the acceleration lane must end"),
        ("highway_merge", {"ramp_length_m": 300}, r"highway_merge\.ramp_length_m: must be <= merge_start_m"),
        ("highway", {"lanes": 0}, r"highway\.lanes: must be in \[1, 6\], got 0"),
    ],
)
def test_bad_params_name_the_field_and_value(name, params, message):
    with pytest.raises(MapError, match=message):
        build_map(name, params)


def test_params_are_recorded_with_defaults():
    road = build_map("straight", {"lanes_per_direction": 1})
    assert road.params["lanes_per_direction"] == 1
    assert road.params["length_m"] == 300.0 and road.params["lane_width"] == 3.5
    assert build_map("straight", {"lanes_per_direction": np.int64(2)}).params["lanes_per_direction"] == 2


# ---- straight and curved ------------------------------------------------------------------------------
def test_straight_layout_boundaries_and_neighbours():
    road = build_map("straight", {"lanes_per_direction": 2, "parking_lane": True, "length_m": 100.0})
    lane = {k: road.lanes[v] for k, v in road.names.items()}
    assert set(road.names) == {"fwd.0", "fwd.1", "bwd.0", "bwd.1", "fwd.parking", "bwd.parking"}
    np.testing.assert_allclose(lane["fwd.0"].centerline.points, [[0, -5.25], [100, -5.25]])
    np.testing.assert_allclose(lane["fwd.1"].centerline.points, [[0, -1.75], [100, -1.75]])
    np.testing.assert_allclose(lane["bwd.0"].centerline.points, [[100, 5.25], [0, 5.25]])
    np.testing.assert_allclose(lane["fwd.parking"].centerline.points[:, 1], -8.25)
    assert lane["fwd.parking"].kind == "parking" and lane["fwd.parking"].right_boundary == Boundary.CURB
    assert lane["fwd.0"].right_boundary == Boundary.SOLID and lane["fwd.0"].left_boundary == Boundary.DASHED
    assert lane["fwd.1"].left_boundary == Boundary.DOUBLE_YELLOW
    assert lane["fwd.1"].right_neighbor == road.names["fwd.0"] and lane["fwd.0"].left_neighbor == road.names["fwd.1"]
    assert lane["fwd.1"].left_opposite == road.names["bwd.1"] and lane["bwd.1"].left_opposite == road.names["fwd.1"]
    assert lane["fwd.0"].left_opposite is None
    assert len(road.sidewalks) == 2
    np.testing.assert_allclose(road.sidewalks[0].path.points[:, 1], -10.5)  # kerb at -9.5, 2 m wide
    np.testing.assert_allclose(road.sidewalks[1].path.points[:, 1], 10.5)


def test_straight_median_and_one_way():
    road = build_map("straight", {"lanes_per_direction": 1, "median_m": 3.0, "parking_lane": False})
    fwd = road.lanes[road.names["fwd.0"]]
    assert fwd.left_boundary == Boundary.SOLID and fwd.right_boundary == Boundary.CURB
    assert fwd.centerline.points[0, 1] == pytest.approx(-3.25)
    assert not road.in_drivable_area(np.array([[50.0, 0.0]]))[0]  # the median is not drivable
    one_way = build_map("straight", {"lanes_per_direction": 2, "two_way": False})
    assert set(one_way.names) == {"fwd.0", "fwd.1"}
    ys = [one_way.lanes[one_way.names[k]].centerline.points[0, 1] for k in ("fwd.0", "fwd.1")]
    assert ys == pytest.approx([-1.75, 1.75])
    assert one_way.lanes[one_way.names["fwd.1"]].left_boundary == Boundary.CURB


@pytest.mark.parametrize("angle", [90.0, -90.0, 150.0])
def test_curved_road_bends_the_right_way(angle):
    radius, lead, w = 60.0, 20.0, 3.5
    road = build_map("curved", {"angle_deg": angle, "radius_m": radius, "lead_m": lead, "lanes_per_direction": 1})
    fwd, bwd = road.lanes[road.names["fwd.0"]], road.lanes[road.names["bwd.0"]]
    theta = math.radians(angle)
    assert float(fwd.centerline.heading_at(fwd.length)) == pytest.approx(math.remainder(theta, 2 * math.pi), abs=1e-6)
    # the forward lane is offset to the right: on the outside of a left bend, the inside of a right one
    expected = 2 * lead + abs(theta) * (radius + math.copysign(w / 2, angle))
    assert fwd.length == pytest.approx(expected, rel=1e-3)
    np.testing.assert_allclose(fwd.centerline.points[0], [0.0, -w / 2], atol=1e-9)
    assert bwd.length == pytest.approx(2 * lead + abs(theta) * (radius - math.copysign(w / 2, angle)), rel=1e-3)


# ---- highways -------------------------------------------------------------------------------------------
def test_highway_mirrors_highway_env():
    road = build_map("highway")
    for i in range(3):
        lane = road.lanes[road.names[f"main.{i}"]]
        np.testing.assert_allclose(lane.centerline.points, [[0, -(2 - i) * 4.0], [1000, -(2 - i) * 4.0]])
        assert lane.speed_limit == 30.0
    assert road.lanes[road.names["main.0"]].left_neighbor == road.names["main.1"]


def test_highway_merge_ramp():
    road = build_map("highway_merge", {"lanes": 3, "lane_width": 3.7, "merge_start_m": 250, "accel_lane_m": 150})
    entry, accel = road.lanes[road.names["ramp.entry"]], road.lanes[road.names["ramp.accel"]]
    assert entry.kind == accel.kind == "ramp"
    assert entry.successors == (accel.id,) and accel.successors == ()
    assert accel.left_neighbor == road.names["main.0"]
    assert road.lanes[road.names["main.0"]].right_neighbor == accel.id
    np.testing.assert_allclose(accel.centerline.points, [[250, -11.1], [400, -11.1]])
    assert accel.left_boundary == Boundary.DASHED
    # the ramp comes in from the right (south) and never overlaps the highway
    assert entry.centerline.points[:, 1].max() == pytest.approx(-11.1)
