"""Reactive traffic: IDM car following through the lane graph, signals, right of way, walkers, replay.

One call to `step_traffic` advances every non-ego agent by dt. All agents are handled with array
operations; the only Python loops run over the few agents that face a yield decision or a lane change.

The rules, in order of priority for a lane-following (IDM) agent:
1. the nearest obstacle on its route ahead (any agent or the ego whose box overlaps its lane corridor),
2. stop lines: red (and yellow when it can still stop comfortably), dark signals and stop signs (stop,
   wait `STOP_WAIT_S`, then go when clear), yield lines and unprotected turns (gap acceptance),
3. crosswalks with a pedestrian on them or stepping onto them,
4. its desired speed (the lane speed limit unless the scenario says otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from cordillera.geometry import wrap_angle
from cordillera.world import kernels
from cordillera.world.agents import CURVE_DECEL, Agents, Behavior, Flag, PathTable
from cordillera.world.kernels import (
    FOLLOW_ROWS,
    behavior_groups,
    entries_kernel,
    follow_kernel,
    interpolate_paths,
    occupancy_kernel,
    road_tables,
)
from cordillera.world.lane_change import MIN_LANE_LEFT_M, MIN_SPEED, mobil_lane_changes
from cordillera.world.roads.map import Control, RoadMap, SignalState

__all__ = ["TrafficConfig", "TrafficContext", "occupancy", "conflict_pending", "crosswalk_gaps", "idm_acceleration", "step_traffic"]


@dataclass(frozen=True)
class TrafficConfig:
    lookahead_min_m: float = 60.0  # leader search range at low speed [m]
    lookahead_time_s: float = 6.0  # ... grows with speed [s]
    lateral_margin_m: float = 0.3  # corridor slack when deciding who is in the way [m]
    stop_margin_m: float = 1.0  # stand-off before a stop line or crosswalk [m]
    stop_wait_s: float = 1.0  # full stop held at a stop sign before proceeding [s]
    critical_gap_s: float = 4.5  # gap acceptance at yield lines / unprotected turns [s]
    yield_horizon_m: float = 40.0  # start looking for right-of-way conflicts this far ahead [m]
    max_decel: float = 9.0  # physical braking limit of traffic [m/s^2]
    lane_change_duration_s: float = 3.0  # MOBIL lane-change time [s]
    mobil_politeness: float = 0.3
    mobil_threshold: float = 0.3  # [m/s^2] incentive needed to change lanes
    mobil_safe_decel: float = 4.0  # the new follower may not have to brake harder than this [m/s^2]
    mobil_period_steps: int = 10  # each agent reconsiders lane changes once per this many steps


@dataclass(frozen=True)
class TrafficContext:
    """Static facts the traffic step needs, built once per world at reset."""

    road: RoadMap
    config: TrafficConfig = field(default_factory=TrafficConfig)
    # stop lines as arrays
    sl_lane: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    sl_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sl_control: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    sl_signal: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # crosswalk crossings of lanes: (crosswalk id, lane, s where the crosswalk starts on that lane)
    cw_id: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cw_lane: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cw_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # walkers' crosswalk entries: (agent, crosswalk id, u at entry)
    walk_agent: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    walk_cw: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    walk_u: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # replay trajectories: agent index -> (T, 3) poses at replay_dt
    replay: dict = field(default_factory=dict)
    replay_dt: dict = field(default_factory=dict)
    lane_speed: np.ndarray = field(default_factory=lambda: np.zeros(0))
    yield_sources: tuple = ()  # per lane: lanes whose traffic it must yield to (yield_to + their predecessors)

    @cached_property
    def has_rules(self) -> bool:
        """Whether the map has stop lines, crosswalks or right-of-way rules to check every step."""
        return bool(len(self.sl_lane) or len(self.cw_id) or any(self.yield_sources))

    # The kernels' packed inputs, built on first use and kept for the world's life (the context is
    # immutable), so that each step passes a few arrays instead of dozens of arguments.

    @cached_property
    def tables(self) -> kernels.RoadTables:
        return road_tables(self.road)

    @cached_property
    def follow_params(self) -> np.ndarray:
        """follow_kernel's `params` (kernels.P_LOOKAHEAD_MIN ... P_CAP_DECEL)."""
        c = self.config
        return np.array([c.lookahead_min_m, c.lookahead_time_s, c.lateral_margin_m, c.max_decel, CURVE_DECEL],
                        dtype=np.float64)

    @cached_property
    def mobil_params(self) -> np.ndarray:
        """mobil_kernel's `params` (kernels.M_POLITENESS ... M_MIN_SPEED)."""
        c = self.config
        return np.array([c.mobil_politeness, c.mobil_threshold, c.mobil_safe_decel, MIN_LANE_LEFT_M, MIN_SPEED],
                        dtype=np.float64)


