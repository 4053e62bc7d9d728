"""Baseline policies: constant velocity, and a rule-based lane follower (IDM along the route).

The lane follower is privileged in the sense of a perfect perception stack: it reads the positions of
other road users, signals and stop lines from the world state, and plans a speed profile along the
route's centreline with the Intelligent Driver Model. It is the reference every learned policy must beat.
"""

from __future__ import annotations

import numpy as np

from cordillera import constants as C
from cordillera.geometry import speed_cap_at, speed_profile, to_frame, wrap_angle
from cordillera.policies.base import Policy, register_policy
from cordillera.world.roads.map import Control, SignalState
from cordillera.world.agents import VRU_TYPES
from cordillera.world.roads.routes import route_offsets
from cordillera.world.traffic import conflict_pending, crosswalk_gaps, idm_acceleration, occupancy
from cordillera.world.types import Observation, Plan, PrivilegedObservation

__all__ = ["ConstantVelocity", "LaneFollower", "lane_entries", "merge_wait", "yield_wait"]

_VRU = np.array([int(t) for t in VRU_TYPES])


@register_policy
class ConstantVelocity(Policy):
    """Keeps the current speed and yaw rate for 6.4 s."""

    name = "constant_velocity"

    def plan(self, obs: Observation) -> Plan:
        speeds = np.full(C.PLAN_STEPS, obs.speed)
        curvature = obs.yaw_rate / obs.speed if obs.speed > 0.5 else 0.0
        return Plan.from_speed_profile(speeds, curvature)


