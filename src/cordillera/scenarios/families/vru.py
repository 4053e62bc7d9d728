"""Long-tail families around vulnerable road users: people, cyclists and animals where the car must give way.

    >>> from cordillera.scenarios.families import sample_family
    >>> sample_family("child_ball", 0).tags.critical            # ('child', 'ball')

A pedestrian stepping out from between parked cars, a child running after a ball, a cyclist swerving out of
the kerb lane, a stopped school bus with a child crossing in front of it, an animal crossing at night and a
slow group of pedestrians on an unsignalised crosswalk.

Street layout used by most of them (`straight_road(1, parking=True)`): forward lane "fwd.0" centred at
y = -1.75, its parking lane at y = -4.75 (d = -3.0 from fwd.0), the kerb at y = -6.0 and the sidewalk
beyond; the oncoming side mirrors it at y > 0.
"""

from __future__ import annotations

from cordillera.scenarios.families.base import NIGHT, Choice, IntRange, Uniform, family, straight_road
from cordillera.scenarios.families.expect import agent_beyond, near, stays_behind

__all__: list[str] = []

VAN = [5.5, 2.0, 2.3]  # length, width, height [m]: a delivery van, tall enough to hide an adult
CHILD = [0.4, 0.4, 1.15]


def _parked_row(first_s: float, count: int, gap: float, lengths: list[float]) -> list[dict]:
    """Parked cars in "fwd.parking" going backwards (towards the ego) from the front bumper at first_s."""
    cars, front = [], first_s
    for k in range(count):
        length = lengths[k % len(lengths)]
        cars.append({"id": f"parked_{k}", "type": "parked_car", "lane": "fwd.parking",
                     "s": round(front - length / 2.0, 2), "behavior": {"kind": "static"}})
        front -= length + gap
    return cars


@family("occluded_pedestrian", category="vru", longtail=True, decisions="stop", hazards="pedestrian",
        visibility="occluded", expect=agent_beyond("pedestrian", 1, 3.0),  # it crossed the whole road
        params={"ped_x": Uniform(70.0, 110.0), "gap": Uniform(1.2, 2.0), "ego_speed": Uniform(8.0, 12.0),
                "dart_speed": Uniform(1.5, 3.0), "tta": Uniform(2.2, 3.2), "parked": IntRange(1, 3),
                "oncoming": IntRange(0, 3)})
def occluded_pedestrian(p):
    """A pedestrian steps out into the lane from between parked cars, hidden behind a van until then."""
    van_s = round(p.ped_x - p.gap / 2.0 - VAN[0] / 2.0, 2)
    behind = _parked_row(van_s - VAN[0] / 2.0 - 1.5, p.parked, 1.5, [4.6])
    agents = [
        {"id": "van", "type": "parked_car", "lane": "fwd.parking", "s": van_s, "size": VAN,
         "behavior": {"kind": "static"}},
        {"id": "car_ahead", "type": "parked_car", "lane": "fwd.parking", "s": round(p.ped_x + p.gap / 2.0 + 2.3, 2),
         "behavior": {"kind": "static"}},
        *behind,
        {"id": "pedestrian", "type": "pedestrian", "position": [p.ped_x, -5.2],
         "behavior": {"kind": "static", "path": [[p.ped_x, -5.2], [p.ped_x, 6.5], [round(p.ped_x + 15.0, 2), 6.5]]}},
    ]
    return {"map": straight_road(1, parking=True, length=300.0),
            "ego": {"lane": "fwd.0", "s": 20.0, "speed": p.ego_speed},
            "agents": agents,
            "events": [{"agent": "pedestrian", "trigger": {"kind": "ego_time_to_arrival", "tta_s": p.tta},
                        "action": {"kind": "dart_out", "speed": p.dart_speed}}],
            "traffic": {"vehicles": p.oncoming, "lanes": ["bwd.0"]},
            "success": {"kind": "survive", "time_s": 15.0}}


@family("child_ball", category="vru", longtail=True, decisions="stop", hazards=("child", "ball"),
        visibility="occluded",
        params={"ball_x": Uniform(70.0, 110.0), "gap": Uniform(1.0, 1.8), "ego_speed": Uniform(8.0, 11.0),
                "ball_speed": Uniform(3.0, 5.0), "ball_tta": Uniform(3.0, 4.0), "delay_tta": Uniform(0.4, 1.0),
                "child_speed": Uniform(2.5, 3.5), "parked": IntRange(2, 4)})
