"""The lane graph: lanes, junctions, crosswalks, stop lines, sidewalks, signals, drivable area.

A RoadMap is immutable once built. Builders (`builders.py`) make one from parameters; `RoadMap.validate`
checks that it is connected and gap-free. Queries are vectorised over many points:

    >>> from cordillera.world.roads import build_map
    >>> road = build_map("straight", {"lanes_per_direction": 2})
    >>> road.project([[10.0, 1.0]])   # ProjectResult(lane=..., s=..., d=..., heading_error=None)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from functools import cached_property

import numpy as np
import shapely

from cordillera.geometry import Polyline, wrap_angle

__all__ = [
    "Boundary",
    "Control",
    "SignalState",
    "Lane",
    "Junction",
    "Crosswalk",
    "StopLine",
    "Sidewalk",
    "Signal",
    "ProjectResult",
    "RoadMap",
    "MapError",
]


class MapError(ValueError):
    """A road map (or builder parameter) is invalid. The message names the field and value."""


class Boundary(IntEnum):
    NONE = 0
    DASHED = 1
    SOLID = 2
    DOUBLE_YELLOW = 3
    CURB = 4
    DASHED_YELLOW = 5


class Control(IntEnum):
    """Right-of-way control at a stop line."""

    SIGNAL = 0
    STOP = 1
    YIELD = 2


class SignalState(IntEnum):
    GREEN = 0
    YELLOW = 1
    RED = 2
    DARK = 3  # signal out of order: treat as an all-way stop


@dataclass(frozen=True)
class Lane:
    """One lane. `centerline` runs in the direction of travel.

    left_neighbor / right_neighbor: same-direction lanes one to the left / right (None at the edge).
    left_opposite: the oncoming lane that borders this lane's left edge (None on one-way roads).
    junction: id of the junction the lane lies in (connector lanes), else None.
    turn: "straight", "left" or "right" for junction connectors, "none" elsewhere.
    yield_to: lanes crossing or merging into this one that have right of way over it.
    kind: "driving", "parking", "ramp" or "shoulder".
    """

    id: int
    centerline: Polyline
    width: float
    speed_limit: float  # [m/s]
    left_boundary: Boundary = Boundary.DASHED
    right_boundary: Boundary = Boundary.DASHED
    successors: tuple[int, ...] = ()
    predecessors: tuple[int, ...] = ()
    left_neighbor: int | None = None
    right_neighbor: int | None = None
    left_opposite: int | None = None
    junction: int | None = None
    turn: str = "none"
    yield_to: tuple[int, ...] = ()
    kind: str = "driving"

    @property
    def length(self) -> float:
        return self.centerline.length


@dataclass(frozen=True)
class Junction:
    id: int
    polygon: np.ndarray  # (N, 2) world frame [m]


@dataclass(frozen=True)
class Crosswalk:
    """A zebra crossing: a quadrilateral across one or more lanes; pedestrians walk from `start` to `end`."""

    id: int
    polygon: np.ndarray  # (4, 2) world frame [m]
    start: np.ndarray  # (2,) kerb-side entry point [m]
    end: np.ndarray  # (2,) opposite kerb [m]
    lanes: tuple[int, ...] = ()  # lanes it crosses
    signal: int | None = None  # pedestrians may cross when this vehicle signal is RED


@dataclass(frozen=True)
class StopLine:
    id: int
    lane: int
    s: float  # arc length on `lane` where vehicles stop [m]
    control: Control
    signal: int | None = None


@dataclass(frozen=True)
class Sidewalk:
    id: int
    path: Polyline  # walking line along the sidewalk [m]
    width: float


@dataclass(frozen=True)
class Signal:
    """A traffic signal head with a fixed-time program over one cycle.

    The head shows green for `green_s`, then yellow for `yellow_s`, then red for the rest of the cycle;
    `offset_s` shifts the program (state at time t is read at (t + offset_s) mod cycle).
    """

    id: int
    lanes: tuple[int, ...]  # lanes it controls (the approach lanes ending at its stop line)
    position: np.ndarray  # (2,) where the head stands [m]
    heading: float  # direction the head faces (towards oncoming traffic) [rad]
    green_s: float
    yellow_s: float
    cycle_s: float
    offset_s: float = 0.0

    def state_at(self, t: float) -> SignalState:
        phase = (t + self.offset_s) % self.cycle_s
        if phase < self.green_s:
            return SignalState.GREEN
        if phase < self.green_s + self.yellow_s:
            return SignalState.YELLOW
        return SignalState.RED


@dataclass(frozen=True)
class ProjectResult:
    lane: np.ndarray  # (M,) int lane id of the best match, -1 where no lane is within max distance
    s: np.ndarray  # (M,) arc length on that lane [m]
    d: np.ndarray  # (M,) signed lateral offset, + left of travel direction [m]
    heading_error: np.ndarray | None  # (M,) wrapped (heading - lane heading) [rad] when headings given


@dataclass(frozen=True, eq=False)
class RoadMap:
    """The whole static map. Lane ids are 0..n-1 and index `lanes`."""

    name: str
    lanes: tuple[Lane, ...]
    junctions: tuple[Junction, ...] = ()
    crosswalks: tuple[Crosswalk, ...] = ()
    stop_lines: tuple[StopLine, ...] = ()
    sidewalks: tuple[Sidewalk, ...] = ()
    signals: tuple[Signal, ...] = ()
    params: dict = field(default_factory=dict)  # the builder parameters that made it
    names: dict[str, int] = field(default_factory=dict)  # readable lane names -> lane id ("fwd.0", ...)

    def lane_id(self, name_or_id: str | int) -> int:
        """Lane id from a name in `names` or an int id; MapError naming the value otherwise."""
        if isinstance(name_or_id, (int, np.integer)) and not isinstance(name_or_id, bool):
            if 0 <= int(name_or_id) < len(self.lanes):
                return int(name_or_id)
            raise MapError(f"lane id {name_or_id} out of range [0, {len(self.lanes)})")
        if name_or_id in self.names:
            return self.names[name_or_id]
        known = ", ".join(sorted(self.names)) or "(none)"
        raise MapError(f"unknown lane {name_or_id!r} on map {self.name!r}; known: {known}")

    # ---- derived structures, built lazily once -------------------------------------------------
    @cached_property
    def _segments(self) -> dict[str, np.ndarray]:
        starts, dirs, lens, lane_ids, s0, heads = [], [], [], [], [], []
        for lane in self.lanes:
            cl = lane.centerline
            starts.append(cl.points[:-1])
            dirs.append(cl._seg_dir)
            lens.append(cl._seg_len)
            lane_ids.append(np.full(len(cl._seg_len), lane.id))
            s0.append(cl.s[:-1])
            heads.append(cl._heading)
        return {
            "start": np.concatenate(starts),
            "dir": np.concatenate(dirs),
            "len": np.concatenate(lens),
            "lane": np.concatenate(lane_ids),
            "s0": np.concatenate(s0),
            "heading": np.concatenate(heads),
            "half_width": np.concatenate(
                [np.full(len(la.centerline._seg_len), la.width / 2.0) for la in self.lanes]
            ),
        }

    @cached_property
    def drivable_area(self) -> shapely.Geometry:
        """Union of every lane's surface and every junction polygon (shapely geometry)."""
        polys = [shapely.Polygon(self.lane_polygon(lane.id)) for lane in self.lanes]
        polys += [shapely.Polygon(j.polygon) for j in self.junctions]
        area = shapely.union_all([p.buffer(0.05) for p in polys])  # close hairline gaps between lanes
        shapely.prepare(area)
        return area

    @cached_property
    def lane_lengths(self) -> np.ndarray:
        return np.array([lane.length for lane in self.lanes])

    @cached_property
    def stop_line_by_lane(self) -> dict[int, StopLine]:
        return {sl.lane: sl for sl in self.stop_lines}

    @cached_property
    def _conflict_table(self) -> dict[int, tuple[int, ...]]:
        by_junction: dict[int, list[int]] = {}
        for lane in self.lanes:
            if lane.junction is not None:
                by_junction.setdefault(lane.junction, []).append(lane.id)
        lines = {i: shapely.LineString(self.lanes[i].centerline.points) for ids in by_junction.values() for i in ids}
        table: dict[int, set[int]] = {i: set() for i in lines}
        for ids in by_junction.values():
            for k, a in enumerate(ids):
                la = self.lanes[a]
                for b in ids[k + 1 :]:
                    lb = self.lanes[b]
                    if set(la.predecessors) & set(lb.predecessors):
                        continue  # diverging from one lane: vehicles are already in file
                    if set(la.successors) & set(lb.successors) or lines[a].intersects(lines[b]):
                        table[a].add(b)
                        table[b].add(a)
        return {i: tuple(sorted(v)) for i, v in table.items()}

    def conflicts(self, lane_id: int) -> tuple[int, ...]:
        """Lanes of the same junction whose centrelines cross this lane's or that merge into a shared successor.

        Lanes that diverge from a shared predecessor do not conflict; lanes outside junctions have none.
        """
        return self._conflict_table.get(int(lane_id), ())

    def lane_polygon(self, lane_id: int) -> np.ndarray:
        """Outline (2N, 2) of a lane's surface: left edge forward, right edge back."""
        lane = self.lanes[lane_id]
        left = lane.centerline.offset(lane.width / 2.0)
        right = lane.centerline.offset(-lane.width / 2.0)
        return np.concatenate([left, right[::-1]])

    # ---- queries ---------------------------------------------------------------------------------
    def project(
        self,
        points: np.ndarray,
        headings: np.ndarray | None = None,
        max_distance: float = 10.0,
        heading_weight: float = 2.0,
    ) -> ProjectResult:
        """Project points (M, 2) onto the lane graph.

        The best lane minimises |lateral offset| (outside the lane's width counts fully) plus
        heading_weight * |heading error| [m per rad] when headings (M,) are given, so a car on a
        two-way road is matched to its own direction's lane.
        """
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        seg = self._segments
        rel = p[:, None, :] - seg["start"][None]  # (M, S, 2)
        t = np.clip(np.einsum("msk,sk->ms", rel, seg["dir"]), 0.0, seg["len"][None])
        closest = seg["start"][None] + seg["dir"][None] * t[..., None]
        diff = p[:, None, :] - closest
        dist = np.sqrt(np.sum(diff**2, axis=-1))
        cost = np.maximum(dist - seg["half_width"][None], 0.0) * 10.0 + dist
        if headings is not None:
            h = np.asarray(headings, dtype=np.float64).reshape(-1)
            herr = wrap_angle(h[:, None] - seg["heading"][None])
            cost = cost + heading_weight * np.abs(herr)
        best = np.argmin(cost, axis=1)
        rows = np.arange(len(p))
        lane = seg["lane"][best].astype(np.int64)
        s = seg["s0"][best] + t[rows, best]
        r = rel[rows, best]
        dvec = seg["dir"][best]
        d = dvec[:, 0] * r[:, 1] - dvec[:, 1] * r[:, 0]
        lane = np.where(dist[rows, best] <= max_distance, lane, -1)
        herr_best = None
        if headings is not None:
            herr_best = wrap_angle(h - seg["heading"][best])
        return ProjectResult(lane=lane, s=s, d=d, heading_error=herr_best)

    def in_drivable_area(self, points: np.ndarray) -> np.ndarray:
        """Bool (M,): whether each point (M, 2) lies on the drivable area."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return shapely.contains_xy(self.drivable_area, p[:, 0], p[:, 1])

    def lanes_within(self, point: np.ndarray, radius: float) -> list[int]:
        """Ids of lanes with any part of their centreline within `radius` of `point` (2,)."""
        p = np.asarray(point, dtype=np.float64).reshape(1, 2)
        seg = self._segments
        rel = p - seg["start"]
        t = np.clip(np.sum(rel * seg["dir"], axis=-1), 0.0, seg["len"])
        closest = seg["start"] + seg["dir"] * t[:, None]
        dist = np.hypot(*(p - closest).T)
        return sorted(set(seg["lane"][dist <= radius].tolist()))

    def pose_at(self, lane_id: int, s: np.ndarray | float, d: np.ndarray | float = 0.0):
        """World position (..., 2) and heading (...) at arc length s and lateral offset d on a lane."""
        xy, yaw = self.lanes[lane_id].centerline.interpolate(s)
        d = np.asarray(d, dtype=np.float64)
        normal = np.stack([-np.sin(yaw), np.cos(yaw)], axis=-1)
        return xy + normal * d[..., None], yaw

    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the drivable area plus sidewalks [m]."""
        pts = [self.drivable_area.bounds]
        for sw in self.sidewalks:
            p = sw.path.points
            pts.append((p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()))
        arr = np.array(pts)
        return float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 2].max()), float(arr[:, 3].max())

    # ---- validation ------------------------------------------------------------------------------
    def validate(self, gap_tolerance: float = 0.05) -> None:
        """Raise MapError unless ids are consistent, links are mutual and connected lanes meet without gaps."""
        n = len(self.lanes)
        for i, lane in enumerate(self.lanes):
            if lane.id != i:
                raise MapError(f"lanes[{i}].id: expected {i}, got {lane.id}")
            if not (np.isfinite(lane.width) and lane.width > 0):
                raise MapError(f"lanes[{i}].width: must be > 0, got {lane.width}")
            if not (np.isfinite(lane.speed_limit) and lane.speed_limit > 0):
                raise MapError(f"lanes[{i}].speed_limit: must be > 0, got {lane.speed_limit}")
            refs = {
                "successors": lane.successors,
                "predecessors": lane.predecessors,
                "yield_to": lane.yield_to,
                "left_neighbor": () if lane.left_neighbor is None else (lane.left_neighbor,),
                "right_neighbor": () if lane.right_neighbor is None else (lane.right_neighbor,),
                "left_opposite": () if lane.left_opposite is None else (lane.left_opposite,),
            }
            for name, ids in refs.items():
                for j in ids:
                    if not 0 <= j < n:
                        raise MapError(f"lanes[{i}].{name}: unknown lane id {j}")
            for j in lane.successors:
                succ = self.lanes[j]
                if i not in succ.predecessors:
                    raise MapError(f"lanes[{i}].successors: lane {j} does not list {i} as predecessor")
                gap = float(np.hypot(*(lane.centerline.points[-1] - succ.centerline.points[0])))
                if gap > gap_tolerance:
                    raise MapError(f"lanes[{i}] -> lanes[{j}]: centrelines do not meet (gap {gap:.3f} m)")
            for j in lane.predecessors:
                if i not in self.lanes[j].successors:
                    raise MapError(f"lanes[{i}].predecessors: lane {j} does not list {i} as successor")
            if lane.junction is not None and not 0 <= lane.junction < len(self.junctions):
                raise MapError(f"lanes[{i}].junction: unknown junction id {lane.junction}")
            if lane.left_neighbor is not None and self.lanes[lane.left_neighbor].right_neighbor != i:
                raise MapError(f"lanes[{i}].left_neighbor: lane {lane.left_neighbor} is not mutual")
            if lane.right_neighbor is not None and self.lanes[lane.right_neighbor].left_neighbor != i:
                raise MapError(f"lanes[{i}].right_neighbor: lane {lane.right_neighbor} is not mutual")
        for k, sl in enumerate(self.stop_lines):
            if not 0 <= sl.lane < n:
                raise MapError(f"stop_lines[{k}].lane: unknown lane id {sl.lane}")
            if not 0.0 <= sl.s <= self.lanes[sl.lane].length + 1e-6:
                raise MapError(f"stop_lines[{k}].s: {sl.s} outside lane {sl.lane}")
            if sl.control == Control.SIGNAL and (sl.signal is None or not 0 <= sl.signal < len(self.signals)):
                raise MapError(f"stop_lines[{k}].signal: signalised stop line needs a valid signal id")
        for k, sig in enumerate(self.signals):
            if sig.id != k:
                raise MapError(f"signals[{k}].id: expected {k}, got {sig.id}")
            if not (sig.green_s > 0 and sig.yellow_s >= 0 and sig.cycle_s >= sig.green_s + sig.yellow_s):
                raise MapError(f"signals[{k}]: program needs green_s > 0 and cycle_s >= green_s + yellow_s")
        for k, sig in enumerate(self.signals):
            if any(not 0 <= j < n for j in sig.lanes):
                raise MapError(f"signals[{k}].lanes: unknown lane id in {sig.lanes}")
        for k, cw in enumerate(self.crosswalks):
            if any(not 0 <= j < n for j in cw.lanes):
                raise MapError(f"crosswalks[{k}].lanes: unknown lane id in {cw.lanes}")
            if cw.signal is not None and not 0 <= cw.signal < len(self.signals):
                raise MapError(f"crosswalks[{k}].signal: unknown signal id {cw.signal}")
        for name, j in self.names.items():
            if not 0 <= j < n:
                raise MapError(f"names[{name!r}]: unknown lane id {j}")
        # every lane reachable from some entry lane (no orphan islands in the graph)
        seen: set[int] = set()
        stack = [la.id for la in self.lanes if not la.predecessors]
        if not stack and n:
            stack = [0]  # a loop road
        while stack:
            j = stack.pop()
            if j in seen:
                continue
            seen.add(j)
            stack.extend(self.lanes[j].successors)
        for lane in self.lanes:
            if lane.id not in seen and lane.kind == "driving":
                raise MapError(f"lanes[{lane.id}]: not reachable from any entry lane")
