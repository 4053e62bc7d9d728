"""Junction maps (roads/junctions.py): intersection and T-junction names, connectors, signals, stop lines and
right of way. Every builder's shared checks (validation, connectivity, drivable area) are in test_builders.py."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from cordillera.world.roads import Control, RoadMap, SignalState, build_map

# signalised intersections: every lane count, with and without protected left turns
SIGNALIZED = [{"lanes_per_direction": n, "protected_left": p} for n in (1, 2, 3) for p in (False, True)]


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


@pytest.mark.parametrize("params", SIGNALIZED)
def test_stop_lines_and_signals_cover_every_approach(params):
    road = build_map("intersection", params)
    approaches = [lane for lane in road.lanes if lane.successors and lane.junction is None]
    assert {sl.lane for sl in road.stop_lines} == {lane.id for lane in approaches}
    for sl in road.stop_lines:
        assert sl.control == Control.SIGNAL and sl.s == pytest.approx(road.lanes[sl.lane].length)
        assert sl.lane in road.signals[sl.signal].lanes


@pytest.mark.parametrize("params", SIGNALIZED)
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
