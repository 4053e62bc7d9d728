"""RL rewards: hand-computed cases on the real simulator and the evaluation's metric functions."""

from __future__ import annotations

import numpy as np
import pytest

from cordillera.model.config import ConfigError
from cordillera.scenarios.schema import load_scenario
from cordillera.train.rewards import (PromptContext, RewardConfig, ade, combine, comfort_reward, consistency_reward,
                                      grounding_reward, imitation_reward, object_mentions, safety_reward,
                                      score_completion, simulate_plan)
from cordillera.world import sim


def scenario(agents=()):
    return load_scenario({
        "name": "rl-reward", "map": {"builder": "straight", "params": {}},
        "ego": {"lane": "fwd.0", "s": 10.0, "speed": 10.0}, "agents": list(agents), "events": [],
        "traffic": {"vehicles": 0}, "success": {"kind": "survive", "time_s": 10.0}})


def straight(speed: float, lateral=None) -> np.ndarray:
    """(64, 3) ego-frame plan at constant speed; lateral: optional (64,) y offsets."""
    x = speed * 0.1 * np.arange(1, 65)
    y = np.zeros(64) if lateral is None else np.asarray(lateral, dtype=np.float64)
    yaw = np.arctan2(np.gradient(y), np.gradient(x))
    return np.column_stack([x, y, yaw])


def stopping(v0: float, decel: float) -> np.ndarray:
    t = 0.1 * np.arange(1, 65)
    t_stop = v0 / decel
    tt = np.minimum(t, t_stop)
    x = v0 * tt - 0.5 * decel * tt * tt
    return np.column_stack([x, np.zeros(64), np.zeros(64)])


@pytest.fixture(scope="module")
def stopped_car_state():
    return sim.reset(scenario([{"id": "stopped", "type": "car", "lane": "fwd.0", "s": 40.0,
                                "behavior": {"kind": "static"}}]), seed=0)


@pytest.fixture(scope="module")
def empty_state():
    return sim.reset(scenario(), seed=0)


def context(state, teacher: np.ndarray, critical=None) -> PromptContext:
    return PromptContext(teacher, simulate_plan(state, teacher, 4.0), np.asarray(state.ego.pose), None, critical)


def test_plan_into_a_stopped_car_gets_the_collision_floor(stopped_car_state):
    cfg = RewardConfig()
    poses = straight(10.0)  # 40 m in 4 s; the car's rear is ~25 m ahead of the ego's front
    log = simulate_plan(stopped_car_state, poses, cfg.horizon_s)
    assert any(log.collisions)
    safety = safety_reward(log, cfg)
    assert safety.nc == 0.0 and safety.value == 0.0
    reward = score_completion("Keep lane", poses, log, context(stopped_car_state, poses), cfg)
    assert reward.gated == "collision" and reward.total == cfg.floor
    # braking to a stop 12.5 m later (10 m/s at 4 m/s^2) stays clear and is not gated
    brake = stopping(10.0, 4.0)
    ok = score_completion("Stop for the stopped car", brake, simulate_plan(stopped_car_state, brake, 4.0),
                          context(stopped_car_state, brake), cfg)
    assert ok.gated is None and ok.details["nc"] == 1.0 and ok.total > 0


def test_plan_off_the_road_fails_drivable_area(empty_state):
    cfg = RewardConfig()
    poses = straight(10.0, lateral=np.linspace(0.0, 30.0, 64))  # 30 m to the left over 64 m
    log = simulate_plan(empty_state, poses, cfg.horizon_s)
    assert safety_reward(log, cfg).dac == 0.0
    reward = score_completion(None, poses, log, context(empty_state, poses), cfg)
    assert reward.gated == "offroad" and reward.total == cfg.floor


def test_simulate_plan_leaves_the_state_alone_and_starts_at_it(empty_state):
    before = len(empty_state.log)
    log = simulate_plan(empty_state, straight(10.0), 2.0)
    assert len(empty_state.log) == before
    assert log.steps == 21 and log.t[0] == empty_state.t
    np.testing.assert_allclose(log.ego[0], empty_state.log[-1].ego)


def test_lane_keeping_plan_scores_full_safety_progress_and_imitation(empty_state):
    cfg = RewardConfig()
    poses = straight(10.0)
    log = simulate_plan(empty_state, poses, cfg.horizon_s)
    reward = score_completion("Keep lane", poses, log, context(empty_state, poses), cfg)
    assert reward.gated is None
    assert reward.components["safety"] == 1.0
    assert reward.components["progress"] == 1.0  # same progress as the teacher (itself)
    assert reward.components["imitation"] == 1.0 and reward.details["ade_m"] == 0.0
    assert reward.components["grounding"] is None  # no critical objects known
    assert comfort_reward(log) == 1.0


