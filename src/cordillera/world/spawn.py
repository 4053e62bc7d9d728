"""Turn a Scenario into initial agent arrays, paths and routes (used by `sim.reset`).

Background traffic is drawn from `traffic_rng`; everything else is fixed by the scenario.
"""

from __future__ import annotations

import numpy as np

from cordillera.world.agents import DEFAULT_SIZE, STATIC_TYPES, AgentType, Agents, Behavior, Flag, PathTable
from cordillera.world.roads.map import MapError, RoadMap
from cordillera.world.roads.routes import Route, plan_route, route_from_lanes, route_offsets

__all__ = ["default_route", "explicit_route", "spawn_agents", "SpawnResult"]

_FLAG = {"hazard": Flag.HAZARD, "emergency": Flag.EMERGENCY, "school_bus": Flag.SCHOOL_BUS}


def default_route(road: RoadMap, start: int, rng: np.random.Generator | None = None, max_lanes: int = 12) -> tuple[int, ...]:
    """Follow successors from `start`: straight connectors first (or a random branch when rng is given)."""
    route = [start]
    while len(route) < max_lanes:
        succ = road.lanes[route[-1]].successors
        if not succ:
            break
        if rng is not None and len(succ) > 1:
            nxt = int(succ[rng.integers(len(succ))])
        else:
            straight = [j for j in succ if road.lanes[j].turn in ("straight", "none")]
            nxt = int((straight or list(succ))[0])
        if nxt in route:
            break
        route.append(nxt)
    return tuple(route)


def explicit_route(road: RoadMap, lanes: tuple[int, ...], where: str) -> tuple[int, ...]:
    for a, b in zip(lanes, lanes[1:]):
        la = road.lanes[a]
        if b not in la.successors and b not in (la.left_neighbor, la.right_neighbor):
            raise MapError(f"{where}: lane {b} neither follows nor neighbours lane {a}")
    return tuple(lanes)


class SpawnResult:
    def __init__(self, agents, paths, routes, walk_paths, replay, replay_dt):
        self.agents: Agents = agents
        self.paths: PathTable = paths
        self.routes: tuple[tuple[int, ...], ...] = routes
        self.walk_paths = walk_paths
        self.replay = replay
        self.replay_dt = replay_dt