def build_context(road: RoadMap, walk_paths: dict[int, np.ndarray], replay: dict, replay_dt: dict,
                  config: TrafficConfig | None = None) -> TrafficContext:
    """Precompute stop-line, crosswalk and right-of-way tables for `road` (walk_paths: agent -> (P, 2))."""
    import shapely

    sl = road.stop_lines
    cw_id, cw_lane, cw_s = [], [], []
    for cw in road.crosswalks:
        poly = shapely.Polygon(cw.polygon)
        for lane_id in cw.lanes:
            cl = road.lanes[lane_id].centerline
            s_corners, _, _ = cl.project(cw.polygon)
            cw_id.append(cw.id)
            cw_lane.append(lane_id)
            cw_s.append(float(np.clip(s_corners.min(), 0.0, cl.length)))
        del poly
    walk_agent, walk_cw, walk_u = [], [], []
    for agent, path in walk_paths.items():
        line = shapely.LineString(path)
        for cw in road.crosswalks:
            inter = line.intersection(shapely.Polygon(cw.polygon))
            if inter.is_empty:
                continue
            first = np.asarray(shapely.get_coordinates(inter))[0]
            walk_agent.append(agent)
            walk_cw.append(cw.id)
            walk_u.append(float(line.project(shapely.Point(first))))
    sources = []
    for lane in road.lanes:
        src: set[int] = set(lane.yield_to)
        for y in lane.yield_to:
            src.update(road.lanes[y].predecessors)
        sources.append(tuple(sorted(src)))
    return TrafficContext(
        road=road,
        config=config or TrafficConfig(),
        sl_lane=np.array([s.lane for s in sl], dtype=np.int64),
        sl_s=np.array([s.s for s in sl], dtype=np.float64),
        sl_control=np.array([int(s.control) for s in sl], dtype=np.int64),
        sl_signal=np.array([-1 if s.signal is None else s.signal for s in sl], dtype=np.int64),
        cw_id=np.array(cw_id, dtype=np.int64),
        cw_lane=np.array(cw_lane, dtype=np.int64),
        cw_s=np.array(cw_s, dtype=np.float64),
        walk_agent=np.array(walk_agent, dtype=np.int64),
        walk_cw=np.array(walk_cw, dtype=np.int64),
        walk_u=np.array(walk_u, dtype=np.float64),
        replay=replay,
        replay_dt=replay_dt,
        lane_speed=np.array([lane.speed_limit for lane in road.lanes]),
        yield_sources=tuple(sources),
    )