def test_imitation_is_linear_in_ade_and_gated_beyond_the_threshold():
    cfg = RewardConfig(imitation_gate_m=3.0)
    target = straight(10.0)
    shifted = target + np.array([0.0, 1.0, 0.0])  # 1 m to the side everywhere: ADE 1 m
    assert ade(shifted, target) == pytest.approx(1.0)
    error, value = imitation_reward(shifted, target, cfg)
    assert error == pytest.approx(1.0) and value == pytest.approx(2.0 / 3.0)
    error, value = imitation_reward(target + np.array([3.0, 4.0, 0.0]), target, cfg)  # 5 m off
    assert error == pytest.approx(5.0) and value == 0.0


def test_imitation_gate_floors_the_total(empty_state):
    cfg = RewardConfig()
    teacher = straight(10.0)
    slow = straight(4.0)  # ADE: mean of 6 m/s * t over t = 0.1 .. 6.4 s = 6 * 3.25 = 19.5 m
    assert ade(slow, teacher) == pytest.approx(19.5)
    log = simulate_plan(empty_state, slow, 4.0)
    reward = score_completion("Keep lane", slow, log, context(empty_state, teacher), cfg)
    assert reward.gated == "imitation" and reward.total == cfg.floor
    relaxed = RewardConfig(gate_on_imitation=False)
    reward = score_completion("Keep lane", slow, log, context(empty_state, teacher), relaxed)
    assert reward.gated is None and reward.components["imitation"] == 0.0


def test_consistency_is_one_for_a_matching_decision_and_zero_otherwise():
    pose = np.zeros(3)
    stop = stopping(8.0, 3.0)  # stops after 2.7 s and stays
    assert consistency_reward("Stop for the red light", stop, pose, None) == 1.0
    assert consistency_reward("Accelerate onto the open road", stop, pose, None) == 0.0
    keep = straight(10.0)
    assert consistency_reward("Keep lane, the road is clear", keep, pose, None) == 1.0
    assert consistency_reward("Turn left at the junction", keep, pose, None) == 0.0
    assert consistency_reward("the road is clear", keep, pose, None) == 0.0  # no decision stated
    assert consistency_reward(None, keep, pose, None) == 0.0


def test_grounding_precision_and_recall_by_hand():
    assert object_mentions("Yield to the pedestrian, the parked car is on our right") == {"pedestrian", "car"}
    assert object_mentions("Stop behind the school bus") == {"school bus"}  # not also "bus"
    g = grounding_reward("Yield to the pedestrian, the parked car is on our right", {"pedestrian"})
    assert (g.precision, g.recall, g.f1) == (0.5, 1.0, pytest.approx(2.0 / 3.0))
    g = grounding_reward("Keep lane", {"pedestrian"})  # misses the cause
    assert (g.precision, g.recall, g.f1) == (1.0, 0.0, 0.0)
    g = grounding_reward("Stop for the red light", {"signal", "stalled vehicle"})
    assert (g.precision, g.recall) == (1.0, 0.5)


def test_combine_is_the_weighted_mean_of_scored_components():
    cfg = RewardConfig(safety=1.0, progress=0.5, comfort=0.0)
    assert combine({"safety": 1.0, "progress": 0.5, "comfort": 0.0, "grounding": None}, cfg, None) \
        == pytest.approx((1.0 * 1.0 + 0.5 * 0.5) / 1.5)
    assert combine({"safety": 1.0}, cfg, "collision") == cfg.floor


def test_reward_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="safety"):
        RewardConfig(safety=-1.0)
    with pytest.raises(ConfigError, match="floor"):
        RewardConfig(floor=0.5)
    with pytest.raises(ConfigError, match="at least one"):
        RewardConfig(safety=0, progress=0, comfort=0, imitation=0, consistency=0, grounding=0)



def test_a_completion_without_reasoning_is_scored_on_driving_alone(empty_state):
    cfg = RewardConfig()
    poses = straight(10.0)
    log = simulate_plan(empty_state, poses, cfg.horizon_s)
    silent = score_completion(None, poses, log, context(empty_state, poses), cfg)
    assert silent.components["consistency"] is None and silent.components["grounding"] is None
    parts = [(cfg.safety, 1.0), (cfg.progress, 1.0), (cfg.comfort, 1.0), (cfg.imitation, 1.0)]
    assert silent.total == pytest.approx(sum(w * v for w, v in parts) / sum(w for w, _ in parts))  # = 1
    stated_nothing = score_completion("", poses, log, context(empty_state, poses), cfg)
    assert stated_nothing.components["consistency"] == 0.0  # an empty text is a reasoning that says nothing
    assert stated_nothing.total < silent.total
