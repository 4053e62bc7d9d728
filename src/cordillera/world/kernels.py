"""Compiled inner loops of the traffic step (numba). The kernels are pure functions over arrays.

They exist because a traffic step calls them every 0.1 s for every agent: as numpy expressions the same
work costs ~150 small array operations per step (0.5 ms for 20 agents), as loops here a few microseconds.
See docs/architecture.md for the measurements. The first call compiles them (cached on disk afterwards).

Calling a compiled function costs about 0.1 us per argument (type dispatch) and 0.5 us per array it
returns (boxing: one `numba.core.serialize._numba_unpickle` memo lookup of the array class each, plus
the array object), which at ~20 agents is more than the loops themselves. So the kernels take tables
packed once per map (`road_tables`) and per traffic config, and return a few 2D arrays instead of many
1D ones; the caller takes rows of them (cheap contiguous views). Module-level ints used inside kernels
(the column indices below) are compiled in as constants.
"""

from __future__ import annotations

import math
import weakref
from typing import NamedTuple

import numpy as np
from numba import njit

__all__ = ["RoadTables", "road_tables", "occupancy_kernel", "entries_kernel", "behavior_groups", "follow_kernel",
           "mobil_kernel", "interpolate_paths", "box_hits", "log_arrays"]

# Columns of the packed segment table (`RoadTables.seg`): one row per lane-centreline segment.
SEG_X, SEG_Y, SEG_DX, SEG_DY, SEG_LEN, SEG_S0, SEG_HW, SEG_HEADING = range(8)
# Columns of `RoadTables.lane_links`: neighbour lanes (-1: none) and the lane's segment rows [first, last).
LINK_LEFT, LINK_RIGHT, LINK_FIRST, LINK_LAST = range(4)
# Entries of the follow_kernel parameter vector (`traffic.TrafficContext.follow_params`).
P_LOOKAHEAD_MIN, P_LOOKAHEAD_TIME, P_LATERAL_MARGIN, P_MAX_DECEL, P_CAP_DECEL = range(5)
# Rows of the float table follow_kernel returns (the new values of these agent arrays).
FOLLOW_ROWS = ("u", "v", "a", "d", "d_rate", "x", "y", "yaw", "forced_decel")
# Entries of the mobil_kernel parameter vector (`traffic.TrafficContext.mobil_params`).
M_POLITENESS, M_THRESHOLD, M_SAFE_DECEL, M_MIN_LANE_LEFT, M_MIN_SPEED = range(5)
# Rows of the entries tables returned by `entries_kernel`.
E_OWNER, E_LANE = range(2)  # int rows
E_S, E_D, E_HALFW, E_LEN, E_VLONG = range(5)  # float rows


class RoadTables(NamedTuple):
    """The map as the kernels read it, packed once per map."""

    seg: np.ndarray  # (S, 8) float: start x, y, unit direction x, y, length, lane s at start, lane half width, heading
    seg_lane: np.ndarray  # (S,) int64 lane of each segment (a lane's segments are contiguous)
    lane_links: np.ndarray  # (L, 4) int64: left, right neighbour, first, last (exclusive) segment row
    lane_ok: np.ndarray  # (L,) bool: a driving lane outside junctions (a legal lane-change target)
    lane_length: np.ndarray  # (L,) [m]


_TABLES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def road_tables(road) -> RoadTables:
    """The packed `RoadTables` of a roads.RoadMap (cached per map object)."""
    cached = _TABLES.get(road)
    if cached is None:
        seg = road._segments
        n = len(road.lanes)
        first = np.searchsorted(seg["lane"], np.arange(n), side="left")
        last = np.searchsorted(seg["lane"], np.arange(n), side="right")
        links = np.stack([
            np.array([-1 if la.left_neighbor is None else la.left_neighbor for la in road.lanes], dtype=np.int64),
            np.array([-1 if la.right_neighbor is None else la.right_neighbor for la in road.lanes], dtype=np.int64),
            first.astype(np.int64), last.astype(np.int64)], axis=1).reshape(n, 4)
        table = np.column_stack([seg["start"], seg["dir"], seg["len"], seg["s0"], seg["half_width"],
                                 seg["heading"]]).astype(np.float64).reshape(-1, 8)
        cached = RoadTables(
            seg=np.ascontiguousarray(table),
            seg_lane=np.ascontiguousarray(seg["lane"], dtype=np.int64),
            lane_links=np.ascontiguousarray(links),
            lane_ok=np.array([la.kind == "driving" and la.junction is None for la in road.lanes], dtype=bool),
            lane_length=np.ascontiguousarray(road.lane_lengths, dtype=np.float64),
        )
        _TABLES[road] = cached
    return cached


