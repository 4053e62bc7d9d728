"""Nominal families: the everyday driving every policy must get right before the long tail matters.

    >>> from cordillera.scenarios.families import sample_family
    >>> sample_family("unprotected_left", 4).tags.expected_decision    # 'yield'

Lane following on straight and curved roads, stop-and-go car following, signalised intersections (through
on green, stopping at red, the yellow dilemma), protected and unprotected left turns, a right turn across a
busy crosswalk, an on-ramp merge, a lane change to reach a turn lane and a stop-sign T-junction.
"""

from __future__ import annotations

from cordillera.scenarios.families.base import Choice, IntRange, Uniform, family, straight_road
from cordillera.scenarios.families.expect import (
    FRONT_M, never_past_stop_line, reaches_goal, serves_stop_sign, stops_iff_labelled,
)

__all__: list[str] = []

@family("lane_follow_straight", category="lane_keeping", longtail=False, decisions="follow",
        params={"lanes": IntRange(1, 3), "lane_pick": IntRange(0, 2), "speed_limit": Choice((11.1, 13.9, 16.7)),
                "ego_speed": Uniform(7.0, 14.0), "traffic": IntRange(4, 14)})
def lane_follow_straight(p):
    """Keep the lane on a straight multi-lane road with background traffic."""
    return {"map": straight_road(p.lanes, length=500.0, speed=p.speed_limit),
            "ego": {"lane": f"fwd.{p.lane_pick % p.lanes}", "s": 40.0, "speed": p.ego_speed},
            "traffic": {"vehicles": p.traffic, "speed_range": [7.0, 13.0]},
            "success": {"kind": "survive", "time_s": 15.0}}


@family("lane_follow_curved", category="lane_keeping", longtail=False, decisions="follow",
        params={"radius": Uniform(40.0, 150.0, 1), "angle": Uniform(45.0, 120.0, 1), "bend": Choice((1, -1)),
                "lanes": IntRange(1, 2), "ego_speed": Uniform(7.0, 12.0), "traffic": IntRange(2, 8)})
def lane_follow_curved(p):
    """Keep the lane through a left or right bend, slowing to a comfortable lateral acceleration."""
    return {"map": {"builder": "curved", "params": {"radius_m": p.radius, "angle_deg": p.bend * p.angle,
                                                   "lanes_per_direction": p.lanes, "lead_m": 80.0}},
            "ego": {"lane": "fwd.0", "s": 15.0, "speed": p.ego_speed},
            "traffic": {"vehicles": p.traffic, "speed_range": [6.0, 11.0]},
            "success": {"kind": "survive", "time_s": 15.0}}


@family("stop_and_go", category="car_following", longtail=False, decisions="follow", hazards="lead",
        visibility="visible",
        params={"ego_speed": Uniform(8.0, 12.0), "gap": Uniform(15.0, 30.0), "first_stop": Uniform(1.5, 4.0),
                "wait": Uniform(2.0, 4.0), "go": Uniform(3.0, 5.0), "go_speed": Uniform(5.0, 10.0),
                "traffic": IntRange(0, 6)})
def stop_and_go(p):
    """Follow a lead car through a stop-and-go wave: it stops, waits, pulls away and stops again."""
    stop2 = round(p.first_stop + p.wait + p.go, 2)
    events = []
    for t_stop, t_go in ((p.first_stop, p.first_stop + p.wait), (stop2, stop2 + p.wait)):
        events += [
            {"agent": "lead", "trigger": {"kind": "time", "time_s": t_stop}, "action": {"kind": "stop"}},
            {"agent": "lead", "trigger": {"kind": "time", "time_s": t_stop},
             "action": {"kind": "set_speed", "speed": 0.0}},
            {"agent": "lead", "trigger": {"kind": "time", "time_s": round(t_go, 2)},
             "action": {"kind": "set_speed", "speed": p.go_speed}},
        ]
    return {"map": straight_road(2, length=500.0),
            "ego": {"lane": "fwd.0", "s": 30.0, "speed": p.ego_speed},
            "agents": [{"id": "lead", "lane": "fwd.0", "s": round(30.0 + p.gap, 2), "speed": p.ego_speed,
                        "behavior": {"desired_speed": p.ego_speed}}],
            "events": events,
            "traffic": {"vehicles": p.traffic, "lanes": ["fwd.1", "bwd.0", "bwd.1"], "speed_range": [4.0, 9.0]},
            "success": {"kind": "survive", "time_s": round(stop2 + p.wait + 4.0, 2)}}


