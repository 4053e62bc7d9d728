"""Action space: torch and numpy integration agree, round trips on bicycle-model trajectories, tokens."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cordillera.model.action_space import (ActionStats, actions_to_tokens, actions_to_trajectory, tokens_to_actions,
                                           trajectory_to_actions)
from cordillera.world.dynamics import EgoState, VehicleParams, accel_curvature_to_poses, rollout


def bicycle_trajectory(kind: str, speed: float) -> np.ndarray:
    """64 rear-axle poses (ego frame at the start) driven by the simulator's kinematic bicycle: the kind of
    trajectory the teacher and the plan tracker produce."""
    t = 0.1 * np.arange(64)
    if kind == "cruise":
        accel, rate = np.zeros(64), np.zeros(64)
    elif kind == "brake_to_stop":
        accel, rate = np.full(64, -3.0), np.zeros(64)
    elif kind == "lane_change":
        accel, rate = np.full(64, 0.3), 0.12 * np.sin(2 * np.pi * t / 3.0) * (t < 3.0)
    elif kind == "turn":
        accel, rate = np.where(t < 2.0, -1.5, 0.8), np.where(t < 1.5, 0.3, np.where(t < 3.0, -0.3, 0.0))
    else:
        raise ValueError(kind)
    states = rollout(EgoState(0.0, 0.0, 0.0, v=speed), accel, rate, VehicleParams(), 0.1)
    return states[1:, :3]


def test_numpy_path_is_the_dynamics_definition():
    rng = np.random.default_rng(0)
    actions = np.stack([rng.normal(0, 1, (3, 64)), rng.normal(0, 0.02, (3, 64))], -1)
    v0 = np.array([0.0, 5.0, 20.0])
    expected = accel_curvature_to_poses(actions[..., 0], actions[..., 1], v0, 0.1)
    np.testing.assert_array_equal(actions_to_trajectory(actions, v0), expected)


def test_torch_matches_numpy_and_is_differentiable():
    rng = np.random.default_rng(1)
    actions = np.stack([rng.normal(0, 1, (2, 5, 64)), rng.normal(0, 0.03, (2, 5, 64))], -1)
    v0 = rng.uniform(0, 25, (2, 5))
    reference = actions_to_trajectory(actions, v0)
    tensor = torch.tensor(actions, requires_grad=True)
    poses = actions_to_trajectory(tensor, torch.tensor(v0))
    assert poses.shape == (2, 5, 64, 3) and poses.dtype == torch.float64
    np.testing.assert_allclose(poses.detach().numpy(), reference, atol=1e-9)
    poses[..., 0].sum().backward()
    assert tensor.grad is not None and torch.isfinite(tensor.grad).all()


def test_scalar_v0_broadcasts():
    poses = actions_to_trajectory(torch.zeros(4, 64, 2), 10.0)
    np.testing.assert_allclose(poses[:, -1, 0].numpy(), 64.0, rtol=1e-6)


@pytest.mark.parametrize("kind", ["cruise", "brake_to_stop", "lane_change", "turn"])
@pytest.mark.parametrize("speed", [3.0, 12.0, 25.0])
def test_round_trip_under_5cm(kind, speed):
    poses = bicycle_trajectory(kind, speed)
    actions = trajectory_to_actions(poses, speed)
    assert actions.shape == (64, 2)
    back = actions_to_trajectory(actions, speed)
    error = np.linalg.norm(back[:, :2] - poses[:, :2], axis=1)
    assert error.max() < 0.05, f"{kind} at {speed} m/s: max error {error.max():.3f} m"


def test_round_trip_torch_batch():
    poses = torch.tensor(np.stack([bicycle_trajectory("turn", 10.0), bicycle_trajectory("cruise", 5.0)]))
    v0 = torch.tensor([10.0, 5.0])
    actions = trajectory_to_actions(poses, v0)
    assert isinstance(actions, torch.Tensor) and actions.shape == (2, 64, 2)
    back = actions_to_trajectory(actions, v0)
    assert (back[..., :2] - poses[..., :2]).norm(dim=-1).max() < 0.05


def test_shape_errors():
    with pytest.raises(ValueError, match=r"\(\.\.\., T, 2\)"):
        actions_to_trajectory(np.zeros((64, 3)), 1.0)
    with pytest.raises(ValueError, match=r"\(\.\.\., T, 2\)"):
        actions_to_trajectory(torch.zeros(64), 1.0)


def test_stats_normalise_and_serialise():
    stats = ActionStats.from_actions(np.array([[1.0, 0.0], [3.0, 0.2]]))
    assert stats.mean == (2.0, 0.1)
    x = torch.tensor([[2.0, 0.1], [3.0, 0.2]])
    np.testing.assert_allclose(stats.normalize(x).numpy(), [[0.0, 0.0], [1.0, 1.0]], atol=1e-6)
    np.testing.assert_allclose(stats.denormalize(stats.normalize(x)).numpy(), x.numpy(), atol=1e-6)
    assert ActionStats.from_dict(stats.to_dict()) == stats
    with pytest.raises(ValueError, match="stds positive"):
        ActionStats((0.0, 0.0), (1.0, 0.0))
    with pytest.raises(ValueError, match="'mean' and 'std'"):
        ActionStats.from_dict({"mean": [0, 0]})


def test_tokens_round_trip_to_half_a_bin():
    x = torch.randn(3, 64, 2)
    tokens = actions_to_tokens(x, bins=256, value_range=5.0)
    assert tokens.shape == (3, 128) and tokens.min() >= 0 and tokens.max() < 256
    back = tokens_to_actions(tokens, bins=256, value_range=5.0)
    assert back.shape == x.shape
    assert (back - x.clamp(-5, 5)).abs().max() <= 5.0 / 256 + 1e-6
    assert actions_to_tokens(torch.tensor([[[-99.0, 99.0]]]), 256, 5.0).tolist() == [[0, 255]]