@njit(cache=True)
def occupancy_kernel(px, py, half_w, half_l, yaw, seg, seg_lane, slack):
    """Every (point, lane) pair where a box at (px[m], py[m]) with half width half_w[m], half length
    half_l[m] and heading yaw[m] overlaps a lane: its half extent across the lane is
    |sin(yaw - lane heading)| * half_l + |cos(yaw - lane heading)| * half_w (a car crossing a lane
    sideways reaches half its length into it).

    seg, seg_lane: the packed segment table (`RoadTables`); segments of one lane must be contiguous in it.
    For each pair the segment with the smallest |lateral offset| is kept. Returns (point, lane, s, d, lane
    heading), sorted by point then lane.
    """
    m_count = px.shape[0]
    n_seg = seg_lane.shape[0]
    cap = m_count * 8 + 16
    out_m = np.empty(cap, np.int64)
    out_lane = np.empty(cap, np.int64)
    out_s = np.empty(cap)
    out_d = np.empty(cap)
    out_h = np.empty(cap)
    n = 0
    for m in range(m_count):
        best_lane = -1
        best_abs = np.inf
        best_s = 0.0
        best_d = 0.0
        best_h = 0.0
        for k in range(n_seg + 1):
            lane = seg_lane[k] if k < n_seg else -2
            if lane != best_lane and best_lane >= 0 and best_abs < np.inf:
                if n == out_m.shape[0]:  # grow (rare: a point on many overlapping lanes)
                    out_m = np.concatenate((out_m, np.empty(cap, np.int64)))
                    out_lane = np.concatenate((out_lane, np.empty(cap, np.int64)))
                    out_s = np.concatenate((out_s, np.empty(cap)))
                    out_d = np.concatenate((out_d, np.empty(cap)))
                    out_h = np.concatenate((out_h, np.empty(cap)))
                out_m[n] = m
                out_lane[n] = best_lane
                out_s[n] = best_s
                out_d[n] = best_d
                out_h[n] = best_h
                n += 1
            if k == n_seg:
                break
            if lane != best_lane:
                best_lane = lane
                best_abs = np.inf
            rx = px[m] - seg[k, SEG_X]
            ry = py[m] - seg[k, SEG_Y]
            t = rx * seg[k, SEG_DX] + ry * seg[k, SEG_DY]
            if t < -0.25 or t > seg[k, SEG_LEN] + 0.25:
                continue
            d = seg[k, SEG_DX] * ry - seg[k, SEG_DY] * rx
            ad = abs(d)
            across = half_w[m]
            if half_l[m] >= 0.0:  # heading known (a negative half length means: aligned with the lane)
                rel = yaw[m] - seg[k, SEG_HEADING]
                across = abs(math.sin(rel)) * half_l[m] + abs(math.cos(rel)) * half_w[m]
            if ad >= seg[k, SEG_HW] + across - slack or ad >= best_abs:
                continue
            best_abs = ad
            best_s = seg[k, SEG_S0] + min(max(t, 0.0), seg[k, SEG_LEN])
            best_d = d
            best_h = seg[k, SEG_HEADING]
    return out_m[:n], out_lane[:n], out_s[:n], out_d[:n], out_h[:n]


@njit(cache=True)
def entries_kernel(active, x, y, yaw, v, length, width, ego_box, seg, seg_lane, slack):
    """Lane occupancy of every active agent and the ego (owner -1), with each entry's box and speed.

    ego_box: (6,) [x, y, yaw, v, length, width]. Returns, for every (road user, lane) overlap, an int
    table (2, E) [owner, lane] and a float table (5, E) [s, d, half width, length, speed along the lane]
    (row indices E_OWNER ... E_VLONG).
    """
    idx = np.flatnonzero(active)
    m = idx.shape[0] + 1
    px = np.empty(m)
    py = np.empty(m)
    hw = np.empty(m)
    hl = np.empty(m)
    heading = np.empty(m)
    for j in range(m - 1):
        px[j] = x[idx[j]]
        py[j] = y[idx[j]]
        hw[j] = 0.5 * width[idx[j]]
        hl[j] = 0.5 * length[idx[j]]
        heading[j] = yaw[idx[j]]
    px[m - 1] = ego_box[0]
    py[m - 1] = ego_box[1]
    hw[m - 1] = 0.5 * ego_box[5]
    hl[m - 1] = 0.5 * ego_box[4]
    heading[m - 1] = ego_box[2]
    em, lane, s, d, head = occupancy_kernel(px, py, hw, hl, heading, seg, seg_lane, slack)
    n = em.shape[0]
    ints = np.empty((2, n), np.int64)
    floats = np.empty((5, n))
    for e in range(n):
        j = em[e]
        ints[E_LANE, e] = lane[e]
        floats[E_S, e] = s[e]
        floats[E_D, e] = d[e]
        floats[E_HALFW, e] = hw[j]
        if j == m - 1:
            ints[E_OWNER, e] = -1
            floats[E_LEN, e] = ego_box[4]
            floats[E_VLONG, e] = ego_box[3] * math.cos(ego_box[2] - head[e])
        else:
            i = idx[j]
            ints[E_OWNER, e] = i
            floats[E_LEN, e] = length[i]
            floats[E_VLONG, e] = v[i] * math.cos(yaw[i] - head[e])
    return ints, floats