@family("signalized_straight", category="signal", longtail=False, decisions="proceed", expect=reaches_goal,
        params={"lanes": IntRange(1, 2), "lane_pick": IntRange(0, 1), "green": Uniform(22.0, 30.0),
                "ego_s": Uniform(20.0, 45.0), "ego_speed": Uniform(8.0, 12.0), "traffic": IntRange(3, 8)})
def signalized_straight(p):
    """Drive straight through a signalised intersection on green while cross traffic waits at red."""
    k = p.lane_pick % p.lanes
    return {"map": {"builder": "intersection", "params": {"lanes_per_direction": p.lanes, "green_s": p.green}},
            "ego": {"lane": f"south_in.{k}", "s": p.ego_s, "speed": p.ego_speed, "goal_lane": f"north_out.{k}"},
            "traffic": {"vehicles": p.traffic, "lanes": [f"{arm}_in.{i}" for arm in ("west", "east", "north")
                                                         for i in range(p.lanes)]},
            "success": {"kind": "reach_goal", "time_s": 20.0}}


@family("red_light_stop", category="signal", longtail=False, decisions="stop", expect=never_past_stop_line,
        params={"lanes": IntRange(1, 2), "green": Uniform(20.0, 28.0), "ego_s": Uniform(20.0, 45.0),
                "ego_speed": Uniform(10.0, 13.9), "traffic": IntRange(3, 8)})
def red_light_stop(p):
    """Stop at a red light (east-west approach; north-south has green and cross traffic flows)."""
    return {"map": {"builder": "intersection", "params": {"lanes_per_direction": p.lanes, "green_s": p.green}},
            "ego": {"lane": "west_in.0", "s": p.ego_s, "speed": p.ego_speed, "goal_lane": "east_out.0"},
            "traffic": {"vehicles": p.traffic, "lanes": [f"{arm}_in.{i}" for arm in ("south", "north")
                                                         for i in range(p.lanes)]},
            "success": {"kind": "survive", "time_s": 15.0}}


@family("yellow_dilemma", category="signal", longtail=False, decisions=("stop", "proceed"), expect=stops_iff_labelled,
        params={"zone": Choice(("stop", "proceed")), "near": Uniform(12.0, 30.0), "far": Uniform(48.0, 65.0),
                "speed": Uniform(11.0, 13.9)})
def yellow_dilemma(p):
    """The light turns yellow as the ego approaches at speed: stop if it can do so comfortably, else go.

    The yellow starts when the ego's front is `far` or `near` metres from the stop line; the expected
    decision follows the comfortable-stop rule traffic uses (stop when the distance exceeds v^2 / 5 m/s^2).
    """
    arm, ego_s = 150.0, 10.0
    dist = p.far if p.zone == "stop" else p.near
    green = round((arm - ego_s - FRONT_M - dist) / p.speed, 2)
    decision = "stop" if dist > p.speed**2 / (2.0 * 2.5) else "proceed"
    return {"map": {"builder": "intersection", "params": {"lanes_per_direction": 1, "arm_length_m": arm,
                                                         "green_s": green, "speed_limit": p.speed}},
            "ego": {"lane": "south_in.0", "s": ego_s, "speed": p.speed, "goal_lane": "north_out.0"},
            "success": {"kind": "survive", "time_s": round(green + 8.0, 2)},
            "tags": {"expected_decision": decision}}


