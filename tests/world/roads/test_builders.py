"""Procedural map builders: every parameter set validates, names resolve, geometry and control are right."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest

from cordillera.world.roads import BUILDERS, Boundary, Control, MapError, RoadMap, SignalState, build_map

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


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_construction_is_fast(name):
    build_map(name)  # warm up imports and caches
    best = min(_timed(name) for _ in range(3))
    assert best < 0.05, f"{name} took {best * 1e3:.1f} ms"


def _timed(name: str) -> float:
    t0 = time.perf_counter()
    build_map(name)
    return time.perf_counter() - t0


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


def test_unknown_builder_lists_the_known_ones():
    with pytest.raises(MapError, match="unknown map builder 'roundabout'; known: curved, highway, highway_merge"):
        build_map("roundabout")


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


# ---- junctions ------------------------------------------------------------------------------------------
def _connector_signal(road: RoadMap) -> dict[int, int]:
    """Signal id of every connector, through the stop line of the lane feeding it."""
    out = {}
    for lane in road.lanes:
        if lane.junction is not None:
            (pred,) = lane.predecessors
            out[lane.id] = road.stop_line_by_lane[pred].signal
    return out


def test_intersection_names_and_connectors():
    road = build_map("intersection", {"lanes_per_direction": 2})
    n = road.names
    for arm in ("south", "east", "north", "west"):
        for i in range(2):
            assert f"{arm}_in.{i}" in n and f"{arm}_out.{i}" in n and f"{arm}.straight.{i}" in n
        assert f"{arm}.left" in n and f"{arm}.right" in n
    left = road.lanes[n["south.left"]]
    assert left.junction == 0 and left.turn == "left"
    assert left.predecessors == (n["south_in.1"],) and left.successors == (n["west_out.1"],)
    right = road.lanes[n["south.right"]]
    assert right.predecessors == (n["south_in.0"],) and right.successors == (n["east_out.0"],)
    assert road.lanes[n["south.straight.0"]].successors == (n["north_out.0"],)
    assert float(road.lanes[n["south_in.0"]].centerline.heading_at(0.0)) == pytest.approx(math.pi / 2)
    assert road.lanes[n["south_in.0"]].centerline.points[0, 0] > road.lanes[n["south_in.1"]].centerline.points[0, 0]
    assert road.lanes[n["south_in.1"]].left_opposite == n["south_out.1"]
    assert len(road.junctions) == 1
    assert all(road.lanes[i].junction is None for i in (n["south_in.0"], n["north_out.1"]))


@pytest.mark.parametrize("params", [p for p in PARAM_SETS["intersection"] if p.get("signalized", True)])
def test_stop_lines_and_signals_cover_every_approach(params):
    road = build_map("intersection", params)
    approaches = [lane for lane in road.lanes if lane.successors and lane.junction is None]
    assert {sl.lane for sl in road.stop_lines} == {lane.id for lane in approaches}
    for sl in road.stop_lines:
        assert sl.control == Control.SIGNAL and sl.s == pytest.approx(road.lanes[sl.lane].length)
        assert sl.lane in road.signals[sl.signal].lanes


@pytest.mark.parametrize("params", [p for p in PARAM_SETS["intersection"] if p.get("signalized", True)])
def test_signals_never_give_conflicting_greens(params):
    road = build_map(params=params, name="intersection")
    signal_of = _connector_signal(road)
    pairs = [
        (a, b)
        for a, b in itertools.combinations(sorted(signal_of), 2)
        if b in road.conflicts(a) and b not in road.lanes[a].yield_to and a not in road.lanes[b].yield_to
    ]
    assert pairs  # crossing traffic exists, so the check below is not empty
    cycle = road.signals[0].cycle_s
    greens_seen = set()
    for t in np.arange(0.0, cycle, 0.1):
        going = {i for i, s in signal_of.items() if road.signals[s].state_at(t) != SignalState.RED}
        greens_seen |= going
        for a, b in pairs:
            assert not (a in going and b in going), f"t={t:.1f}: {a} and {b} both may go"
    assert greens_seen == set(signal_of)  # every movement gets a green at some point


@pytest.mark.parametrize("protected", [False, True])
def test_pedestrians_walk_only_when_through_traffic_across_them_is_red(protected):
    """While a crosswalk's signal is RED (walk), straight traffic over it is red, and so are protected lefts;
    right turns and permissive lefts may cross on green and yield to pedestrians."""
    road = build_map("intersection", {"protected_left": protected})
    signal_of = _connector_signal(road)
    assert len(road.crosswalks) == 4
    for cw in road.crosswalks:
        turns = {road.lanes[i].turn for i in cw.lanes}
        assert turns == {"left", "straight", "right"}
        stopping_turns = ("straight", "left") if protected else ("straight",)
        must_stop = [i for i in cw.lanes if road.lanes[i].turn in stopping_turns]
        walk_times = 0
        for t in np.arange(0.0, road.signals[0].cycle_s, 0.1):
            if road.signals[cw.signal].state_at(t) == SignalState.RED:
                walk_times += 1
                assert all(road.signals[signal_of[i]].state_at(t) == SignalState.RED for i in must_stop), t
        assert walk_times > 0


def test_unprotected_left_yields_to_oncoming_traffic():
    road = build_map("intersection", {"lanes_per_direction": 1})
    n = road.names
    assert set(road.lanes[n["south.left"]].yield_to) == {n["north.straight.0"], n["north.right"]}
    assert road.lanes[n["south.straight.0"]].yield_to == ()
    protected = build_map("intersection", {"protected_left": True})
    assert all(not lane.yield_to for lane in protected.lanes)
    pocket = protected.lanes[protected.names["south_in.2"]]
    assert protected.lanes[pocket.successors[0]].turn == "left"
    stop = protected.stop_line_by_lane
    assert stop[pocket.id].signal != stop[protected.names["south_in.0"]].signal


def test_all_way_stop():
    road = build_map("intersection", {"signalized": False})
    assert road.signals == ()
    assert len(road.stop_lines) == 8 and all(sl.control == Control.STOP for sl in road.stop_lines)
    assert all(cw.signal is None for cw in road.crosswalks)


@pytest.mark.parametrize("control,expected", [("stop", Control.STOP), ("yield", Control.YIELD)])
def test_t_junction_control_and_right_of_way(control, expected):
    road = build_map("t_junction", {"control": control})
    n = road.names
    assert {sl.lane for sl in road.stop_lines} == {n["south_in.0"]}
    assert all(sl.control == expected for sl in road.stop_lines)
    assert road.signals == ()
    assert set(n) >= {"south.left", "south.right", "west.right", "east.left", "west.straight.0", "east.straight.0"}
    assert "north_in.0" not in n
    major = {i for k, i in n.items() if k.startswith(("west.", "east."))}
    for name in ("south.left", "south.right"):
        lane = road.lanes[n[name]]
        assert lane.yield_to and set(lane.yield_to) == set(road.conflicts(lane.id)) & major
    assert set(road.lanes[n["south.left"]].yield_to) == {n["west.straight.0"], n["east.straight.0"], n["east.left"]}
    assert set(road.lanes[n["east.left"]].yield_to) == {n["west.straight.0"], n["west.right"]}
    assert road.lanes[n["west.straight.0"]].yield_to == ()
    (cw,) = road.crosswalks
    assert set(cw.lanes) == {n["south.left"], n["south.right"], n["west.right"], n["east.left"]}
    assert road.in_drivable_area(np.array([[0.0, 3.0]]))[0] and not road.in_drivable_area(np.array([[0.0, 12.0]]))[0]
