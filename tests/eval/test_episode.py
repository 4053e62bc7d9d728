"""One scenario: failure reasons, the reference rollout, reasoning-action consistency."""

import numpy as np
import pytest

from cordillera import constants as C
from cordillera.eval import episode
from cordillera.eval.episode import EpisodeTask, reasoning_consistency, replay, run_episode
from cordillera.eval.specs import PolicySpec, parse_policy_id
from cordillera.policies import Policy, base
from cordillera.world.types import Plan


def test_constant_velocity_hits_the_stalled_vehicle_and_says_so():
    record = run_episode(EpisodeTask(0, "stalled_vehicle", 20000, parse_policy_id("constant-velocity"), duration_s=7.0))
    assert record["status"] == "ok" and record["success"] is False
    assert record["failure"].startswith("at-fault stopped track collision with stalled (stalled_vehicle) at ")
    assert record["metrics"]["scenario.at_fault_collision"] is True
    assert record["metrics"]["pdm.reference_is_fallback"] is False  # the rule-based reference was used
    assert record["timing"]["reference_s"] > 0.0


def test_rule_based_is_its_own_reference(monkeypatch):
    calls = []
    real = episode.replay
    monkeypatch.setattr(episode, "replay", lambda task, *a, **k: calls.append(a) or real(task, *a, **k))
    record = run_episode(EpisodeTask(0, "lane_follow_straight", 20000, parse_policy_id("rule-based"), duration_s=3.0))
    assert calls == [()]
    assert record["metrics"]["pdm.ep"] == 1.0  # its progress over its own progress


class Narrator(Policy):
    """Keeps speed and heading and states a fixed decision with every plan (test only)."""

    name = "test_narrator"
    text = "Keep lane and keep speed: the road ahead is clear."

    def plan(self, obs):
        plan = Plan.from_speed_profile(np.full(C.PLAN_STEPS, max(obs.speed, 5.0)))
        return Plan(plan.poses, reasoning=self.text)


@pytest.mark.parametrize("text, expected", [
    ("Keep lane and keep speed: the road ahead is clear.", 1.0),
    ("Stop for the pedestrian ahead.", 0.0),
    ("The weather is nice.", 0.0),  # nothing recognisable: inconsistent by definition
])
def test_reasoning_action_consistency(monkeypatch, text, expected):
    monkeypatch.setitem(base._REGISTRY, Narrator.name, Narrator)
    monkeypatch.setattr(Narrator, "text", text)
    task = EpisodeTask(0, "lane_follow_straight", 20000, PolicySpec("narrator", Narrator.name), duration_s=2.0,
                       policy_hz=5.0)
    final, exc = replay(task)
    assert exc is None
    assert reasoning_consistency(final) == expected


def test_no_reasoning_gives_none():
    final, _ = replay(EpisodeTask(0, "lane_follow_straight", 20000, parse_policy_id("rule-based"), duration_s=1.0))
    assert reasoning_consistency(final) is None


class RaisesAtOnce(Policy):
    name = "test_raises_at_once"

    def plan(self, obs):
        raise ValueError("no weights")


def test_a_policy_that_raises_before_the_first_step(monkeypatch):
    monkeypatch.setitem(base._REGISTRY, RaisesAtOnce.name, RaisesAtOnce)
    task = EpisodeTask(4, "child_ball", 20001, PolicySpec("raises", RaisesAtOnce.name), duration_s=2.0)
    state, exc = replay(task)
    assert state is None and isinstance(exc, ValueError)
    record = run_episode(task)
    assert (record["index"], record["status"], record["error"]["stage"]) == (4, "error", "policy")
    assert record["tags"]["category"] == "vru"  # known even though nothing ran
