"""Routes through the lane graph: planning, the route's path, waypoints for the car and a navigation text.

    >>> from cordillera.world.roads import build_map, plan_route, route_waypoints, navigation_text
    >>> road = build_map("intersection")
    >>> route = plan_route(road, "south_in.1", "west_out.1")
    >>> navigation_text(road, route, 30.0)  # 'turn left in 50 m'

A route is a sequence of lanes joined either by successor links or by lane changes to a same-direction
neighbour (needed to reach a turn lane or to merge from an acceleration lane). Its `path` follows each lane's
centreline, with a smooth S-curve across each lane change.
"""

from __future__ import annotations

import heapq
import math
import weakref
from dataclasses import dataclass

import numpy as np

from cordillera.geometry import Polyline, rotate
from cordillera.world.roads.map import MapError, RoadMap

__all__ = [
    "Route",
    "route_from_lanes",
    "route_offsets",
    "plan_route",
    "plan_route_by_turns",
    "route_from_pose",
    "route_waypoints",
    "navigation_text",
]

LANE_CHANGE_COST_M = 20.0  # [m] extra route cost per lane change, so routes change lanes only when needed
LANE_CHANGE_MAX_M = 40.0  # [m] longest lane-change manoeuvre drawn on the path
LANE_CHANGE_MIN_M = 5.0  # [m] shortest one
ANNOUNCE_M = 300.0  # [m] manoeuvres further ahead are not announced ("follow the road")
ARRIVE_M = 60.0  # [m] announce the destination once it is this close
SAMPLE_M = 1.0  # [m] spacing of samples across lane changes


@dataclass(frozen=True, eq=False)
class Route:
    """lanes: ids in driving order. path: the route's centreline through them [m, world frame].
    lane_offsets (L,): path arc length where each lane's part starts [m]. entry_s / exit_s (L,): arc length on
    each lane where the route joins / leaves it [m] (0 and the lane length unless a lane change cuts in)."""

    lanes: tuple[int, ...]
    path: Polyline
    lane_offsets: np.ndarray
    entry_s: np.ndarray
    exit_s: np.ndarray

    @property
    def length(self) -> float:
        return self.path.length

    def lane_index_at(self, s_on_path: float) -> int:
        """Index into `lanes` of the lane the path is on at arc length s (the last one started)."""
        return int(np.clip(np.searchsorted(self.lane_offsets, s_on_path, side="right") - 1, 0, len(self.lanes) - 1))

    def lane_end_on_path(self, k: int) -> float:
        """Path arc length where the route leaves lane k (start of the lane change or of the next lane)."""
        return float(self.lane_offsets[k] + self.exit_s[k] - self.entry_s[k])


def _moves(road: RoadMap, lane_id: int, goals: frozenset[int]) -> list[tuple[int, float]]:
    """(next lane, cost [m]) for every move out of a lane: along a successor link or a lane change (parking
    lanes only as a goal)."""
    lane = road.lanes[lane_id]
    moves = [(j, road.lanes[j].length) for j in lane.successors]
    for j in (lane.left_neighbor, lane.right_neighbor):
        if j is not None and (road.lanes[j].kind != "parking" or j in goals):
            moves.append((j, LANE_CHANGE_COST_M))
    return moves


def _shortest(road: RoadMap, start: int, goal: int | frozenset[int]) -> list[int] | None:
    """Dijkstra over successor links and lane changes; lane ids from start to the goal (or the nearest of a
    set of goals), or None."""
    goals = goal if isinstance(goal, frozenset) else frozenset((goal,))
    best = {start: road.lanes[start].length}
    parent: dict[int, int] = {}
    heap = [(best[start], start)]
    while heap:
        cost, i = heapq.heappop(heap)
        if i in goals:
            chain = [i]
            while chain[-1] != start:
                chain.append(parent[chain[-1]])
            return chain[::-1]
        if cost > best[i]:
            continue
        for j, step in _moves(road, i, goals):
            if cost + step < best.get(j, math.inf):
                best[j], parent[j] = cost + step, i
                heapq.heappush(heap, (cost + step, j))
    return None


def _piece(line: Polyline, s0: float, s1: float) -> np.ndarray:
    """Points (n, 2) of a centreline between arc lengths s0 <= s1, with its vertices in between."""
    inner = line.points[(line.s > s0 + 1e-6) & (line.s < s1 - 1e-6)]
    ends = line.interpolate(np.array([s0, s1]))[0]
    return np.concatenate([ends[:1], inner, ends[1:]]) if s1 - s0 > 1e-6 else ends[:1]


def _change_curve(a: np.ndarray, ha: float, b: np.ndarray, hb: float) -> np.ndarray:
    """Interior points (n, 2) of a cubic S-curve from pose (a, ha) to pose (b, hb)."""
    handle = np.linalg.norm(b - a) / 3.0
    c1 = a + handle * np.array([math.cos(ha), math.sin(ha)])
    c2 = b - handle * np.array([math.cos(hb), math.sin(hb)])
    n = max(2, math.ceil(np.linalg.norm(b - a) / SAMPLE_M))
    t = np.linspace(0.0, 1.0, n + 1)[1:-1, None]
    return (1 - t) ** 3 * a + 3 * (1 - t) ** 2 * t * c1 + 3 * (1 - t) * t**2 * c2 + t**3 * b


