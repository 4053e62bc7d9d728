"""Discretionary lane changes with MOBIL (Kesting, Treiber, Helbing 2007).

An agent with `lane_changes` set reconsiders once every `mobil_period_steps` (staggered by index, so the
work spreads over steps). It moves to a same-direction neighbour lane when its own IDM acceleration there,
plus `politeness` times the change it forces on the new follower, beats staying by `mobil_threshold`, and
the new follower would not have to brake harder than `mobil_safe_decel`.
"""

from __future__ import annotations

import numpy as np

from cordillera.world.agents import Agents, Behavior, PathTable
from cordillera.world.events import change_lane
from cordillera.world.kernels import entries_kernel
from cordillera.world.traffic import TrafficContext, idm_acceleration

__all__ = ["mobil_lane_changes"]

_MIN_SPEED = 2.0  # [m/s] no discretionary lane changes in a jam
_MIN_LANE_LEFT_M = 40.0  # [m] lane remaining ahead needed on both lanes (not just before a junction)


def _idm(agents: Agents, i: int, gap: float, v_lead: float) -> float:
    return float(idm_acceleration(agents.v[i], agents.v_desired[i], gap, v_lead, agents.headway[i],
                                  agents.min_gap[i], agents.max_accel[i], agents.comfort_decel[i]))


def _neighbours(entries, lane: int, s: float, me: int):
    """(gap ahead, speed ahead, owner behind, gap behind) around arc length s on `lane`, bumper to bumper."""
    owner, e_lane, e_s, _, _, e_len, e_v = entries
    on = (e_lane == lane) & (owner != me)
    ahead = on & (e_s > s)
    behind = on & (e_s <= s)
    lead_gap, lead_v, lead_len = np.inf, 0.0, 0.0
    if ahead.any():
        k = np.flatnonzero(ahead)[np.argmin(e_s[ahead])]
        lead_gap, lead_v, lead_len = e_s[k] - s, e_v[k], e_len[k]
    back, back_gap, back_len = None, np.inf, 0.0
    if behind.any():
        k = np.flatnonzero(behind)[np.argmax(e_s[behind])]
        back, back_gap, back_len = int(owner[k]), s - e_s[k], e_len[k]
    return lead_gap, lead_v, lead_len, back, back_gap, back_len


def mobil_lane_changes(ctx: TrafficContext, agents: Agents, paths: PathTable, routes: tuple, ego_box: np.ndarray,
                       step_index: int) -> tuple[Agents, PathTable, tuple]:
    """Start the lane changes MOBIL asks for this step; returns (agents, paths, routes), unchanged if none."""
    cfg = ctx.config
    road = ctx.road
    due = np.flatnonzero(agents.active & agents.lane_changes & (agents.behavior == int(Behavior.IDM))
                         & (agents.d == 0.0) & (agents.v > _MIN_SPEED) & (agents.forced_decel == 0.0)
                         & ((np.arange(agents.n) + step_index) % cfg.mobil_period_steps == 0))
    if not len(due):
        return agents, paths, routes
    seg = road._segments
    entries = entries_kernel(agents.active, agents.x, agents.y, agents.yaw, agents.v, agents.length, agents.width,
                             ego_box, seg["start"], seg["dir"], seg["len"], seg["lane"], seg["s0"],
                             seg["half_width"], seg["heading"], 0.2)
    arrays = None
    for i in due:
        route = routes[agents.path[i]]
        offsets = agents.route_offset[i]
        here = max((la for la in route if offsets[la] <= agents.u[i] + 1e-9), key=lambda la: offsets[la])
        lane = road.lanes[here]
        s_here = agents.u[i] - offsets[here]
        if lane.junction is not None or lane.length - s_here < _MIN_LANE_LEFT_M:
            continue
        half = agents.length[i] / 2.0
        gap, v_lead, lead_len, _, _, _ = _neighbours(entries, here, s_here, i)
        a_stay = _idm(agents, i, gap - half - lead_len / 2.0, v_lead)
        best, best_gain = None, cfg.mobil_threshold
        for direction, target in (("left", lane.left_neighbor), ("right", lane.right_neighbor)):
            if target is None or road.lanes[target].kind != "driving" or road.lanes[target].junction is not None:
                continue
            t_line = road.lanes[target].centerline
            s_t = float(t_line.project(np.array([[agents.x[i], agents.y[i]]]))[0][0])
            if t_line.length - s_t < _MIN_LANE_LEFT_M:
                continue
            gap_t, v_t, len_t, back, back_gap, back_len = _neighbours(entries, target, s_t, i)
            a_go = _idm(agents, i, gap_t - half - len_t / 2.0, v_t)
            gain = a_go - a_stay
            if back is not None:
                room = back_gap - half - back_len / 2.0
                if room <= 0.0:
                    continue  # someone is alongside
                if back >= 0:  # a traffic agent (the ego, -1, is not asked to brake for anyone's model)
                    a_back_now = _idm(agents, back, back_gap + gap_t - back_len / 2.0 - len_t / 2.0, v_t)
                    a_back_new = _idm(agents, back, room, agents.v[i])
                    if a_back_new < -cfg.mobil_safe_decel:
                        continue
                    gain += cfg.mobil_politeness * (a_back_new - a_back_now)
                elif room < max(5.0, ego_box[3] * 1.0):
                    continue  # keep a one-second gap ahead of the ego
            if gain > best_gain:
                best, best_gain = direction, gain
        if best is not None:
            arrays = arrays if arrays is not None else agents.copy_arrays()
            paths, routes = change_lane(road, arrays, paths, routes, int(i), best, cfg.lane_change_duration_s)
    if arrays is None:
        return agents, paths, routes
    return Agents(names=agents.names, **arrays), paths, routes
