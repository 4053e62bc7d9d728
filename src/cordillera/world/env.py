"""A gymnasium adapter over the functional simulator: `gymnasium.make("cordillera/Drive-v0", scenario=...)`.

The env is a thin stateful wrapper: it holds the current WorldState and calls `sim.reset`, `sim.step` and
`sim.observe`. Actions are either a whole plan (64 poses in the ego frame, flattened) or one
(acceleration, curvature) pair held for the plan horizon, the model's action space.

    >>> import gymnasium, cordillera.world.env
    >>> env = gymnasium.make("cordillera/Drive-v0", scenario="straight")
    >>> obs, info = env.reset(seed=0)
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from cordillera import constants as C
from cordillera.world import sim
from cordillera.world.dynamics import accel_curvature_to_poses
from cordillera.world.rollout import summarize
from cordillera.world.types import Plan

__all__ = ["DriveEnv"]

_BOUND = 1000.0  # [m] generous bound on ego-frame coordinates


class DriveEnv(gym.Env):
    """Closed-loop driving on one scenario. Reward: route progress [m] minus 100 on a collision.

    scenario: a Scenario, a built-in scenario name or a YAML path.
    action_type: "accel_curvature" (2,) [m/s^2, 1/m] or "plan" (192,) = 64 x (x, y, yaw).
    bev: include the bird's-eye raster in the observation.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, scenario="straight", action_type: str = "accel_curvature", bev: bool = False,
                 duration_s: float | None = None, render_mode: str | None = None) -> None:
        from cordillera.scenarios.builtin import resolve_scenario

        self.scenario = resolve_scenario(scenario) if isinstance(scenario, str) else scenario
        if action_type not in ("accel_curvature", "plan"):
            raise ValueError(f"action_type: must be 'accel_curvature' or 'plan', got {action_type!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode: only 'rgb_array' is supported, got {render_mode!r}")
        self.action_type = action_type
        self.render_mode = render_mode
        self.sensors = ("bev",) if bev else ()
        self.config = sim.SimConfig(duration_s=duration_s)
        if action_type == "accel_curvature":
            self.action_space = spaces.Box(np.array([-8.0, -0.2], np.float32), np.array([3.0, 0.2], np.float32))
        else:
            self.action_space = spaces.Box(-_BOUND, _BOUND, shape=(C.PLAN_STEPS * 3,), dtype=np.float32)
        obs_spaces = {
            "ego_history": spaces.Box(-_BOUND, _BOUND, shape=(C.HISTORY_STEPS, 3), dtype=np.float32),
            "speed": spaces.Box(0.0, 100.0, shape=(1,), dtype=np.float32),
            "acceleration": spaces.Box(-50.0, 50.0, shape=(1,), dtype=np.float32),
            "route": spaces.Box(-_BOUND, _BOUND, shape=(C.ROUTE_WAYPOINTS, 2), dtype=np.float32),
        }
        if bev:
            from cordillera.world.render.bev import OBSERVATION_VIEW

            obs_spaces["bev"] = spaces.Box(0, 255, shape=(*OBSERVATION_VIEW.size_px, 3), dtype=np.uint8)
        self.observation_space = spaces.Dict(obs_spaces)
        self.state: sim.WorldState | None = None

    def _obs(self) -> dict:
        o = sim.observe(self.state, self.sensors)
        out = {
            "ego_history": np.clip(o.ego_history, -_BOUND, _BOUND).astype(np.float32),
            "speed": np.clip(np.array([o.speed], np.float32), 0.0, 100.0),
            "acceleration": np.clip(np.array([o.acceleration], np.float32), -50.0, 50.0),
            "route": np.clip(o.route_waypoints, -_BOUND, _BOUND).astype(np.float32),
        }
        if o.bev is not None:
            out["bev"] = o.bev
        return out

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is None:
            seed = int(self.np_random.integers(2**31 - 1))
        self.state = sim.reset(self.scenario, seed, self.config)
        self._progress = sim.ego_route_position(self.state)
        return self._obs(), {"t": self.state.t}

    def _plan(self, action) -> Plan:
        try:
            a = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"action: not a numeric array ({type(action).__name__})") from None
        space = self.action_space
        if a.shape != space.shape:
            raise ValueError(f"action: must have shape {space.shape} ({self._describe_action()}), got {a.shape}")
        bad = np.flatnonzero(~np.isfinite(a) | (a < space.low) | (a > space.high))
        if len(bad):
            i = int(bad[0])
            raise ValueError(f"action: {self._action_name(i)} = {a[i]} is outside "
                             f"[{float(space.low[i]):g}, {float(space.high[i]):g}]")
        if self.action_type == "plan":
            return Plan(a.reshape(C.PLAN_STEPS, 3))
        accel = np.full(C.PLAN_STEPS, a[0])
        curvature = np.full(C.PLAN_STEPS, a[1])
        return Plan(accel_curvature_to_poses(accel, curvature, self.state.ego.v, C.DT))

    def _describe_action(self) -> str:
        if self.action_type == "plan":
            return f"{C.PLAN_STEPS} poses x (x, y, yaw) in the ego frame, flattened"
        return "acceleration [m/s^2], curvature [1/m]"

    def _action_name(self, i: int) -> str:
        if self.action_type == "plan":
            return f"pose {i // 3} {('x', 'y', 'yaw')[i % 3]}"
        return ("acceleration", "curvature")[i]

    def step(self, action):
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        self.state = sim.step(self.state, self._plan(action))
        progress = sim.ego_route_position(self.state)
        collided = bool(self.state.log[-1].collisions)
        reward = float(progress - self._progress) - (100.0 if collided else 0.0)
        self._progress = progress
        terminated = collided
        truncated = self.state.done and not terminated
        info = {"t": self.state.t, "collision": collided}
        if terminated or truncated:
            info["summary"] = summarize(self.state)
        return self._obs(), reward, terminated, truncated, info

    def render(self):
        if self.render_mode != "rgb_array" or self.state is None:
            return None
        from cordillera.world.render.bev import render_frame

        return render_frame(self.state)


gym.register(id="cordillera/Drive-v0", entry_point=DriveEnv)
