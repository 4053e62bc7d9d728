"""What the ego could see and where things are relative to its route: shared by the CoC labeler and the QA pairs.

    >>> from cordillera.teacher.scene import seen_agents, describe_agent, controls_ahead
    >>> seen = seen_agents(state, history_s=2.0)      # {agent index: best visible fraction in the last 2 s}
    >>> describe_agent(state, 3)                      # AgentView(..., "pedestrian", "on crosswalk", "crossing", ...)
    >>> controls_ahead(state, 80.0)                   # signals / stop lines on the route ahead, nearest first

Everything here reads the state at its time and the log before it, never a forecast: the labeler's causal
locality (nothing from the future leaks into the reasoning) rests on that. Visibility is the front camera's
geometric stand-in (`scenarios.visibility`), sampled over the log.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from shapely import Point, Polygon

from cordillera.scenarios.visibility import step_visibility
from cordillera.world.agents import AgentType, Flag
from cordillera.world.roads.map import Control, SignalState

__all__ = ["AgentView", "ControlAhead", "object_type", "seen_agents", "route_position", "describe_agent",
           "controls_ahead", "signal_word", "lane_offsets_on_route"]

_TYPE_NAMES = {
    AgentType.CAR: "car", AgentType.TRUCK: "truck", AgentType.BUS: "bus", AgentType.MOTORCYCLE: "motorcycle",
    AgentType.CYCLIST: "cyclist", AgentType.PEDESTRIAN: "pedestrian", AgentType.CONE: "cone",
    AgentType.BARRIER: "barrier", AgentType.DEBRIS: "debris", AgentType.PARKED_CAR: "parked car",
    AgentType.STALLED_VEHICLE: "stalled vehicle", AgentType.ANIMAL: "animal",
}
_SIGNAL_WORDS = {SignalState.GREEN: "green", SignalState.YELLOW: "yellow", SignalState.RED: "red",
                 SignalState.DARK: "dark"}
IN_PATH_MARGIN_M = 0.5  # [m] lateral slack added to the two half widths when deciding "in path"
STOPPED_MPS = 0.3  # [m/s] slower than this is stopped
SLOWING_MPS2 = -0.8  # [m/s^2] braking harder than this is slowing


class AgentView(NamedTuple):
    """An agent as the labeler describes it, at the state's time.

    position: "in path", "left", "right", "oncoming", "behind", "ahead", "on crosswalk"; motion: "stopped",
    "slowing", "crossing", "cutting in", "moving", "approaching", "reversing", "door opening";
    ahead_m: along the route from the ego's rear axle [m] (< 0 behind); lateral_m: off the route path [m, + left].
    """

    index: int
    name: str
    object_type: str
    position: str
    motion: str
    ahead_m: float
    lateral_m: float
    distance_m: float


class ControlAhead(NamedTuple):
    """A stop line on the route ahead: its signal (index or None), control, signal state word and distance."""

    stop_line: int
    signal: int | None
    control: Control
    state: str | None  # "red", "yellow", "green", "dark" for signal controls, else None
    distance_m: float  # along the route from the ego's front bumper [m]


def object_type(state, i: int) -> str:
    """Readable type of agent i; flags refine it (school bus, emergency vehicle)."""
    flags = int(state.agents.flags[i])
    if flags & Flag.SCHOOL_BUS:
        return "school bus"
    if flags & Flag.EMERGENCY:
        return "emergency vehicle"
    return _TYPE_NAMES.get(AgentType(int(state.agents.type[i])), "object")


def signal_word(value: int) -> str:
    return _SIGNAL_WORDS[SignalState(int(value))]


def seen_agents(state, history_s: float = 2.0, stride: int = 2, min_fraction: float = 0.05) -> dict[int, float]:
    """{agent index: best visible fraction} for agents the front camera saw in the last history_s of the log
    (every `stride`-th step and always the current one); agents inactive now are left out."""
    log = state.log
    dt = state.world.config.dt
    n_steps = int(round(history_s / dt))
    picks = sorted(set(range(len(log) - 1, max(len(log) - 1 - n_steps, 0) - 1, -stride)) | {len(log) - 1})
    heights = state.agents.height
    active = np.flatnonzero(state.agents.active)
    ego = np.array([state.ego.x, state.ego.y])
    near = active[np.hypot(state.agents.x[active] - ego[0], state.agents.y[active] - ego[1]) < 160.0]
    best: dict[int, float] = {}
    for k in picks:
        step = log[k]
        for i in near:
            if i < len(step.active) and step.active[i]:
                frac, _ = step_visibility(step, heights, int(i))
                if frac >= min_fraction:
                    best[int(i)] = max(best.get(int(i), 0.0), frac)
    return best


def route_position(state, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ahead (M,), lateral (M,)) of world points (M, 2) relative to the ego along its route path [m]."""
    path = state.world.route.path
    s_ego, _, _ = path.project(np.array([[state.ego.x, state.ego.y]]))
    s, d, _ = path.project(np.asarray(xy, dtype=np.float64).reshape(-1, 2))
    beyond = (s > path.length) | (s < 0)  # off the path's ends: fall back to the ego frame
    if beyond.any():
        rel = np.asarray(xy, dtype=np.float64).reshape(-1, 2) - [state.ego.x, state.ego.y]
        c, sn = math.cos(state.ego.yaw), math.sin(state.ego.yaw)
        fx, fy = rel[:, 0] * c + rel[:, 1] * sn, -rel[:, 0] * sn + rel[:, 1] * c
        s = np.where(beyond, s_ego[0] + fx, s)
        d = np.where(beyond, fy, d)
    return s - s_ego[0], d