def route_from_lanes(road: RoadMap, chain, start_s: float = 0.0) -> Route:
    """Concatenate the lanes of a chain into a Route, drawing lane changes halfway along the shared stretch.
    start_s: arc length on the first lane where the route begins [m]."""
    pieces: list[np.ndarray] = []
    first_point: list[int] = []  # index in the concatenated points where each lane's part starts
    entry, exits = [float(np.clip(start_s, 0.0, road.lanes[chain[0]].length))], []
    for k, lane_id in enumerate(chain):
        line = road.lanes[lane_id].centerline
        nxt = chain[k + 1] if k + 1 < len(chain) else None
        changing = nxt is not None and nxt not in road.lanes[lane_id].successors
        s_a = line.length
        if changing:
            rest = line.length - entry[k]
            change = max(LANE_CHANGE_MIN_M, min(LANE_CHANGE_MAX_M, rest / 2.0))
            s_a = min(line.length, entry[k] + max(0.0, (rest - change) / 2.0))
        first_point.append(sum(len(piece) for piece in pieces))
        pieces.append(_piece(line, entry[k], s_a))
        exits.append(s_a)
        if changing:
            a, ha = line.interpolate(s_a)
            target = road.lanes[nxt].centerline
            s_b = float(np.clip(target.project(a[None])[0][0] + change, 0.0, target.length))
            b, hb = target.interpolate(s_b)
            pieces.append(_change_curve(a, float(ha), b, float(hb)))
            entry.append(s_b)
        else:
            entry.append(0.0)
    points = np.concatenate(pieces)
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(points, axis=0).T))])
    keep = np.concatenate([[True], np.diff(arc) > 1e-6])
    if keep.sum() < 2:  # started at the very end of the chain (an ego at its goal): begin 1 m earlier
        return route_from_lanes(road, chain, max(0.0, entry[0] - 1.0))
    return Route(tuple(chain), Polyline(points[keep]), arc[first_point], np.array(entry[:-1]), np.array(exits))


def plan_route(road: RoadMap, start_lane: str | int, goal_lane: str | int) -> Route:
    """Shortest route (by length, lane changes cost LANE_CHANGE_COST_M) from the start of `start_lane` to the end
    of `goal_lane`; lanes by name or id. MapError naming both lanes when the goal cannot be reached."""
    start, goal = road.lane_id(start_lane), road.lane_id(goal_lane)
    chain = _shortest(road, start, goal)
    if chain is None:
        raise MapError(f"no route on map {road.name!r} from lane {start_lane!r} to lane {goal_lane!r}")
    return route_from_lanes(road, chain)


def plan_route_by_turns(road: RoadMap, start_lane: str | int, turns: list[str]) -> Route:
    """Route from `start_lane` taking the given turn ("left", "straight", "right") at each junction in order,
    ending at the end of the lane after the last junction (or at the end of the road when turns run out early)."""
    chain = [road.lane_id(start_lane)]
    for k, turn in enumerate(turns):
        if turn not in ("left", "straight", "right"):
            raise MapError(f"turns[{k}]: must be 'left', 'straight' or 'right', got {turn!r}")
        best = None
        for lane in road.lanes:  # the connector with this turn fewest lanes away from where the chain ends
            if lane.junction is None or lane.turn != turn:
                continue
            found = _shortest(road, chain[-1], lane.id)
            if found is not None and len(found) > 1 and (best is None or len(found) < len(best)):
                best = found
        if best is None:
            raise MapError(f"turns[{k}]: no {turn!r} turn reachable from lane {road.lanes[chain[-1]].id}")
        chain.extend(best[1:])
        chain.extend(road.lanes[chain[-1]].successors[:1])  # the exit lane
    following = road.lanes[chain[-1]].successors[:1]
    while following and road.lanes[following[0]].junction is None and following[0] not in chain:
        chain.append(following[0])
        following = road.lanes[chain[-1]].successors[:1]
    return route_from_lanes(road, chain)


def _goal_lanes(road: RoadMap, lane_id: int) -> frozenset[int]:
    """A lane and every same-direction lane beside it (parking lanes and shoulders excepted)."""
    found = {lane_id}
    for side in ("left_neighbor", "right_neighbor"):
        j = getattr(road.lanes[lane_id], side)
        while j is not None and j not in found and road.lanes[j].kind in ("driving", "ramp"):
            found.add(j)
            j = getattr(road.lanes[j], side)
    return frozenset(found)


_CHAINS: "weakref.WeakKeyDictionary[RoadMap, dict]" = weakref.WeakKeyDictionary()  # per map, gone with it