def occupancy(road: RoadMap, xy: np.ndarray, half_width: np.ndarray, slack: float = 0.2,
              half_length: np.ndarray | None = None, yaw: np.ndarray | None = None):
    """Every (agent, lane) pair where the agent's box overlaps the lane's surface.

    xy: (M, 2) world positions [m]; half_width: (M,) [m]; half_length, yaw: (M,) [m, rad] make the test
    heading-aware (a box crossing a lane reaches half its length into it); without them boxes are
    taken as aligned with the lane.
    Returns agent (E,), lane (E,), s (E,), d (E,), lane heading (E,), sorted by agent then lane.
    """
    tables = road_tables(road)
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    half_width = np.asarray(half_width, dtype=np.float64)
    half_length = np.full(len(xy), -1.0) if half_length is None else np.asarray(half_length, dtype=np.float64)
    yaw = np.zeros(len(xy)) if yaw is None else np.asarray(yaw, dtype=np.float64)
    return occupancy_kernel(np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1]), half_width,
                            half_length, yaw, tables.seg, tables.seg_lane, slack)


def idm_acceleration(v, v_desired, gap, v_lead, headway, min_gap, max_accel, comfort_decel):
    """Intelligent Driver Model acceleration [m/s^2] (Treiber et al. 2000), vectorised.

    gap: bumper-to-bumper distance to the leader [m] (inf when there is none); v_lead: its speed [m/s].
    """
    v0 = np.maximum(v_desired, 0.1)
    s_star = min_gap + np.maximum(0.0, v * headway + v * (v - v_lead) / (2.0 * np.sqrt(max_accel * comfort_decel)))
    interaction = np.where(np.isfinite(gap), (s_star / np.maximum(gap, 0.1)) ** 2, 0.0)
    return max_accel * (1.0 - (v / v0) ** 4 - interaction)


_IDM, _STATIC, _WALK, _PATH, _REPLAY = (int(b) for b in (Behavior.IDM, Behavior.STATIC, Behavior.WALK,
                                                        Behavior.PATH, Behavior.REPLAY))
_BRAKE = int(Flag.BRAKE)
_BLINK = int(Flag.BLINK_LEFT) | int(Flag.BLINK_RIGHT)
_NO_STOPS = np.zeros(0)  # follow_kernel's stop_gap when no agent has a stop point (read only by the kernel)


def step_traffic(agents: Agents, paths: PathTable, routes: tuple, ctx: TrafficContext, ego_box: np.ndarray,
                 t: float, dt: float, step_index: int, signals_dark: bool = False) -> tuple[Agents, PathTable, tuple]:
    """Advance all agents by dt; returns (agents, paths, routes) (lane changes may add routes).

    ego_box: (6,) [x, y, yaw, v, length, width] of the ego (an obstacle to everyone). Arrays that an agent
    kind does not change are shared with the input (states are never mutated).
    """
    if agents.n == 0:
        return agents, paths, routes
    out: dict[str, np.ndarray] = {}
    # lane followers and walkers / path agents (lane changes below change neither activity nor behavior)
    ii, wi = behavior_groups(agents.active, agents.behavior, _IDM, _WALK, _PATH)

    # ---- who occupies which lane (every active agent and the ego) ---------------------------
    tables = ctx.tables
    e_int, e_float = entries_kernel(agents.active, agents.x, agents.y, agents.yaw, agents.v, agents.length,
                                    agents.width, ego_box, tables.seg, tables.seg_lane, 0.2)
    agents, paths, routes = mobil_lane_changes(ctx, agents, paths, routes, (e_int, e_float), float(ego_box[3]),
                                               step_index)

    # ---- lane-following agents ---------------------------------------------------------------
    if len(ii):
        stop_gap = _NO_STOPS
        if ctx.has_rules:
            entries = (e_int[kernels.E_OWNER], e_int[kernels.E_LANE], e_float[kernels.E_S], e_float[kernels.E_VLONG])
            stop_gap, stopped_for, cleared = _rule_gaps(ctx, agents, ii, t, dt, signals_dark, entries)
            out["stopped_for"] = agents.stopped_for.copy()
            out["stopped_for"][ii] = stopped_for
            out["cleared_stop"] = agents.cleared_stop.copy()
            out["cleared_stop"][ii] = cleared
        table, out["flags"], out["active"] = follow_kernel(
            ii, agents.active, agents.flags, agents.u, agents.v, agents.a, agents.d, agents.d_rate, agents.x,
            agents.y, agents.yaw, agents.length, agents.width, agents.v_desired, agents.headway, agents.min_gap,
            agents.max_accel, agents.comfort_decel, agents.forced_decel, agents.path, agents.route_offset,
            stop_gap, e_int, e_float, paths.points, paths.s, paths.start, paths.end, paths.base, paths.length,
            paths.speed_cap, ctx.follow_params, dt, _BRAKE, _BLINK)
        out.update(zip(FOLLOW_ROWS, table))  # rows: contiguous views, one per agent array

    # ---- walkers and constant-speed path agents ----------------------------------------------
    if len(wi):
        _step_walkers(ctx, agents, paths, wi, out, t, dt, signals_dark)

    # ---- replayed agents ---------------------------------------------------------------------
    if ctx.replay:
        _step_replay(ctx, agents, out, t, dt)

    return (agents.replace(**out) if out else agents), paths, routes