@register_policy
class LaneFollower(Policy):
    """IDM speed control along the route centreline; stops for red lights, stop signs and obstacles."""

    name = "lane_follower"
    privileged = True

    def __init__(self, time_headway_s: float = 1.5, min_gap_m: float = 3.0, max_accel: float = 1.5,
                 comfort_decel: float = 2.5, stop_margin_m: float = 1.5, lateral_accel: float = 2.0,
                 yield_horizon_m: float = 40.0, vru_horizon_s: float = 3.0, merge_gap_s: float = 1.5) -> None:
        self.headway = time_headway_s
        self.min_gap = min_gap_m
        self.max_accel = max_accel
        self.comfort_decel = comfort_decel
        self.stop_margin = stop_margin_m
        self.lateral_accel = lateral_accel  # [m/s^2] comfortable lateral acceleration in curves
        self.yield_horizon = yield_horizon_m  # [m] look for right-of-way conflicts this far ahead
        self.vru_horizon_s = vru_horizon_s  # [s] how far ahead pedestrians and cyclists are extrapolated
        self.merge_gap_s = merge_gap_s  # [s] time gap wanted to a vehicle closing up from behind when merging
        self._cap_route, self._cap = None, np.zeros(0)
        self._served: set[int] = set()

    def reset(self, info: dict | None = None) -> None:
        self._served = set()

    def plan(self, obs: Observation) -> Plan:
        if not isinstance(obs, PrivilegedObservation):
            raise TypeError("lane_follower is privileged: give it a PrivilegedObservation")
        state = obs.state
        world = state.world
        road, route = world.road, world.route
        params = world.config.vehicle
        ego = state.ego
        s_proj, d_proj, _ = route.path.project(ego.pose[None, :2])
        s_ego, d_ego = float(s_proj[0]), float(d_proj[0])
        s_front = s_ego + params.length_m - params.rear_overhang_m
        offsets = route_offsets(road, route)
        entries = self._entries(state)
        gap, v_lead = self._obstacle(state, entries, offsets, s_front, d_ego)
        center_s = s_ego + params.rear_axle_to_center_m
        crosswalk = float(crosswalk_gaps(world.context, state.agents, offsets[None], np.array([center_s]),
                                         np.array([params.length_m / 2.0]))[0]) + world.context.config.stop_margin_m
        stop = min(self._stop_distance(state, offsets, s_front, ego.v),
                   self._yield_distance(state, entries, offsets, s_front),
                   self._vru_distance(state, offsets, s_front, d_ego),
                   self._merge_distance(state, entries, offsets, s_ego),
                   crosswalk - self.stop_margin + self.min_gap,
                   # stop short of the route's end like at a stop line, never drive off it
                   route.path.length - s_front - self.stop_margin + self.min_gap)
        if stop < gap:
            gap, v_lead = stop, 0.0
        caps = self._caps(route)
        lane_limits = np.array([road.lanes[k].speed_limit for k in route.lanes])
        # integrate the IDM forward to a speed profile (the leader is assumed to keep its speed)
        v, s = ego.v, 0.0
        travelled = np.empty(C.PLAN_STEPS)
        for k in range(C.PLAN_STEPS):
            here = s_ego + s
            v_want = min(lane_limits[route.lane_index_at(here)],
                         float(speed_cap_at(route.path.s, caps, here, self.comfort_decel)))
            acc = float(idm_acceleration(v, v_want, gap - s + v_lead * k * C.DT, v_lead, self.headway,
                                         self.min_gap, self.max_accel, self.comfort_decel))
            v_new = max(v + min(max(acc, -8.0), self.max_accel) * C.DT, 0.0)
            s += 0.5 * (v + v_new) * C.DT
            v = v_new
            travelled[k] = s
        xy, _ = route.path.interpolate(s_ego + travelled)
        yaw = route.path.tangent_heading(s_ego + travelled)
        poses = to_frame(np.concatenate([xy, yaw[:, None]], axis=-1), ego.pose)
        return Plan(poses)

    def _caps(self, route) -> np.ndarray:
        if self._cap_route is not route:
            self._cap_route, self._cap = route, speed_profile(route.path.points, self.lateral_accel, self.comfort_decel)
        return self._cap

    @staticmethod
    def _entries(state):
        return lane_entries(state)

    def _obstacle(self, state, entries, offsets, s_front, d_ego):
        agents = state.agents
        owner, lane, s, d, v_long = entries
        if not len(owner):
            return np.inf, 0.0
        u = offsets[lane] + s
        width = state.world.config.vehicle.width_m
        ok = np.isfinite(u) & (u + agents.length[owner] / 2.0 > s_front - 1.0)
        ok &= np.abs(d - d_ego) < (width + agents.width[owner]) / 2.0 + 0.3
        if not ok.any():
            return np.inf, 0.0
        gaps = np.where(ok, u - agents.length[owner] / 2.0 - s_front, np.inf)
        j = int(np.argmin(gaps))
        return max(float(gaps[j]), 0.0), max(float(v_long[j]), 0.0)

    def _vru_distance(self, state, offsets, s_front, d_ego) -> float:
        """Where to stand for pedestrians, cyclists and animals about to enter the ego's path (inf: none).

        Each vulnerable road user is extrapolated at constant velocity for `vru_horizon_s`; if any
        predicted position overlaps the route corridor ahead, the ego plans to stop short of it.
        """
        agents = state.agents
        idx = np.flatnonzero(agents.active & np.isin(agents.type, _VRU) & (agents.v > 0.2))
        if not len(idx):
            return np.inf
        taus = np.arange(0.5, self.vru_horizon_s + 1e-9, 0.5)
        heading = np.stack([np.cos(agents.yaw[idx]), np.sin(agents.yaw[idx])], -1)
        future = (np.stack([agents.x[idx], agents.y[idx]], -1)[None] + taus[:, None, None] *
                  (agents.v[idx, None] * heading)[None]).reshape(-1, 2)
        owner = np.tile(idx, len(taus))
        m, lane, s, d, _ = occupancy(state.road, future, agents.width[owner] / 2.0 + 0.5,
                                     half_length=agents.length[owner] / 2.0 + 0.5, yaw=np.tile(agents.yaw[idx], len(taus)))
        u = offsets[lane] + s
        width = state.world.config.vehicle.width_m
        ok = np.isfinite(u) & (u > s_front - 0.5) & (np.abs(d - d_ego) < width / 2.0 + agents.width[owner[m]] / 2.0 + 0.5)
        if not ok.any():
            return np.inf
        return float(np.min(u[ok] - s_front)) - 1.0

    def _merge_distance(self, state, entries, offsets, s_ego) -> float:
        return merge_wait(state, entries, offsets, s_ego, self.merge_gap_s)

    def _yield_distance(self, state, entries, offsets, s_front) -> float:
        wait, _ = yield_wait(state, entries, offsets, s_front, self.yield_horizon)
        return wait - self.stop_margin + self.min_gap

    def _stop_distance(self, state, offsets, s_front, v) -> float:
        road = state.road
        best = np.inf
        dark = state.world.scenario.signals_dark
        for sl in road.stop_lines:
            u = offsets[sl.lane] + sl.s
            dist = u - s_front
            if not np.isfinite(u) or dist < -0.5:
                continue
            if sl.control == Control.SIGNAL and not dark:
                st = road.signals[sl.signal].state_at(state.t)
                if st == SignalState.GREEN or (st == SignalState.YELLOW and dist < v * v / (2 * self.comfort_decel)):
                    continue
            elif sl.control == Control.YIELD:
                continue
            elif sl.id in self._served:
                continue
            elif dist < self.stop_margin + 2.0 and v < 0.3 and self._waited(state):
                self._served.add(sl.id)  # a full stop held for 1 s serves a stop sign
                continue
            best = min(best, dist - self.stop_margin + self.min_gap)  # IDM settles min_gap short of it
        return best

    def _waited(self, state) -> bool:
        """Whether the ego has been stopped for at least 1 s (serves a stop sign)."""
        recent = state.log[-11:]
        return len(recent) >= 11 and all(step.ego[3] < 0.3 for step in recent)


