"""Closed-loop runner and its summary."""

from __future__ import annotations

import json

import pytest

from cordillera.policies import make_policy
from cordillera.scenarios.builtin import builtin_scenario
from cordillera.world.rollout import offroad_steps, rollout, summarize


def test_summary_of_a_clean_rollout_is_json_ready():
    final = rollout(builtin_scenario("straight"), make_policy("lane_follower"), seed=0, duration_s=5.0)
    s = summarize(final, wall_s=1.0)
    json.dumps(s)
    assert s["steps"] == 50 and s["simulated_s"] == pytest.approx(5.0) and s["outcome"] == "survived"
    assert s["distance_m"] > 40.0 and s["offroad_steps"] == 0


def test_offroad_is_detected_when_the_ego_leaves_the_road():
    # constant velocity goes straight on a curved road and leaves it
    final = rollout(builtin_scenario("curved"), make_policy("constant_velocity"), seed=0, duration_s=15.0)
    off = offroad_steps(final)
    assert not off[0] and off[-1]
    assert summarize(final)["outcome"] == "offroad"


def test_collision_outcome_names_the_agent(scenario_factory):
    sc = scenario_factory(agents=[{"id": "stalled", "type": "stalled_vehicle", "lane": "fwd.0", "s": 50.0,
                                   "behavior": {"kind": "static"}}])
    final = rollout(sc, make_policy("constant_velocity"), seed=0, stop_on_collision=True)
    s = summarize(final)
    assert s["outcome"] == "collision"
    assert s["first_collision"]["agent"] == "stalled" and s["first_collision"]["type"] == "stalled_vehicle"
    assert final.t < 10.0  # stopped at the collision


def test_lane_follower_stops_for_the_stalled_vehicle(scenario_factory):
    sc = scenario_factory(agents=[{"id": "stalled", "type": "stalled_vehicle", "lane": "fwd.0", "s": 80.0,
                                   "behavior": {"kind": "static"}}], duration=20.0)
    s = summarize(rollout(sc, make_policy("lane_follower"), seed=0))
    assert s["outcome"] == "survived"


def test_bad_policy_rate_is_rejected():
    with pytest.raises(ValueError, match="policy_hz"):
        rollout(builtin_scenario("straight"), make_policy("constant_velocity"), policy_hz=0.0)