@njit(cache=True)
def behavior_groups(active, behavior, follow_code, walk_code, path_code):
    """Indices of the active agents with behavior follow_code, and of those with walk_code or path_code.

    Same as two np.flatnonzero of masks, without the five numpy calls.
    """
    n_follow = 0
    n_walk = 0
    for i in range(active.shape[0]):
        if active[i]:
            b = behavior[i]
            if b == follow_code:
                n_follow += 1
            elif b == walk_code or b == path_code:
                n_walk += 1
    follow = np.empty(n_follow, np.int64)
    walk = np.empty(n_walk, np.int64)
    n_follow = 0
    n_walk = 0
    for i in range(active.shape[0]):
        if active[i]:
            b = behavior[i]
            if b == follow_code:
                follow[n_follow] = i
                n_follow += 1
            elif b == walk_code or b == path_code:
                walk[n_walk] = i
                n_walk += 1
    return follow, walk


@njit(cache=True)
def _path_point(points, s_table, start, end, base, length, path, u):
    """Position and heading at arc length u on packed path `path` (clamped to the path)."""
    uu = min(max(u, 0.0), length[path])
    q = base[path] + uu
    lo = start[path]
    hi = end[path] - 2
    i = np.searchsorted(s_table, q, side="right") - 1
    i = min(max(i, lo), hi)
    dx = points[i + 1, 0] - points[i, 0]
    dy = points[i + 1, 1] - points[i, 1]
    seg = s_table[i + 1] - s_table[i]
    w = (q - s_table[i]) / seg
    return points[i, 0] + dx * w, points[i, 1] + dy * w, math.atan2(dy, dx), i


@njit(cache=True)
def interpolate_paths(points, s_table, start, end, base, length, paths, u):
    """Positions (M, 2) and headings (M,) at arc lengths u (M,) along packed paths `paths` (M,)."""
    m = paths.shape[0]
    xy = np.empty((m, 2))
    heading = np.empty(m)
    for j in range(m):
        x, y, h, _ = _path_point(points, s_table, start, end, base, length, paths[j], u[j])
        xy[j, 0] = x
        xy[j, 1] = y
        heading[j] = h
    return xy, heading


