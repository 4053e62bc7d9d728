"""Route-frame actions: hand-computed geometry, round trips on the teacher's real plans in the simulator, and
the model trained and sampled in that frame."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from cordillera.model import ModelConfig
from cordillera.model.action_space import ACTION_LIMITS, ActionStats
from cordillera.model.config import ActionConfig, ConfigError
from cordillera.model.route_frame import (LATERAL_LIMIT_M, MAX_LATERAL_SPEED, clip_route_actions,
                                          route_frame_actions, route_frame_poses, smooth_offsets)
from cordillera.scenarios.families import get_family
from cordillera.teacher.planner import TeacherPlanner
from cordillera.train.data import action_stats
from cordillera.world import sim
from cordillera.world.types import Plan

STRAIGHT = np.column_stack([np.arange(20) * 2.0, np.zeros(20)])


def test_offset_route_hand_computed():
    """Ego 1 m left of a straight route, driving parallel to it at 10 m/s: acceleration 0, offset +1 m."""
    route = STRAIGHT - [0.0, 1.0]  # the route runs 1 m to the ego's right
    t = 0.1 * np.arange(1, 65)
    future = np.column_stack([10.0 * t, np.zeros(64), np.zeros(64)])
    actions = route_frame_actions(future, 10.0, route)
    np.testing.assert_allclose(actions[:, 1], 1.0, atol=1e-9)
    np.testing.assert_allclose(actions[:, 0], 0.0, atol=1e-6)
    poses = route_frame_poses(actions, 10.0, route)
    np.testing.assert_allclose(poses, future, atol=1e-6)


def test_zero_offset_follows_a_curved_route():
    """Offset 0 on a 50 m-radius left curve stays on the curve, beyond the 40 m of waypoints too (the frame
    continues straight there), with the yaw of the route's tangent."""
    angle = np.arange(20) * 2.0 / 50.0
    route = np.column_stack([50.0 * np.sin(angle), 50.0 - 50.0 * np.cos(angle)])
    poses = route_frame_poses(np.zeros((64, 2)), 5.0, route)  # 5 m/s: 32 m, all within the waypoints
    radius = np.hypot(poses[:, 0], poses[:, 1] - 50.0)
    np.testing.assert_allclose(radius, 50.0, atol=0.02)  # chords of 2 m on a 50 m circle: 1 cm sagitta
    np.testing.assert_allclose(poses[:, 2], np.arctan2(poses[:, 0], 50.0 - poses[:, 1]), atol=0.03)
    fast = route_frame_poses(np.zeros((64, 2)), 15.0, route)  # 96 m: past the last waypoint
    assert np.all(np.diff(fast[:, 0]) > 0) and fast[-1, 1] > route[-1, 1]


def test_speed_never_reverses_and_an_ended_route_continues_straight():
    brake = np.column_stack([np.full(64, -8.0), np.zeros(64)])
    poses = route_frame_poses(brake, 4.0, STRAIGHT)
    assert np.all(np.diff(poses[:, 0]) >= -1e-12) and poses[-1, 0] == pytest.approx(1.0, abs=0.05)  # v^2 / 2a
    ended = np.repeat([[3.0, 0.0]], 20, axis=0)  # every waypoint the route's last point
    poses = route_frame_poses(np.zeros((64, 2)), 10.0, ended)
    np.testing.assert_allclose(poses[:, 1], 0.0, atol=1e-9)
    np.testing.assert_allclose(poses[-1, 0], 64.0, atol=1e-6)


def test_driven_offsets_start_at_the_ego_and_drop_the_noise():
    """A sampled plan whose offsets are noisy and start 0.4 m beside the ego: the driven plan starts at the
    ego's offset, keeps the sample's change of offset near term and its offset far term, has its noise
    removed and never moves sideways faster than MAX_LATERAL_SPEED."""
    rng = np.random.default_rng(0)
    t = 0.1 * np.arange(1, 65)
    intended = 0.4 + 3.5 * np.clip((t - 2.0) / 3.0, 0.0, 1.0)  # 0.4 m off, then a lane change to the left
    noisy = intended + rng.normal(0.0, 0.1, 64)
    driven = smooth_offsets(noisy, 0.0, 0.1)
    assert abs(driven[0]) < 0.05  # begins where the ego is, not 0.4 m beside it
    assert np.abs(np.diff(np.concatenate([[0.0], driven]))).max() <= MAX_LATERAL_SPEED * 0.1 + 1e-12
    assert np.abs(driven[30:] - intended[30:]).max() < 0.15  # after the blend: the sample's own offsets
    assert np.abs(np.diff(driven, 2)).mean() < 0.2 * np.abs(np.diff(noisy, 2)).mean()  # the noise is gone
    poses = route_frame_poses(np.column_stack([np.zeros(64), noisy]), 10.0, STRAIGHT)
    assert abs(poses[0, 1]) < 0.05 and abs(poses[0, 2]) < 0.05  # no jump, no heading kick at the start


