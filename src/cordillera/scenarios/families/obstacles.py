"""Long-tail families with something in the way: stopped vehicles, work zones, debris, doors, tight roads.

    >>> from cordillera.scenarios.families import sample_family
    >>> sample_family("construction_zone", 5).tags.expected_decision    # 'lane_change_left' or '..._right'

A stalled car in the lane, a construction zone whose cones close a lane, debris on the road, a parked car's
door opening into the lane, a double-parked delivery truck with oncoming traffic, a narrow road with an
oncoming bus or truck, and a lane closure where cars from the closed lane zipper-merge in front of the ego.

Straight roads (`straight_road`): forward lanes "fwd.i" run +x south of y = 0, "fwd.0" at the kerb; with
two lanes per direction fwd.0 is centred at y = -5.25 and fwd.1 at y = -1.75.
"""

from __future__ import annotations

from cordillera.scenarios.families.base import Choice, Evade, IntRange, Uniform, family, straight_road
from cordillera.scenarios.families.expect import near

__all__: list[str] = []

TAPER_CONES = 5  # cones on the diagonal that closes the lane
ZONE_CONES = 6  # cones along the line between the closed lane and the open one


def _cones(lane: str, start_s: float, taper_m: float, zone_m: float, towards_left: bool) -> list[dict]:
    """A cone taper closing `lane` from its outer edge to its inner edge over taper_m, then a line of cones
    along the inner edge for zone_m (`towards_left`: the open lane is on the left). Ids cone_0, cone_1, ..."""
    inner, outer = (1.5, -1.45) if towards_left else (-1.5, 1.45)
    cones = []
    for k in range(TAPER_CONES):
        f = k / (TAPER_CONES - 1)
        cones.append((start_s + f * taper_m, outer + f * (inner - outer)))
    for k in range(1, ZONE_CONES + 1):
        cones.append((start_s + taper_m + k * zone_m / ZONE_CONES, inner))
    return [{"id": f"cone_{k}", "type": "cone", "lane": lane, "s": round(s, 2), "d": round(d, 2),
             "behavior": {"kind": "static"}} for k, (s, d) in enumerate(cones)]


@family("stalled_vehicle", category="obstacle", longtail=True, decisions=("lane_change_left", "nudge_left"),
        hazards="stalled", visibility="visible", solution="evade", evade=Evade(),
        params={"lanes": IntRange(1, 2), "ahead": Uniform(60.0, 110.0), "offset": Uniform(-0.3, 0.3),
                "ego_speed": Uniform(9.0, 13.9), "oncoming": IntRange(0, 6)})
def stalled_vehicle(p):
    """A broken-down car with its hazard lights on stands in the ego's lane: go around it on the left."""
    lane, two = "fwd.0", p.lanes == 2
    return {"map": straight_road(p.lanes, length=400.0),
            "ego": {"lane": lane, "s": 20.0, "speed": p.ego_speed},
            "agents": [{"id": "stalled", "type": "stalled_vehicle", "lane": lane, "s": round(20.0 + p.ahead, 2),
                        "d": p.offset, "flags": ["hazard"], "behavior": {"kind": "static"}}],
            "traffic": {"vehicles": p.oncoming if two else 0, "lanes": ["bwd.0", "bwd.1"] if two else None},
            "success": {"kind": "survive", "time_s": 15.0},
            "tags": {"expected_decision": "lane_change_left" if two else "nudge_left"}}


@family("construction_zone", category="construction", longtail=True,
        decisions=("lane_change_left", "lane_change_right"), hazards=("cone_0", "barrier"), visibility="visible",
        solution="evade", evade=Evade(shift_m=3.5, hold=True),
        params={"close_right": Choice((True, False), (0.7, 0.3)), "start": Uniform(80.0, 120.0),
                "taper": Uniform(20.0, 35.0), "zone": Uniform(30.0, 60.0), "ego_speed": Uniform(9.0, 13.9),
                "worker": Choice((True, False)), "oncoming": IntRange(0, 6)})