@njit(cache=True)
def follow_kernel(
    idx, active, flags, u, v, a, d, d_rate, x, y, yaw, length, width, v_desired, headway, min_gap, max_accel,
    comfort_decel, forced_decel, path, route_offset, stop_gap, e_int, e_float,
    points, s_table, start, end, base, plength, speed_cap, params, dt, brake_flag, blink_flags,
):
    """One step of every lane-following agent in `idx`: leader search, IDM, integration, pose.

    stop_gap: distance [m] from agent idx[j]'s front to where it must stand (stop line, yield point,
    crosswalk) at [j], inf if none; an empty array: none for anyone. e_int, e_float: this step's lane
    occupancy (`entries_kernel`). params: P_LOOKAHEAD_MIN ... P_CAP_DECEL. Returns new full-length
    arrays (inputs are not modified): a float table (9, N) with rows FOLLOW_ROWS, flags and active;
    agents not in idx keep their values.
    """
    lookahead_min = params[P_LOOKAHEAD_MIN]
    lookahead_time = params[P_LOOKAHEAD_TIME]
    lateral_margin = params[P_LATERAL_MARGIN]
    max_decel = params[P_MAX_DECEL]
    cap_decel = params[P_CAP_DECEL]
    e_owner = e_int[E_OWNER]
    e_lane = e_int[E_LANE]
    e_s = e_float[E_S]
    e_d = e_float[E_D]
    e_halfw = e_float[E_HALFW]
    e_len = e_float[E_LEN]
    e_vlong = e_float[E_VLONG]
    active = active.copy()
    flags = flags.copy()
    table = np.empty((9, u.shape[0]))
    u_new, v_new, a_new, d_new, rate_new = table[0], table[1], table[2], table[3], table[4]
    x_new, y_new, yaw_new, forced = table[5], table[6], table[7], table[8]
    u_new[:] = u
    v_new[:] = v
    a_new[:] = a
    d_new[:] = d
    rate_new[:] = d_rate
    x_new[:] = x
    y_new[:] = y
    yaw_new[:] = yaw
    forced[:] = forced_decel
    no_stops = stop_gap.shape[0] == 0
    n_entries = e_owner.shape[0]
    for j in range(idx.shape[0]):
        i = idx[j]
        ui = u[i]
        vi = v[i]
        di = d[i]
        half_len = 0.5 * length[i]
        lookahead = max(lookahead_min, vi * lookahead_time)
        corridor = 0.5 * width[i] + lateral_margin
        gap = np.inf
        v_lead = 0.0
        for e in range(n_entries):
            if e_owner[e] == i:
                continue
            off = route_offset[i, e_lane[e]]
            if off != off:  # NaN: that lane is not on this agent's route
                continue
            ahead = off + e_s[e] - ui
            if ahead <= 0.0 or ahead >= lookahead:
                continue
            if abs(e_d[e] - di) >= corridor + e_halfw[e]:
                continue
            g = ahead - half_len - 0.5 * e_len[e]
            if g < gap:
                gap = g
                v_lead = e_vlong[e]
        stop_j = np.inf if no_stops else stop_gap[j]
        standing = stop_j + min_gap[i]  # IDM should reach a stop point, not stay min_gap short of it
        if standing < gap:
            gap = standing
            v_lead = 0.0
        # desired speed, capped by the curves ahead
        p = path[i]
        q = base[p] + min(max(ui + half_len, 0.0), plength[p])
        k = np.searchsorted(s_table, q, side="right") - 1
        k = min(max(k, start[p]), end[p] - 2)
        # the cap at the next vertex, braked back to here, bounds the cap inside a long segment
        cap = min(speed_cap[k], math.sqrt(speed_cap[k + 1] ** 2 + 2.0 * cap_decel * max(s_table[k + 1] - q, 0.0)))
        v0 = max(min(v_desired[i], cap), 0.1)
        # Intelligent Driver Model (Treiber, Hennecke, Helbing 2000)
        dyn = vi * headway[i] + vi * (vi - v_lead) / (2.0 * math.sqrt(max_accel[i] * comfort_decel[i]))
        s_star = min_gap[i] + max(0.0, dyn)
        interaction = (s_star / max(gap, 0.1)) ** 2 if gap < np.inf else 0.0
        acc = max_accel[i] * (1.0 - (vi / v0) ** 4 - interaction)
        if forced_decel[i] > 0.0:
            acc = min(acc, -forced_decel[i])
        acc = min(max(acc, -max_decel), max_accel[i])
        vn = max(vi + acc * dt, 0.0)
        if stop_j < 0.3 and vn < 0.3:
            vn = 0.0  # at its stop point: halt instead of creeping up asymptotically
        acc = (vn - vi) / dt
        un = ui + 0.5 * (vi + vn) * dt
        dn = di + d_rate[i] * dt
        rn = d_rate[i]
        if (dn > 0.0) != (di > 0.0) or dn == 0.0:  # a lane change ends when the offset crosses zero
            if rn != 0.0:
                flags[i] = flags[i] & ~blink_flags  # blinkers off
            dn = 0.0
            rn = 0.0
        px, py, h, _ = _path_point(points, s_table, start, end, base, plength, p, un)
        x_new[i] = px - math.sin(h) * dn
        y_new[i] = py + math.cos(h) * dn
        yaw_new[i] = (h + math.atan2(rn, max(vn, 2.0)) + math.pi) % (2.0 * math.pi) - math.pi
        still = un < plength[p] - 1e-6  # past the end of its path the agent drives off the map
        active[i] = still
        u_new[i] = un
        v_new[i] = vn if still else 0.0
        a_new[i] = acc
        d_new[i] = dn
        rate_new[i] = rn
        if vn <= 0.0:
            forced[i] = 0.0
        if acc < -0.5:
            flags[i] = flags[i] | brake_flag
        else:
            flags[i] = flags[i] & ~brake_flag
    return table, flags, active