def spawn_agents(scenario, road: RoadMap, traffic_rng: np.random.Generator, ego_xy: np.ndarray,
                 ego_route: tuple[int, ...]) -> SpawnResult:
    rows: list[dict] = []
    path_list: list[np.ndarray] = []
    routes: list[tuple[int, ...]] = []
    walk_paths: dict[int, np.ndarray] = {}
    replay: dict[int, np.ndarray] = {}
    replay_dt: dict[int, float] = {}

    def add_path(points, route=()) -> int:
        path_list.append(np.asarray(points, dtype=np.float64))
        routes.append(tuple(route))
        return len(path_list) - 1

    def add_route(route: Route) -> dict:
        return dict(path=add_path(route.path.points, route.lanes), offsets=route_offsets(road, route))

    for i, spec in enumerate(scenario.agents):
        where = f"agents[{i}]"
        atype = AgentType[spec.type.upper()]
        size = spec.size or DEFAULT_SIZE[atype]
        beh = spec.behavior
        kind = Behavior[beh.kind.upper()]
        row = dict(name=spec.id, type=atype, behavior=kind, active=spec.active, size=size, v=spec.speed,
                   flags=sum(int(_FLAG[f]) for f in spec.flags), beh=beh, path=-1, u=0.0, d=0.0,
                   offsets=np.full(len(road.lanes), np.nan))
        if spec.lane is not None:
            lane = road.lane_id(spec.lane)
            if spec.s > road.lanes[lane].length:
                raise MapError(f"{where}.s: {spec.s} is beyond the end of lane {spec.lane!r} ({road.lanes[lane].length:.1f} m)")
            (xy,), (yaw,) = road.pose_at(lane, [spec.s], [spec.d])
            row.update(x=xy[0], y=xy[1], yaw=float(yaw if spec.heading is None else spec.heading))
        else:
            lane = None
            row.update(x=spec.position[0], y=spec.position[1], yaw=float(spec.heading or 0.0))
        if kind == Behavior.IDM:
            if lane is None:
                res = road.project(np.array([[row["x"], row["y"]]]), np.array([row["yaw"]]))
                if res.lane[0] < 0:
                    raise MapError(f"{where}.position: an idm agent must start on a lane")
                lane, s0, d0 = int(res.lane[0]), float(res.s[0]), float(res.d[0])
            else:
                s0, d0 = spec.s, spec.d
                if atype == AgentType.CYCLIST and spec.d == 0.0:  # cyclists keep to the lane's right edge
                    d0 = -(road.lanes[lane].width / 2.0 - 0.6)
            if beh.route is not None:
                route = explicit_route(road, tuple(road.lane_id(x) for x in beh.route), f"{where}.behavior.route")
                if route[0] != lane:
                    raise MapError(f"{where}.behavior.route: must start with the agent's lane {lane}")
                route = route_from_lanes(road, route)
            elif beh.goal_lane is not None:
                route = plan_route(road, lane, road.lane_id(beh.goal_lane))
            else:
                route = route_from_lanes(road, default_route(road, lane))
            row.update(u=s0, d=d0, **add_route(route))
            if beh.desired_speed is None:
                row["v_desired"] = road.lanes[lane].speed_limit
        elif kind in (Behavior.WALK, Behavior.PATH):
            pts = np.asarray(beh.path, dtype=np.float64)
            if np.any(np.hypot(*np.diff(pts, axis=0).T) < 1e-6):
                raise MapError(f"{where}.behavior.path: repeated consecutive points")
            row["path"] = add_path(pts)
            if kind == Behavior.WALK:
                walk_paths[i] = pts
            row["x"], row["y"] = pts[0]
            row["yaw"] = float(np.arctan2(*(pts[1] - pts[0])[::-1]))
            row["v_desired"] = beh.desired_speed if beh.desired_speed is not None else spec.speed
        elif kind == Behavior.STATIC and beh.path is not None:  # waits, then walks/drives on an event
            pts = np.asarray(beh.path, dtype=np.float64)
            row["path"] = add_path(pts)
            walk_paths[i] = pts
            row["x"], row["y"] = pts[0]
            row["yaw"] = float(np.arctan2(*(pts[1] - pts[0])[::-1]))
        elif kind == Behavior.STATIC and lane is not None and atype not in (AgentType.CONE, AgentType.BARRIER, AgentType.DEBRIS):
            route = route_from_lanes(road, default_route(road, lane))  # a parked vehicle can pull out later
            row.update(u=spec.s, d=spec.d, **add_route(route))
        elif kind == Behavior.REPLAY:
            traj = np.asarray(beh.trajectory, dtype=np.float64)
            replay[i], replay_dt[i] = traj, beh.replay_dt
            row["x"], row["y"], row["yaw"] = traj[0]
        rows.append(row)

    # ---- background traffic -----------------------------------------------------------------
    tspec = scenario.traffic
    if tspec.vehicles:
        if tspec.lanes is not None:
            lanes = [road.lane_id(x) for x in tspec.lanes]
        else:
            lanes = [la.id for la in road.lanes if la.kind in ("driving", "ramp") and la.junction is None]
        occupied: dict[int, list[float]] = {k: [] for k in lanes}
        for r in rows:
            if r["path"] >= 0 and routes[r["path"]]:
                occupied.setdefault(routes[r["path"]][0], []).append(r["u"])
        lengths = np.array([road.lanes[k].length for k in lanes])
        placed, tries = 0, 0
        while placed < tspec.vehicles and tries < 50 * tspec.vehicles:
            tries += 1
            k = lanes[int(traffic_rng.choice(len(lanes), p=lengths / lengths.sum()))]
            s = float(traffic_rng.uniform(3.0, road.lanes[k].length - 3.0))
            if any(abs(s - o) < tspec.min_gap_m for o in occupied[k]):
                continue
            (xy,), (yaw,) = road.pose_at(k, [s])
            if np.hypot(*(xy - ego_xy)) < tspec.keep_clear_of_ego_m:
                continue
            occupied[k].append(s)
            truck = traffic_rng.uniform() < tspec.truck_fraction
            atype = AgentType.TRUCK if truck else AgentType.CAR
            route = route_from_lanes(road, default_route(road, k, traffic_rng))
            speed = float(traffic_rng.uniform(*tspec.speed_range))
            rows.append(dict(
                name=f"traffic_{placed}", type=atype, behavior=Behavior.IDM, active=True,
                size=DEFAULT_SIZE[atype], v=speed, flags=0, beh=None, u=s, d=0.0, **add_route(route), x=xy[0], y=xy[1], yaw=float(yaw),
                v_desired=road.lanes[k].speed_limit * float(traffic_rng.uniform(0.8, 1.05)),
                lane_changes=tspec.lane_changes,
            ))
            placed += 1

    for k, path in enumerate(_pedestrian_paths(road, tspec, traffic_rng)):
        index = len(rows)
        walk_paths[index] = path
        speed = float(traffic_rng.uniform(*tspec.walking_speed_range))
        rows.append(dict(
            name=f"pedestrian_{k}", type=AgentType.PEDESTRIAN, behavior=Behavior.WALK, active=True,
            size=DEFAULT_SIZE[AgentType.PEDESTRIAN], v=speed, v_desired=speed, flags=0, beh=None,
            path=add_path(path), u=0.0, d=0.0, offsets=np.full(len(road.lanes), np.nan),
            x=path[0, 0], y=path[0, 1], yaw=float(np.arctan2(*(path[1] - path[0])[::-1])),
        ))

    return SpawnResult(_to_arrays(rows, len(road.lanes)), PathTable.pack(path_list), tuple(routes),
                       walk_paths, replay, replay_dt)


