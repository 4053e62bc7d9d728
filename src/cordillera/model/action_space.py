"""The model's action space: per step (acceleration, curvature), integrated into (x, y, yaw) poses.

    >>> import numpy as np, torch
    >>> from cordillera.model.action_space import actions_to_trajectory, trajectory_to_actions
    >>> poses = actions_to_trajectory(np.zeros((64, 2)), v0=10.0)          # (64, 3): 1 m per step straight ahead
    >>> actions = trajectory_to_actions(poses, v0=10.0)                    # (64, 2), back again (to ~1 mm)
    >>> poses_t = actions_to_trajectory(torch.zeros(8, 64, 2), torch.full((8,), 10.0))   # batched, differentiable

One definition of the integration (DESIGN.md "Action space"): numpy inputs go to
`cordillera.world.dynamics.accel_curvature_to_poses`; the torch version below is the same arithmetic on
tensors (autograd flows through it) and is tested against it. The inverse is the regularised least-squares
fit of `world.dynamics.poses_to_accel_curvature`; it builds training targets and has no gradient.

Training targets and generated actions are clipped to what the ego vehicle can do (`ACTION_LIMITS`,
`clip_actions`): the inverse fit of a logged future turns a near-standstill yaw change into a curvature of
several 1/m and an episode-end discontinuity into hundreds of m/s^2, and 1.4 % of such targets (train-v1)
inflated the curvature std ninefold (0.43 against 0.046 1/m clipped), which left lane-following curvatures
(0.01-0.03 1/m) below the expert's noise. Normalisation (`ActionStats`, computed on clipped actions) maps
actions to roughly unit scale for the flow-matching expert; the discrete
tokens (`actions_to_tokens`) are uniform bins over the normalised range, interleaved (a0, k0, a1, k1, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from cordillera.world.dynamics import VehicleParams, accel_curvature_to_poses, poses_to_accel_curvature

__all__ = ["actions_to_trajectory", "trajectory_to_actions", "ActionStats", "actions_to_tokens",
           "tokens_to_actions", "ACTION_LIMITS", "clip_actions"]


def _limits(params: VehicleParams = VehicleParams(), margin: float = 0.1) -> tuple[tuple[float, float], ...]:
    """((accel low, high) [m/s^2], (curvature low, high) [1/m]): the vehicle's actuator limits plus `margin`
    (relative), so clipping never touches a trajectory the ego can actually drive."""
    curvature = math.tan(params.max_steer_rad) / params.wheelbase_m * (1.0 + margin)
    return ((-params.max_brake * (1.0 + margin), params.max_accel * (1.0 + margin)), (-curvature, curvature))


ACTION_LIMITS = _limits()  # ((-8.8, 3.3) m/s^2, (-0.27, 0.27) 1/m) for the default vehicle


def clip_actions(actions):
    """Actions (..., 2) clipped to ACTION_LIMITS per dimension; numpy in, numpy out; torch in, torch out."""
    (a_low, a_high), (k_low, k_high) = ACTION_LIMITS
    if isinstance(actions, torch.Tensor):
        return torch.stack([actions[..., 0].clamp(a_low, a_high), actions[..., 1].clamp(k_low, k_high)], dim=-1)
    actions = np.asarray(actions, dtype=np.float64)
    return np.stack([np.clip(actions[..., 0], a_low, a_high), np.clip(actions[..., 1], k_low, k_high)], axis=-1)


def _wrap(angle: torch.Tensor) -> torch.Tensor:
    """Wrap to [-pi, pi) like geometry.wrap_angle (gradient 1 almost everywhere)."""
    return torch.remainder(angle + math.pi, 2.0 * math.pi) - math.pi


def _integrate_torch(actions: torch.Tensor, v0: torch.Tensor, dt: float) -> torch.Tensor:
    accel, curvature = actions[..., 0], actions[..., 1]  # (..., T)
    v0 = v0.to(actions.dtype)[..., None]  # (..., 1)
    speed = v0 + torch.cumsum(accel * dt, dim=-1)  # (..., T) speed at the end of each step
    speed_prev = torch.cat([v0.expand_as(speed[..., :1]), speed[..., :-1]], dim=-1)
    yaw = torch.cumsum(curvature * dt * 0.5 * (speed_prev + speed), dim=-1)  # yaw' = yaw + k v dt + k a dt^2 / 2
    yaw_prev = torch.cat([torch.zeros_like(yaw[..., :1]), yaw[..., :-1]], dim=-1)
    step_x = 0.5 * dt * (speed_prev * torch.cos(yaw_prev) + speed * torch.cos(yaw))
    step_y = 0.5 * dt * (speed_prev * torch.sin(yaw_prev) + speed * torch.sin(yaw))
    return torch.stack([torch.cumsum(step_x, -1), torch.cumsum(step_y, -1), _wrap(yaw)], dim=-1)


def actions_to_trajectory(actions, v0, dt: float = 0.1):
    """Poses (..., T, 3) [x, y, yaw] in the start frame (pose k at (k + 1) dt) from actions (..., T, 2)
    [acceleration m/s^2, curvature 1/m] and the start speed v0 (...) [m/s].

    numpy in, numpy out (float64, via world.dynamics); torch in, torch out (same dtype, differentiable).
    """
    if isinstance(actions, torch.Tensor):
        if actions.ndim < 2 or actions.shape[-1] != 2:
            raise ValueError(f"actions must have shape (..., T, 2), got {tuple(actions.shape)}")
        v0 = torch.as_tensor(v0, dtype=actions.dtype, device=actions.device)
        return _integrate_torch(actions, v0.expand(actions.shape[:-2]), dt)
    actions = np.asarray(actions, dtype=np.float64)
    if actions.ndim < 2 or actions.shape[-1] != 2:
        raise ValueError(f"actions must have shape (..., T, 2), got {actions.shape}")
    return accel_curvature_to_poses(actions[..., 0], actions[..., 1], np.broadcast_to(v0, actions.shape[:-2]), dt)


def trajectory_to_actions(poses, v0, dt: float = 0.1, reg: float = 0.1):
    """Actions (..., T, 2) [acceleration, curvature] whose integration best reproduces poses (..., T, 3)
    (start frame, start pose excluded) from start speed v0 (...): regularised least squares
    (world.dynamics.poses_to_accel_curvature; reg weights smoothness). torch in, torch out (no gradient).
    """
    if isinstance(poses, torch.Tensor):
        v0_np = torch.as_tensor(v0).detach().cpu().double().numpy()
        result = trajectory_to_actions(poses.detach().cpu().double().numpy(), v0_np, dt, reg)
        return torch.from_numpy(result).to(dtype=poses.dtype, device=poses.device)
    poses = np.asarray(poses, dtype=np.float64)
    accel, curvature = poses_to_accel_curvature(poses, np.broadcast_to(v0, poses.shape[:-2]), dt, reg=reg)
    return np.stack([accel, curvature], axis=-1)


@dataclass(frozen=True)
class ActionStats:
    """Per-dimension mean and standard deviation of (acceleration, curvature), saved as `stats.json`.

    The defaults are Alpamayo's published statistics until a dataset supplies its own (data/ writes
    `meta/stats.json`; `ActionStats.from_dict` reads its "actions" entry).
    """

    mean: tuple[float, float] = (0.029027, 0.000269)  # [m/s^2, 1/m]
    std: tuple[float, float] = (0.681043, 0.026148)  # [m/s^2, 1/m]

    def __post_init__(self) -> None:
        mean, std = tuple(float(m) for m in self.mean), tuple(float(s) for s in self.std)
        if len(mean) != 2 or len(std) != 2:
            raise ValueError(f"ActionStats needs 2 means and 2 stds, got {self.mean!r}, {self.std!r}")
        if not all(math.isfinite(v) for v in mean + std) or min(std) <= 0:
            raise ValueError(f"ActionStats: means must be finite and stds positive, got {mean}, {std}")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    @classmethod
    def from_actions(cls, actions: np.ndarray) -> "ActionStats":
        """Statistics of a set of actions (..., 2), clipped to ACTION_LIMITS first (see the module docstring)."""
        flat = clip_actions(np.asarray(actions, dtype=np.float64).reshape(-1, 2))
        return cls(tuple(flat.mean(0)), tuple(np.maximum(flat.std(0), 1e-6)))

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, doc: Any) -> "ActionStats":
        if not isinstance(doc, dict) or set(doc) != {"mean", "std"}:
            raise ValueError(f"action stats must be an object with 'mean' and 'std', got {doc!r}")
        return cls(tuple(doc["mean"]), tuple(doc["std"]))

    def normalize(self, actions: torch.Tensor) -> torch.Tensor:
        mean = actions.new_tensor(self.mean)
        return (actions - mean) / actions.new_tensor(self.std)

    def denormalize(self, actions: torch.Tensor) -> torch.Tensor:
        return actions * actions.new_tensor(self.std) + actions.new_tensor(self.mean)


def actions_to_tokens(normalized: torch.Tensor, bins: int, value_range: float) -> torch.Tensor:
    """Bin indices (..., 2 T) in [0, bins) of normalised actions (..., T, 2), interleaved a0, k0, a1, k1, ...;
    values outside [-value_range, value_range] are clamped to the end bins."""
    scaled = (normalized.clamp(-value_range, value_range) + value_range) / (2.0 * value_range)  # [0, 1]
    index = torch.clamp((scaled * bins).long(), 0, bins - 1)
    return index.flatten(-2)


def tokens_to_actions(tokens: torch.Tensor, bins: int, value_range: float) -> torch.Tensor:
    """Normalised actions (..., T, 2) at the bin centres of tokens (..., 2 T) from `actions_to_tokens`."""
    centres = (tokens.float() + 0.5) / bins * (2.0 * value_range) - value_range
    return centres.unflatten(-1, (-1, 2))