@njit(cache=True)
def _idm(v, v0, gap, v_lead, headway, min_gap, a_max, b_comf):
    dyn = v * headway + v * (v - v_lead) / (2.0 * math.sqrt(a_max * b_comf))
    s_star = min_gap + max(0.0, dyn)
    interaction = (s_star / max(gap, 0.1)) ** 2 if gap < np.inf else 0.0
    return a_max * (1.0 - (v / max(v0, 0.1)) ** 4 - interaction)


@njit(cache=True)
def _around(e_owner, e_lane, e_s, e_len, e_v, lane, s, me):
    """Nearest road users ahead of and behind arc length s on `lane` (owner -2 = none)."""
    lead_gap, lead_v, lead_len = np.inf, 0.0, 0.0
    back, back_gap, back_len = -2, np.inf, 0.0
    for e in range(e_owner.shape[0]):
        if e_lane[e] != lane or e_owner[e] == me:
            continue
        ds = e_s[e] - s
        if ds > 0.0:
            if ds < lead_gap:
                lead_gap, lead_v, lead_len = ds, e_v[e], e_len[e]
        elif -ds < back_gap:
            back, back_gap, back_len = e_owner[e], -ds, e_len[e]
    return lead_gap, lead_v, lead_len, back, back_gap, back_len


@njit(cache=True)
def _project_on_lane(x, y, seg, first, last):
    best, best_s = np.inf, 0.0
    for k in range(first, last):
        rx = x - seg[k, SEG_X]
        ry = y - seg[k, SEG_Y]
        t = min(max(rx * seg[k, SEG_DX] + ry * seg[k, SEG_DY], 0.0), seg[k, SEG_LEN])
        px = rx - seg[k, SEG_DX] * t
        py = ry - seg[k, SEG_DY] * t
        dist = px * px + py * py
        if dist < best:
            best, best_s = dist, seg[k, SEG_S0] + t
    return best_s


@njit(cache=True)
def mobil_kernel(
    first, period, active, lane_changes, behavior, idm_code, d, forced_decel,
    x, y, u, v, length, v_desired, headway, min_gap, max_accel, comfort_decel, route_offset,
    e_int, e_float, lane_links, lane_ok, lane_length, seg, params, ego_speed,
):
    """MOBIL decisions for the agents whose turn it is (index first, first + period, ...): an array of
    (agent, choice) rows, choice 1 = change left, 2 = change right; agents that stay are not listed.

    Only active lane-following agents with lane changes enabled, not already changing lanes, faster than
    min_speed and not braking on a script are considered. lane_ok[l]: lane l is a driving lane outside
    junctions (a legal target). The ego (owner -1) is treated as a follower that must keep a one-second
    gap, not as a model to be made to brake. e_int, e_float: this step's lane occupancy (`entries_kernel`);
    lane_links, lane_ok, lane_length, seg: the map's `RoadTables`; params: M_POLITENESS ... M_MIN_SPEED.
    """
    politeness = params[M_POLITENESS]
    threshold = params[M_THRESHOLD]
    safe_decel = params[M_SAFE_DECEL]
    min_lane_left = params[M_MIN_LANE_LEFT]
    min_speed = params[M_MIN_SPEED]
    e_owner = e_int[E_OWNER]
    e_lane = e_int[E_LANE]
    e_s = e_float[E_S]
    e_len = e_float[E_LEN]
    e_v = e_float[E_VLONG]
    rows = []
    n_lanes = lane_length.shape[0]
    for i in range(first, x.shape[0], period):
        if not (active[i] and lane_changes[i] and behavior[i] == idm_code and d[i] == 0.0
                and v[i] > min_speed and forced_decel[i] == 0.0):
            continue
        choice = 0
        here, here_off = -1, -np.inf
        for la in range(n_lanes):  # the route lane the agent is on: the last one started
            off = route_offset[i, la]
            if off == off and off <= u[i] + 1e-9 and off > here_off:
                here, here_off = la, off
        if here < 0 or not lane_ok[here]:
            continue
        s_here = u[i] - here_off
        if lane_length[here] - s_here < min_lane_left:
            continue
        half = 0.5 * length[i]
        gap, v_lead, lead_len, _, _, _ = _around(e_owner, e_lane, e_s, e_len, e_v, here, s_here, i)
        a_stay = _idm(v[i], v_desired[i], gap - half - 0.5 * lead_len, v_lead, headway[i], min_gap[i],
                      max_accel[i], comfort_decel[i])
        best_gain = threshold
        for side in range(2):
            target = lane_links[here, LINK_LEFT] if side == 0 else lane_links[here, LINK_RIGHT]
            if target < 0 or not lane_ok[target]:
                continue
            s_t = _project_on_lane(x[i], y[i], seg, lane_links[target, LINK_FIRST], lane_links[target, LINK_LAST])
            if lane_length[target] - s_t < min_lane_left:
                continue
            gap_t, v_t, len_t, back, back_gap, back_len = _around(e_owner, e_lane, e_s, e_len, e_v, target, s_t, i)
            gain = _idm(v[i], v_desired[i], gap_t - half - 0.5 * len_t, v_t, headway[i], min_gap[i],
                        max_accel[i], comfort_decel[i]) - a_stay
            if back != -2:
                room = back_gap - half - 0.5 * back_len
                if room <= 0.0:
                    continue  # someone is alongside
                if back >= 0:
                    now = _idm(v[back], v_desired[back], back_gap + gap_t - 0.5 * back_len - 0.5 * len_t, v_t,
                               headway[back], min_gap[back], max_accel[back], comfort_decel[back])
                    new = _idm(v[back], v_desired[back], room, v[i], headway[back], min_gap[back],
                               max_accel[back], comfort_decel[back])
                    if new < -safe_decel:
                        continue
                    gain += politeness * (new - now)
                elif room < max(5.0, ego_speed):
                    continue
            if gain > best_gain:
                best_gain = gain
                choice = side + 1
        if choice:
            rows.append((i, choice))
    out = np.empty((len(rows), 2), np.int64)
    for k in range(len(rows)):
        out[k, 0] = rows[k][0]
        out[k, 1] = rows[k][1]
    return out