def construction_zone(p):
    """Cones taper a lane closed for a work zone (a barrier and a worker behind them): change lanes early.

    Either the kerb lane (ego in fwd.0, move left) or the inner lane (ego in fwd.1, move right) is closed.
    """
    lane = "fwd.0" if p.close_right else "fwd.1"
    agents = _cones(lane, p.start, p.taper, p.zone, towards_left=p.close_right)
    agents.append({"id": "barrier", "type": "barrier", "lane": lane, "s": round(p.start + p.taper + 3.0, 2),
                   "behavior": {"kind": "static"}})
    if p.worker:
        agents.append({"id": "worker", "type": "pedestrian", "lane": lane,
                       "s": round(p.start + p.taper + p.zone / 2.0, 2), "d": -0.5 if p.close_right else 0.5,
                       "behavior": {"kind": "static"}})
    return {"map": straight_road(2, length=400.0),
            "ego": {"lane": lane, "s": 20.0, "speed": p.ego_speed},
            "agents": agents,
            "traffic": {"vehicles": p.oncoming, "lanes": ["bwd.0", "bwd.1"]},
            "success": {"kind": "survive", "time_s": 15.0},
            "tags": {"expected_decision": "lane_change_left" if p.close_right else "lane_change_right"}}


@family("debris_on_road", category="obstacle", longtail=True, decisions=("nudge_left", "lane_change_left"),
        hazards="debris", visibility="visible", solution="evade", evade=Evade(),
        params={"lanes": IntRange(1, 2), "ahead": Uniform(60.0, 120.0), "offset": Uniform(-0.5, 0.5),
                "length": Uniform(0.4, 1.5), "width": Uniform(0.4, 1.2), "height": Uniform(0.15, 0.5),
                "ego_speed": Uniform(10.0, 13.9)})
def debris_on_road(p):
    """A lost load (a tyre, a box, a mattress) lies in the lane: steer around it, never straddle it."""
    two = p.lanes == 2
    return {"map": straight_road(p.lanes, length=400.0),
            "ego": {"lane": "fwd.0", "s": 20.0, "speed": p.ego_speed},
            "agents": [{"id": "debris", "type": "debris", "lane": "fwd.0", "s": round(20.0 + p.ahead, 2), "d": p.offset,
                        "size": [p.length, p.width, p.height], "behavior": {"kind": "static"}}],
            "success": {"kind": "survive", "time_s": 15.0},
            "tags": {"expected_decision": "lane_change_left" if two else "nudge_left"}}


@family("car_door_opening", category="obstacle", longtail=True, decisions="nudge_left", hazards="door_car",
        visibility="visible", solution="evade", evade=Evade(shift_m=1.2),
        params={"door_x": Uniform(70.0, 110.0), "toward_lane": Uniform(0.1, 0.4), "door": Uniform(0.9, 1.2),
                "trigger": Uniform(18.0, 28.0), "ego_speed": Uniform(8.0, 11.0), "parked": IntRange(1, 3)})
def car_door_opening(p):
    """A driver flings open the door of a car parked at the kerb just as the ego passes: move over or stop."""
    agents = [{"id": "door_car", "type": "parked_car", "lane": "fwd.parking", "s": p.door_x, "d": p.toward_lane,
               "behavior": {"kind": "static"}}]
    for k in range(p.parked):
        agents.append({"id": f"parked_{k}", "type": "parked_car", "lane": "fwd.parking",
                       "s": round(p.door_x - (k + 1) * 6.5, 2), "behavior": {"kind": "static"}})
    return {"map": straight_road(1, parking=True, length=300.0),
            "ego": {"lane": "fwd.0", "s": 20.0, "speed": p.ego_speed},
            "agents": agents,
            "events": [{"agent": "door_car", "trigger": {"kind": "ego_distance", "distance_m": p.trigger},
                        "action": {"kind": "door_open", "width_m": p.door}}],
            "success": {"kind": "survive", "time_s": 15.0}}


@family("double_parked_truck", category="obstacle", longtail=True, decisions="nudge_left", hazards="truck",
        visibility="visible",
        params={"truck_x": Uniform(60.0, 100.0), "offset": Uniform(-1.2, -0.6), "ego_speed": Uniform(8.0, 12.0),
                "count": IntRange(1, 3), "first": Uniform(20.0, 60.0), "spacing": Uniform(20.0, 40.0),
                "speed": Uniform(9.0, 13.0)})
