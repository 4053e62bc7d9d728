"""Scripted events: a trigger (time, ego distance, ego time-to-arrival) starts a manoeuvre on an agent.

Events are data in the scenario (`EventSpec`); this module only interprets them. Lane changes (scripted
cut-ins and MOBIL) switch an agent onto the neighbour lane's route and blend its lateral offset to zero.
"""

from __future__ import annotations

import numpy as np

from cordillera.world.agents import Agents, Behavior, Flag, PathTable
from cordillera.world.roads.map import RoadMap
from cordillera.world.roads.routes import route_from_lanes, route_offsets
from cordillera.world.spawn import default_route

__all__ = ["triggered", "apply_action", "change_lane"]


def triggered(trigger, t: float, agents: Agents, index: int, ego_xy: np.ndarray, ego_v: float) -> bool:
    """Whether `trigger` (a TriggerSpec) holds at time t for agent `index`."""
    if trigger.kind == "time":
        return t >= trigger.time_s - 1e-9
    dist = float(np.hypot(agents.x[index] - ego_xy[0], agents.y[index] - ego_xy[1]))
    if trigger.kind == "ego_distance":
        return dist <= trigger.distance_m
    return dist / max(ego_v, 0.1) <= trigger.tta_s


def change_lane(road: RoadMap, arrays: dict, paths: PathTable, routes: tuple, index: int, direction: str,
                duration_s: float) -> tuple[PathTable, tuple]:
    """Move agent `index` onto its left/right neighbour lane; returns the (possibly grown) path table.

    The agent keeps its world position: its new path coordinate and lateral offset are found by
    projecting onto the neighbour lane, and the offset then shrinks to zero over `duration_s`.
    Raises ValueError when there is no neighbour lane on that side.
    """
    route = routes[arrays["path"][index]]
    if not route:
        raise ValueError(f"agent {index} has no lane route to change lanes from")
    u = arrays["u"][index]
    offsets = arrays["route_offset"][index]
    here = max((la for la in route if offsets[la] <= u + 1e-9), key=lambda la: offsets[la])
    lane = road.lanes[here]
    target = lane.left_neighbor if direction == "left" else lane.right_neighbor
    if target is None:
        raise ValueError(f"lane {here} has no {direction} neighbour for agent {index}")
    new_route = default_route(road, target)
    route_obj = route_from_lanes(road, new_route)
    pos = np.array([[arrays["x"][index], arrays["y"][index]]])
    s, d, _ = road.lanes[target].centerline.project(pos)
    if new_route in routes:
        k = routes.index(new_route)
    else:
        paths = paths.append(route_obj.path.points)
        routes = routes + (new_route,)
        k = len(routes) - 1
    arrays["path"][index] = k
    arrays["u"][index] = float(s[0])
    arrays["d"][index] = float(d[0])
    arrays["d_rate"][index] = -float(d[0]) / duration_s
    arrays["route_offset"][index] = route_offsets(road, route_obj)
    arrays["cleared_stop"][index] = -np.inf
    blink = Flag.BLINK_LEFT if direction == "left" else Flag.BLINK_RIGHT
    arrays["flags"][index] |= int(blink)
    return paths, routes


def apply_action(road: RoadMap, action, arrays: dict, paths: PathTable, routes: tuple, index: int):
    """Apply one ActionSpec to agent `index` in the writable `arrays`; returns (paths, routes)."""
    kind = action.kind
    if kind in ("cut_in", "lane_change"):
        return change_lane(road, arrays, paths, routes, index, action.direction, action.duration_s)
    if kind == "hard_brake":
        arrays["forced_decel"][index] = action.decel
    elif kind == "stop":
        arrays["forced_decel"][index] = arrays["comfort_decel"][index]
    elif kind in ("start_walking", "dart_out"):
        if arrays["path"][index] < 0:
            raise ValueError(f"agent {index}: {kind} needs an agent with a walk path")
        arrays["behavior"][index] = int(Behavior.WALK)
        arrays["v_desired"][index] = action.speed
        arrays["v"][index] = action.speed
    elif kind == "door_open":
        arrays["flags"][index] |= int(Flag.DOOR_OPEN)
        yaw = arrays["yaw"][index]
        shift = action.width_m / 2.0  # the box grows towards the open (left) door
        arrays["x"][index] -= np.sin(yaw) * shift
        arrays["y"][index] += np.cos(yaw) * shift
        arrays["width"][index] += action.width_m
        arrays["d"][index] += shift
    elif kind == "run_red_light":
        arrays["ignore_signals"][index] = True
    elif kind == "appear":
        arrays["active"][index] = True
    elif kind == "pull_out":
        if arrays["path"][index] < 0 or not routes[arrays["path"][index]]:
            raise ValueError(f"agent {index}: pull_out needs an agent placed on a lane with a route")
        arrays["behavior"][index] = int(Behavior.IDM)
        if action.speed is not None:
            arrays["v_desired"][index] = action.speed
    elif kind == "set_speed":
        arrays["v_desired"][index] = action.speed
        if arrays["behavior"][index] in (Behavior.PATH, Behavior.WALK):
            arrays["v"][index] = action.speed
    return paths, routes
