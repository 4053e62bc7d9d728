"""Policy ids and suite arguments: what builds, and the errors that name what exists."""

import pytest

from cordillera.eval.specs import CUSTOM_SUITE, PolicyIdError, SuiteError, parse_policy_id, parse_suite
from cordillera.policies.baselines import ConstantVelocity, LaneFollower
from cordillera.scenarios.suites import get_suite


def test_public_ids_map_to_the_baselines():
    cv = parse_policy_id("constant-velocity")
    assert (cv.id, cv.name) == ("constant-velocity", "constant_velocity")
    assert isinstance(cv.build(), ConstantVelocity)
    rb = parse_policy_id("rule-based")
    assert isinstance(rb.build(), LaneFollower)
    assert rb.build() is not rb.build()  # a fresh policy per rollout
    assert parse_policy_id("lane_follower").id == "rule-based"  # registry names record under the public id


@pytest.mark.parametrize("text, match", [
    ("vla:/no/such/checkpoint", "does not exist"),
    ("vla:", "give a checkpoint directory"),
    ("vla", "give a checkpoint directory"),
    ("ppo", "unknown policy 'ppo'; available: constant-velocity, rule-based"),
])
def test_unavailable_policies_name_what_exists(text, match):
    with pytest.raises(PolicyIdError, match=match):
        parse_policy_id(text)


def test_vla_with_a_directory_that_is_no_checkpoint(tmp_path):
    with pytest.raises(PolicyIdError, match="cannot load checkpoint|not available"):
        parse_policy_id(f"vla:{tmp_path}")


def test_named_and_explicit_suites():
    assert parse_suite("test") == get_suite("test")
    suite = parse_suite("stalled_vehicle:3, child_ball:0")
    assert suite.name == CUSTOM_SUITE
    assert suite.items == (("stalled_vehicle", 3), ("child_ball", 0))
    assert len(suite.hash) == 64 and suite.hash != parse_suite("child_ball:0,stalled_vehicle:3").hash


@pytest.mark.parametrize("text, match", [
    ("nightly", "unknown suite 'nightly'; known: train, val, test, longtail-holdout"),
    ("no_such_family:1", "unknown scenario family"),
    ("stalled_vehicle:x", "seed must be an integer"),
    ("stalled_vehicle:-1", "seed must be an integer"),
    ("child_ball:1,child_ball:1", "names an item twice"),
])
def test_bad_suites(text, match):
    with pytest.raises(SuiteError, match=match):
        parse_suite(text)


@pytest.mark.parametrize("text, reasoning, match", [
    ("rule-based", "always", "writes no reasoning; a reasoning mode applies to vla:PATH only"),
    ("vla:/no/such/checkpoint", "sometimes", "reasoning must be one of always, never, auto, got 'sometimes'"),
])
def test_reasoning_modes_are_checked(text, reasoning, match):
    with pytest.raises(PolicyIdError, match=match):
        parse_policy_id(text, reasoning=reasoning)