def _signal_states(road: RoadMap, t: float, dark: bool) -> np.ndarray:
    if dark:
        return np.full(len(road.signals), int(SignalState.DARK))
    return np.array([int(sig.state_at(t)) for sig in road.signals], dtype=np.int64)


def _rule_gaps(ctx, agents, ii, t, dt, signals_dark, entries):
    """Distance to where each lane follower must stand: stop lines, right of way, crosswalks (inf: none)."""
    cfg = ctx.config
    e_owner, e_lane, e_s, e_vlong = entries
    sig = _signal_states(ctx.road, t, signals_dark)
    u, v = agents.u[ii], agents.v[ii]
    half_len = agents.length[ii] / 2.0
    off = agents.route_offset[ii]  # (I, L)
    lookahead = np.maximum(cfg.lookahead_min_m, v * cfg.lookahead_time_s)
    stop_gap = np.full(len(ii), np.inf)
    cleared = agents.cleared_stop[ii].copy()
    stopped_for = agents.stopped_for[ii].copy()
    if len(ctx.sl_lane):
        stop_u = off[:, ctx.sl_lane] + ctx.sl_s[None, :]  # (I, K)
        dist = stop_u - (u + half_len)[:, None]
        upcoming = np.isfinite(stop_u) & (dist > -0.5) & (dist < lookahead[:, None]) & (stop_u > cleared[:, None] + 1e-6)
        state = np.where(ctx.sl_signal >= 0, sig[np.maximum(ctx.sl_signal, 0)] if len(sig) else 0, -1)
        is_signal = ctx.sl_control == Control.SIGNAL
        red = is_signal & (state == SignalState.RED)
        dark = is_signal & (state == SignalState.DARK)
        yellow = is_signal & (state == SignalState.YELLOW)
        can_stop = dist > (v**2 / (2.0 * agents.comfort_decel[ii]))[:, None]
        must = upcoming & ((red | dark)[None, :] | (yellow[None, :] & can_stop))
        must &= ~agents.ignore_signals[ii][:, None] | ~is_signal[None, :]
        stop_sign = upcoming & ((ctx.sl_control == Control.STOP) | dark)[None, :]
        must |= stop_sign
        # serve stop signs: a full stop at the line for stop_wait_s, then the line is cleared
        at_line = stop_sign & (dist < cfg.stop_margin_m + 1.5)
        waiting = at_line.any(axis=1) & (v < 0.2)
        stopped_for = np.where(waiting, stopped_for + dt, 0.0)
        served = waiting & (stopped_for >= cfg.stop_wait_s)
        for r in np.flatnonzero(served):
            k = np.flatnonzero(at_line[r])[0]
            if _junction_clear(ctx, ii[r], e_owner, e_lane, e_vlong, ctx.sl_lane[k], off[r]):
                cleared[r] = stop_u[r, k]
                must[r, k] = False
                stopped_for[r] = 0.0
        stop_gap = np.where(must, dist - cfg.stop_margin_m, np.inf).min(axis=1)
    yield_gap = _yield_gaps(ctx, ii, off, u, half_len, e_owner, e_lane, e_s, e_vlong)
    cw_gap = crosswalk_gaps(ctx, agents, off, u, half_len)
    return np.minimum(np.minimum(stop_gap, yield_gap), cw_gap), stopped_for, cleared


