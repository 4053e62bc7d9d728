"""Long-tail families where another vehicle does the unexpected.

    >>> from cordillera.scenarios.families import sample_family
    >>> sample_family("highway_cut_out_stall", 2).tags.critical   # ('stalled', 'lead')

A tight cut-in, a lead car braking hard, a lead car swerving out to reveal a stalled car at highway speed,
an emergency vehicle closing from behind, a wrong-way driver, a car reversing out of a driveway, a bus
pulling out from its stop and a motorcycle filtering between queued cars.

Highway layout (`highway`, 3 lanes of 4 m): "main.0" at y = -8 (rightmost), "main.1" at y = -4, "main.2"
at y = 0, all running +x.
"""

from __future__ import annotations

import math

from cordillera.scenarios.families.base import (
    Choice, Evade, IntRange, Uniform, family, road_for, shifted_path, straight_road,
)
from cordillera.scenarios.families.expect import agent_beyond, away_from, near

__all__: list[str] = []

HIGHWAY = {"builder": "highway", "params": {"lanes": 3, "length_m": 800.0}}


def highway(speed: float) -> dict:
    """The highway map with its speed limit at the ego's cruise speed (so the lane follower keeps it)."""
    return {"builder": "highway", "params": {**HIGHWAY["params"], "speed_limit": speed}}
CAR_LENGTH = 4.6  # [m]


@family("tight_cut_in", category="cut_in", longtail=True, decisions="slow_down", hazards="cutter",
        visibility="visible", expect=near("cutter", -4.0, 1.0),  # it ended in the ego's lane
        params={"ego_speed": Uniform(20.0, 28.0), "slower": Uniform(1.0, 4.0), "ahead": Uniform(22.0, 35.0),
                "from_left": Choice((True, False)), "trigger": Uniform(15.0, 22.0), "duration": Uniform(1.5, 2.5),
                "traffic": IntRange(0, 6)})
def tight_cut_in(p):
    """A slower car in the next lane cuts in just ahead of the ego with a short gap."""
    lane, other = ("main.2", "main.0") if p.from_left else ("main.0", "main.2")
    speed = round(p.ego_speed - p.slower, 2)
    return {"map": highway(p.ego_speed),
            "ego": {"lane": "main.1", "s": 100.0, "speed": p.ego_speed},
            "agents": [{"id": "cutter", "lane": lane, "s": round(100.0 + p.ahead, 2), "speed": speed,
                        "behavior": {"desired_speed": speed}}],
            "events": [{"agent": "cutter", "trigger": {"kind": "ego_distance", "distance_m": p.trigger},
                        "action": {"kind": "cut_in", "direction": "right" if p.from_left else "left",
                                   "duration_s": p.duration}}],
            "traffic": {"vehicles": p.traffic, "lanes": [other], "speed_range": [20.0, 28.0], "min_gap_m": 25.0},
            "success": {"kind": "survive", "time_s": 12.0}}


@family("lead_emergency_brake", category="braking", longtail=True, decisions="stop", hazards="lead",
        visibility="visible",
        params={"highway": Choice((True, False)), "speed": Uniform(0.75, 1.0), "headway": Uniform(1.2, 2.0),
                "brake_at": Uniform(2.0, 5.0), "decel": Uniform(5.0, 8.0), "traffic": IntRange(0, 6)})
def lead_emergency_brake(p):
    """The car ahead brakes as hard as it can, to a full stop, for no visible reason."""
    if p.highway:
        speed = round(30.0 * p.speed, 2)
        road, lane, others = highway(speed), "main.1", ["main.0", "main.2"]
    else:
        speed = round(13.9 * p.speed, 2)
        road, lane, others = straight_road(2, length=500.0), "fwd.0", ["fwd.1", "bwd.0", "bwd.1"]
    gap = round(p.headway * speed + CAR_LENGTH, 2)
    return {"map": road,
            "ego": {"lane": lane, "s": 60.0, "speed": speed},
            "agents": [{"id": "lead", "lane": lane, "s": round(60.0 + gap, 2), "speed": speed,
                        "behavior": {"desired_speed": speed}}],
            "events": [{"agent": "lead", "trigger": {"kind": "time", "time_s": p.brake_at},
                        "action": {"kind": "hard_brake", "decel": p.decel}}],
            "traffic": {"vehicles": p.traffic, "lanes": others, "speed_range": [0.6 * speed, speed]},
            "success": {"kind": "survive", "time_s": 12.0}}


@family("highway_cut_out_stall", category="blockage", longtail=True, decisions="stop", hazards=("stalled", "lead"),
        visibility="occluded", expect=away_from("lead", -4.0, 3.0),  # the lead left main.1
        params={"speed": Uniform(24.0, 30.0), "headway": Uniform(0.8, 1.2), "swerve_after": Uniform(0.5, 1.0),
                "reveal": Uniform(35.0, 50.0), "to_left": Choice((True, False)), "traffic": IntRange(0, 4)})