def child_ball(p):
    """A ball rolls out from between parked cars and a child, hidden by the cars, runs after it."""
    x = p.ball_x
    agents = [
        *_parked_row(x - p.gap / 2.0, p.parked, 1.2, [4.6, 4.4]),
        {"id": "parked_ahead", "type": "parked_car", "lane": "fwd.parking", "s": round(x + p.gap / 2.0 + 2.3, 2),
         "behavior": {"kind": "static"}},
        {"id": "ball", "type": "debris", "size": [0.25, 0.25, 0.25], "position": [x, -5.0],
         "behavior": {"kind": "static", "path": [[x, -5.0], [round(x + 1.5, 2), 6.8]]}},
        {"id": "child", "type": "pedestrian", "size": CHILD, "position": [round(x - 0.1, 2), -5.6],
         "behavior": {"kind": "static", "path": [[round(x - 0.1, 2), -5.6], [round(x + 1.2, 2), 6.5]]}},
    ]
    return {"map": straight_road(1, parking=True, length=300.0),
            "ego": {"lane": "fwd.0", "s": 20.0, "speed": p.ego_speed},
            "agents": agents,
            "events": [
                {"agent": "ball", "trigger": {"kind": "ego_time_to_arrival", "tta_s": p.ball_tta},
                 "action": {"kind": "start_walking", "speed": p.ball_speed}},
                {"agent": "child",
                 "trigger": {"kind": "ego_time_to_arrival", "tta_s": round(p.ball_tta - p.delay_tta, 2)},
                 "action": {"kind": "dart_out", "speed": p.child_speed}},
            ],
            "success": {"kind": "survive", "time_s": 15.0}}


@family("cyclist_swerve", category="vru", longtail=True, decisions="slow_down", hazards="cyclist",
        visibility="visible", expect=near("cyclist", -1.75, 0.5),  # it swerved into fwd.0
        params={"cyclist_s": Uniform(50.0, 80.0), "cyclist_speed": Uniform(4.0, 6.0), "ego_speed": Uniform(9.0, 12.0),
                "trigger": Uniform(15.0, 25.0), "swerve_s": Uniform(1.2, 2.0), "obstacle": Uniform(45.0, 60.0)})
def cyclist_swerve(p):
    """A cyclist riding in the kerb-side lane swerves into the ego's lane to get around a parked car."""
    return {"map": straight_road(1, parking=True, length=300.0),
            "ego": {"lane": "fwd.0", "s": 20.0, "speed": p.ego_speed},
            "agents": [
                {"id": "cyclist", "type": "cyclist", "lane": "fwd.parking", "s": p.cyclist_s, "speed": p.cyclist_speed,
                 "behavior": {"desired_speed": p.cyclist_speed}},
                {"id": "parked", "type": "parked_car", "lane": "fwd.parking", "s": round(p.cyclist_s + p.obstacle, 2),
                 "behavior": {"kind": "static"}},
            ],
            "events": [{"agent": "cyclist", "trigger": {"kind": "ego_distance", "distance_m": p.trigger},
                        "action": {"kind": "cut_in", "direction": "left", "duration_s": p.swerve_s}}],
            "success": {"kind": "survive", "time_s": 15.0}}


@family("school_bus_stopped", category="school_bus", longtail=True, decisions="stop", hazards=("child", "bus"),
        visibility="occluded", expect=stays_behind("bus", 6.0),
        params={"bus_s": Uniform(60.0, 90.0), "ego_speed": Uniform(8.0, 12.0), "trigger": Uniform(25.0, 40.0),
                "walk_speed": Uniform(1.2, 2.0), "ahead": Uniform(1.0, 2.5)})