@njit(cache=True)
def _corners(x, y, yaw, length, width):
    c, s = math.cos(yaw), math.sin(yaw)
    hl, hw = 0.5 * length, 0.5 * width
    out = np.empty((4, 2))
    for k, (a, b) in enumerate(((hl, hw), (-hl, hw), (-hl, -hw), (hl, -hw))):
        out[k, 0] = x + c * a - s * b
        out[k, 1] = y + s * a + c * b
    return out


@njit(cache=True)
def _separated(p, q):
    """Whether convex quads p and q (4, 2) have a separating axis among p's edge normals."""
    for k in range(2):
        ex = p[k + 1, 0] - p[k, 0]
        ey = p[k + 1, 1] - p[k, 1]
        nx, ny = -ey, ex
        pmin, pmax, qmin, qmax = np.inf, -np.inf, np.inf, -np.inf
        for m in range(4):
            a = p[m, 0] * nx + p[m, 1] * ny
            b = q[m, 0] * nx + q[m, 1] * ny
            pmin, pmax = min(pmin, a), max(pmax, a)
            qmin, qmax = min(qmin, b), max(qmax, b)
        if pmax <= qmin or qmax <= pmin:
            return True
    return False


@njit(cache=True)
def box_hits(box, active, x, y, yaw, length, width):
    """Indices of active agents whose oriented boxes overlap `box` (6,) [x, y, yaw, v, length, width].

    Same separating-axis rule as geometry.boxes_overlap (touching is not overlapping).
    """
    ego = _corners(box[0], box[1], box[2], box[4], box[5])
    hits = []
    for i in range(x.shape[0]):
        if not active[i]:
            continue
        reach = 0.5 * (length[i] + width[i] + box[4] + box[5])
        if abs(x[i] - box[0]) >= reach or abs(y[i] - box[1]) >= reach:
            continue
        other = _corners(x[i], y[i], yaw[i], length[i], width[i])
        if not _separated(ego, other) and not _separated(other, ego):
            hits.append(i)
    return np.array(hits, dtype=np.int64)


@njit(cache=True)
def log_arrays(box, active, x, y, yaw, v, a, length, width):
    """What a log record needs of the agents, in one call: the (N, 7) table [x, y, yaw, v, a, length,
    width] (np.stack of the seven arrays) and `box_hits(box, ...)`, the agents overlapping the ego box."""
    n = x.shape[0]
    table = np.empty((n, 7))
    for i in range(n):
        table[i, 0] = x[i]
        table[i, 1] = y[i]
        table[i, 2] = yaw[i]
        table[i, 3] = v[i]
        table[i, 4] = a[i]
        table[i, 5] = length[i]
        table[i, 6] = width[i]
    return table, box_hits(box, active, x, y, yaw, length, width)