@family("protected_left", category="turn", longtail=False, decisions="proceed", expect=reaches_goal,
        params={"lanes": IntRange(1, 2), "left_green": Uniform(12.0, 18.0), "ego_s": Uniform(45.0, 60.0),
                "ego_speed": Uniform(6.0, 9.0), "oncoming": IntRange(2, 5)})
def protected_left(p):
    """Turn left from the left-turn pocket on its protected green arrow while oncoming traffic holds."""
    n = p.lanes
    return {"map": {"builder": "intersection", "params": {"lanes_per_direction": n, "protected_left": True,
                                                         "left_green_s": p.left_green}},
            "ego": {"lane": f"south_in.{n}", "s": p.ego_s, "speed": p.ego_speed, "goal_lane": f"west_out.{n - 1}"},
            "traffic": {"vehicles": p.oncoming, "lanes": [f"north_in.{i}" for i in range(n)]},
            "success": {"kind": "reach_goal", "time_s": 25.0}}


@family("unprotected_left", category="turn", longtail=False, decisions="yield", hazards="oncoming_0",
        visibility="visible", expect=reaches_goal,
        params={"ego_s": Uniform(40.0, 55.0), "ego_speed": Uniform(6.0, 9.0), "count": IntRange(1, 3),
                "first_s": Uniform(35.0, 55.0), "spacing": Uniform(15.0, 35.0), "speed": Uniform(8.0, 11.0)})
def unprotected_left(p):
    """Turn left on a plain green: yield to the oncoming cars, then go through the gap behind them."""
    agents = [{"id": f"oncoming_{k}", "lane": "north_in.0", "s": round(p.first_s - k * p.spacing, 2),
               "speed": p.speed, "behavior": {"desired_speed": p.speed}}
              for k in range(p.count) if p.first_s - k * p.spacing > 2.0]  # a platoon, the first nearest
    return {"map": {"builder": "intersection", "params": {"lanes_per_direction": 1, "green_s": 30.0}},
            "ego": {"lane": "south_in.0", "s": p.ego_s, "speed": p.ego_speed, "goal_lane": "west_out.0"},
            "agents": agents,
            "success": {"kind": "reach_goal", "time_s": 25.0}}


@family("right_turn_crosswalk", category="vru", longtail=False, decisions="yield", hazards="ped_0",
        visibility="visible",
        params={"ego_s": Uniform(30.0, 45.0), "ego_speed": Uniform(6.0, 9.0), "count": IntRange(1, 3),
                "northbound": Choice((True, False)), "tta": Uniform(3.0, 4.5), "walk_speed": Uniform(1.0, 1.5),
                "stagger": Uniform(0.8, 2.0)})
def right_turn_crosswalk(p):
    """Turn right on green across a crosswalk that pedestrians are crossing on their walk signal."""
    sign = 1.0 if p.northbound else -1.0  # the east-arm crosswalk runs x = 8.5, y from -3.5 to 3.5
    agents, events = [], []
    for k in range(p.count):
        y0 = -sign * (4.7 + k * p.stagger)
        x = round(8.2 + 0.3 * k, 2)
        path = [[x, round(y0, 2)], [x, round(sign * 4.5, 2)], [round(x + 12.0, 2), round(sign * 4.5, 2)]]
        agents.append({"id": f"ped_{k}", "type": "pedestrian", "position": path[0],
                       "behavior": {"kind": "static", "path": path}})
        events.append({"agent": f"ped_{k}", "trigger": {"kind": "ego_time_to_arrival", "tta_s": p.tta},
                       "action": {"kind": "start_walking", "speed": p.walk_speed}})
    return {"map": {"builder": "intersection", "params": {"lanes_per_direction": 1, "green_s": 30.0}},
            "ego": {"lane": "south_in.0", "s": p.ego_s, "speed": p.ego_speed, "goal_lane": "east_out.0"},
            "agents": agents, "events": events,
            "success": {"kind": "survive", "time_s": 20.0}}


