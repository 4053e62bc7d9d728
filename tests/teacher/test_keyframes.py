"""Keyframes: decision changes (debounced), the ego's meta-action changes 0.5 s ahead, causes appearing."""

from __future__ import annotations

import numpy as np
import pytest

from cordillera.teacher.decisions import Constraint, Decision, Lateral, Longitudinal
from cordillera.teacher.keyframes import CRUISING, KeyframeConfig, keyframes

STOP = Decision(Longitudinal.STOP, Lateral.LANE_KEEPING)
FOLLOW = Decision(Longitudinal.LEAD_FOLLOWING, Lateral.LANE_KEEPING)


def _poses(speeds, dt=0.1):
    v = np.asarray(speeds, dtype=np.float64)
    x = np.concatenate([[0.0], np.cumsum(v[:-1] * dt)])
    return np.stack([x, np.zeros_like(x), np.zeros_like(x)], -1), v


def test_steady_cruising_has_no_keyframes():
    poses, v = _poses(np.full(80, 10.0))
    assert keyframes([CRUISING] * 80, poses, v) == []


def test_a_held_decision_change_is_a_keyframe_and_flicker_is_not():
    poses, v = _poses(np.full(80, 10.0))
    decisions = [CRUISING] * 30 + [FOLLOW] * 50
    assert keyframes(decisions, poses, v) == [30]
    flicker = [CRUISING] * 30 + [FOLLOW] * 2 + [CRUISING] * 48  # 0.2 s < min_decision_s
    assert keyframes(flicker, poses, v) == []


def test_braking_makes_a_keyframe_half_a_second_before():
    # cruise 4 s, then brake at 2 m/s^2 to a stop (5 s), then stand
    v = np.concatenate([np.full(40, 10.0), 10.0 - 0.2 * np.arange(1, 51), np.zeros(20)])
    poses, v = _poses(v)
    picks = keyframes([CRUISING] * len(v), poses, v)
    assert picks and abs(picks[0] - 35) <= 3  # the braking segment starts at ~40; 0.5 s earlier
    later = keyframes([CRUISING] * len(v), poses, v, config=KeyframeConfig(lead_s=1.0))
    assert abs(later[0] - 30) <= 3


def test_a_new_cause_is_a_keyframe():
    poses, v = _poses(np.full(60, 10.0))
    lead = Constraint("agent", agent=2, distance_m=30.0)
    constraints = [()] * 20 + [(lead,)] * 40
    assert keyframes([FOLLOW] * 60, poses, v, constraints) == [0, 20]  # the first decision is not cruising
    other = Constraint("agent", agent=5, distance_m=20.0)
    constraints = [(lead,)] * 30 + [(lead, other)] * 30
    assert keyframes([FOLLOW] * 60, poses, v, constraints) == [0, 30]


def test_nearby_meta_action_keyframes_merge_but_decision_changes_stay():
    v = np.concatenate([np.full(30, 10.0), 10.0 - 0.3 * np.arange(1, 31), np.full(20, 1.0)])
    poses, v = _poses(v)
    decisions = [CRUISING] * 30 + [STOP] * 50
    picks = keyframes(decisions, poses, v)
    assert 30 in picks and all(not (25 <= k < 30) for k in picks)  # the braking keyframe (~25) merged into 30


def test_mismatched_inputs_are_rejected():
    poses, v = _poses(np.full(10, 10.0))
    with pytest.raises(ValueError, match="poses"):
        keyframes([CRUISING] * 9, poses, v)
    with pytest.raises(ValueError, match="constraints"):
        keyframes([CRUISING] * 10, poses, v, [()] * 3)