def _pedestrian_paths(road: RoadMap, tspec, rng: np.random.Generator) -> list[np.ndarray]:
    """Walking routes for background pedestrians: along a sidewalk from a random point to its end, then
    across a crosswalk that starts there, if any (walkers wait there for the walk phase)."""
    if not tspec.pedestrians or not road.sidewalks:
        return []
    ends = [(cw.start, cw.end) for cw in road.crosswalks] + [(cw.end, cw.start) for cw in road.crosswalks]
    out = []
    for _ in range(tspec.pedestrians):
        walk = road.sidewalks[int(rng.integers(len(road.sidewalks)))].path
        forward = bool(rng.integers(2))
        s0 = float(rng.uniform(0.0, 0.8 * walk.length))
        s = np.linspace(s0, walk.length, max(2, int((walk.length - s0) // 5.0) + 2))
        pts = walk.interpolate(s if forward else walk.length - s)[0]
        near = [(a, b) for a, b in ends if np.hypot(*(a - pts[-1])) < 5.0]
        if near:
            a, b = near[int(rng.integers(len(near)))]
            pts = np.concatenate([pts, [a, b]])
        keep = np.concatenate([[True], np.hypot(*np.diff(pts, axis=0).T) > 1e-6])
        if keep.sum() >= 2:
            out.append(pts[keep])
    return out


def _to_arrays(rows: list[dict], n_lanes: int) -> Agents:
    n = len(rows)

    def col(fn, dtype=np.float64):
        return np.array([fn(r) for r in rows], dtype=dtype).reshape(n)

    def beh_field(name, default):
        return col(lambda r: getattr(r["beh"], name) if r["beh"] is not None else default)

    static = col(lambda r: r["type"] in STATIC_TYPES or r["behavior"] == Behavior.STATIC, bool)
    return Agents(
        names=tuple(r["name"] for r in rows),
        type=col(lambda r: int(r["type"]), np.int8),
        behavior=col(lambda r: int(r["behavior"]), np.int8),
        active=col(lambda r: r["active"], bool),
        x=col(lambda r: r["x"]),
        y=col(lambda r: r["y"]),
        yaw=col(lambda r: r["yaw"]),
        v=np.where(static, 0.0, col(lambda r: r["v"])),
        a=np.zeros(n),
        length=col(lambda r: r["size"][0]),
        width=col(lambda r: r["size"][1]),
        height=col(lambda r: r["size"][2]),
        flags=col(lambda r: r["flags"], np.int32),
        path=col(lambda r: r["path"], np.int64),
        u=col(lambda r: r["u"]),
        d=col(lambda r: r["d"]),
        d_rate=np.zeros(n),
        v_desired=col(lambda r: r.get("v_desired", r["beh"].desired_speed if r["beh"] and r["beh"].desired_speed is not None else r["v"])),
        headway=beh_field("time_headway_s", 1.5),
        min_gap=beh_field("min_gap_m", 2.0),
        max_accel=beh_field("max_accel", 1.5),
        comfort_decel=beh_field("comfort_decel", 2.5),
        forced_decel=np.zeros(n),
        ignore_signals=col(lambda r: bool(r["beh"].ignore_signals) if r["beh"] else False, bool),
        lane_changes=col(lambda r: r.get("lane_changes", bool(r["beh"].lane_changes) if r["beh"] else False), bool),
        stopped_for=np.zeros(n),
        cleared_stop=np.full(n, -np.inf),
        route_offset=np.stack([r["offsets"] for r in rows]) if rows else np.zeros((0, n_lanes)),
    )
