"""VLAPolicy: the Policy contract, reproducible sampling, and `explain`."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from cordillera.model import Sample, VLAPolicy, explain, explain_scenario
from cordillera.model.policy import select_sample
from cordillera.model.reasoning import PlanReasoning
from cordillera.policies import make_policy, policy_names
from cordillera.world.render.rig import default_rig
from cordillera.world.types import Observation, Plan


def observation(seed: int = 0, cameras=None, speed: float = 8.0) -> Observation:
    rng = np.random.default_rng(seed)
    names = default_rig().names if cameras is None else cameras
    history = np.column_stack([speed * 0.1 * np.arange(-15, 1), np.zeros(16), np.zeros(16)])
    return Observation(t=2.0, ego_history=history, speed=speed, acceleration=0.0, yaw_rate=0.0,
                       route_waypoints=np.column_stack([2.0 * np.arange(1, 21), np.zeros(20)]),
                       navigation="turn left in 40 m",
                       cameras={n: rng.integers(0, 256, (4, 128, 256, 3), dtype=np.uint8) for n in names})


def test_plan_follows_the_contract(make_model):
    policy = VLAPolicy(model=make_model(), num_samples=3, reasoning="always", max_reasoning_tokens=5)
    (rig,) = policy.sensors  # the checkpoint's cameras at its own resolution and frame count
    config = policy.model.config.rig
    assert rig.names == config.cameras and rig.frames == config.num_frames and not policy.privileged
    assert {(c.height, c.width) for c in rig.cameras} == {(config.image_height, config.image_width)}
    policy.reset({"seed": 1})
    plan = policy.plan(observation())
    assert isinstance(plan, Plan) and plan.poses.shape == (64, 3) and plan.samples.shape == (3, 64, 3)
    assert np.array_equal(plan.poses, plan.samples[0])  # the default drives the noise-free sample
    info = plan.reasoning
    assert isinstance(info, PlanReasoning) and info.reasoned and 0 < info.tokens <= 5
    assert set(info.decision) == {"longitudinal", "lateral"}
    assert {"preprocess", "vision", "prefill", "generation", "expert", "total"} == set(info.timings)


def test_reproducible_after_reset(make_model):
    policy = VLAPolicy(model=make_model(), num_samples=2, reasoning="always", seed=5, max_reasoning_tokens=6)
    observations = [observation(0), observation(1)]
    policy.reset()
    first = [policy.plan(o) for o in observations]
    policy.reset()
    second = [policy.plan(o) for o in observations]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.samples, b.samples)
        assert a.reasoning.text == b.reasoning.text
    policy.reset({"seed": 99})
    assert not np.array_equal(policy.plan(observations[0]).samples, first[0].samples)


def test_fewer_cameras_than_the_rig(make_model):
    policy = VLAPolicy(model=make_model(), num_samples=1, reasoning="never")
    plan = policy.plan(observation(cameras=["camera_front_wide_120fov"]))
    assert np.all(np.isfinite(plan.poses)) and not plan.reasoning.reasoned and plan.reasoning.text == ""


def test_registered(make_model):
    assert "vla" in policy_names()
    policy = make_policy("vla", model=make_model(), num_samples=1)
    assert isinstance(policy, VLAPolicy)
    with pytest.raises(ValueError, match="exactly one of checkpoint or model"):
        VLAPolicy()
    with pytest.raises(ValueError, match="reasoning must be one of"):
        VLAPolicy(model=make_model(), reasoning="maybe")


def test_explain(make_model):
    policy = VLAPolicy(model=make_model(), num_samples=2, reasoning="always", max_reasoning_tokens=4)
    obs = observation()
    result = explain(policy, obs, default_rig())
    assert "reasoning (written" in result.text and "decision:" in result.text and "timings [ms]" in result.text
    assert result.image.shape == (128, 256 * len(obs.cameras), 3) and result.image.dtype == np.uint8
    assert result.plan.samples.shape == (2, 64, 3)
    front = list(obs.cameras).index("camera_front_wide_120fov")
    tile = result.image[:, 256 * front: 256 * (front + 1)]
    changed = np.any(tile != obs.cameras["camera_front_wide_120fov"][-1], axis=-1)
    assert changed[40:].sum() > 50  # the plan drawn on the road ahead (below the horizon), not only the label


def test_explain_scenario_in_the_simulator(make_model, tmp_path):
    pytest.importorskip("cordillera.world.render.camera")  # the camera renderer
    from cordillera.scenarios.builtin import builtin_scenario

    policy = VLAPolicy(model=make_model(), num_samples=2, reasoning="always", max_reasoning_tokens=3)
    result = explain_scenario(policy, builtin_scenario("straight"), seed=0, t=0.5, driver=make_policy("lane_follower"))
    assert result.text.startswith("t = 0.5 s") and result.plan.poses.shape == (64, 3)
    config = policy.model.config.rig  # pictures at the renderer's size, larger than the model's frames
    assert result.image.shape[0] == 128 and result.image.shape[1] == 256 * len(config.cameras)
    assert {f.shape[1:3] for f in result.observation.cameras.values()} == {(config.image_height, config.image_width)}
    assert result.save_image(tmp_path / "explain.png").stat().st_size > 1000


def test_the_policy_sees_the_frames_the_data_factory_trains_on():
    """Training frames are drawn at the model's resolution (teacher/datagen.py). The renderer's default
    128 x 256 resized down is a different picture (anti-aliased edges, distant lights blended into the sky),
    so the policy asks for the training resolution: the same state gives the same pixels both ways."""
    from cordillera.model.config import RigConfig
    from cordillera.model.policy import model_rig
    from cordillera.scenarios.families import sample_family
    from cordillera.teacher.datagen import DatagenConfig, datagen_rig
    from cordillera.world import sim
    from cordillera.world.render.camera import observe_cameras

    state = sim.reset(sample_family("stop_and_go", 20000), seed=20000)
    for _ in range(12):
        state = sim.step(state, None)
    seen = sim.observe(state, (model_rig(RigConfig()),)).cameras
    trained, _ = observe_cameras(state, datagen_rig(DatagenConfig()))
    assert list(seen) == list(trained)
    for name in trained:
        assert seen[name].shape == (4, 64, 128, 3)
        np.testing.assert_array_equal(seen[name], trained[name])
    larger = sim.observe(state, RigConfig().cameras).cameras  # the renderer's 128 x 256: what the policy read before
    assert all(not np.array_equal(_area_resized(larger[n], 64, 128), trained[n]) for n in trained)


def _area_resized(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    import cv2

    return np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in frames])


def test_medoid_selection_ignores_a_stray_sample(make_model):
    straight = np.zeros((64, 3))
    straight[:, 0] = np.arange(1, 65)
    samples = np.stack([straight + [0.0, dy, 0.0] for dy in (10.0, 0.1, -0.1, 0.0, 0.2)])  # first one strays
    assert np.array_equal(select_sample(samples, "medoid"), samples[1])  # summed distances: 10.3 against >= 10.4
    assert np.array_equal(select_sample(samples, "first"), samples[0])
    with pytest.raises(ValueError, match="select must be"):
        VLAPolicy(model=make_model(), select="mean")


def test_noise_free_selection_drives_the_zero_noise_sample(make_model, tiny_config):
    """The default drives the sample integrated from zero noise; the other samples are the draws the medoid
    selection would see (the same random stream); a per-sample noise scale must match the sample count."""
    config = replace(tiny_config, expert=replace(tiny_config.expert, integrate_dtype="float32"))
    model = make_model(config)
    torch.nn.init.normal_(model.expert.out_proj.weight, std=0.5)  # zero at init: make the plans differ
    obs = observation()
    plans = {}
    for select in ("noise-free", "medoid"):
        policy = VLAPolicy(model=model, num_samples=4, reasoning="never", seed=3, select=select)
        policy.reset({"seed": 2})
        plans[select] = policy.plan(obs)
    free, medoid = plans["noise-free"], plans["medoid"]
    np.testing.assert_array_equal(free.samples[1:], medoid.samples[1:])
    assert not np.allclose(free.samples[0], medoid.samples[0]) and np.array_equal(free.poses, free.samples[0])
    batch = model.processor.collate([Sample.from_observation(obs)])
    zero = model.generate(batch, mode="never", num_samples=1, noise_scale=0.0)
    np.testing.assert_allclose(free.poses, zero.poses[0, 0], atol=1e-5)  # no draw in it: any seed gives it
    with pytest.raises(ValueError, match="2 entries for 4 samples"):
        model.generate(batch, mode="never", num_samples=4, noise_scale=[0.0, 1.0])
    with pytest.raises(ValueError, match="one number per sample"):
        model.generate(batch, mode="never", num_samples=2, noise_scale=[[0.0, 1.0]])