def test_clip_bounds_both_dimensions():
    clipped = clip_route_actions(np.array([[50.0, 30.0], [-50.0, -30.0]]), ACTION_LIMITS[0])
    np.testing.assert_allclose(clipped, [[ACTION_LIMITS[0][1], LATERAL_LIMIT_M], [ACTION_LIMITS[0][0], -LATERAL_LIMIT_M]])


def _teacher_moments(family: str, seed: int, steps: int, every: int = 10):
    planner = TeacherPlanner()
    state = sim.reset(get_family(family).sample(seed), seed)
    moments = []
    for k in range(steps):
        result = planner.decide(state)
        if k % every == 0:
            obs = sim.observe(state)
            moments.append((result.poses, obs.speed, obs.route_waypoints))
        state = sim.step(state, Plan(result.poses))
    futures, speeds, routes = (np.stack(x) for x in zip(*moments))
    return futures, speeds, routes


@pytest.mark.parametrize("family,seed", [("lane_follow_curved", 3), ("stalled_vehicle", 1)])
def test_teacher_plans_round_trip(family, seed):
    """The teacher's plans, through route-frame actions and back: under 5 cm over the first 3 s (what is
    driven before the next plans) in a bend and while passing a stalled car in the oncoming lane."""
    futures, speeds, routes = _teacher_moments(family, seed, 120)
    actions = clip_route_actions(route_frame_actions(futures, speeds, routes), ACTION_LIMITS[0])
    poses = route_frame_poses(actions, speeds, routes)
    error = np.linalg.norm(poses[:, :30, :2] - futures[:, :30, :2], axis=-1)
    assert error.max() < 0.05
    if family == "lane_follow_curved":  # lane keeping in a bend is offset ~0 at every step
        assert np.abs(actions[:, :20, 1]).max() < 0.3
    else:  # the pass is an offset of about a lane width
        assert np.abs(actions[..., 1]).max() > 2.5


def test_config_and_stats():
    with pytest.raises(ConfigError, match="frame"):
        ActionConfig(frame="frenet")
    doc = ModelConfig.tiny().to_dict()
    del doc["action"]["frame"], doc["action"]["lateral_scale_m"]  # a checkpoint written before the field
    assert ModelConfig.from_dict(doc).action.frame == "ego"
    samples = _Samples(ActionStats((0.1, 0.01), (0.7, 0.03)))
    route_stats = action_stats(samples, ActionConfig(frame="route", lateral_scale_m=1.5))
    assert route_stats.mean == (0.1, 0.0) and route_stats.std == (0.7, 1.5)
    assert action_stats(samples, ActionConfig()) is samples.stats


class _Samples(list):
    def __init__(self, stats):
        super().__init__()
        self.stats = stats


def test_model_trains_and_samples_in_the_route_frame(tokenizer, make_sample):
    """A tiny route-frame model: its targets are the lateral offsets / lateral_scale_m, its loss falls when it
    fits one batch, and its sampled plans are poses in the ego frame that follow the route."""
    from cordillera.model import CordilleraVLA

    config = dataclasses.replace(ModelConfig.tiny(), action=ActionConfig(frame="route", lateral_scale_m=2.0))
    torch.manual_seed(0)
    model = CordilleraVLA(config, tokenizer, ActionStats((0.0, 0.0), (1.0, 2.0)))
    samples = [dataclasses.replace(make_sample(seed), route_waypoints=STRAIGHT - [0.0, 1.0]) for seed in range(4)]
    batch = model.processor.collate(samples, targets=True)
    expected = route_frame_actions(np.stack([s.future for s in samples]), np.array([s.speed for s in samples]),
                                   np.stack([STRAIGHT - [0.0, 1.0]] * 4))
    np.testing.assert_allclose(batch.actions[..., 1].numpy(), expected[..., 1] / 2.0, atol=1e-5)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(40):
        loss = model.loss(batch, generator)["flow"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    model.eval()
    out = model.generate(model.processor.collate(samples[:2]), mode="never", num_samples=3,
                         generator=torch.Generator().manual_seed(1))
    assert out.poses.shape == (2, 3, 64, 3) and np.isfinite(out.poses).all()
    rebuilt = route_frame_poses(out.actions, np.array([s.speed for s in samples[:2]])[:, None],
                                np.stack([STRAIGHT - [0.0, 1.0]] * 2)[:, None])
    np.testing.assert_allclose(out.poses, rebuilt, atol=1e-4)
    assert np.abs(out.actions[..., 1]).max() <= LATERAL_LIMIT_M
