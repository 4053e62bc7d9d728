"""Discretionary lane changes with MOBIL (Kesting, Treiber, Helbing 2007).

An agent with `lane_changes` set reconsiders once every `mobil_period_steps` (staggered by index, so the
work spreads over steps). It moves to a same-direction neighbour lane when its own IDM acceleration there,
plus `politeness` times the change it forces on the new follower, beats staying by `mobil_threshold`, and
the new follower would not have to brake harder than `mobil_safe_decel`.
"""

from __future__ import annotations

import weakref

import numpy as np

from cordillera.world.agents import Agents, Behavior, PathTable
from cordillera.world.events import change_lane
from cordillera.world.kernels import mobil_kernel

_IDM = int(Behavior.IDM)

__all__ = ["mobil_lane_changes"]

_MIN_SPEED = 2.0  # [m/s] no discretionary lane changes in a jam
_MIN_LANE_LEFT_M = 40.0  # [m] lane remaining ahead needed on both lanes (not just before a junction)


_TABLES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _lane_tables(road) -> dict:
    """Per-lane arrays the kernel needs, built once per map."""
    cached = _TABLES.get(road)
    if cached is None:
        seg_lane = road._segments["lane"]
        n = len(road.lanes)
        first = np.searchsorted(seg_lane, np.arange(n), side="left")
        last = np.searchsorted(seg_lane, np.arange(n), side="right")
        cached = {
            "left": np.array([-1 if la.left_neighbor is None else la.left_neighbor for la in road.lanes]),
            "right": np.array([-1 if la.right_neighbor is None else la.right_neighbor for la in road.lanes]),
            "ok": np.array([la.kind == "driving" and la.junction is None for la in road.lanes]),
            "length": road.lane_lengths,
            "first": first,
            "last": last,
        }
        _TABLES[road] = cached
    return cached


def mobil_lane_changes(ctx, agents: Agents, paths: PathTable, routes: tuple, entries: tuple, ego_speed: float,
                       step_index: int) -> tuple[Agents, PathTable, tuple]:
    """Start the lane changes MOBIL asks for this step; returns (agents, paths, routes), unchanged if none.

    ctx: the TrafficContext; entries: this step's lane occupancy (`kernels.entries_kernel`).
    """
    cfg = ctx.config
    road = ctx.road
    seg = road._segments
    owner, e_lane, e_s, _, _, e_len, e_v = entries
    lanes = _lane_tables(road)
    decisions = mobil_kernel(
        (-step_index) % cfg.mobil_period_steps, cfg.mobil_period_steps, agents.active, agents.lane_changes,
        agents.behavior, _IDM, agents.d, agents.forced_decel, _MIN_SPEED,
        agents.x, agents.y, agents.u, agents.v, agents.length, agents.v_desired, agents.headway,
        agents.min_gap, agents.max_accel, agents.comfort_decel, agents.route_offset,
        owner, e_lane, e_s, e_len, e_v,
        lanes["left"], lanes["right"], lanes["ok"], lanes["length"], lanes["first"], lanes["last"],
        seg["start"], seg["dir"], seg["len"], seg["s0"],
        cfg.mobil_politeness, cfg.mobil_threshold, cfg.mobil_safe_decel, _MIN_LANE_LEFT_M, ego_speed)
    if not len(decisions):
        return agents, paths, routes
    arrays = agents.copy_arrays()
    for i, choice in decisions:
        direction = "left" if choice == 1 else "right"
        paths, routes = change_lane(road, arrays, paths, routes, int(i), direction, cfg.lane_change_duration_s)
    return Agents(names=agents.names, **arrays), paths, routes