def _step_walkers(ctx, agents, paths, wi, out, t, dt, signals_dark) -> None:
    """Walkers and constant-speed path agents: move along their paths; walkers wait for the walk phase."""
    sig = _signal_states(ctx.road, t, signals_dark)
    v_target = agents.v_desired[wi].copy()
    if len(ctx.walk_agent):
        cw_state = _crosswalk_signal_state(ctx.road, sig)
        for a_idx, cw, u_in in zip(ctx.walk_agent, ctx.walk_cw, ctx.walk_u):
            pos = np.searchsorted(wi, a_idx)
            if pos < len(wi) and wi[pos] == a_idx and cw_state[cw] == 0 and u_in - 1.0 <= agents.u[a_idx] <= u_in:
                v_target[pos] = 0.0  # wait at the kerb until the walk phase
    forced = agents.forced_decel[wi]
    v_target = np.where(forced > 0, np.maximum(agents.v[wi] - forced * dt, 0.0), v_target)
    for name in ("u", "v", "a", "x", "y", "yaw", "active"):
        out.setdefault(name, getattr(agents, name).copy())
    u_new = agents.u[wi] + 0.5 * (agents.v[wi] + v_target) * dt
    xy, heading = interpolate_paths(paths.points, paths.s, paths.start, paths.end, paths.base, paths.length,
                                    agents.path[wi], u_new)
    finished = u_new >= paths.length[agents.path[wi]] - 1e-6
    out["v"][wi] = np.where(finished, 0.0, v_target)
    out["a"][wi] = (out["v"][wi] - agents.v[wi]) / dt
    out["u"][wi] = u_new
    out["x"][wi], out["y"][wi], out["yaw"][wi] = xy[:, 0], xy[:, 1], heading
    out["active"][wi] = out["active"][wi] & ~(finished & (agents.behavior[wi] != _WALK))  # walkers stay


def _step_replay(ctx, agents, out, t, dt) -> None:
    for name in ("x", "y", "yaw", "v", "active"):
        out.setdefault(name, getattr(agents, name).copy())
    for a_idx, traj in ctx.replay.items():
        if not agents.active[a_idx]:
            continue
        rdt = ctx.replay_dt[a_idx]
        f = (t + dt) / rdt
        if f > len(traj) - 1 + 1e-9:  # the recording has ended: the agent leaves
            out["active"][a_idx] = False
            continue
        k = min(int(np.floor(f)), len(traj) - 2)
        w = f - k
        out["x"][a_idx], out["y"][a_idx] = traj[k][:2] * (1 - w) + traj[k + 1][:2] * w
        out["yaw"][a_idx] = wrap_angle(traj[k][2] + w * wrap_angle(traj[k + 1][2] - traj[k][2]))
        out["v"][a_idx] = float(np.hypot(*(traj[k + 1][:2] - traj[k][:2]))) / rdt


def _crosswalk_signal_state(road: RoadMap, sig: np.ndarray) -> np.ndarray:
    """Per crosswalk: 1 where pedestrians may cross now (unsignalised, or its vehicle signal is red/dark)."""
    out = np.ones(len(road.crosswalks), dtype=np.int64)
    for cw in road.crosswalks:
        if cw.signal is not None and sig[cw.signal] in (SignalState.GREEN, SignalState.YELLOW):
            out[cw.id] = 0
    return out


