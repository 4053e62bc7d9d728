"""Meta-action classification, decision parsing, consistency and grounding."""

from __future__ import annotations

import numpy as np
import pytest

from cordillera.eval.metrics.reasoning import (
    MetaAction, classify_meta_action, consistency, expected_meta_actions, grounding, lane_reference,
)
from cordillera.world.roads import build_map


def _straight(speeds, lateral=None, dt=0.1):
    """Poses (T, 3) driving +x with the given speed per step; lateral (T,) offsets with matching headings."""
    v = np.asarray(speeds, dtype=np.float64)
    x = np.concatenate([[0.0], np.cumsum(v[:-1] * dt)])
    y = np.zeros_like(x) if lateral is None else np.asarray(lateral, dtype=np.float64)
    yaw = np.arctan2(np.gradient(y), np.maximum(np.gradient(x), 1e-9))
    return np.stack([x, y, yaw], -1)


@pytest.mark.parametrize("speeds, lon", [
    (np.full(31, 10.0), "keep"),
    (np.concatenate([np.linspace(10.0, 0.0, 21), np.zeros(10)]), "stop"),
    (np.zeros(31), "stop"),  # a stopped ego
    (np.linspace(10.0, 8.0, 31), "slow_down"),  # -0.67 m/s^2, -2 m/s
    (np.linspace(10.0, 4.0, 31), "yield"),  # -2.0 m/s^2: strong
    (np.linspace(5.0, 7.0, 31), "accelerate"),
    (np.linspace(10.0, 10.5, 31), "keep"),  # |delta v| < 0.8 m/s
])
def test_longitudinal_meta_actions(speeds, lon):
    assert classify_meta_action(_straight(speeds)).longitudinal == lon


def test_turns_from_heading_change_per_metre():
    phi = np.linspace(0.0, np.pi / 2, 31)  # quarter circle of radius 10 m: 0.1 rad/m
    left = np.stack([10 * np.sin(phi), 10 * (1 - np.cos(phi)), phi], -1)
    assert classify_meta_action(left) == MetaAction("keep", "turn_left")
    right = left * np.array([1.0, -1.0, -1.0])
    assert classify_meta_action(right).lateral == "turn_right"


@pytest.mark.parametrize("lateral, expected", [
    (-3.5 * (1 - np.cos(np.linspace(0, np.pi, 31))) / 2, "lane_change_right"),
    (0.5 * (1 - np.cos(np.linspace(0, 2 * np.pi, 31))) / 2, "nudge_left"),  # out 0.5 m and back, level start
    (0.2 * (1 - np.cos(np.linspace(0, 2 * np.pi, 31))) / 2, "keep_lane"),
])
def test_lateral_offsets(lateral, expected):
    assert classify_meta_action(_straight(np.full(31, 10.0), lateral)).lateral == expected


def test_a_curve_is_lane_keeping_against_the_lane_reference():
    road = build_map("curved", {"radius_m": 60.0, "angle_deg": 90.0})
    line = road.lanes[road.lane_id("fwd.0")].centerline
    s = np.linspace(60.0, 90.0, 31)
    xy, _ = line.interpolate(s)
    poses = np.column_stack([xy, line.tangent_heading(s)])
    assert classify_meta_action(poses).lateral == "lane_change_left"  # the start heading line is wrong on a curve
    ref = lane_reference(road, poses[0], 40.0)
    assert classify_meta_action(poses, reference=ref) == MetaAction("keep", "keep_lane")


def test_short_trajectories_are_rejected():
    with pytest.raises(ValueError, match="T >= 3"):
        classify_meta_action(np.zeros((2, 3)))


@pytest.mark.parametrize("label, lon, lat", [
    ("Yield", {"stop", "yield", "slow_down"}, None),
    ("Stop for static constraints", {"stop"}, None),
    ("Keep Distance", {"keep", "slow_down", "yield", "stop"}, None),
    ("Resume Speed", {"accelerate", "keep"}, None),
    ("Lane Change left", None, {"lane_change_left"}),
    ("lane_change_right", None, {"lane_change_right"}),
    ("Nudge to the left to increase clearance", None, {"nudge_left"}),
    ("Turn right", None, {"turn_right"}),
    ("Merge", None, {"lane_change_left", "lane_change_right"}),
    ("Lane keeping & centering", None, {"keep_lane"}),
    ("yield, keep lane", {"stop", "yield", "slow_down"}, {"keep_lane"}),
])
def test_expected_meta_actions_of_decision_labels(label, lon, lat):
    exp = expected_meta_actions(label)
    assert exp.longitudinal == (None if lon is None else frozenset(lon))
    assert exp.lateral == (None if lat is None else frozenset(lat))


def test_decision_records_and_unknown_labels():
    exp = expected_meta_actions({"longitudinal": "Stop", "lateral": "Turn left"})
    assert exp.longitudinal == frozenset({"stop"}) and exp.lateral == frozenset({"turn_left"})
    assert expected_meta_actions("banana") is None and expected_meta_actions(None) is None


def test_consistency_is_a_match_per_stated_channel():
    assert consistency("Yield", MetaAction("stop", "keep_lane")) == 1.0
    assert consistency("Accelerate", MetaAction("stop", "keep_lane")) == 0.0
    assert consistency("Lane change left", MetaAction("keep", "lane_change_right")) == 0.0
    assert consistency("Yield", MetaAction("yield", "lane_change_right")) == 1.0  # lateral not stated
    assert consistency({"longitudinal": "Yield", "lateral": "Keep lane"}, MetaAction("yield", "nudge_left")) == 0.0
    assert consistency("something odd", MetaAction("keep", "keep_lane")) == 0.0  # unparsable scores 0


def test_grounding_precision_recall():
    g = grounding(named={"ped_1", "car_3"}, causal={"ped_1"})
    assert (g.precision, g.recall) == (0.5, 1.0) and g.f1 == pytest.approx(2 / 3)
    assert grounding(set(), set()) == grounding({"a"}, {"a"})
    empty = grounding(set(), {"a"})
    assert (empty.precision, empty.recall, empty.f1) == (1.0, 0.0, 0.0)
