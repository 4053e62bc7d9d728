"""Score proposals the way the evaluation scores rollouts: simulate, log, run the eval metric functions.

    >>> logs = simulate(state, fc, proposals)                  # one RolloutLog per proposal
    >>> scored = score(logs, config)                           # [(score, sub-scores), ...]

Each proposal is executed by the real plan tracker and vehicle model (`world.controller.track`,
`world.dynamics.forward`) from the ego's current state for the forecast horizon, against the forecast agents
(non-reactive, as NAVSIM scores its proposals). The executed ego states, the forecast agents and signals go
into an `eval.metrics.RolloutLog`, and the score is `eval.metrics.pdm.epdms` on it, with the progress
normaliser taken as the best gated progress among the proposals (PDM-Closed), times the traffic rules of
`eval.metrics.rules` (school bus, emergency vehicle, crosswalk) as multiplicative gates. One scoring code path:
the planner cannot prefer what the evaluation would punish.
"""

from __future__ import annotations

import math

import numpy as np

from cordillera.eval.metrics.collisions import at_fault_collisions
from cordillera.eval.metrics.config import MetricsConfig
from cordillera.eval.metrics.pdm import epdms, route_progress_m
from cordillera.eval.metrics.rollout_log import RolloutLog
from cordillera.eval.metrics.rules import crosswalk_respected, stopped_for_school_bus, yielded_to_emergency_vehicle
from cordillera.geometry import box_corners, boxes_overlap
from cordillera.world.controller import track
from cordillera.world.dynamics import forward

__all__ = ["simulate", "score"]


def _execute(state, poses: np.ndarray, steps: int) -> np.ndarray:
    """(steps+1, 7) ego rows [x, y, yaw, v, a, steer, yaw_rate] of tracking `poses` (world) from the state."""
    cfg = state.world.config
    p = cfg.vehicle
    ego = state.ego
    rows = np.empty((steps + 1, 7))
    rows[0] = state.log[-1].ego
    for k in range(steps):
        accel, rate = track(ego, poses, state.t, state.t + k * cfg.dt, p, cfg.tracker, cfg.dt, validate=False)
        ego = forward(ego, accel, rate, p, cfg.dt)
        rows[k + 1] = (ego.x, ego.y, ego.yaw, ego.v, ego.a, ego.steer, ego.v * math.tan(ego.steer) / p.wheelbase_m)
    return rows


def _collisions(ego_center: np.ndarray, fc, params) -> tuple[tuple[int, ...], ...]:
    """Per step, the agents whose boxes overlap the ego box (same test as the simulator's)."""
    agents = fc.agents
    reach = (agents[..., 5] + agents[..., 6] + params.length_m + params.width_m) / 2.0
    near = fc.active & (np.abs(agents[..., 0] - ego_center[:, None, 0]) < reach) \
        & (np.abs(agents[..., 1] - ego_center[:, None, 1]) < reach)
    out: list[list[int]] = [[] for _ in range(len(ego_center))]
    k, n = np.nonzero(near)
    if len(k):
        ego_c = box_corners(ego_center[k, 0], ego_center[k, 1], ego_center[k, 2], params.length_m, params.width_m)
        b = agents[k, n]
        hit = boxes_overlap(ego_c, box_corners(b[:, 0], b[:, 1], b[:, 2], b[:, 5], b[:, 6]))
        for kk, nn in zip(k[hit].tolist(), n[hit].tolist()):
            out[kk].append(nn)
    return tuple(tuple(x) for x in out)


def simulate(state, fc, poses_list: list[np.ndarray]) -> list[RolloutLog]:
    """A RolloutLog per proposal (world-frame rear-axle poses (64, 3)) over the forecast horizon.

    The log's plans are the plan the ego was tracking (made at its own time) and the proposal (made now), so
    the extended-comfort term scores the consistency of the new plan with the last one.
    """
    world = state.world
    params = world.config.vehicle
    steps = fc.steps
    off = params.rear_axle_to_center_m
    logs = []
    prev_plan, prev_t0 = state.plan, state.plan_t0
    for poses in poses_list:
        ego = _execute(state, poses, steps)
        center = np.stack([ego[:, 0] + off * np.cos(ego[:, 2]), ego[:, 1] + off * np.sin(ego[:, 2]), ego[:, 2]], -1)
        if prev_plan is not None and prev_t0 < state.t - 1e-9:
            plans = (prev_plan, poses) + (None,) * (steps - 1)
            t0 = np.concatenate([[prev_t0], np.full(steps, state.t)])
        else:
            plans = (poses,) + (None,) * steps
            t0 = np.full(steps + 1, state.t)
        logs.append(RolloutLog(
            t=fc.t, ego=ego, ego_center=center, agents=fc.agents, active=fc.active, flags=fc.flags,
            signals=fc.signals, plans=plans, plan_t0=t0, collisions=_collisions(center, fc, params),
            agent_types=state.agents.type.astype(np.int64), agent_names=state.agents.names, road=world.road,
            route=world.route, vehicle=params, scenario=world.scenario))
    return logs


def score(logs: list[RolloutLog], config: MetricsConfig, perfect: float = 1.0 - 1e-9) -> list[tuple[float, dict]]:
    """(score in [0, 1], sub-scores) per log, in order: EPDMS against the best gated progress of all the logs,
    times the rule gates. Scoring stops after the first log that scores `perfect` (nothing later can beat it and
    ties go to the first), so the list may be shorter than `logs`."""
    faults = [at_fault_collisions(log, config.pdm) for log in logs]
    progress = [route_progress_m(log) if not f else 0.0 for log, f in zip(logs, faults)]
    reference = max(progress) if progress else 0.0
    out = []
    for log, f in zip(logs, faults):
        r = epdms(log, reference_progress_m=reference, config=config, faults=f)
        rules = (stopped_for_school_bus(log, config.rules), yielded_to_emergency_vehicle(log, config.rules),
                 crosswalk_respected(log, config.rules))
        gate = 1.0 if all(x.passed for x in rules if x.applicable) else 0.0
        subs = {k: v for k, v in r.as_dict().items() if k in ("nc", "dac", "ddc", "tlc", "ep", "ttc", "lk", "hc", "ec")}
        subs["rules"] = gate
        out.append((r.score * gate, subs))
        if r.score * gate >= perfect:
            break
    return out