def school_bus_stopped(p):
    """A school bus stands in the lane with its stop lights flashing; a child crosses in front of it.

    The child waits at the kerb edge just ahead of the bus, hidden by it, and crosses when the ego comes
    within `trigger` metres; the ego must stop behind the bus and stay stopped (never pass it).
    """
    x = round(p.bus_s + 6.0 + p.ahead, 2)  # the bus is 12 m long, centred at bus_s on fwd.0 (x = s)
    return {"map": straight_road(1, parking=False, length=300.0),
            "ego": {"lane": "fwd.0", "s": 20.0, "speed": p.ego_speed},
            "agents": [
                {"id": "bus", "type": "bus", "lane": "fwd.0", "s": p.bus_s, "d": -0.4,
                 "flags": ["school_bus", "hazard"], "behavior": {"kind": "static"}},
                {"id": "child", "type": "pedestrian", "size": CHILD, "position": [x, -3.1],
                 "behavior": {"kind": "static", "path": [[x, -3.1], [x, 6.5], [round(x + 10.0, 2), 6.5]]}},
            ],
            "events": [{"agent": "child", "trigger": {"kind": "ego_distance", "distance_m": p.trigger},
                        "action": {"kind": "start_walking", "speed": p.walk_speed}}],
            "success": {"kind": "survive", "time_s": 20.0}}


@family("animal_crossing_night", category="animal", longtail=True, decisions="stop", hazards="deer",
        visibility="visible", appearance=NIGHT,
        params={"deer_x": Uniform(120.0, 180.0), "ego_speed": Uniform(15.0, 20.0), "deer_speed": Uniform(2.5, 6.0),
                "tta": Uniform(3.0, 4.5), "from_right": Choice((True, False))})
def animal_crossing_night(p):
    """A deer crosses a dark rural road from the verge into the headlights."""
    side = -1.0 if p.from_right else 1.0
    start, end = [p.deer_x, 6.5 * side], [round(p.deer_x + 3.0, 2), -6.5 * side]
    return {"map": straight_road(1, length=400.0, speed=22.2, sidewalks=False),
            "ego": {"lane": "fwd.0", "s": 20.0, "speed": p.ego_speed},
            "agents": [{"id": "deer", "type": "animal", "size": [1.7, 0.6, 1.5], "position": start,
                        "behavior": {"kind": "static", "path": [start, end]}}],
            "events": [{"agent": "deer", "trigger": {"kind": "ego_time_to_arrival", "tta_s": p.tta},
                        "action": {"kind": "start_walking", "speed": p.deer_speed}}],
            "success": {"kind": "survive", "time_s": 15.0}}


@family("pedestrian_group_crosswalk", category="vru", longtail=True, decisions="yield", hazards="walker_0",
        visibility="visible",
        params={"count": IntRange(3, 6), "ego_s": Uniform(30.0, 50.0), "ego_speed": Uniform(7.0, 10.0),
                "tta": Uniform(2.5, 4.0), "slowest": Uniform(0.5, 0.8), "fastest": Uniform(0.9, 1.3),
                "from_east": Choice((True, False))})
def pedestrian_group_crosswalk(p):
    """A slow group (elderly, a stroller, children) crosses the unsignalised crosswalk the ego turns across.

    T-junction with a yield sign on the minor road; the ego turns right from the major road into it over
    the crosswalk at y = -8.5 (x from 3.5 to -3.5).
    """
    sign = 1.0 if p.from_east else -1.0
    agents, events = [], []
    for k in range(p.count):
        x0, y = round(sign * (4.8 + 0.7 * (k // 2)), 2), round(-8.0 - 0.6 * (k % 2), 2)
        path = [[x0, y], [round(-sign * 5.0, 2), y], [round(-sign * 5.0, 2), -30.0]]
        speed = round(p.slowest + (p.fastest - p.slowest) * k / max(p.count - 1, 1), 2)
        agents.append({"id": f"walker_{k}", "type": "pedestrian", "position": [x0, y],
                       "behavior": {"kind": "static", "path": path}})
        events.append({"agent": f"walker_{k}", "trigger": {"kind": "ego_time_to_arrival", "tta_s": p.tta},
                       "action": {"kind": "start_walking", "speed": speed}})
    return {"map": {"builder": "t_junction", "params": {"control": "yield"}},
            "ego": {"lane": "west_in.0", "s": p.ego_s, "speed": p.ego_speed, "goal_lane": "south_out.0"},
            "agents": agents, "events": events,
            "success": {"kind": "survive", "time_s": 20.0}}
