"""The 10 Hz meta-action detector: hand-computed trajectories, segment smoothing, and its agreement with the
whole-trajectory classifier the consistency metric uses."""

from __future__ import annotations

import numpy as np
import pytest

from cordillera.eval.metrics.config import MetaActionConfig
from cordillera.eval.metrics.meta_actions import Segment, detect_meta_actions, speed_change
from cordillera.eval.metrics.reasoning import classify_meta_action


def _straight(speeds, lateral=None, dt=0.1):
    """Poses (T, 3) driving +x at the given speed per step [m/s]; lateral (T,) offsets with matching headings."""
    v = np.asarray(speeds, dtype=np.float64)
    x = np.concatenate([[0.0], np.cumsum(v[:-1] * dt)])
    y = np.zeros_like(x) if lateral is None else np.asarray(lateral, dtype=np.float64)
    yaw = np.arctan2(np.gradient(y), np.maximum(np.gradient(x), 1e-9))
    return np.stack([x, y, yaw], -1)


def _labels(segments):
    return [s.label for s in segments]


def test_constant_speed_is_one_maintain_segment():
    t = detect_meta_actions(_straight(np.full(50, 10.0)))
    assert t.segments("longitudinal") == [Segment("maintain_speed", 0, 50)]
    assert t.segments("steering") == [Segment("go_straight", 0, 50)]
    assert t.segments("lane") == [Segment("lane_keep", 0, 50)]
    assert t.changes() == []


def test_gentle_then_strong_braking_to_a_stop():
    # 2 s at 10 m/s, 2 s at -1 m/s^2 (gentle: 0.15 <= 1 < 1.4, delta v 2 m/s), 2 s at -4 m/s^2 to 0, then 2 s still
    v = np.concatenate([np.full(20, 10.0), 10.0 - np.arange(1, 21) * 0.1, 8.0 - np.arange(1, 21) * 0.4,
                        np.zeros(20)])
    v = np.maximum(v, 0.0)
    t = detect_meta_actions(_straight(v), speeds=v)
    assert _labels(t.segments("longitudinal")) == ["maintain_speed", "gentle_deceleration", "strong_deceleration",
                                                   "stop"]
    segs = t.segments("longitudinal")
    # boundaries within the 0.5 s smoothing window of the true changes (steps 20, 40, 60)
    assert [abs(s.start - true) <= 3 for s, true in zip(segs[1:], (20, 40, 60))] == [True] * 3
    assert t.coarse(45) == ("yield", "keep_lane") and t.coarse(70) == ("stop", "keep_lane")


def test_a_small_speed_change_is_maintained():
    # -0.5 m/s^2 for 1 s: delta v 0.5 m/s < 0.8, so the segment rule keeps it "maintain_speed"
    v = np.concatenate([np.full(20, 10.0), 10.0 - np.arange(1, 11) * 0.05, np.full(20, 9.5)])
    t = detect_meta_actions(_straight(v), speeds=v)
    assert _labels(t.segments("longitudinal")) == ["maintain_speed"]


def test_short_blips_merge_into_neighbours():
    # a 0.3 s hard-brake blip (shorter than the 0.8 s minimum segment) inside steady driving
    v = np.full(60, 10.0)
    v[30:33] = [9.8, 9.6, 9.8]
    t = detect_meta_actions(_straight(v), speeds=v)
    assert _labels(t.segments("longitudinal")) == ["maintain_speed"]


def test_gentle_acceleration_from_standstill():
    v = np.concatenate([np.zeros(15), np.minimum(np.arange(1, 46) * 0.1, 10.0)])  # 1 m/s^2
    t = detect_meta_actions(_straight(v), speeds=v)
    assert _labels(t.segments("longitudinal")) == ["stop", "gentle_acceleration"]
    assert t.changes() == [t.segments("longitudinal")[1].start]


def test_lane_change_left_and_back_right_nudge():
    n = 60
    lc = np.concatenate([np.zeros(10), 3.5 * (1 - np.cos(np.linspace(0, np.pi, 40))) / 2, np.full(10, 3.5)])
    t = detect_meta_actions(_straight(np.full(n, 10.0), lc))
    lane = t.segments("lane")
    assert _labels(lane) == ["lane_keep", "lane_change_left", "lane_keep"]
    assert 8 <= lane[1].start <= 14
    nudge = np.concatenate([np.zeros(10), 0.5 * (1 - np.cos(np.linspace(0, 2 * np.pi, 40))) / 2, np.zeros(10)])
    t = detect_meta_actions(_straight(np.full(n, 10.0), nudge))
    assert _labels(t.segments("lane")) == ["lane_keep", "shift_left", "shift_right", "lane_keep"]


def test_turn_right_after_straight():
    # 2 s straight at 8 m/s, then a quarter circle of radius 12 m (0.083 rad/m >= 0.05: sharp)
    straight = np.stack([np.arange(20) * 0.8, np.zeros(20), np.zeros(20)], -1)
    phi = np.arange(1, 25) * (0.8 / 12.0)  # 8 m/s on radius 12 m
    phi = phi[phi <= np.pi / 2]
    x0 = straight[-1, 0]
    arc = np.stack([x0 + 12 * np.sin(phi), -12 * (1 - np.cos(phi)), -phi], -1)
    t = detect_meta_actions(np.vstack([straight, arc]))
    assert _labels(t.segments("steering")) == ["go_straight", "sharp_steer_right"]
    assert _labels(t.segments("lane")) == ["lane_keep", "turn_right"]


def test_whole_trajectory_classifier_uses_the_segment_rules():
    cfg = MetaActionConfig()
    v = np.linspace(10.0, 4.0, 31)  # -2 m/s^2 over 3 s
    assert speed_change(v, 0.1, cfg) == "strong_deceleration"
    assert classify_meta_action(_straight(v)).longitudinal == "yield"
    assert speed_change(np.linspace(10.0, 8.0, 31), 0.1, cfg) == "gentle_deceleration"
    # a single-segment trajectory: the detector and the whole-trajectory classifier agree
    t = detect_meta_actions(_straight(np.linspace(5.0, 7.0, 40)))
    assert _labels(t.segments("longitudinal")) == ["gentle_acceleration"]
    assert classify_meta_action(_straight(np.linspace(5.0, 7.0, 40))).longitudinal == "accelerate"


@pytest.mark.parametrize("poses, speeds, match", [
    (np.zeros((2, 3)), None, "T >= 3"),
    (np.full((5, 3), np.nan), None, "finite"),
    (np.zeros((5, 3)), np.zeros(4), "speeds"),
])
def test_bad_inputs_are_rejected(poses, speeds, match):
    with pytest.raises(ValueError, match=match):
        detect_meta_actions(poses, speeds=speeds)


def test_unknown_channel_is_rejected():
    with pytest.raises(ValueError, match="channel"):
        detect_meta_actions(_straight(np.full(10, 5.0))).segments("vertical")