def lane_entries(state):
    """Lane occupancy of every active agent: owner (E,) agent index, lane (E,), s (E,), d (E,) on that lane,
    v_long (E,) speed along the lane [m/s] (world.traffic.occupancy, heading-aware)."""
    agents = state.agents
    idx = np.nonzero(agents.active)[0]
    xy = np.stack([agents.x[idx], agents.y[idx]], -1)
    m, lane, s, d, head = occupancy(state.road, xy, agents.width[idx] / 2.0,
                                    half_length=agents.length[idx] / 2.0, yaw=agents.yaw[idx])
    owner = idx[m]
    v_long = agents.v[owner] * np.cos(wrap_angle(agents.yaw[owner] - head))
    return owner, lane, s, d, v_long


def merge_wait(state, entries, offsets, s_ego: float, merge_gap_s: float) -> float:
    """Before a lane change on the route: distance from the front bumper to where the ego should wait (or slow)
    until the target lane has a gap [m] (inf: go).

    A road user on the target lane counts while it is alongside the ego or would close up behind it
    within `merge_gap_s` [s].
    """
    road, route = state.road, state.world.route
    params = state.world.config.vehicle
    owner, lane, s, _, v_long = entries
    center = s_ego + params.rear_axle_to_center_m
    for k in range(len(route.lanes) - 1):
        here, target = route.lanes[k], route.lanes[k + 1]
        if target in road.lanes[here].successors:
            continue
        start = route.lane_end_on_path(k)  # where the manoeuvre leaves lane `here`
        if center - params.length_m > start + 20.0 or start - center > 80.0:
            continue  # done with this lane change, or still far away
        on_target = lane == target
        rel = offsets[target] + s[on_target] - center  # + ahead of the ego
        length = state.agents.length[owner[on_target]]
        closing = np.maximum(v_long[on_target] - state.ego.v, 0.0)
        alongside = np.abs(rel) < (length + params.length_m) / 2.0 + 2.0
        behind = (rel < 0) & (-rel - (length + params.length_m) / 2.0 < merge_gap_s * (closing + 5.0))
        if np.any(alongside | behind):
            return start - (s_ego + params.length_m - params.rear_overhang_m)
    return np.inf


def yield_wait(state, entries, offsets, s_front: float, horizon_m: float) -> tuple[float, int | None]:
    """Where to wait for right of way at an unprotected turn or yield line: (distance from the front bumper to
    the waiting point [m], the route lane that must yield) or (inf, None) to go. Looks `horizon_m` [m] ahead."""
    road = state.road
    ctx = state.world.context
    owner, lane, s, _, v_long = entries
    for lane_id in state.world.route.lanes:
        sources = ctx.yield_sources[lane_id]
        start = offsets[lane_id] - s_front
        if not sources or not (-0.5 < start < horizon_m):
            continue
        if conflict_pending(ctx, sources, -1, owner, lane, s, v_long):
            preds = road.lanes[lane_id].predecessors
            sl = road.stop_line_by_lane.get(preds[0]) if preds else None
            wait = offsets[sl.lane] + sl.s - s_front if sl is not None and np.isfinite(offsets[sl.lane]) else start
            return float(wait), lane_id
    return np.inf, None
