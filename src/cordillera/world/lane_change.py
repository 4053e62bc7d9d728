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
from cordillera.world.kernels import mobil_kernel

_IDM = int(Behavior.IDM)

__all__ = ["mobil_lane_changes", "MIN_SPEED", "MIN_LANE_LEFT_M"]

MIN_SPEED = 2.0  # [m/s] no discretionary lane changes in a jam
MIN_LANE_LEFT_M = 40.0  # [m] lane remaining ahead needed on both lanes (not just before a junction)


def mobil_lane_changes(ctx, agents: Agents, paths: PathTable, routes: tuple, entries: tuple, ego_speed: float,
                       step_index: int) -> tuple[Agents, PathTable, tuple]:
    """Start the lane changes MOBIL asks for this step; returns (agents, paths, routes), unchanged if none.

    ctx: the TrafficContext (its packed `tables` and `mobil_params` feed the kernel); entries: this step's
    lane occupancy, the (int, float) tables of `kernels.entries_kernel`.
    """
    cfg = ctx.config
    e_int, e_float = entries
    tables = ctx.tables
    decisions = mobil_kernel(
        (-step_index) % cfg.mobil_period_steps, cfg.mobil_period_steps, agents.active, agents.lane_changes,
        agents.behavior, _IDM, agents.d, agents.forced_decel,
        agents.x, agents.y, agents.u, agents.v, agents.length, agents.v_desired, agents.headway,
        agents.min_gap, agents.max_accel, agents.comfort_decel, agents.route_offset,
        e_int, e_float, tables.lane_links, tables.lane_ok, tables.lane_length, tables.seg, ctx.mobil_params,
        ego_speed)
    if not len(decisions):
        return agents, paths, routes
    arrays = agents.copy_arrays()
    for i, choice in decisions:
        direction = "left" if choice == 1 else "right"
        paths, routes = change_lane(ctx.road, arrays, paths, routes, int(i), direction, cfg.lane_change_duration_s)
    return Agents(names=agents.names, **arrays), paths, routes