def crosswalk_gaps(ctx: TrafficContext, agents: Agents, off, u, half_len) -> np.ndarray:
    """Distance [m] to the first crosswalk ahead that a walker is on or about to step onto (inf if none)."""
    gaps = np.full(len(u), np.inf)
    if not len(ctx.cw_id):
        return gaps
    walkers = np.flatnonzero(agents.active & (agents.behavior == _WALK))
    if not len(walkers):
        return gaps
    import shapely

    busy = np.zeros(len(ctx.road.crosswalks), dtype=bool)
    wx, wy = agents.x[walkers], agents.y[walkers]
    for cw in ctx.road.crosswalks:
        zone = shapely.Polygon(cw.polygon).buffer(1.0)
        inside = shapely.contains_xy(zone, wx, wy) & (agents.v[walkers] > 0.05)
        busy[cw.id] = bool(inside.any())
    if not busy.any():
        return gaps
    sel = busy[ctx.cw_id]
    start = off[:, ctx.cw_lane[sel]] + ctx.cw_s[sel][None, :]  # (I, C)
    dist = start - (u + half_len)[:, None] - ctx.config.stop_margin_m
    dist = np.where(np.isfinite(dist) & (dist > -1.0), dist, np.inf)
    return dist.min(axis=1) if dist.shape[1] else gaps


def _yield_gaps(ctx, ii, off, u, half_len, e_owner, e_lane, e_s, e_vlong) -> np.ndarray:
    """Distance [m] to where an agent must wait to give right of way (inf when it may go)."""
    cfg = ctx.config
    gaps = np.full(len(ii), np.inf)
    road = ctx.road
    yielding = [k for k, src in enumerate(ctx.yield_sources) if src]
    if not yielding:
        return gaps
    ystart = off[:, yielding]  # (I, Y): where each yielding lane starts on the agent's path
    dist = ystart - (u + half_len)[:, None]
    near = np.isfinite(ystart) & (dist > -0.5) & (dist < cfg.yield_horizon_m)
    for r, c in zip(*np.nonzero(near)):
        lane = yielding[c]
        if conflict_pending(ctx, ctx.yield_sources[lane], ii[r], e_owner, e_lane, e_s, e_vlong):
            entry = dist[r, c]
            sl = road.stop_line_by_lane.get(road.lanes[lane].predecessors[0]) if road.lanes[lane].predecessors else None
            if sl is not None:
                entry = off[r, sl.lane] + sl.s - u[r] - half_len[r]
            gaps[r] = min(gaps[r], entry - cfg.stop_margin_m)
    return gaps


def conflict_pending(ctx, sources, me, e_owner, e_lane, e_s, e_vlong) -> bool:
    """Whether any road user on the `sources` lanes would reach the conflict within the critical gap."""
    road = ctx.road
    mask = np.isin(e_lane, sources) & (e_owner != me)
    for lane, s, v in zip(e_lane[mask], e_s[mask], e_vlong[mask]):
        ln = road.lanes[lane]
        if ln.junction is not None:
            return True  # already inside the junction on a priority path
        remaining = ln.length - s
        if v > 0.5 and remaining / v < ctx.config.critical_gap_s:
            return True
    return False


def _junction_clear(ctx, me, e_owner, e_lane, e_vlong, approach_lane, my_off) -> bool:
    """After a full stop: may the agent enter? Not while others move inside the junction ahead of it.

    Right of way against approaching traffic is decided afterwards by the yield rules.
    """
    road = ctx.road
    nxt = [j for j in road.lanes[approach_lane].successors if np.isfinite(my_off[j])]
    if not nxt or road.lanes[nxt[0]].junction is None:
        return True
    junction = road.lanes[nxt[0]].junction
    in_junction = np.array([road.lanes[k].junction == junction for k in e_lane], dtype=bool)
    busy = in_junction & (e_owner != me) & (np.abs(e_vlong) > 0.5)
    return not busy.any()