def highway_cut_out_stall(p):
    """At highway speed the car ahead swerves out of the lane at the last moment, revealing a stalled car.

    The lead tailgates nothing: it drives a fixed path (it neither brakes nor reacts), starting its swerve
    `swerve_after` seconds in and clearing the lane `reveal` metres before the stalled car, which stays
    hidden behind it until then (and within the camera's range from the start).
    """
    ego_s, shift_len = 100.0, 25.0
    lead_s = round(ego_s + p.headway * p.speed + CAR_LENGTH, 2)
    swerve_s = lead_s + p.swerve_after * p.speed
    stall_s = round(swerve_s + shift_len + p.reveal, 2)
    road = road_for(HIGHWAY)
    path = shifted_path(road, "main.1", lead_s, 790.0, swerve_s, shift_len, 4.0 if p.to_left else -4.0,
                        spacing_m=2.0)
    return {"map": highway(p.speed),
            "ego": {"lane": "main.1", "s": ego_s, "speed": p.speed},
            "agents": [
                {"id": "stalled", "type": "stalled_vehicle", "lane": "main.1", "s": stall_s, "flags": ["hazard"],
                 "behavior": {"kind": "static"}},
                {"id": "lead", "position": path[0], "speed": p.speed,
                 "behavior": {"kind": "path", "desired_speed": p.speed, "path": path}},
            ],
            "traffic": {"vehicles": p.traffic, "lanes": ["main.2" if p.to_left else "main.0"],
                        "speed_range": [20.0, 26.0], "min_gap_m": 30.0, "keep_clear_of_ego_m": 60.0},
            "success": {"kind": "survive", "time_s": 12.0}}


@family("emergency_vehicle_behind", category="emergency_vehicle", longtail=True, decisions="pull_over",
        hazards="ambulance", visibility="rear", solution="evade",
        expect=agent_beyond("ambulance", 0, "ego", solution=True),  # pulled over, it went past
        evade=Evade(shift_m=3.0, hold=True, stop=True, from_start=True),
        params={"ego_speed": Uniform(9.0, 12.0), "behind": Uniform(40.0, 80.0), "ev_speed": Uniform(15.0, 19.0),
                "oncoming": IntRange(0, 4)})
def emergency_vehicle_behind(p):
    """An ambulance with lights and siren closes from behind: pull over to the kerb and stop to let it pass."""
    return {"map": straight_road(1, parking=True, length=500.0),
            "ego": {"lane": "fwd.0", "s": 120.0, "speed": p.ego_speed},
            "agents": [{"id": "ambulance", "type": "truck", "size": [6.5, 2.3, 2.8], "lane": "fwd.0",
                        "s": round(120.0 - p.behind, 2), "speed": p.ev_speed, "flags": ["emergency"],
                        "behavior": {"desired_speed": 20.0, "ignore_signals": True, "time_headway_s": 1.0}}],
            "traffic": {"vehicles": p.oncoming, "lanes": ["bwd.0"]},
            "success": {"kind": "survive", "time_s": 15.0}}


@family("wrong_way_driver", category="wrong_way", longtail=True, decisions="lane_change_right", hazards="wrong_way",
        visibility="visible", solution="evade", expect=agent_beyond("wrong_way", 0, "ego", above=False, solution=True),
        evade=Evade(shift_m=3.5, hold=True, from_start=True),
        params={"ego_speed": Uniform(11.0, 13.9), "distance": Uniform(160.0, 220.0), "speed": Uniform(10.0, 15.0),
                "oncoming": IntRange(0, 5)})
def wrong_way_driver(p):
    """A car comes head-on in the ego's (left) lane, driving the wrong way; move to the right lane."""
    road = road_for(straight_road(2, length=600.0))
    start = round(50.0 + p.distance, 2)
    path = shifted_path(road, "fwd.1", start, 0.0, 0.0, 1.0, 0.0, spacing_m=5.0)
    return {"map": straight_road(2, length=600.0),
            "ego": {"lane": "fwd.1", "s": 50.0, "speed": p.ego_speed},
            "agents": [{"id": "wrong_way", "position": path[0], "speed": p.speed,
                        "behavior": {"kind": "path", "desired_speed": p.speed, "path": path}}],
            "traffic": {"vehicles": p.oncoming, "lanes": ["bwd.0", "bwd.1"]},
            "success": {"kind": "survive", "time_s": 12.0}}


@family("reversing_from_driveway", category="reversing", longtail=True, decisions="stop", hazards="reversing",
        visibility="visible", solution="brake",
        params={"speed": Uniform(8.0, 11.0), "driveway_x": Uniform(90.0, 130.0), "react": Uniform(25.0, 40.0),
                "reverse_speed": Uniform(1.2, 2.2), "end_y": Uniform(-2.6, -1.2)})
