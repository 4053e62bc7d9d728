"""RoadMap queries and validation on small hand-built maps and on built ones."""

from __future__ import annotations

import dataclasses

import numpy as np
import shapely

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cordillera.geometry import Polyline
from cordillera.world.roads import (
    Control,
    Crosswalk,
    Junction,
    Lane,
    MapError,
    RoadMap,
    Signal,
    SignalState,
    StopLine,
    build_map,
)


def _lane(i, points, **kw):
    return Lane(id=i, centerline=Polyline(points), width=3.5, speed_limit=10.0, **kw)


def _chain() -> RoadMap:
    """Two lanes end to end along +x: 0 -> 1."""
    return RoadMap(
        "chain",
        (_lane(0, [[0, 0], [50, 0]], successors=(1,)), _lane(1, [[50, 0], [100, 0]], predecessors=(0,))),
        names={"a": 0, "b": 1},
    )


def _replace_lane(road: RoadMap, i: int, **kw) -> RoadMap:
    lanes = list(road.lanes)
    lanes[i] = dataclasses.replace(lanes[i], **kw)
    return dataclasses.replace(road, lanes=tuple(lanes))


def test_valid_chain_passes():
    _chain().validate()


def test_validate_catches_one_sided_successor_link():
    broken = _replace_lane(_chain(), 1, predecessors=())
    with pytest.raises(MapError, match=r"lanes\[0\]\.successors: lane 1 does not list 0"):
        broken.validate()


def test_validate_catches_one_sided_predecessor_link():
    broken = _replace_lane(_chain(), 0, successors=())
    with pytest.raises(MapError, match=r"lanes\[1\]\.predecessors"):
        broken.validate()


def test_validate_catches_a_gap_between_connected_lanes():
    broken = _replace_lane(_chain(), 1, centerline=Polyline([[51, 0], [100, 0]]))
    with pytest.raises(MapError, match=r"do not meet \(gap 1\.000 m\)"):
        broken.validate()


def test_validate_catches_bad_ids_and_values():
    with pytest.raises(MapError, match=r"lanes\[0\]\.successors: unknown lane id 7"):
        _replace_lane(_chain(), 0, successors=(7,)).validate()
    with pytest.raises(MapError, match=r"lanes\[1\]\.id: expected 1, got 5"):
        _replace_lane(_chain(), 1, id=5).validate()
    with pytest.raises(MapError, match=r"lanes\[0\]\.width"):
        _replace_lane(_chain(), 0, width=0.0).validate()
    with pytest.raises(MapError, match=r"lanes\[0\]\.junction: unknown junction id 0"):
        _replace_lane(_chain(), 0, junction=0).validate()
    with pytest.raises(MapError, match=r"names\['ghost'\]"):
        dataclasses.replace(_chain(), names={"ghost": 9}).validate()


def test_validate_catches_non_mutual_neighbours():
    road = RoadMap("pair", (_lane(0, [[0, 0], [50, 0]], left_neighbor=1), _lane(1, [[0, 3.5], [50, 3.5]])))
    with pytest.raises(MapError, match=r"lanes\[0\]\.left_neighbor"):
        road.validate()


def test_validate_catches_an_unreachable_loop():
    loop = RoadMap(
        "island",
        (
            _lane(0, [[0, 0], [50, 0]]),
            _lane(1, [[0, 10], [50, 10]], successors=(2,), predecessors=(2,)),
            _lane(2, [[50, 10], [0, 10]], successors=(1,), predecessors=(1,)),
        ),
    )
    with pytest.raises(MapError, match="not reachable"):
        loop.validate()


def test_validate_catches_bad_stop_lines_signals_and_crosswalks():
    road = _chain()
    with pytest.raises(MapError, match=r"stop_lines\[0\]\.s"):
        dataclasses.replace(road, stop_lines=(StopLine(0, 0, 80.0, Control.STOP),)).validate()
    with pytest.raises(MapError, match=r"stop_lines\[0\]\.signal"):
        dataclasses.replace(road, stop_lines=(StopLine(0, 0, 50.0, Control.SIGNAL),)).validate()
    bad_signal = Signal(0, (4,), np.zeros(2), 0.0, 10.0, 3.0, 30.0)
    with pytest.raises(MapError, match=r"signals\[0\]\.lanes"):
        dataclasses.replace(road, signals=(bad_signal,)).validate()
    walk = Crosswalk(0, np.zeros((4, 2)), np.zeros(2), np.ones(2), (0,), signal=3)
    with pytest.raises(MapError, match=r"crosswalks\[0\]\.signal"):
        dataclasses.replace(road, crosswalks=(walk,)).validate()


def test_lane_id_by_name_and_int():
    road = _chain()
    assert road.lane_id("b") == 1
    assert road.lane_id(np.int64(0)) == 0
    with pytest.raises(MapError, match="unknown lane 'c'.*known: a, b"):
        road.lane_id("c")
    with pytest.raises(MapError, match="out of range"):
        road.lane_id(2)


def test_project_and_pose_at_on_a_chain():
    road = _chain()
    res = road.project(np.array([[75.0, 1.0], [10.0, -0.5], [10.0, 50.0]]))
    assert res.lane.tolist() == [1, 0, -1]
    np.testing.assert_allclose(res.s[:2], [25.0, 10.0])
    np.testing.assert_allclose(res.d[:2], [1.0, -0.5])
    xy, yaw = road.pose_at(1, 25.0, 1.0)
    np.testing.assert_allclose(xy, [75.0, 1.0])
    assert yaw == pytest.approx(0.0)


