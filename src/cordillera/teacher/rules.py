"""The rules of the road as stop walls along the route, for the teacher's speed profiles.

    >>> walls = route_walls(state, forecast, counterfactual, config, s_ego, entries)

A wall is a point on the route path the front bumper must not pass while it is up: a red (or stoppable yellow)
signal, a stop sign or dark signal not yet served, a yield line with a conflict pending, an occupied crosswalk,
a lane change waiting for its gap, a loading school bus, the end of the route. Each carries the `Constraint`
it stands for (what the CoC labeler perturbs), and a per-forecast-step mask (signals change during the horizon).

Right of way and the merge gap come from the rule-based baseline (`policies.baselines.yield_wait`,
`merge_wait`), crosswalk occupancy from the traffic model (`world.traffic.crosswalk_gaps`). A stop sign counts
as served once the log shows the ego held a full stop just before it, so the planner stays a pure function of
the state (the baseline keeps a served set instead).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from cordillera.policies.baselines import merge_wait, yield_wait
from cordillera.teacher.decisions import Constraint, Counterfactual
from cordillera.world.agents import Flag
from cordillera.world.roads.map import Control, SignalState
from cordillera.world.traffic import crosswalk_gaps

__all__ = ["Wall", "route_walls", "stop_served"]


class Wall(NamedTuple):
    s: float  # route-path arc length the front bumper must stay behind [m]
    up: np.ndarray  # (T+1,) bool: the wall stands at forecast step k
    constraint: Constraint


def stop_served(state, s_line: float, margin_m: float, hold_s: float) -> bool:
    """Whether the ego has held a full stop (< 0.3 m/s for hold_s) with its front bumper within margin_m
    before the route arc length s_line, at any time in the log (a served stop sign)."""
    p = state.world.config.vehicle
    log = state.log
    need = int(round(hold_s / state.world.config.dt)) + 1
    if len(log) < need:
        return False
    ego = np.stack([step.ego for step in log])  # (T, 7)
    slow = ego[:, 3] < 0.3
    if not slow.any():
        return False
    s, _, _ = state.world.route.path.project(ego[:, :2])
    front = s + p.length_m - p.rear_overhang_m
    near = slow & (front > s_line - margin_m - 2.0) & (front < s_line + 0.5)
    run = 0
    for flag in near:
        run = run + 1 if flag else 0
        if run >= need:
            return True
    return False


def route_walls(state, fc, cf: Counterfactual, cfg, s_ego: float, offsets: np.ndarray, entries) -> list[Wall]:
    """Every rule wall ahead on the route (see the module docstring); fc: the Forecast; cfg: PlannerConfig."""
    world = state.world
    road, route = world.road, world.route
    params = world.config.vehicle
    s_front = s_ego + params.length_m - params.rear_overhang_m
    steps = len(fc.t)
    always = np.ones(steps, dtype=bool)
    walls: list[Wall] = []
    dark = world.scenario.signals_dark
    v = state.ego.v
    for sl in road.stop_lines:
        u = offsets[sl.lane] + sl.s
        ahead = u - s_front
        if not np.isfinite(u) or ahead < -0.5 or ahead > cfg.rule_horizon_m or sl.id in cf.ignored_stop_lines:
            continue
        target = u - cfg.stop_margin_m
        if sl.control == Control.SIGNAL and not dark and sl.signal is not None:
            if sl.signal in cf.green_signals:
                continue
            states = fc.signals[:, sl.signal]
            # a yellow is stopped for only when the stop is comfortable from where the ego will be when it shows
            # (at its current speed), else the ego goes through, as the baseline does
            left = u - s_front - v * (fc.t - fc.t[0])
            stoppable = v * v / (2.0 * cfg.comfort_decel) < left
            red = (states == int(SignalState.RED)) | ((states == int(SignalState.YELLOW)) & stoppable)
            if red.any():
                walls.append(Wall(target, red, Constraint("signal", signal=sl.signal, stop_line=sl.id,
                                                          distance_m=float(u - s_front))))
        elif sl.control == Control.STOP or (sl.control == Control.SIGNAL and dark):
            if not stop_served(state, u, cfg.stop_margin_m, cfg.stop_hold_s):
                walls.append(Wall(target, always, Constraint("stop_line", stop_line=sl.id, signal=sl.signal,
                                                             distance_m=float(u - s_front))))
    wait, lane_id = yield_wait(state, entries, offsets, s_front, cfg.rule_horizon_m)
    if np.isfinite(wait):
        preds = road.lanes[lane_id].predecessors
        sl = road.stop_line_by_lane.get(preds[0]) if preds else None
        if sl is None or sl.id not in cf.ignored_stop_lines:
            walls.append(Wall(s_front + wait - cfg.stop_margin_m, always,
                              Constraint("yield", stop_line=None if sl is None else sl.id, distance_m=float(wait))))
    ctx = world.context
    center = s_ego + params.rear_axle_to_center_m
    half = np.array([params.length_m / 2.0])
    cw = float(crosswalk_gaps(ctx, state.agents, offsets[None], np.array([center]), half)[0])
    if np.isfinite(cw):
        walls.append(Wall(s_front + cw + ctx.config.stop_margin_m - cfg.stop_margin_m, always,
                          Constraint("crosswalk", distance_m=float(cw))))
    merge = merge_wait(state, entries, offsets, s_ego, cfg.merge_gap_s)
    if np.isfinite(merge):
        walls.append(Wall(s_front + merge - cfg.stop_margin_m, always, Constraint("merge", distance_m=float(merge))))
    walls.extend(_school_bus_walls(state, fc, cfg, s_front))
    end = route.path.length - cfg.stop_margin_m
    if end - s_front < cfg.rule_horizon_m:
        walls.append(Wall(end, always, Constraint("route_end", distance_m=float(route.path.length - s_front))))
    return walls


def _school_bus_walls(state, fc, cfg, s_front: float) -> list[Wall]:
    """A loading school bus on the ego's road (either direction): stop before drawing level with it."""
    flags = fc.flags[0]
    active = fc.active[0]
    bus = np.flatnonzero(active & ((flags & int(Flag.SCHOOL_BUS)) != 0))
    out = []
    if not len(bus):
        return out
    route = state.world.route
    rule = cfg.metrics.rules  # the evaluation's reading of "loading" and "on its road"
    xy = fc.agents[0, bus, :2]
    s, d, _ = route.path.project(xy)
    for j, i in enumerate(bus.tolist()):
        half = fc.agents[0, i, 5] / 2.0
        loading = np.abs(fc.agents[:, i, 3]) < rule.school_bus_stopped_mps
        if not loading.any() or abs(d[j]) > rule.school_bus_lateral_m or s[j] + half < s_front - 0.5:
            continue
        if s[j] - half - s_front > cfg.rule_horizon_m:
            continue
        out.append(Wall(float(s[j] - half - cfg.school_bus_gap_m), loading & fc.active[:, i],
                        Constraint("school_bus", agent=i, distance_m=float(s[j] - half - s_front))))
    return out