@family("onramp_merge", category="merge", longtail=False, decisions="merge", hazards="merge_car",
        visibility="rear",
        params={"ego_s": Uniform(5.0, 30.0), "ego_speed": Uniform(15.0, 20.0), "car_speed": Uniform(21.0, 26.0),
                "offset": Uniform(-15.0, 15.0), "traffic": IntRange(6, 14)})
def onramp_merge(p):
    """Merge from an on-ramp's acceleration lane into a gap in the rightmost highway lane."""
    ramp_left = 122.3 - p.ego_s  # ramp.entry is 122.3 m long and joins the acceleration lane at x = 250 m
    arrive = ramp_left / p.ego_speed
    car_x = round(min(max(250.0 - p.car_speed * arrive + p.offset, 20.0), 400.0), 2)
    return {"map": {"builder": "highway_merge", "params": {}},
            "ego": {"lane": "ramp.entry", "s": p.ego_s, "speed": p.ego_speed, "goal_lane": "main.0"},
            "agents": [{"id": "merge_car", "lane": "main.0", "s": car_x, "speed": p.car_speed,
                        "behavior": {"desired_speed": p.car_speed}}],
            "traffic": {"vehicles": p.traffic, "lanes": ["main.0", "main.1", "main.2"], "speed_range": [20.0, 27.0],
                        "min_gap_m": 25.0, "keep_clear_of_ego_m": 20.0},
            "success": {"kind": "survive", "time_s": 20.0}}


@family("lane_change_for_turn", category="lane_change", longtail=False, decisions="lane_change_left",
        expect=reaches_goal,
        params={"ego_s": Uniform(8.0, 15.0), "ego_speed": Uniform(8.0, 11.0), "count": IntRange(1, 3),
                "first_s": Uniform(3.0, 20.0), "spacing": Uniform(18.0, 30.0), "speed": Uniform(7.0, 10.0)})
def lane_change_for_turn(p):
    """Change into the left lane before the intersection to make the left turn the route asks for, fitting
    into the gaps between the cars already in it."""
    agents = [{"id": f"adjacent_{k}", "lane": "south_in.1", "s": round(p.first_s + k * p.spacing, 2),
               "speed": p.speed, "behavior": {"desired_speed": p.speed}}
              for k in range(p.count) if p.first_s + k * p.spacing < 48.0]
    return {"map": {"builder": "intersection", "params": {"lanes_per_direction": 2, "arm_length_m": 50.0,
                                                         "green_s": 40.0}},
            "ego": {"lane": "south_in.0", "s": p.ego_s, "speed": p.ego_speed, "goal_lane": "west_out.1"},
            "agents": agents,
            "success": {"kind": "reach_goal", "time_s": 25.0}}


@family("stop_sign_t_junction", category="stop_sign", longtail=False, decisions="stop", hazards="cross_0",
        visibility="visible", expect=serves_stop_sign,
        params={"goal": Choice(("east_out.0", "west_out.0")), "ego_s": Uniform(40.0, 60.0),
                "ego_speed": Uniform(7.0, 10.0), "count": IntRange(1, 3), "from_west": Choice((True, False)),
                "cross_s": Uniform(20.0, 50.0), "spacing": Uniform(20.0, 35.0), "speed": Uniform(9.0, 13.0)})
def stop_sign_t_junction(p):
    """Stop at the stop sign of a T-junction's minor road, wait for the cross traffic, then turn."""
    agents = []
    for k in range(p.count):
        lane = "west_in.0" if (p.from_west + k) % 2 else "east_in.0"
        s = p.cross_s - (k // 2) * p.spacing  # alternating sides; a second car follows the first
        if s > 2.0:
            agents.append({"id": f"cross_{k}", "lane": lane, "s": round(s, 2), "speed": p.speed,
                           "behavior": {"desired_speed": p.speed}})
    return {"map": {"builder": "t_junction", "params": {"control": "stop"}},
            "ego": {"lane": "south_in.0", "s": p.ego_s, "speed": p.ego_speed, "goal_lane": p.goal},
            "agents": agents,
            "success": {"kind": "reach_goal", "time_s": 25.0}}