def test_heading_selects_the_direction_on_a_two_way_road():
    road = build_map("straight", {"lanes_per_direction": 1})
    on_centre_line = np.array([[100.0, 0.0], [100.0, 0.0]])
    res = road.project(on_centre_line, headings=np.array([0.05, np.pi - 0.05]))
    assert res.lane.tolist() == [road.names["fwd.0"], road.names["bwd.0"]]
    np.testing.assert_allclose(np.abs(res.heading_error), 0.05, atol=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 4),
    lane_pick=st.integers(0, 7),
    frac=st.floats(0.0, 1.0),
    dfrac=st.floats(-0.49, 0.49),
)
def test_projection_round_trip_on_straight_roads(n, lane_pick, frac, dfrac):
    road = _STRAIGHT[n]
    lane = road.lanes[lane_pick % len(road.lanes)]
    s, d = frac * lane.length, dfrac * lane.width
    xy, yaw = road.pose_at(lane.id, s, d)
    res = road.project(xy[None], headings=np.array([yaw]))
    assert res.lane[0] == lane.id
    assert res.s[0] == pytest.approx(s, abs=1e-6)
    assert res.d[0] == pytest.approx(d, abs=1e-6)


_STRAIGHT = {n: build_map("straight", {"lanes_per_direction": n, "length_m": 120.0}) for n in range(1, 5)}
_JUNCTIONS = [
    build_map("intersection", {"arm_length_m": 30.0}),
    build_map("intersection", {"arm_length_m": 30.0, "protected_left": True, "lanes_per_direction": 3}),
    build_map("t_junction", {"arm_length_m": 30.0, "major_lanes": 2}),
    build_map("curved", {"angle_deg": -120.0, "radius_m": 40.0}),
]


@settings(max_examples=200, deadline=None)
@given(
    which=st.integers(0, len(_JUNCTIONS) - 1),
    lane_pick=st.integers(0, 200),
    frac=st.floats(0.0, 1.0),
    dfrac=st.floats(-0.45, 0.45),
)
def test_projection_lands_on_a_lane_that_covers_the_point(which, lane_pick, frac, dfrac):
    """In a junction lanes overlap, so the match may be another lane, but it must cover the point."""
    road = _JUNCTIONS[which]
    lane = road.lanes[lane_pick % len(road.lanes)]
    xy, yaw = road.pose_at(lane.id, frac * lane.length, dfrac * lane.width)
    res = road.project(xy[None], headings=np.array([yaw]))
    found = road.lanes[int(res.lane[0])]
    if found.id != lane.id:
        linked = lane.id in found.successors + found.predecessors
        assert lane.junction is not None or found.junction is not None or linked
    assert abs(res.d[0]) <= found.width / 2.0 + 1e-6
    assert shapely.Polygon(road.lane_polygon(found.id)).buffer(1e-6).contains(shapely.Point(xy))
    if len(found.centerline) == 2:  # on straight centrelines (s, d) maps back exactly
        back, _ = road.pose_at(found.id, res.s[0], res.d[0])
        np.testing.assert_allclose(back, xy, atol=1e-6)


def test_lanes_within():
    road = build_map("straight", {"lanes_per_direction": 2, "lane_width": 3.5})
    names = {v: k for k, v in road.names.items()}
    near = road.lanes_within(np.array([50.0, -1.75]), 1.0)
    assert [names[i] for i in near] == ["fwd.1"]
    wide = road.lanes_within(np.array([50.0, -1.75]), 4.0)
    assert sorted(names[i] for i in wide) == ["bwd.1", "fwd.0", "fwd.1"]
    assert road.lanes_within(np.array([50.0, 100.0]), 5.0) == []


def test_drivable_area_and_bounds():
    road = build_map("straight", {"lanes_per_direction": 1, "length_m": 100.0, "sidewalks": False})
    inside = road.in_drivable_area(np.array([[50.0, 3.0], [50.0, -3.0], [1.0, 0.0]]))
    assert inside.all()
    assert not road.in_drivable_area(np.array([[50.0, 5.0], [150.0, 0.0]])).any()
    xmin, ymin, xmax, ymax = road.bounds()
    assert xmin == pytest.approx(-0.05) and xmax == pytest.approx(100.05)
    assert ymin == pytest.approx(-3.55) and ymax == pytest.approx(3.55)


def test_conflicts_crossing_merging_and_diverging():
    lanes = (
        _lane(0, [[-20, 0], [0, 0]], successors=(2, 3)),
        _lane(1, [[0, -20], [0, -10]], successors=(4,)),
        _lane(2, [[0, 0], [20, 0]], predecessors=(0,), successors=(5,), junction=0),
        _lane(3, [[0, 0], [10, 10]], predecessors=(0,), successors=(6,), junction=0),
        _lane(4, [[0, -10], [10, 10]], predecessors=(1,), successors=(6,), junction=0),
        _lane(5, [[20, 0], [40, 0]], predecessors=(2,)),
        _lane(6, [[10, 10], [10, 30]], predecessors=(3, 4)),
    )
    road = RoadMap("x", lanes, junctions=(Junction(0, np.array([[0, -10], [20, -10], [20, 10], [0, 10]])),))
    road.validate()
    assert road.conflicts(2) == (4,)  # 4 crosses 2; 3 diverges from 2's predecessor
    assert road.conflicts(3) == (4,)  # merge into lane 6
    assert road.conflicts(4) == (2, 3)
    assert road.conflicts(0) == ()


def test_signal_program():
    sig = Signal(0, (), np.zeros(2), 0.0, green_s=10.0, yellow_s=3.0, cycle_s=30.0, offset_s=5.0)
    assert sig.state_at(0.0) == SignalState.GREEN
    assert sig.state_at(5.0) == SignalState.YELLOW
    assert sig.state_at(8.0) == SignalState.RED
    assert sig.state_at(25.0) == SignalState.GREEN
