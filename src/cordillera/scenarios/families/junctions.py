"""Long-tail families at intersections: somebody breaks the right of way, or the signals are out.

    >>> from cordillera.scenarios.families import sample_family
    >>> sample_family("dark_signal", 1).signals_dark          # True

A red-light runner crossing in front of the ego, a dark (failed) traffic signal to be treated as an all-way
stop, and an oncoming car turning left across the ego's path without yielding.

Layout (`intersection`, one lane per direction): "south_in.0" runs north along x = 1.75 from y = -91 to the
stop line at y = -11; "west_in.0" runs east along y = -1.75 from x = -91 to x = -11; the ego's straight
path and the east-west lanes cross at (1.75, -1.75).
"""

from __future__ import annotations

import numpy as np

from cordillera.scenarios.families.base import Choice, IntRange, Uniform, family, path_along, road_for

__all__: list[str] = []

ARM_START = -91.0  # [m] y where south_in.0 starts (arm length 80 m + the junction's half size 11 m)


def _junction(speed: float, **params) -> dict:
    return {"builder": "intersection", "params": {"lanes_per_direction": 1, "speed_limit": speed, **params}}


@family("red_light_runner", category="signal", longtail=True, decisions="stop", hazards="runner",
        visibility="visible", solution="brake",
        params={"ego_s": Uniform(30.0, 45.0), "ego_speed": Uniform(9.0, 12.0), "runner_speed": Uniform(11.0, 15.0),
                "lead": Uniform(0.6, 1.6), "from_west": Choice((True, False))})
def red_light_runner(p):
    """The ego has green; a car from the side runs its red light and crosses just ahead of the ego.

    The runner drives a fixed path at constant speed (it never brakes) timed to pass the ego's crossing
    point `lead` seconds before the ego would, if the ego kept its speed.
    """
    t_ego = (-1.75 - (ARM_START + p.ego_s)) / p.ego_speed  # ego centre reaches the west-east lane's line
    if p.from_west:
        y, x_cross, direction = -1.75, 1.75, 1.0
    else:
        y, x_cross, direction = 1.75, 1.75, -1.0
    x0 = round(x_cross - direction * p.runner_speed * (t_ego - p.lead), 2)
    path = [[x0, y], [round(120.0 * direction, 2), y]]
    return {"map": _junction(p.ego_speed, green_s=30.0),
            "ego": {"lane": "south_in.0", "s": p.ego_s, "speed": p.ego_speed, "goal_lane": "north_out.0"},
            "agents": [{"id": "runner", "position": path[0], "speed": p.runner_speed,
                        "behavior": {"kind": "path", "desired_speed": p.runner_speed, "path": path}}],
            "success": {"kind": "survive", "time_s": 12.0}}


@family("dark_signal", category="signal", longtail=True, decisions="stop", hazards="cross_0", visibility="visible",
        solution="brake",
        params={"ego_s": Uniform(40.0, 55.0), "ego_speed": Uniform(7.0, 10.0), "count": IntRange(1, 3),
                "cross_s": Uniform(45.0, 65.0), "spacing": Uniform(12.0, 25.0), "speed": Uniform(7.0, 10.0),
                "goal": Choice(("north_out.0", "east_out.0", "west_out.0"))})
def dark_signal(p):
    """The traffic lights are out: every approach treats the intersection as an all-way stop."""
    agents = []
    for k in range(p.count):
        lane = ("west_in.0", "east_in.0")[k % 2]
        agents.append({"id": f"cross_{k}", "lane": lane, "s": round(p.cross_s - (k // 2) * p.spacing, 2),
                       "speed": p.speed, "behavior": {"desired_speed": p.speed}})
    return {"map": _junction(13.9),
            "ego": {"lane": "south_in.0", "s": p.ego_s, "speed": p.ego_speed, "goal_lane": p.goal},
            "agents": agents,
            "signals_dark": True,
            "success": {"kind": "survive", "time_s": 20.0}}


@family("left_turn_across_path", category="oncoming", longtail=True, decisions="stop", hazards="turner",
        visibility="visible", solution="brake",
        params={"ego_s": Uniform(30.0, 45.0), "ego_speed": Uniform(9.0, 12.0), "turn_speed": Uniform(6.0, 9.0),
                "lead": Uniform(0.8, 1.8)})
def left_turn_across_path(p):
    """An oncoming car turns left across the ego's path without yielding, just ahead of it.

    The turner drives a fixed path (north arm, left turn, out east) at constant speed, timed to cross the
    ego's lane `lead` seconds before the ego would reach that point at constant speed.
    """
    road = road_for(_junction(p.ego_speed))
    pts = np.array(path_along(road, ["north_in.0", "north.left", "east_out.0"], spacing_m=1.0))
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
    k = int(np.argmax(pts[:, 0] >= 1.75))  # first point on the ego's side of the road (x = 1.75)
    crossing_arc, crossing_y = float(arc[k]), float(pts[k, 1])
    t_ego = (crossing_y - (ARM_START + p.ego_s)) / p.ego_speed
    start = crossing_arc - p.turn_speed * (t_ego - p.lead)
    if start < 0.0:  # the turner starts further up the north arm than the map reaches: extend its path north
        path = [[-1.75, round(float(pts[0, 1]) - start, 2)]] + pts.round(3).tolist()
    else:
        path = pts[arc >= start].round(3).tolist()
    return {"map": _junction(p.ego_speed, green_s=30.0),
            "ego": {"lane": "south_in.0", "s": p.ego_s, "speed": p.ego_speed, "goal_lane": "north_out.0"},
            "agents": [{"id": "turner", "position": path[0], "speed": p.turn_speed,
                        "behavior": {"kind": "path", "desired_speed": p.turn_speed, "path": path}}],
            "success": {"kind": "survive", "time_s": 12.0}}
