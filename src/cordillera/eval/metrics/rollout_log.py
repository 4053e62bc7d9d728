"""A rollout log stacked into arrays once, plus the map geometry every metric shares (computed lazily, once).

    >>> from cordillera.eval.metrics.rollout_log import RolloutLog
    >>> log = RolloutLog.from_state(final_state)          # after world.rollout.rollout(...)
    >>> log.offroad.any(), log.route_s_center[-1] - log.route_s_center[0]

Metrics are pure functions of a RolloutLog (and a frozen config); each returns per-step values with a
validity mask (`StepValues`) or a scenario-level number. Tests build logs by hand with `from_steps`.
Shapes: T logged steps (reset state included), N agents (fixed for the rollout; `active` says who exists).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple, Sequence

import numpy as np
import shapely

from cordillera import constants as C
from cordillera.geometry import box_corners, wrap_angle
from cordillera.world.dynamics import VehicleParams
from cordillera.world.roads.map import RoadMap
from cordillera.world.roads.routes import Route

__all__ = ["StepValues", "RolloutLog"]


class StepValues(NamedTuple):
    """A metric per logged step: values (T,) and valid (T,) bool (invalid steps carry no information)."""

    values: np.ndarray
    valid: np.ndarray


class _MapGeometry(NamedTuple):
    lanes: shapely.STRtree  # lane surface polygons, index = lane id
    junctions: shapely.Geometry  # union of junction polygons (empty when there are none)
    in_file: frozenset  # (a, b) lane pairs one behind the other: successor links, shared start or shared end


def _lanes_in_file(road: RoadMap) -> frozenset:
    pairs = set()
    for lane in road.lanes:
        pairs.update((lane.id, j) for j in lane.successors)
        for group in (lane.successors, lane.predecessors):  # lanes diverging from / merging into this one
            pairs.update((a, b) for a in group for b in group if a != b)
    return frozenset(pairs | {(b, a) for a, b in pairs})


_GEOMETRY: "weakref.WeakKeyDictionary[RoadMap, _MapGeometry]" = weakref.WeakKeyDictionary()
_ROUTE_LINES: "weakref.WeakKeyDictionary[Route, shapely.LineString]" = weakref.WeakKeyDictionary()


def _map_geometry(road: RoadMap) -> _MapGeometry:
    """Lane polygons in an STR tree and the junction union, built once per RoadMap (maps are immutable)."""
    geom = _GEOMETRY.get(road)
    if geom is None:
        lanes = shapely.STRtree([shapely.Polygon(road.lane_polygon(lane.id)) for lane in road.lanes])
        junctions = shapely.union_all([shapely.Polygon(j.polygon) for j in road.junctions])
        shapely.prepare(junctions)
        geom = _MapGeometry(lanes, junctions, _lanes_in_file(road))
        _GEOMETRY[road] = geom
    return geom


@dataclass(frozen=True, eq=False)
class RolloutLog:
    """Everything the metrics read, world frame, SI units.

    t: (T,) [s]; ego: (T, 7) rear axle x, y, yaw, v, a, steer, yaw_rate; ego_center: (T, 3) box centre pose;
    agents: (T, N, 7) x, y, yaw, v, a, length, width; active: (T, N) bool; flags: (T, N) int Flag bits;
    signals: (T, S) SignalState; plans: T entries, (64, 3) world-frame plan or None; plan_t0: (T,) [s];
    collisions: T tuples of agent indices overlapping the ego; agent_types: (N,) AgentType values.
    """

    t: np.ndarray
    ego: np.ndarray
    ego_center: np.ndarray
    agents: np.ndarray
    active: np.ndarray
    flags: np.ndarray
    signals: np.ndarray
    plans: tuple
    plan_t0: np.ndarray
    collisions: tuple[tuple[int, ...], ...]
    agent_types: np.ndarray
    agent_names: tuple[str, ...]
    road: RoadMap
    route: Route
    vehicle: VehicleParams
    scenario: object = None  # scenarios.schema.Scenario, when known

    # ---- construction ----------------------------------------------------------------------------
    @staticmethod
    def from_steps(steps: Sequence, road: RoadMap, route: Route, agent_types, vehicle: VehicleParams | None = None,
                   scenario=None, agent_names: Sequence[str] | None = None) -> "RolloutLog":
        """Stack world.sim.LogStep records (or tuples with the same fields) into a RolloutLog."""
        if not len(steps):
            raise ValueError("a rollout log needs at least one step")
        types = np.asarray(agent_types, dtype=np.int64).reshape(-1)
        n = len(types)
        agents = np.stack([np.asarray(s.agents, dtype=np.float64).reshape(n, 7) for s in steps])
        names = tuple(agent_names) if agent_names is not None else tuple(f"agent{i}" for i in range(n))
        return RolloutLog(
            t=np.array([float(s.t) for s in steps]),
            ego=np.stack([np.asarray(s.ego, dtype=np.float64) for s in steps]),
            ego_center=np.stack([np.asarray(s.ego_center, dtype=np.float64) for s in steps]),
            agents=agents,
            active=np.stack([np.asarray(s.active, dtype=bool).reshape(n) for s in steps]),
            flags=np.stack([np.asarray(s.flags, dtype=np.int64).reshape(n) for s in steps]),
            signals=np.stack([np.asarray(s.signals, dtype=np.int64).reshape(-1) for s in steps]),
            plans=tuple(s.plan for s in steps),
            plan_t0=np.array([float(s.plan_t0) for s in steps]),
            collisions=tuple(tuple(int(i) for i in s.collisions) for s in steps),
            agent_types=types,
            agent_names=names,
            road=road,
            route=route,
            vehicle=vehicle or VehicleParams(),
            scenario=scenario,
        )

    @staticmethod
    def from_state(state) -> "RolloutLog":
        """The log of a world.sim.WorldState (usually the final state of a rollout)."""
        world = state.world
        return RolloutLog.from_steps(state.log, world.road, world.route, state.agents.type, world.config.vehicle,
                                     world.scenario, state.agents.names)

    # ---- basic quantities ------------------------------------------------------------------------
    @property
    def steps(self) -> int:
        return len(self.t)

    @property
    def n_agents(self) -> int:
        return self.agents.shape[1]

    @cached_property
    def dt(self) -> float:
        """Simulation step [s] (the project's 0.1 s for a one-step log)."""
        return float(np.median(np.diff(self.t))) if self.steps > 1 else C.DT

    @property
    def speed(self) -> np.ndarray:
        """(T,) ego speed [m/s]."""
        return self.ego[:, 3]

    @cached_property
    def corners(self) -> np.ndarray:
        """(T, 4, 2) ego box corners: front-left, rear-left, rear-right, front-right [m]."""
        c = self.ego_center
        return box_corners(c[:, 0], c[:, 1], c[:, 2], self.vehicle.length_m, self.vehicle.width_m)

    @cached_property
    def front(self) -> np.ndarray:
        """(T, 2) middle of the front bumper [m]."""
        c = self.ego_center
        half = self.vehicle.length_m / 2.0
        return c[:, :2] + half * np.stack([np.cos(c[:, 2]), np.sin(c[:, 2])], -1)

    @cached_property
    def step_distance(self) -> np.ndarray:
        """(T,) distance the box centre moved since the previous step (0 at the first) [m]."""
        d = np.zeros(self.steps)
        d[1:] = np.hypot(*np.diff(self.ego_center[:, :2], axis=0).T)
        return d

    # ---- map relations ---------------------------------------------------------------------------
    @cached_property
    def offroad(self) -> np.ndarray:
        """(T,) bool: some ego corner outside the drivable area (same test as world.rollout.offroad_steps)."""
        inside = self.road.in_drivable_area(self.corners.reshape(-1, 2)).reshape(-1, 4)
        return ~inside.all(axis=1)

    @cached_property
    def multiple_lanes(self) -> np.ndarray:
        """(T,) bool: the box straddles lanes side by side (NAVSIM's "multiple lanes" ego area).

        NAVSIM: corners in more than one lane surface and no lane holding all four. That also fires while the
        box spans a lane's end and its successor (or the overlapping connectors that leave one lane), so here
        two corners must also lie in lanes that are not one behind the other.
        """
        geom = _map_geometry(self.road)
        point_idx, lane_idx = geom.lanes.query(shapely.points(self.corners.reshape(-1, 2)), predicate="within")
        step = point_idx // 4
        table = np.zeros((self.steps, len(self.road.lanes)), dtype=np.int64)
        np.add.at(table, (step, lane_idx), 1)
        out = ((table > 0).sum(axis=1) > 1) & ~(table == 4).any(axis=1)
        for k in np.flatnonzero(out):  # few steps: check that some two corners are side by side
            sets = [set(lane_idx[point_idx == 4 * k + c].tolist()) for c in range(4)]
            sets = [lanes for lanes in sets if lanes]
            out[k] = any(not any(a == b or (a, b) in geom.in_file for a in sa for b in sb)
                         for i, sa in enumerate(sets) for sb in sets[i + 1:])
        return out

    @cached_property
    def _lane_relations(self) -> tuple[np.ndarray, np.ndarray]:
        """Per step: |offset| of the box centre from the centreline of the closest same-direction lane whose
        surface holds it, and whether only lanes running against the ego hold it (oncoming).

        Lanes holding a centre come from the lane-polygon tree, so the cost follows the lanes near the ego,
        not the size of the map. A centre held by no same-direction lane gets inf: it is then at least half a
        lane width (>= 1 m on every map the builders make) from any same-direction centreline.
        """
        c = self.ego_center
        step, lane = _map_geometry(self.road).lanes.query(shapely.points(c[:, :2]), predicate="within")
        offset = np.empty(len(step))
        same = np.empty(len(step), dtype=bool)
        for lane_id in np.unique(lane):
            sel = lane == lane_id
            line = self.road.lanes[lane_id].centerline
            s, d, _ = line.project(c[step[sel], :2])
            offset[sel] = np.abs(d)
            same[sel] = np.abs(wrap_angle(c[step[sel], 2] - line.heading_at(s))) <= np.pi / 2.0
        deviation = np.full(self.steps, np.inf)
        np.minimum.at(deviation, step[same], offset[same])
        held = np.zeros(self.steps, dtype=bool)
        held[step] = True
        return deviation, held & ~np.isfinite(deviation)

    @property
    def lane_deviation(self) -> np.ndarray:
        """(T,) |lateral offset| of the box centre from its own-direction lane's centreline [m]; inf where no
        own-direction lane holds the centre."""
        return self._lane_relations[0]

    @property
    def oncoming(self) -> np.ndarray:
        """(T,) bool: the centre lies only in lanes running against the ego (more than 90 deg off its heading)."""
        return self._lane_relations[1]

    @cached_property
    def center_in_junction(self) -> np.ndarray:
        """(T,) bool: box centre inside a junction polygon."""
        c = self.ego_center
        return shapely.contains_xy(_map_geometry(self.road).junctions, c[:, 0], c[:, 1])

    @cached_property
    def rear_axle_in_junction(self) -> np.ndarray:
        """(T,) bool: rear axle inside a junction polygon (NAVSIM's TTC test point)."""
        return shapely.contains_xy(_map_geometry(self.road).junctions, self.ego[:, 0], self.ego[:, 1])

    def _project_on_route(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Arc length and signed offset (+ left) along the route path of points (M, 2) [m]. Points beyond the
        path's ends project onto its end points."""
        line = _ROUTE_LINES.get(self.route)
        if line is None:
            line = shapely.LineString(self.route.path.points)
            shapely.prepare(line)
            _ROUTE_LINES[self.route] = line
        s = shapely.line_locate_point(line, shapely.points(pts))
        foot, heading = self.route.path.interpolate(s)
        rel = pts - foot
        d = np.cos(heading) * rel[:, 1] - np.sin(heading) * rel[:, 0]
        return s, d

    @cached_property
    def _route_projection(self) -> tuple[np.ndarray, np.ndarray]:
        """Arc length and signed offset along the route path of the box centres then the front bumpers (2T,)."""
        return self._project_on_route(np.concatenate([self.ego_center[:, :2], self.front]))

    @property
    def _route_center(self) -> tuple[np.ndarray, np.ndarray]:
        s, d = self._route_projection
        return s[: self.steps], d[: self.steps]

    @property
    def route_s_center(self) -> np.ndarray:
        """(T,) arc length of the box centre along the route path [m]."""
        return self._route_center[0]

    @property
    def route_d_center(self) -> np.ndarray:
        """(T,) signed lateral offset of the box centre from the route path, + left [m]."""
        return self._route_center[1]

    @property
    def _route_front(self) -> tuple[np.ndarray, np.ndarray]:
        s, d = self._route_projection
        return s[self.steps:], d[self.steps:]

    @property
    def route_s_front(self) -> np.ndarray:
        """(T,) arc length of the front bumper along the route path [m]."""
        return self._route_front[0]

    @property
    def route_d_front(self) -> np.ndarray:
        return self._route_front[1]

    def agent_route_extent(self, steps: np.ndarray, agents: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                              np.ndarray, np.ndarray]:
        """Where agent boxes lie along the route path, for (K,) step and agent indices: arc length of the
        rear-most and front-most corner, signed offset (+ left) of the right-most and left-most corner, and the
        width of the route lane at the box centre's arc length, each (K,) [m]. Boxes that do not move are
        projected once."""
        boxes = self.agents[steps, agents][:, [0, 1, 2, 5, 6]]  # (K, 5) x, y, yaw, length, width
        unique, inverse = np.unique(boxes, axis=0, return_inverse=True)
        corners = box_corners(*unique.T)  # (U, 4, 2)
        s, d = self._project_on_route(corners.reshape(-1, 2))
        s, d = s.reshape(-1, 4), d.reshape(-1, 4)
        route, lanes = self.route, self.road.lanes
        width = np.array([lanes[route.lanes[route.lane_index_at(m)]].width for m in s.mean(axis=1)])
        inverse = inverse.reshape(-1)
        return (s.min(axis=1)[inverse], s.max(axis=1)[inverse], d.min(axis=1)[inverse], d.max(axis=1)[inverse],
                width[inverse])

    def route_stop_lines(self) -> list[tuple[float, object, float]]:
        """(path arc length, StopLine, lane width) of every stop line on a lane of the route."""
        out = []
        by_lane = self.road.stop_line_by_lane
        route = self.route
        for k, lane_id in enumerate(route.lanes):
            sl = by_lane.get(lane_id)
            if sl is None or not (route.entry_s[k] - 1e-6 <= sl.s <= route.exit_s[k] + 1e-6):
                continue
            out.append((float(route.lane_offsets[k] + sl.s - route.entry_s[k]), sl, self.road.lanes[lane_id].width))
        return out

    @cached_property
    def stop_line_crossings(self) -> tuple[tuple[int, object], ...]:
        """(step, StopLine) for every route stop line the front bumper crosses: behind it at step - 1, on or
        past it at step, while within one lane width of the route path."""
        s, d = self._route_front
        out = []
        for s_line, sl, width in self.route_stop_lines():
            hit = np.flatnonzero((s[:-1] < s_line) & (s[1:] >= s_line) & (np.abs(d[1:]) <= width)) + 1
            out.extend((int(k), sl) for k in hit)
        return tuple(sorted(out, key=lambda item: item[0]))

    def agent_mask(self, types: Sequence[int]) -> np.ndarray:
        """(N,) bool: agents whose type is one of `types`."""
        return np.isin(self.agent_types, np.asarray([int(t) for t in types], dtype=np.int64))
