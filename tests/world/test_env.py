"""The gymnasium adapter: API conformance, determinism, episodes and action validation."""

import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import cordillera.world.env  # noqa: F401  (registers cordillera/Drive-v0)
from cordillera import constants as C
from cordillera.scenarios.schema import load_scenario
from cordillera.world.env import DriveEnv

CHECKS = [
    {"action_type": "accel_curvature"},
    {"action_type": "plan"},
    {"action_type": "accel_curvature", "bev": True},
]


@pytest.mark.parametrize("kwargs", CHECKS, ids=["accel_curvature", "plan", "bev"])
def test_check_env_passes(kwargs):
    env = DriveEnv("straight", duration_s=2.0, **kwargs)
    with warnings.catch_warnings():
        # the checker's advice on normalised Box bounds and on envs built without gymnasium.make is not an error
        warnings.filterwarnings("ignore", message=".*symmetric and normalized space.*")
        warnings.filterwarnings("ignore", message=".*not having a spec.*")
        check_env(env.unwrapped, skip_render_check=False)


@pytest.mark.parametrize("kwargs", CHECKS, ids=["accel_curvature", "plan", "bev"])
def test_observations_stay_in_the_space(kwargs):
    env = DriveEnv("intersection", duration_s=1.5, **kwargs)
    obs, _ = env.reset(seed=4)
    assert env.observation_space.contains(obs)
    rng = np.random.default_rng(0)
    for _ in range(15):
        action = rng.uniform(env.action_space.low, env.action_space.high).astype(np.float32)
        obs, reward, terminated, truncated, info = env.step(action)
        assert env.observation_space.contains(obs), {k: (v.dtype, v.min(), v.max()) for k, v in obs.items()}
        assert np.isfinite(reward)
        if terminated or truncated:
            break
    if kwargs.get("bev"):
        assert obs["bev"].shape == env.observation_space["bev"].shape and obs["bev"].std() > 0


@pytest.mark.parametrize("bev", [False, True])
def test_same_seed_same_observations(bev):
    a, b = DriveEnv("highway", duration_s=2.0, bev=bev), DriveEnv("highway", duration_s=2.0, bev=bev)
    obs_a, _ = a.reset(seed=11)
    obs_b, _ = b.reset(seed=11)
    for _ in range(5):
        for key in obs_a:
            np.testing.assert_array_equal(obs_a[key], obs_b[key])
        obs_a, *_ = a.step(np.array([0.5, 0.001], np.float32))
        obs_b, *_ = b.step(np.array([0.5, 0.001], np.float32))
    again, _ = a.reset(seed=11)
    first, _ = DriveEnv("highway", duration_s=2.0, bev=bev).reset(seed=11)
    for key in first:
        np.testing.assert_array_equal(again[key], first[key])
    if bev:  # the seed places the traffic, which only the BEV shows
        other, _ = DriveEnv("highway", duration_s=2.0, bev=True).reset(seed=12)
        assert not np.array_equal(other["bev"], first["bev"])


def test_fixed_action_episode_runs_to_truncation():
    env = DriveEnv("straight", duration_s=2.0)
    obs, info = env.reset(seed=0)
    assert info["t"] == 0.0
    total, steps = 0.0, 0
    while True:
        obs, reward, terminated, truncated, info = env.step(np.array([0.0, 0.0], np.float32))
        total += reward
        steps += 1
        if terminated or truncated:
            break
    assert steps == 20 and truncated and not terminated
    assert info["t"] == pytest.approx(2.0) and not info["collision"]
    summary = info["summary"]
    assert summary["steps"] == 20 and summary["simulated_s"] == 2.0 and summary["outcome"] == "survived"
    assert total == pytest.approx(summary["distance_m"], rel=0.05)  # reward is route progress [m]
    assert float(obs["speed"][0]) == pytest.approx(10.0, abs=0.3)  # zero acceleration holds the start speed


def test_collision_terminates_with_a_penalty():
    scenario = load_scenario({
        "map": {"builder": "straight", "params": {"length_m": 200.0}},
        "ego": {"lane": "fwd.0", "s": 20.0, "speed": 10.0},
        "agents": [{"id": "wall", "type": "stalled_vehicle", "lane": "fwd.0", "s": 40.0, "behavior": {"kind": "static"}}],
    })
    env = DriveEnv(scenario, duration_s=5.0)
    env.reset(seed=0)
    for _ in range(50):
        _, reward, terminated, truncated, info = env.step(np.array([0.0, 0.0], np.float32))
        if terminated or truncated:
            break
    assert terminated and not truncated and info["collision"]
    assert reward < -90.0
    assert info["summary"]["outcome"] == "collision" and info["summary"]["first_collision"]["agent"] == "wall"


def test_plan_action_drives_the_plan():
    env = DriveEnv("straight", action_type="plan", duration_s=2.0)
    obs, _ = env.reset(seed=0)
    t = np.arange(1, C.PLAN_STEPS + 1) * C.DT
    plan = np.stack([10.0 * t, np.zeros_like(t), np.zeros_like(t)], -1).reshape(-1).astype(np.float32)
    for _ in range(10):
        obs, *_ = env.step(plan)
    assert float(obs["speed"][0]) == pytest.approx(10.0, abs=0.3)
    np.testing.assert_allclose(obs["ego_history"][-1], [0.0, 0.0, 0.0], atol=1e-6)


@pytest.mark.parametrize(
    ("action_type", "action", "match"),
    [
        ("accel_curvature", [np.nan, 0.0], r"action: acceleration = nan is outside \[-8, 3\]"),
        ("accel_curvature", [0.0, 0.5], r"action: curvature = 0.5 is outside \[-0.2, 0.2\]"),
        ("accel_curvature", [-9.0, 0.0], r"action: acceleration = -9.0 is outside"),
        ("accel_curvature", [0.0, 0.0, 0.0], r"action: must have shape \(2,\) .* got \(3,\)"),
        ("accel_curvature", [[0.0, 0.0]], r"action: must have shape \(2,\)"),
        ("accel_curvature", "fast", r"action: not a numeric array"),
        ("plan", np.zeros((C.PLAN_STEPS, 3)), r"action: must have shape \(192,\) .* got \(64, 3\)"),
        ("plan", np.r_[np.zeros(7), np.inf, np.zeros(184)], r"action: pose 2 y = inf is outside"),
    ],
)
def test_invalid_actions_raise_clear_value_errors(action_type, action, match):
    env = DriveEnv("straight", action_type=action_type, duration_s=2.0)
    env.reset(seed=0)
    before = env.state
    with pytest.raises(ValueError, match=match):
        env.step(action)
    assert env.state is before  # nothing was stepped


def test_step_before_reset_and_bad_arguments():
    with pytest.raises(RuntimeError, match="reset"):
        DriveEnv("straight").step(np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="action_type"):
        DriveEnv("straight", action_type="steer")
    with pytest.raises(ValueError, match="render_mode"):
        DriveEnv("straight", render_mode="human")


def test_gymnasium_make():
    env = gymnasium.make("cordillera/Drive-v0", scenario="straight", duration_s=1.0, render_mode="rgb_array")
    assert env.spec.id == "cordillera/Drive-v0"
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs)
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    env.close()