def reversing_from_driveway(p):
    """A car backs out of a driveway across the sidewalk into the ego's lane without looking.

    A replayed trajectory (nose away from the road, moving backwards): it waits in the driveway until the
    ego, at the lane's speed limit, is about `react` metres away, then reverses until its centre is at y =
    end_y, blocking the lane, and stays there.
    """
    yaw = round(-math.pi / 2.0, 4)  # nose south, away from the road; reversing moves it north (+y)
    x, y0, dt = p.driveway_x, -9.5, 0.5
    start = max((x - p.react - 20.0) / p.speed, 0.5)  # ego centre starts at x = 20 and keeps the limit speed
    duration = 16.0
    poses, t = [], 0.0
    while t <= duration + dt:
        y = y0 + p.reverse_speed * max(t - start, 0.0)
        poses.append([x, round(min(y, p.end_y), 3), yaw])
        t += dt
    return {"map": straight_road(1, length=300.0, speed=p.speed),
            "ego": {"lane": "fwd.0", "s": 20.0, "speed": p.speed},
            "agents": [{"id": "reversing", "position": poses[0][:2], "heading": yaw,
                        "behavior": {"kind": "replay", "replay_dt": dt, "trajectory": poses}}],
            "success": {"kind": "survive", "time_s": 15.0}}


@family("bus_pulling_out", category="bus", longtail=True, decisions="yield", hazards="bus",
        visibility="visible", expect=near("bus", -1.75, 0.5),  # it pulled into fwd.0
        params={"bus_s": Uniform(70.0, 110.0), "ego_speed": Uniform(9.0, 12.0), "trigger": Uniform(30.0, 45.0),
                "bus_speed": Uniform(6.0, 9.0), "duration": Uniform(3.0, 5.0), "oncoming": IntRange(0, 3)})
def bus_pulling_out(p):
    """A bus at its stop pulls out into the ego's lane without waiting for a gap."""
    return {"map": straight_road(1, parking=True, length=400.0),
            "ego": {"lane": "fwd.0", "s": 20.0, "speed": p.ego_speed},
            "agents": [{"id": "bus", "type": "bus", "lane": "fwd.parking", "s": p.bus_s,
                        "behavior": {"kind": "static", "max_accel": 1.0}}],
            "events": [
                {"agent": "bus", "trigger": {"kind": "ego_distance", "distance_m": p.trigger},
                 "action": {"kind": "pull_out", "speed": p.bus_speed}},
                {"agent": "bus", "trigger": {"kind": "ego_distance", "distance_m": p.trigger},
                 "action": {"kind": "lane_change", "direction": "left", "duration_s": p.duration}},
            ],
            "traffic": {"vehicles": p.oncoming, "lanes": ["bwd.0"]},
            "success": {"kind": "survive", "time_s": 15.0}}


@family("motorcycle_filtering", category="motorcycle", longtail=True, decisions="keep_lane", hazards="motorcycle",
        visibility="rear", expect=agent_beyond("motorcycle", 0, "ego"),  # it filtered past
        params={"queue_speed": Uniform(2.0, 5.0), "behind": Uniform(25.0, 45.0), "moto_speed": Uniform(8.0, 12.0),
                "lead_gap": Uniform(10.0, 16.0), "left_offset": Uniform(-8.0, 8.0), "left_ahead": Uniform(15.0, 25.0)})
def motorcycle_filtering(p):
    """In a slow queue a motorcycle filters forward along the line between the two lanes, past the ego."""
    road = road_for(straight_road(2, length=500.0))
    ego_s = 60.0
    path = shifted_path(road, "fwd.0", ego_s - p.behind, 480.0, 0.0, 1.0, 1.75, spacing_m=5.0)
    queue = {"desired_speed": p.queue_speed}
    return {"map": straight_road(2, length=500.0),
            "ego": {"lane": "fwd.0", "s": ego_s, "speed": p.queue_speed},
            "agents": [
                {"id": "lead", "lane": "fwd.0", "s": round(ego_s + p.lead_gap + CAR_LENGTH, 2), "speed": p.queue_speed,
                 "behavior": queue},
                {"id": "left_beside", "lane": "fwd.1", "s": round(ego_s + p.left_offset, 2), "speed": p.queue_speed,
                 "behavior": queue},
                {"id": "left_ahead", "lane": "fwd.1", "s": round(ego_s + p.left_offset + p.left_ahead, 2),
                 "speed": p.queue_speed, "behavior": queue},
                {"id": "motorcycle", "type": "motorcycle", "position": path[0], "speed": p.moto_speed,
                 "behavior": {"kind": "path", "desired_speed": p.moto_speed, "path": path}},
            ],
            "success": {"kind": "survive", "time_s": 12.0}}
