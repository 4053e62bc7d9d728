"""Run a policy in closed loop and summarise the rollout.

    >>> from cordillera.world.rollout import rollout, summarize
    >>> final = rollout(scenario, make_policy("lane_follower"), seed=0)
    >>> summarize(final)["outcome"]
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from cordillera.geometry import box_corners
from cordillera.world import sim
from cordillera.world.agents import AgentType

__all__ = ["rollout", "summarize", "offroad_steps"]


def rollout(scenario, policy, seed: int | None = None, config: sim.SimConfig | None = None,
            policy_hz: float = 10.0, duration_s: float | None = None, stop_on_collision: bool = False,
            on_step: Callable[[sim.WorldState], None] | None = None, state: sim.WorldState | None = None) -> sim.WorldState:
    """Reset (or continue from `state`), then step until the duration is reached.

    The policy is asked for a plan every 1/policy_hz seconds; in between the controller keeps tracking
    the last plan, so metrics are still sampled at the simulation rate.
    """
    if state is None:
        state = sim.reset(scenario, seed, config)
        policy.reset({"scenario": scenario.name, "seed": state.world.seed})
    dt = state.world.config.dt
    if not (np.isfinite(policy_hz) and policy_hz > 0):
        raise ValueError(f"policy_hz: must be > 0, got {policy_hz}")
    every = max(1, int(round(1.0 / (policy_hz * dt))))
    end = duration_s if duration_s is not None else state.world.duration_s
    while state.t < end - 1e-9:
        plan = None
        if state.step % every == 0:
            obs = sim.observe(state, policy.sensors, privileged=policy.privileged)
            plan = policy.plan(obs)
        state = sim.step(state, plan)
        if on_step is not None:
            on_step(state)
        if stop_on_collision and state.log[-1].collisions:
            break
    return state


def offroad_steps(state: sim.WorldState) -> np.ndarray:
    """(T,) bool: whether any ego corner is outside the drivable area at each logged step."""
    p = state.world.config.vehicle
    centers = np.array([s.ego_center for s in state.log])
    corners = box_corners(centers[:, 0], centers[:, 1], centers[:, 2], p.length_m, p.width_m)
    inside = state.road.in_drivable_area(corners.reshape(-1, 2)).reshape(-1, 4)
    return ~inside.all(axis=1)


def summarize(state: sim.WorldState, wall_s: float | None = None) -> dict:
    """A JSON-ready summary: steps, simulated seconds, outcome and the first incident."""
    log = state.log
    names = state.agents.names
    first_collision = next((s for s in log if s.collisions), None)
    offroad = offroad_steps(state)
    route_s = sim.ego_route_position(state)
    remaining = state.world.route.path.length - route_s
    scenario = state.world.scenario
    if first_collision is not None:
        outcome = "collision"
    elif offroad.any():
        outcome = "offroad"
    elif scenario.success.kind == "reach_goal":
        outcome = "reached_goal" if remaining <= scenario.success.goal_distance_m + 5.0 else "timeout"
    else:
        outcome = "survived"
    ego = np.array([s.ego for s in log])
    distance = float(np.sum(np.hypot(*np.diff(ego[:, :2], axis=0).T))) if len(ego) > 1 else 0.0
    out = {
        "scenario": scenario.name,
        "seed": state.world.seed,
        "steps": state.step,
        "simulated_s": round(state.t, 6),
        "outcome": outcome,
        "distance_m": round(distance, 3),
        "mean_speed_mps": round(float(ego[:, 3].mean()), 3),
        "route_remaining_m": round(float(remaining), 3),
        "offroad_steps": int(offroad.sum()),
    }
    if first_collision is not None:
        k = first_collision.collisions[0]
        out["first_collision"] = {"t": first_collision.t, "agent": names[k],
                                  "type": AgentType(int(state.agents.type[k])).name.lower()}
    if wall_s is not None:
        out["wall_s"] = round(wall_s, 4)
        out["sim_seconds_per_wall_second"] = round(state.t / wall_s, 2) if wall_s > 0 else None
    return out


def timed_rollout(*args, **kwargs) -> tuple[sim.WorldState, float]:
    t0 = time.perf_counter()
    final = rollout(*args, **kwargs)
    return final, time.perf_counter() - t0
