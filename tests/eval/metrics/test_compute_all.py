"""compute_all on real closed-loop rollouts: keys, JSON, and that incidents show up in every tradition."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cordillera.eval.metrics import RolloutLog, compute_all, reference_progress_m, route_progress_m
from cordillera.policies import make_policy
from cordillera.scenarios.builtin import builtin_scenario
from cordillera.scenarios.schema import load_scenario
from cordillera.world.rollout import offroad_steps, rollout


def scenario(agents=(), duration=10.0):
    return load_scenario({
        "name": "metrics-test",
        "map": {"builder": "straight", "params": {}},
        "ego": {"lane": "fwd.0", "s": 10.0, "speed": 10.0},
        "agents": list(agents),
        "traffic": {"vehicles": 0},
        "success": {"kind": "survive", "time_s": duration},
    })


@pytest.fixture(scope="module")
def clean():
    return rollout(builtin_scenario("straight"), make_policy("lane_follower"), seed=0, duration_s=5.0)


def test_clean_rollout_scores_high_and_is_json_ready(clean):
    m = compute_all(clean)
    json.dumps(m)
    assert m["pdm.nc"] == m["pdm.dac"] == m["pdm.ddc"] == m["pdm.tlc"] == 1.0
    assert m["epdms"] > 0.8 and m["alpasim.scene_score"] == 1.0 and m["carla.infraction_penalty"] == 1.0
    assert m["scenario.success"] and m["pdm.reference_is_fallback"]
    assert m["rules.school_bus"] is None and m["steps"] == 51 and m["duration_s"] == pytest.approx(5.0)
    for prefix in ("pdm.", "alpasim.", "carla.", "rules.", "scenario."):
        assert any(k.startswith(prefix) for k in m)


def test_compute_all_is_pure(clean):
    log = RolloutLog.from_state(clean)
    assert compute_all(clean) == compute_all(clean) == compute_all(log)


def test_rollout_log_matches_the_world_offroad_test(clean):
    off = rollout(builtin_scenario("curved"), make_policy("constant_velocity"), seed=0, duration_s=15.0)
    for final in (clean, off):
        np.testing.assert_array_equal(RolloutLog.from_state(final).offroad, offroad_steps(final))
    m = compute_all(off)
    assert m["pdm.dac"] == 0.0 and m["epdms"] == 0.0 and m["alpasim.offroad"] and not m["scenario.success"]


def test_collision_with_a_stalled_vehicle_in_every_tradition():
    sc = scenario([{"id": "stalled", "type": "stalled_vehicle", "lane": "fwd.0", "s": 50.0,
                    "behavior": {"kind": "static"}}])
    final = rollout(sc, make_policy("constant_velocity"), seed=0, stop_on_collision=True)
    m = compute_all(final)
    assert m["pdm.nc"] == 0.0 and m["epdms"] == 0.0  # a stalled vehicle is a vehicle track
    assert m["alpasim.collision_front"] == 1 and m["alpasim.collision_at_fault"] and m["alpasim.scene_score"] == 0.0
    assert m["carla.collisions_vehicle"] == 1 and m["carla.infraction_penalty"] == pytest.approx(0.6)
    assert m["scenario.at_fault_collision"] and not m["scenario.success"]


def test_reference_rollout_sets_the_progress_normaliser(clean):
    ref = rollout(builtin_scenario("straight"), make_policy("constant_velocity"), seed=0, duration_s=5.0)
    expected = route_progress_m(RolloutLog.from_state(ref))
    assert reference_progress_m(ref) == pytest.approx(expected)
    m = compute_all(clean, reference=ref)
    assert m["pdm.reference_progress_m"] == pytest.approx(expected) and not m["pdm.reference_is_fallback"]
    assert compute_all(clean, reference=12.5)["pdm.reference_progress_m"] == 12.5


def test_baseline_ignores_the_school_bus_and_the_emergency_vehicle():
    # the lane follower knows neither rule: both checks must catch it on real logs
    bus = scenario([{"id": "bus", "type": "bus", "lane": "bwd.0", "s": 220.0, "behavior": {"kind": "static"},
                     "flags": ["school_bus"]}])
    m = compute_all(rollout(bus, make_policy("lane_follower"), seed=0))
    assert m["rules.school_bus"] == 0.0 and not m["scenario.rules_passed"]
    ev = scenario([{"id": "ev", "type": "car", "lane": "fwd.0", "s": 0.0, "speed": 15.0,
                    "behavior": {"kind": "idm", "desired_speed": 20.0}, "flags": ["emergency"]}])
    m = compute_all(rollout(ev, make_policy("lane_follower"), seed=0))
    assert m["rules.emergency_vehicle"] == 0.0 and m["carla.yield_emergency_vehicle"] == 1