def _chain_to_route_end(road: RoadMap, start: int, last: int) -> tuple[int, ...] | None:
    """Lanes from `start` to `last` or a lane beside it (cached per map), or None when there is no way."""
    chains = _CHAINS.setdefault(road, {})
    if (start, last) not in chains:
        found = _shortest(road, start, _goal_lanes(road, last))
        chains[start, last] = None if found is None else tuple(found)
    return chains[start, last]


def route_from_pose(road: RoadMap, route: Route, pose: np.ndarray,
                    on_route: tuple[float, float] | None = None) -> Route:
    """The route as the car should read it from where it is.

    The lane a route names is tactical: a car that overtakes, passes a blocked lane or keeps to another lane
    of a multi-lane road is still on its way. While the pose (3,) lies within half a lane width of the route's
    path this is `route` itself; otherwise it is re-planned from the same-direction lane the car is in (from
    its arc length there) to the end of the route's last lane or of a lane beside it, changing lanes only
    where needed (before a turn). `route` again when the car is on no such lane (in the oncoming lane, off
    the road, or on a lane that cannot reach the route's end). on_route: the pose's (s, d) on `route`'s path
    when the caller has them (`RoadMap.project`'s convention).
    """
    pose = np.asarray(pose, dtype=np.float64)
    if on_route is None:
        s, d, _ = route.path.project(pose[None, :2])
        on_route = float(s[0]), float(d[0])
    lane_here = road.lanes[route.lanes[route.lane_index_at(on_route[0])]]
    if abs(on_route[1]) <= lane_here.width / 2.0:
        return route
    where = road.project(pose[None, :2], np.array([pose[2]]))
    lane = int(where.lane[0])
    if lane < 0 or lane in route.lanes or abs(float(where.d[0])) > road.lanes[lane].width / 2.0:
        return route
    chain = _chain_to_route_end(road, lane, route.lanes[-1])
    if chain is None:
        return route
    return route_from_lanes(road, chain, float(where.s[0]))


def route_waypoints(route: Route, pose: np.ndarray, n: int = 20, spacing_m: float = 2.0,
                    s0: float | None = None) -> np.ndarray:
    """Waypoints (n, 2) in the ego frame [m]: the path sampled every spacing_m from the ego's projection onto
    it (s0, its arc length, when the caller has it). pose: (3,) world [x, y, yaw]. Samples beyond the route's
    end repeat its last point."""
    pose = np.asarray(pose, dtype=np.float64)
    if s0 is None:
        s0 = route.path.project(pose[None, :2])[0][0]
    s0 = float(np.clip(s0, 0.0, route.length))
    xy, _ = route.path.interpolate(s0 + spacing_m * np.arange(n))
    return rotate(xy - pose[:2], -pose[2])


def _rounded(distance: float) -> int:
    return int(math.floor(distance / 5.0 + 0.5)) * 5


def _manoeuvres(road: RoadMap, route: Route) -> list[tuple[float, float, str]]:
    """(path start, path end, phrase) of each announced manoeuvre: junction turns and merges off a ramp."""
    events = []
    for k in range(1, len(route.lanes)):
        prev, lane = road.lanes[route.lanes[k - 1]], road.lanes[route.lanes[k]]
        if lane.id in prev.successors:
            if lane.junction is not None and prev.junction is None:
                phrase = "go straight through the intersection" if lane.turn == "straight" else f"turn {lane.turn}"
                events.append((float(route.lane_offsets[k]), route.lane_end_on_path(k), phrase))
        elif prev.kind == "ramp" and lane.kind != "ramp":
            side = "left" if prev.left_neighbor == lane.id else "right"
            events.append((route.lane_end_on_path(k - 1), float(route.lane_offsets[k]), f"merge {side}"))
    return events


def navigation_text(road: RoadMap, route: Route, s_on_path: float) -> str:
    """A short instruction for the next manoeuvre from arc length s_on_path on the route's path, e.g.
    "turn left in 40 m", "go straight through the intersection in 30 m", "merge left in 120 m",
    "arrive at the destination in 25 m" or "follow the road". Distances are rounded to 5 m."""
    remaining = route.length - s_on_path
    for start, end, phrase in _manoeuvres(road, route):
        if end <= s_on_path:
            continue
        ahead = start - s_on_path
        if ahead > min(ANNOUNCE_M, remaining):
            break
        metres = _rounded(max(ahead, 0.0))
        return f"{phrase} now" if metres == 0 else f"{phrase} in {metres} m"
    if remaining <= ARRIVE_M:
        metres = _rounded(max(remaining, 0.0))
        return "arrive at the destination now" if metres == 0 else f"arrive at the destination in {metres} m"
    return "follow the road"


def route_offsets(road: RoadMap, route) -> np.ndarray:
    """(L,) path arc length at s = 0 of each lane on `route` (a roads.Route), NaN for lanes not on it.

    A point at arc length s on lane k lies at path coordinate offsets[k] + s.
    """
    out = np.full(len(road.lanes), np.nan)
    for lane_id, start, entry in zip(route.lanes, route.lane_offsets, route.entry_s):
        if np.isnan(out[lane_id]):
            out[lane_id] = start - entry
    return out