def double_parked_truck(p):
    """A delivery truck double-parks in the ego's lane; passing means borrowing the oncoming lane, so wait
    for the oncoming cars to go by first."""
    length = 300.0
    agents = [{"id": "truck", "type": "truck", "lane": "fwd.0", "s": p.truck_x, "d": p.offset, "flags": ["hazard"],
               "behavior": {"kind": "static"}}]
    for k in range(p.count):
        x = p.truck_x + p.first + k * p.spacing
        agents.append({"id": f"oncoming_{k}", "lane": "bwd.0", "s": round(length - x, 2), "speed": p.speed,
                       "behavior": {"desired_speed": p.speed}})
    return {"map": straight_road(1, parking=True, length=length),
            "ego": {"lane": "fwd.0", "s": 20.0, "speed": p.ego_speed},
            "agents": agents,
            "success": {"kind": "survive", "time_s": 15.0}}


@family("narrow_road_oncoming", category="oncoming", longtail=True, decisions="slow_down", hazards="oncoming",
        visibility="visible",
        params={"lane_width": Uniform(2.6, 3.0), "ego_speed": Uniform(6.0, 8.3), "meet": Uniform(80.0, 120.0),
                "kind": Choice(("truck", "bus")), "speed": Uniform(5.0, 8.0), "drift": Uniform(0.0, 0.25)})
def narrow_road_oncoming(p):
    """On a narrow two-way street a truck or bus comes the other way, hugging the centre line."""
    length = 300.0
    return {"map": straight_road(1, length=length, speed=8.3, lane_width=p.lane_width),
            "ego": {"lane": "fwd.0", "s": 20.0, "speed": p.ego_speed},
            "agents": [{"id": "oncoming", "type": p.kind, "lane": "bwd.0", "s": round(length - 20.0 - p.meet, 2),
                        "d": p.drift, "speed": p.speed, "behavior": {"desired_speed": p.speed}}],
            "success": {"kind": "survive", "time_s": 15.0}}


@family("zipper_merge", category="merge", longtail=True, decisions="yield", hazards="merge_0", visibility="visible",
        expect=near("merge_0", -1.75, 0.5),  # it merged into fwd.1
        params={"speed": Uniform(5.0, 7.0), "lead_gap": Uniform(26.0, 34.0), "first": Uniform(0.35, 0.6),
                "t0": Uniform(1.0, 2.5), "t1": Uniform(0.5, 2.0), "duration": Uniform(2.5, 3.5)})
def zipper_merge(p):
    """The right lane ends at a work zone; its cars merge one by one into the gaps of the ego's lane.

    Ego in fwd.1 behind a lead; merge_0 (between them) and merge_1 (ahead of the lead) drive in fwd.0 and
    change into fwd.1 before the cones; the ego has to let merge_0 in.
    """
    ego_s = 40.0
    lead_s = ego_s + p.lead_gap
    merge_s = [ego_s + p.first * p.lead_gap, lead_s + p.first * p.lead_gap]
    agents = [{"id": "lead", "lane": "fwd.1", "s": round(lead_s, 2), "speed": p.speed,
               "behavior": {"desired_speed": p.speed}}]
    events = []
    for k, (s, t) in enumerate(zip(merge_s, (p.t0, p.t1))):
        agents.append({"id": f"merge_{k}", "lane": "fwd.0", "s": round(s, 2), "speed": p.speed,
                       "behavior": {"desired_speed": p.speed}})
        events.append({"agent": f"merge_{k}", "trigger": {"kind": "time", "time_s": t},
                       "action": {"kind": "cut_in", "direction": "left", "duration_s": p.duration}})
    agents += _cones("fwd.0", merge_s[1] + 40.0, 25.0, 60.0, towards_left=True)
    return {"map": straight_road(2, length=400.0, speed=8.3),
            "ego": {"lane": "fwd.1", "s": ego_s, "speed": p.speed},
            "agents": agents, "events": events,
            "success": {"kind": "survive", "time_s": 15.0}}