def _on_crosswalk(state, x: float, y: float) -> bool:
    point = Point(x, y)
    return any(Polygon(cw.polygon).buffer(0.5).contains(point) for cw in state.road.crosswalks)


def describe_agent(state, i: int) -> AgentView:
    """Where agent i is relative to the ego's route and what it is doing, from the state and the last 1 s of log."""
    a = state.agents
    ahead, lateral = route_position(state, np.array([[a.x[i], a.y[i]]]))
    ahead, lateral = float(ahead[0]), float(lateral[0])
    dist = float(math.hypot(a.x[i] - state.ego.x, a.y[i] - state.ego.y))
    path = state.world.route.path
    s_now = float(np.clip(path.project(np.array([[a.x[i], a.y[i]]]))[0][0], 0.0, path.length))
    path_yaw = float(path.tangent_heading(s_now))
    rel_yaw = math.atan2(math.sin(a.yaw[i] - path_yaw), math.cos(a.yaw[i] - path_yaw))
    half = state.world.config.vehicle.width_m / 2.0 + float(a.width[i]) / 2.0 + IN_PATH_MARGIN_M
    kind = object_type(state, i)
    moving = abs(float(a.v[i])) >= STOPPED_MPS

    if _on_crosswalk(state, float(a.x[i]), float(a.y[i])) and AgentType(int(a.type[i])) in (
            AgentType.PEDESTRIAN, AgentType.CYCLIST, AgentType.ANIMAL):
        position = "on crosswalk"
    elif ahead < -2.0:
        position = "behind"
    elif abs(lateral) <= half:
        position = "in path"
    elif moving and math.cos(rel_yaw) < -0.7:
        position = "oncoming"
    elif abs(lateral) <= half + 4.0:
        position = "left" if lateral > 0 else "right"
    else:
        position = "ahead"

    # motion from the last 1 s of the log: lateral drift toward the path, reversing, crossing
    log = state.log
    back = min(len(log) - 1, int(round(1.0 / state.world.config.dt)))
    past = log[-1 - back].agents[i] if back > 0 and i < len(log[-1 - back].agents) else None
    if int(a.flags[i]) & Flag.DOOR_OPEN:
        motion = "door opening"
    elif not moving:
        motion = "stopped"
    elif past is not None and (a.x[i] - past[0]) * math.cos(a.yaw[i]) + (a.y[i] - past[1]) * math.sin(a.yaw[i]) < -0.2:
        motion = "reversing"
    elif abs(math.sin(rel_yaw)) > 0.6:
        motion = "crossing"
    elif past is not None and position in ("left", "right", "in path") and math.cos(rel_yaw) > 0.7 and \
            abs(route_position(state, past[None, :2])[1][0]) - abs(lateral) > 0.3:
        motion = "cutting in"
    elif float(a.a[i]) <= SLOWING_MPS2 or int(a.flags[i]) & Flag.BRAKE and float(a.a[i]) < -0.2:
        motion = "slowing"
    elif position == "oncoming" or (ahead < 0 and float(a.v[i]) > state.ego.v + 1.0):
        motion = "approaching"
    else:
        motion = "moving"
    return AgentView(int(i), a.names[i], kind, position, motion, ahead, lateral, dist)


def lane_offsets_on_route(state) -> dict[int, float]:
    """{lane id: route-path arc length of that lane's s = 0} for the lanes of the ego's route."""
    route = state.world.route
    return {lane: float(route.lane_offsets[k] - route.entry_s[k]) for k, lane in enumerate(route.lanes)}


def controls_ahead(state, horizon_m: float = 80.0) -> list[ControlAhead]:
    """Stop lines on the ego's route between its front bumper and horizon_m ahead, nearest first."""
    road = state.road
    offsets = lane_offsets_on_route(state)
    params = state.world.config.vehicle
    s_ego, _, _ = state.world.route.path.project(np.array([[state.ego.x, state.ego.y]]))
    s_front = float(s_ego[0]) + params.length_m - params.rear_overhang_m
    signals = state.log[-1].signals
    dark = bool(state.world.scenario.signals_dark)
    out = []
    for sl in road.stop_lines:
        if sl.lane not in offsets:
            continue
        dist = offsets[sl.lane] + sl.s - s_front
        if -0.5 <= dist <= horizon_m:
            word = None
            if sl.control == Control.SIGNAL and sl.signal is not None and sl.signal < len(signals):
                word = "dark" if dark else signal_word(signals[sl.signal])
            out.append(ControlAhead(sl.id, sl.signal, sl.control, word, float(dist)))
    return sorted(out, key=lambda c: c.distance_m)
