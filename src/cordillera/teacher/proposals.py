"""Candidate plans of the teacher: lateral paths along the route x IDM speed profiles, plus stop and pull-over.

    >>> scene = Scene.build(state, fc, walls, cfg)
    >>> props = propose(scene, [PathSpec(0.0), PathSpec(-1.0)], (1.0, 0.6), cfg)

A path is the route centreline shifted sideways: the ego's current offset blends (smoothstep) into a target
offset over a transition length, so offsets of a fraction of the lane width are in-lane nudges, offsets of
about a lane width are lane changes into the neighbour lane (or out-of-lane nudges into an oncoming one). A
pass around a standing obstruction blends back to the route centreline once the ego's rear has cleared it.
For each path, the speed profile is the Intelligent Driver Model integrated over the 64 plan steps: the leader
at step k is the nearest forecast agent whose box, within a short look-ahead window, overlaps the path's
corridor ahead of the front bumper, or the nearest rule wall standing at k (rules.py). Agents are taken where the
forecast puts them at each step, so a scripted dart-out or cut-in is braked for before it happens. Every
proposal records which obstacle limited its acceleration first (the binding constraint that names the
decision). The corridors are numpy arrays; the step loop is `idm_kernel` (numba, compiled on first use and
cached on disk), which repeats the arithmetic of `world.traffic.idm_acceleration` and `geometry.speed_cap_at`
operation for operation so the profiles are bit-identical to the numpy loop it replaced (~10 ms per decision).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit

from cordillera import constants as C
from cordillera.eval.metrics.pdm import standing_obstructions
from cordillera.geometry import smoothstep, wrap_angle
from cordillera.teacher.decisions import Constraint

__all__ = ["Scene", "PathSpec", "Proposal", "propose", "stop_proposal"]


class PathSpec(NamedTuple):
    offset: float  # target lateral offset from the route path, + left [m]
    kind: str = "lane"  # "lane" or "pull_over"
    lane_change: int = 0  # +1 / -1 when the offset reaches the left / right neighbour lane
    return_s: float = math.inf  # route arc length of the rear axle where the path blends back to offset 0 [m]


class Proposal(NamedTuple):
    name: str
    path: PathSpec
    speed_factor: float  # fraction of the allowed speed the IDM aims for (0: a stop proposal)
    poses: np.ndarray  # (64, 3) rear-axle world poses
    speeds: np.ndarray  # (64,) planned speeds [m/s]
    binding: Constraint | None  # what first limited the acceleration (None: free road or own speed target)
    capped: bool  # the speed target was below the lane's limit at some step (curve, slower target)


@dataclass(frozen=True)
class Scene:
    """Everything the proposals share, along the route path (arc length s, lateral d, + left).

    agent_s, agent_d, half_s, half_d, v_long, valid: (T+1, N) forecast agent boxes in route coordinates; room:
    (T+1, N) extra distance kept behind each agent on top of the IDM gap [m] (to pull out around an obstruction).
    """

    s_ego: float  # rear axle [m]
    d_ego: float
    v0: float
    agent_s: np.ndarray
    agent_d: np.ndarray
    half_s: np.ndarray
    half_d: np.ndarray
    v_long: np.ndarray
    valid: np.ndarray
    room: np.ndarray
    walls: list
    limits: np.ndarray  # (len(route.lanes),) speed limits [m/s]
    caps: np.ndarray  # curve speed caps at the route path vertices [m/s]

    @staticmethod
    def build(state, fc, walls, cfg, caps: np.ndarray) -> "Scene":
        route = state.world.route
        ego = state.ego
        s, d, _ = route.path.project(ego.pose[None, :2])
        agents = fc.agents  # (T+1, N, 7)
        steps, n = agents.shape[:2]
        if n:
            near = fc.active & (np.hypot(agents[..., 0] - ego.x, agents[..., 1] - ego.y) < cfg.scene_radius_m)
            a_s = np.full((steps, n), np.nan)
            a_d = np.full((steps, n), np.nan)
            heading = np.zeros((steps, n))
            if near.any():
                ps, pd, _ = route.path.project(agents[near][:, :2])
                a_s[near], a_d[near] = ps, pd
                heading[near] = route.path.heading_at(ps)
            rel = wrap_angle(agents[..., 2] - heading)
            c, si = np.abs(np.cos(rel)), np.abs(np.sin(rel))
            half_s = (agents[..., 5] * c + agents[..., 6] * si) / 2.0
            half_d = (agents[..., 5] * si + agents[..., 6] * c) / 2.0
            v_long = agents[..., 3] * np.cos(rel)
            valid = near & (a_s > -50.0) & (a_s < route.path.length + 50.0)
            standing = standing_obstructions(agents, fc.active, fc.flags, state.agents.type, cfg.metrics.pdm)
            room = np.where(standing, cfg.pass_room_m, 0.0)
        else:
            a_s = a_d = half_s = half_d = v_long = room = np.zeros((steps, 0))
            valid = np.zeros((steps, 0), dtype=bool)
        limits = np.array([state.road.lanes[k].speed_limit for k in route.lanes])
        return Scene(float(s[0]), float(d[0]), float(ego.v), a_s, a_d, half_s, half_d, v_long, valid, room, walls,
                     limits, caps)


def _offset_profile(scene: Scene, spec: PathSpec, s: np.ndarray, cfg) -> np.ndarray:
    """Lateral offset (...) of a path at route arc lengths s: the ego's offset blended into `spec.offset`, and
    from `spec.return_s` on blended back to 0 over the same length."""
    length = max(cfg.min_transition_m, scene.v0 * cfg.transition_time_s)
    d = scene.d_ego + (spec.offset - scene.d_ego) * smoothstep((s - scene.s_ego) / length)
    if math.isfinite(spec.return_s):
        d = d * (1.0 - smoothstep((s - spec.return_s) / length))
    return d


def _corridor(scene: Scene, spec: PathSpec, cfg, ego_half_width: float) -> tuple[np.ndarray, np.ndarray]:
    """Per forecast step k: (T+1, N) nearest rear edge of each agent inside the path's corridor within the
    look-ahead window after k (inf when none), and the (T+1, N) far edge at k."""
    if not scene.agent_s.shape[1]:
        return scene.agent_s.copy(), scene.agent_s.copy()
    with np.errstate(invalid="ignore"):
        path_d = _offset_profile(scene, spec, np.nan_to_num(scene.agent_s), cfg)
        inside = scene.valid & (np.abs(scene.agent_d - path_d) < scene.half_d + ego_half_width + cfg.lateral_margin_m)
    rear = np.where(inside, scene.agent_s - scene.half_s - scene.room, np.inf)
    window = int(round(cfg.occupancy_lookahead_s / C.DT))
    eff = rear.copy()
    for shift in range(1, window + 1):
        eff[:-shift] = np.minimum(eff[:-shift], rear[shift:])
    far = np.where(scene.valid, scene.agent_s + scene.half_s, -np.inf)
    return eff, far


def propose(scene: Scene, route, specs: list[PathSpec], factors: tuple[float, ...], cfg, params) -> list[Proposal]:
    """IDM proposals for every path x speed factor, integrated together (see the module docstring)."""
    n_steps = C.PLAN_STEPS
    dt = C.DT
    combos = [(p, f) for p in range(len(specs)) for f in factors]
    P = len(combos)
    path_of = np.array([p for p, _ in combos])
    factor = np.array([f for _, f in combos])
    corr = [_corridor(scene, spec, cfg, params.width_m / 2.0) for spec in specs]
    eff = np.stack([c[0] for c in corr])  # (paths, T+1, N)
    far = np.stack([c[1] for c in corr])
    T = scene.agent_s.shape[0] - 1
    n_agents = scene.agent_s.shape[1]
    wall_s = np.array([w.s for w in scene.walls], dtype=np.float64) if scene.walls else np.zeros(0)
    wall_up = np.stack([w.up for w in scene.walls]) if scene.walls else np.zeros((0, T + 1), dtype=bool)
    out_s, out_v, binder, capped = idm_kernel(
        float(scene.s_ego), float(scene.v0), factor.astype(np.float64), path_of.astype(np.int64),
        np.ascontiguousarray(eff, dtype=np.float64), np.ascontiguousarray(far, dtype=np.float64),
        np.ascontiguousarray(scene.v_long, dtype=np.float64), wall_s, np.ascontiguousarray(wall_up, dtype=np.bool_),
        np.asarray(route.lane_offsets, dtype=np.float64), np.asarray(scene.limits, dtype=np.float64),
        np.asarray(route.path.s, dtype=np.float64), np.asarray(scene.caps, dtype=np.float64),
        float(route.path.length), float(params.length_m - params.rear_overhang_m), n_steps, float(dt),
        float(cfg.comfort_decel), float(cfg.stop_margin_m), float(cfg.min_gap_m), float(cfg.time_headway_s),
        float(cfg.max_accel), float(cfg.max_decel), float(cfg.binding_accel_mps2), float(cfg.binding_horizon_s))
    props = []
    for i, (p, f) in enumerate(combos):
        b = int(binder[i])
        if b < 0:
            binding = None
        elif b < n_agents:
            binding = Constraint("agent", agent=b, distance_m=None)
        else:
            binding = scene.walls[b - n_agents].constraint
        poses = path_poses(scene, route, specs[p], out_s[:, i], cfg)
        name = f"{specs[p].kind}/off{specs[p].offset:+.1f}/v{f:.2f}"
        props.append(Proposal(name, specs[p], float(f), poses, out_v[:, i], binding, bool(capped[i])))
    return props


def stop_proposal(scene: Scene, route, spec: PathSpec, decel: float, cfg, name: str) -> Proposal:
    """Brake at a constant `decel` [m/s^2] to a standstill along a path (a stop, or with a pull-over path)."""
    v = np.maximum(scene.v0 - decel * C.DT * np.arange(1, C.PLAN_STEPS + 1), 0.0)
    prev = np.concatenate([[scene.v0], v[:-1]])
    s = scene.s_ego + np.cumsum(0.5 * (prev + v) * C.DT)
    return Proposal(name, spec, 0.0, path_poses(scene, route, spec, s, cfg), v, None, False)


def path_poses(scene: Scene, route, spec: PathSpec, s: np.ndarray, cfg) -> np.ndarray:
    """(64, 3) rear-axle world poses at route arc lengths s (64,) on the path."""
    xy, _ = route.path.interpolate(s)
    heading = route.path.tangent_heading(s)
    d = _offset_profile(scene, spec, s, cfg)
    dd = _offset_profile(scene, spec, s + 0.5, cfg) - _offset_profile(scene, spec, s - 0.5, cfg)
    normal = np.stack([-np.sin(heading), np.cos(heading)], -1)
    pos = xy + normal * d[:, None]
    yaw = wrap_angle(heading + np.arctan2(dd, 1.0))
    return np.concatenate([pos, yaw[:, None]], -1)


@njit(cache=True)
def _bisect_right(a: np.ndarray, x: float) -> int:
    """np.searchsorted(a, x, side="right") for a sorted 1-D array without NaN."""
    lo, hi = 0, a.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if x < a[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(cache=True)
def idm_kernel(s_ego, v0, factor, path_of, eff, far, v_long, wall_s, wall_up, lane_offsets, limits, path_s, caps,
               path_len, front_off, n_steps, dt, comfort_decel, stop_margin, min_gap, headway, max_accel, max_decel,
               binding_accel, binding_horizon):
    """The IDM of every proposal over the plan steps (`propose`'s loop, compiled; the same operations in the same
    order as the numpy expressions it replaces: `world.traffic.idm_acceleration`, `geometry.speed_cap_at`).

    factor, path_of: (P,) speed factor and path index per proposal; eff, far: (paths, T+1, N) corridor edges
    (`_corridor`); v_long: (T+1, N); wall_s: (W,) and wall_up: (W, T+1). Returns out_s, out_v (n_steps, P) rear-axle
    arc length and speed, binder (P,) the first binding obstacle (agent index, n_agents + wall index, or -1) and
    capped (P,) bool.
    """
    n_props = factor.shape[0]
    T = v_long.shape[0] - 1
    n_agents = v_long.shape[1]
    n_walls = wall_s.shape[0]
    n_lanes = lane_offsets.shape[0]
    n_vertices = path_s.shape[0]
    out_s = np.empty((n_steps, n_props))
    out_v = np.empty((n_steps, n_props))
    binder = np.full(n_props, -1, np.int64)
    capped = np.zeros(n_props, np.bool_)
    root = 2.0 * math.sqrt(max_accel * comfort_decel)
    for i in range(n_props):
        v = v0
        travelled = 0.0
        p = path_of[i]
        for k in range(n_steps):
            j = min(k, T)
            s_rear_axle = s_ego + travelled
            s_front = s_rear_axle + front_off
            lane_k = min(max(_bisect_right(lane_offsets, s_rear_axle) - 1, 0), n_lanes - 1)
            limit = limits[lane_k]
            q = min(s_front, path_len)
            m = min(max(_bisect_right(path_s, q) - 1, 0), n_vertices - 2)
            braked = math.sqrt(caps[m + 1] ** 2 + 2.0 * comfort_decel * max(path_s[m + 1] - q, 0.0))
            curve = min(caps[m], braked)
            want = min(limit, curve) * factor[i]
            if curve < limit - 0.5:
                capped[i] = True
            gap = np.inf
            v_lead = 0.0
            who = -1
            if n_agents:
                nearest = 0
                best = np.inf
                for n in range(n_agents):
                    a = eff[p, j, n]
                    if np.isfinite(a) and far[p, j, n] > s_front - 1.0:
                        g = a - s_front
                        if g < best:
                            best = g
                            nearest = n
                gap = best
                if np.isfinite(gap):
                    who = nearest
                    v_lead = max(v_long[j, nearest], 0.0)
                gap = max(gap, 0.0)
            if n_walls:
                w = 0
                best = np.inf
                for n in range(n_walls):
                    if wall_up[n, j] and s_front < wall_s[n] + stop_margin:
                        g = wall_s[n] + min_gap - s_front
                        if g < best:
                            best = g
                            w = n
                wgap = max(best, 0.0)
                if wgap < gap:
                    gap = wgap
                    v_lead = 0.0
                    if np.isfinite(wgap):
                        who = n_agents + w
            v_want = max(want, 0.1)
            s_star = min_gap + max(0.0, v * headway + v * (v - v_lead) / root)
            interaction = (s_star / max(gap, 0.1)) ** 2 if np.isfinite(gap) else 0.0
            free = max_accel * (1.0 - math.pow(v / v_want, 4.0) - 0.0)
            acc = max_accel * (1.0 - math.pow(v / v_want, 4.0) - interaction)
            acc = min(max(acc, -max_decel), max_accel)
            if binder[i] < 0 and who >= 0 and acc < free - binding_accel and k * dt < binding_horizon:
                binder[i] = who
            v_new = max(v + acc * dt, 0.0)
            travelled = travelled + 0.5 * (v + v_new) * dt
            v = v_new
            out_s[k, i] = s_ego + travelled
            out_v[k, i] = v
    return out_s, out_v, binder, capped
