"""Candidate plans of the teacher: lateral paths along the route x IDM speed profiles, plus stop and pull-over.

    >>> scene = Scene.build(state, fc, walls, cfg)
    >>> props = propose(scene, [PathSpec(0.0), PathSpec(-1.0)], (1.0, 0.6), cfg)

A path is the route centreline shifted sideways: the ego's current offset blends (smoothstep) into a target
offset over a transition length, so offsets of a fraction of the lane width are in-lane nudges, offsets of
about a lane width are lane changes into the neighbour lane (or out-of-lane nudges into an oncoming one).
For each path, the speed profile is the Intelligent Driver Model integrated over the 64 plan steps, all
proposals at once (arrays (P,)): the leader at step k is the nearest forecast agent whose box, within a short
look-ahead window, overlaps the path's corridor ahead of the front bumper, or the nearest rule wall standing at
k (rules.py). Agents are taken where the forecast puts them at each step, so a scripted dart-out or cut-in is
braked for before it happens. Every proposal records which obstacle limited its acceleration first (the
binding constraint that names the decision).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from cordillera import constants as C
from cordillera.geometry import speed_cap_at, wrap_angle
from cordillera.teacher.decisions import Constraint
from cordillera.world.traffic import idm_acceleration

__all__ = ["Scene", "PathSpec", "Proposal", "propose", "stop_proposal"]


class PathSpec(NamedTuple):
    offset: float  # target lateral offset from the route path, + left [m]
    kind: str = "lane"  # "lane" or "pull_over"
    lane_change: int = 0  # +1 / -1 when the offset reaches the left / right neighbour lane


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

    agent_s, agent_d, half_s, half_d, v_long, valid: (T+1, N) forecast agent boxes in route coordinates.
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
        else:
            a_s = a_d = half_s = half_d = v_long = np.zeros((steps, 0))
            valid = np.zeros((steps, 0), dtype=bool)
        limits = np.array([state.road.lanes[k].speed_limit for k in route.lanes])
        return Scene(float(s[0]), float(d[0]), float(ego.v), a_s, a_d, half_s, half_d, v_long, valid, walls,
                     limits, caps)


def _offset_profile(scene: Scene, offset: float, s: np.ndarray, cfg) -> np.ndarray:
    """Lateral offset (...) of a path at route arc lengths s: the ego's offset blended into `offset`."""
    length = max(cfg.min_transition_m, scene.v0 * cfg.transition_time_s)
    x = np.clip((s - scene.s_ego) / length, 0.0, 1.0)
    return scene.d_ego + (offset - scene.d_ego) * x * x * (3.0 - 2.0 * x)


def _corridor(scene: Scene, spec: PathSpec, cfg, ego_half_width: float) -> tuple[np.ndarray, np.ndarray]:
    """Per forecast step k: (T+1, N) nearest rear edge of each agent inside the path's corridor within the
    look-ahead window after k (inf when none), and the (T+1, N) far edge at k."""
    if not scene.agent_s.shape[1]:
        return scene.agent_s.copy(), scene.agent_s.copy()
    with np.errstate(invalid="ignore"):
        path_d = _offset_profile(scene, spec.offset, np.nan_to_num(scene.agent_s), cfg)
        inside = scene.valid & (np.abs(scene.agent_d - path_d) < scene.half_d + ego_half_width + cfg.lateral_margin_m)
    rear = np.where(inside, scene.agent_s - scene.half_s, np.inf)
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
    wall_s = np.array([w.s for w in scene.walls]) if scene.walls else np.zeros(0)
    wall_up = np.stack([w.up for w in scene.walls]) if scene.walls else np.zeros((0, T + 1), dtype=bool)
    front_off = params.length_m - params.rear_overhang_m
    v = np.full(P, scene.v0)
    travelled = np.zeros(P)
    out_s = np.empty((n_steps, P))
    out_v = np.empty((n_steps, P))
    binder = np.full(P, -1)
    capped = np.zeros(P, dtype=bool)
    path_len = route.path.length
    for k in range(n_steps):
        j = min(k, T)
        s_rear_axle = scene.s_ego + travelled
        s_front = s_rear_axle + front_off
        lane_k = np.clip(np.searchsorted(route.lane_offsets, s_rear_axle, side="right") - 1, 0, len(route.lanes) - 1)
        limit = scene.limits[lane_k]
        curve = speed_cap_at(route.path.s, scene.caps, np.minimum(s_front, path_len), cfg.comfort_decel)
        want = np.minimum(limit, curve) * factor
        capped |= curve < limit - 0.5
        gap = np.full(P, np.inf)
        v_lead = np.zeros(P)
        who = np.full(P, -1)
        if n_agents:
            a = eff[path_of, j]  # (P, N)
            ok = np.isfinite(a) & (far[path_of, j] > s_front[:, None] - 1.0)
            g = np.where(ok, a - s_front[:, None], np.inf)
            nearest = np.argmin(g, axis=1)
            gap = g[np.arange(P), nearest]
            hit = np.isfinite(gap)
            who = np.where(hit, nearest, -1)
            v_lead = np.where(hit, np.maximum(scene.v_long[j, nearest], 0.0), 0.0)
            gap = np.maximum(gap, 0.0)
        if len(wall_s):
            # a wall stands for proposals whose front bumper has not yet crossed its line (a light turning red
            # behind a proposal that already went through on yellow does not stop it mid-junction)
            up = wall_up[:, j][None, :] & (s_front[:, None] < wall_s[None, :] + cfg.stop_margin_m)
            wg = np.where(up, wall_s[None, :] + cfg.min_gap_m - s_front[:, None], np.inf)
            w = np.argmin(wg, axis=1)
            wgap = np.maximum(wg[np.arange(P), w], 0.0)
            closer = wgap < gap
            gap = np.where(closer, wgap, gap)
            v_lead = np.where(closer, 0.0, v_lead)
            who = np.where(closer & np.isfinite(wgap), n_agents + w, who)
        idm = (cfg.time_headway_s, cfg.min_gap_m, cfg.max_accel, cfg.comfort_decel)
        acc = idm_acceleration(v, want, gap, v_lead, *idm)
        free = idm_acceleration(v, want, np.inf, 0.0, *idm)
        acc = np.clip(acc, -cfg.max_decel, cfg.max_accel)
        first = (binder < 0) & (who >= 0) & (acc < free - cfg.binding_accel_mps2) & (k * dt < cfg.binding_horizon_s)
        binder = np.where(first, who, binder)
        v_new = np.maximum(v + acc * dt, 0.0)
        travelled = travelled + 0.5 * (v + v_new) * dt
        v = v_new
        out_s[k] = scene.s_ego + travelled
        out_v[k] = v
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
    d = _offset_profile(scene, spec.offset, s, cfg)
    dd = (_offset_profile(scene, spec.offset, s + 0.5, cfg) - _offset_profile(scene, spec.offset, s - 0.5, cfg))
    normal = np.stack([-np.sin(heading), np.cos(heading)], -1)
    pos = xy + normal * d[:, None]
    yaw = wrap_angle(heading + np.arctan2(dd, 1.0))
    return np.concatenate([pos, yaw[:, None]], -1)
