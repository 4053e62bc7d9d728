"""Procedural road maps from a few parameters: straight and curved roads, a 4-way intersection, a T-junction,
a highway and a highway with an on-ramp.

    >>> from cordillera.world.roads import build_map
    >>> road = build_map("intersection", {"lanes_per_direction": 1, "protected_left": True})
    >>> road.lane_id("south.left"), road.names["north_out.0"]

Each builder takes a plain dict, checks it against its frozen params dataclass (an unknown key or a bad value
raises MapError naming the field and the value), builds the map, validates it and records the parameters
(defaults filled in) in `RoadMap.params`. Right-hand traffic; lane ".0" is always the kerb-side (rightmost)
lane of its direction, higher indices go towards the centre of the road.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np
import shapely

from cordillera.geometry import Polyline, wrap_angle
from cordillera.world.roads.map import (
    Boundary, Control, Crosswalk, Junction, Lane, MapError, RoadMap, Sidewalk, Signal, StopLine,
)

__all__ = [
    "StraightParams", "CurvedParams", "IntersectionParams", "TJunctionParams", "HighwayParams", "HighwayMergeParams",
    "straight", "curved", "intersection", "t_junction", "highway", "highway_merge", "BUILDERS", "build_map",
]

CORNER_MARGIN_M = 3.0  # [m] from the crossing road's kerb to the junction box edge; sets the kerb radius
CROSSWALK_GAP_M = 0.5  # [m] between the junction box and the crosswalk
CROSSWALK_WIDTH_M = 3.0  # [m]
STOP_GAP_M = 1.0  # [m] between the stop line and the crosswalk
TURN_SAMPLE_M = 0.8  # [m] upper bound on the spacing of samples along curves
BEZIER_ARC = 0.5523  # cubic Bezier handle / tangent length ratio that approximates a circular arc


# ---- parameters --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _RoadParams:
    """Cross-section shared by the straight and curved roads."""

    lanes_per_direction: int = 2  # driving lanes in each direction
    two_way: bool = True  # False: a one-way road with forward lanes only
    lane_width: float = 3.5  # [m]
    speed_limit: float = 13.9  # [m/s] (50 km/h)
    median_m: float = 0.0  # [m] gap between the directions; 0 = double yellow line (two-way roads only)
    parking_lane: bool = False  # a parking lane along the right kerb of each direction
    parking_width: float = 2.5  # [m]
    sidewalks: bool = True  # sidewalks along both kerbs
    sidewalk_width: float = 2.0  # [m]

    RANGES: ClassVar[dict] = {"lanes_per_direction": (1, 4), "lane_width": (2.5, 5.0), "speed_limit": (1.0, 45.0),
                              "median_m": (0.0, 20.0), "parking_width": (2.0, 3.5), "sidewalk_width": (1.0, 5.0)}


@dataclass(frozen=True)
class StraightParams(_RoadParams):
    length_m: float = 300.0  # [m] forward lanes run +x from x = 0 to x = length_m

    RANGES: ClassVar[dict] = {**_RoadParams.RANGES, "length_m": (10.0, 5000.0)}


@dataclass(frozen=True)
class CurvedParams(_RoadParams):
    radius_m: float = 80.0  # [m] of the road's centre line on the arc
    angle_deg: float = 90.0  # [deg] total bend; > 0 bends left, < 0 right
    lead_m: float = 50.0  # [m] straight lead-in and lead-out around the arc

    RANGES: ClassVar[dict] = {**_RoadParams.RANGES, "radius_m": (15.0, 5000.0, "open"),
                              "angle_deg": (-180.0, 180.0), "lead_m": (0.0, 1000.0)}


@dataclass(frozen=True)
class IntersectionParams:
    arm_length_m: float = 80.0  # [m] length of the approach and exit lanes on each arm
    lanes_per_direction: int = 2  # through lanes in each direction
    lane_width: float = 3.5  # [m]
    speed_limit: float = 13.9  # [m/s]
    signalized: bool = True  # False: an all-way stop
    protected_left: bool = False  # True: a left-turn pocket lane per approach with its own signal phase
    green_s: float = 20.0  # [s] through green per phase
    left_green_s: float = 8.0  # [s] green of a protected-left phase
    yellow_s: float = 3.0  # [s]
    all_red_s: float = 1.0  # [s] clearance after every yellow
    sidewalks: bool = True  # sidewalks along the arms and crosswalks across them
    sidewalk_width: float = 2.0  # [m]

    RANGES: ClassVar[dict] = {"arm_length_m": (20.0, 1000.0), "lanes_per_direction": (1, 3), "lane_width": (2.5, 5.0),
                              "speed_limit": (1.0, 30.0), "green_s": (3.0, 120.0), "left_green_s": (3.0, 60.0),
                              "yellow_s": (1.0, 8.0), "all_red_s": (0.0, 10.0), "sidewalk_width": (1.0, 5.0)}


@dataclass(frozen=True)
class TJunctionParams:
    arm_length_m: float = 80.0  # [m] length of the approach and exit lanes on each arm
    major_lanes: int = 1  # lanes per direction on the east-west through road
    minor_lanes: int = 1  # lanes per direction on the minor road from the south
    lane_width: float = 3.5  # [m]
    speed_limit: float = 13.9  # [m/s]
    control: str = "stop"  # sign on the minor approach: "stop" or "yield"
    sidewalks: bool = True  # sidewalks along the arms and a crosswalk across the minor arm
    sidewalk_width: float = 2.0  # [m]

    RANGES: ClassVar[dict] = {"arm_length_m": (20.0, 1000.0), "major_lanes": (1, 3), "minor_lanes": (1, 2),
                              "lane_width": (2.5, 5.0), "speed_limit": (1.0, 30.0), "sidewalk_width": (1.0, 5.0)}
    CHOICES: ClassVar[dict] = {"control": ("stop", "yield")}


@dataclass(frozen=True)
class HighwayParams:
    length_m: float = 1000.0  # [m] lanes run +x from x = 0
    lanes: int = 3  # one-way lanes; main.i is centred at y = -(lanes - 1 - i) * lane_width like highway-env
    lane_width: float = 4.0  # [m] highway-env's default
    speed_limit: float = 30.0  # [m/s]

    RANGES: ClassVar[dict] = {"length_m": (50.0, 10000.0), "lanes": (1, 6), "lane_width": (2.5, 5.0),
                              "speed_limit": (1.0, 45.0)}


@dataclass(frozen=True)
class HighwayMergeParams:
    length_m: float = 600.0  # [m] lanes run +x from x = 0
    lanes: int = 3  # one-way highway lanes
    lane_width: float = 3.7  # [m]
    speed_limit: float = 30.0  # [m/s]
    ramp_speed_limit: float = 22.2  # [m/s] on the ramp and the acceleration lane (80 km/h)
    merge_start_m: float = 250.0  # [m] x where the acceleration lane starts beside the highway
    accel_lane_m: float = 150.0  # [m] length of the acceleration lane; it ends without a successor
    ramp_length_m: float = 120.0  # [m] along x of the S-shaped ramp entry
    ramp_offset_m: float = 20.0  # [m] how far right of the acceleration lane the ramp starts

    RANGES: ClassVar[dict] = {"length_m": (100.0, 10000.0), "lanes": (2, 4), "lane_width": (2.5, 5.0),
                              "speed_limit": (1.0, 45.0), "ramp_speed_limit": (1.0, 45.0),
                              "merge_start_m": (0.0, 10000.0), "accel_lane_m": (20.0, 1000.0),
                              "ramp_length_m": (30.0, 500.0), "ramp_offset_m": (5.0, 100.0)}


def _parse(cls: type, builder: str, params: dict | None):
    """The params dataclass from a plain dict; MapError naming the field and value on anything wrong."""
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise MapError(f"{builder}: params must be a dict, got {type(params).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in params:
        if key not in fields:
            raise MapError(f"{builder}.{key}: unknown parameter; known: {', '.join(fields)}")
    ranges, choices = getattr(cls, "RANGES", {}), getattr(cls, "CHOICES", {})
    values = {}
    for name, f in fields.items():
        value, kind, where = params.get(name, f.default), type(f.default), f"{builder}.{name}"
        if kind is bool:
            if not isinstance(value, (bool, np.bool_)):
                raise MapError(f"{where}: must be true or false, got {value!r}")
            value = bool(value)
        elif kind is str:
            if value not in choices[name]:
                raise MapError(f"{where}: must be one of {list(choices[name])}, got {value!r}")
        else:
            number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            if not number or not math.isfinite(value):
                raise MapError(f"{where}: must be a finite number, got {value!r}")
            if kind is int:
                if float(value) != int(value):
                    raise MapError(f"{where}: must be an integer, got {value!r}")
                value = int(value)
            else:
                value = float(value)
            if name in ranges:
                lo, hi, *open_low = ranges[name]
                if value > hi or value < lo or (open_low and value == lo):
                    bracket = "(" if open_low else "["
                    raise MapError(f"{where}: must be in {bracket}{lo}, {hi}], got {value!r}")
        values[name] = value
    return cls(**values)


# ---- lanes under construction ----------------------------------------------------------------------
class _Draft:
    """Mutable lane specs and names, frozen into Lanes once every link is known."""

    def __init__(self) -> None:
        self.specs: list[dict] = []
        self.names: dict[str, int] = {}

    def add(self, name: str, points, width: float, speed_limit: float, **kw) -> int:
        i = len(self.specs)
        spec = dict(id=i, centerline=Polyline(points), width=width, speed_limit=speed_limit)
        spec.update(successors=[], predecessors=[], yield_to=[], **kw)
        self.specs.append(spec)
        self.names[name] = i
        return i

    def link(self, a: int, b: int) -> None:
        self.specs[a]["successors"].append(b)
        self.specs[b]["predecessors"].append(a)

    def side_by_side(self, left: int, right: int) -> None:
        self.specs[left]["right_neighbor"] = right
        self.specs[right]["left_neighbor"] = left

    def lanes(self) -> tuple[Lane, ...]:
        keys = ("successors", "predecessors", "yield_to")
        return tuple(Lane(**{**s, **{k: tuple(s[k]) for k in keys}}) for s in self.specs)


def _finish(name: str, draft: _Draft, params, **parts) -> RoadMap:
    road = RoadMap(name=name, lanes=draft.lanes(), params=dataclasses.asdict(params), names=dict(draft.names), **parts)
    road.validate()
    return road


def _bezier(p0, h0: float, p1, h1: float, handle0: float, handle1: float) -> np.ndarray:
    """Points (n, 2) of a cubic Bezier leaving p0 with heading h0 and arriving at p1 with heading h1."""
    p0, p1 = np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64)
    b1 = p0 + handle0 * np.array([math.cos(h0), math.sin(h0)])
    b2 = p1 - handle1 * np.array([math.cos(h1), math.sin(h1)])
    rough = np.linalg.norm(b1 - p0) + np.linalg.norm(b2 - b1) + np.linalg.norm(p1 - b2)  # >= curve length
    t = np.linspace(0.0, 1.0, max(2, math.ceil(rough / TURN_SAMPLE_M) + 1))[:, None]
    return (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * b1 + 3 * (1 - t) * t**2 * b2 + t**3 * p1


def _turn(p0, h0: float, p1, h1: float) -> np.ndarray:
    """A near-circular turn between two perpendicular lane ends, tangent to both."""
    u0, u1 = np.array([math.cos(h0), math.sin(h0)]), np.array([math.cos(h1), math.sin(h1)])
    t, s = np.linalg.solve(np.stack([u0, u1], axis=1), np.asarray(p1) - np.asarray(p0))  # corner = p0 + t*u0
    return _bezier(p0, h0, p1, h1, BEZIER_ARC * t, BEZIER_ARC * s)


# ---- straight and curved roads -----------------------------------------------------------------------
def _carriageway(draft, ref: Polyline, prefix: str, n: int, width: float, speed: float, inner: float,
                 forward: bool, left_edge: Boundary, right_edge: Boundary) -> list[int]:
    """n lanes beside `ref`, from `inner` [m] outwards: right of it running along it (forward) or left of it
    running against it. Returns ids from .0 (kerb side) to .n-1."""
    ids = []
    for i in range(n):
        offset = inner + (n - 1 - i + 0.5) * width
        points = ref.offset(-offset) if forward else ref.offset(offset)[::-1]
        left = left_edge if i == n - 1 else Boundary.DASHED
        right = right_edge if i == 0 else Boundary.DASHED
        ids.append(draft.add(f"{prefix}.{i}", points, width, speed, left_boundary=left, right_boundary=right))
        if i:
            draft.side_by_side(ids[i], ids[i - 1])
    return ids


def _kerbs(p: _RoadParams) -> tuple[float, float, float]:
    """(inner edge of the forward lanes, right kerb, left kerb) as distances right/right/left of the reference
    line [m]. Two-way roads are centred on it; one-way roads centre their driving lanes on it."""
    inner = p.median_m / 2.0 if p.two_way else -p.lanes_per_direction * p.lane_width / 2.0
    right = inner + p.lanes_per_direction * p.lane_width + (p.parking_width if p.parking_lane else 0.0)
    return inner, right, right if p.two_way else -inner


def _road(name: str, ref: Polyline, p: _RoadParams) -> RoadMap:
    draft, n, w = _Draft(), p.lanes_per_direction, p.lane_width
    inner, right_kerb, left_kerb = _kerbs(p)
    centre_edge = Boundary.CURB if not p.two_way else Boundary.SOLID if p.median_m > 0 else Boundary.DOUBLE_YELLOW
    kerb_edge = Boundary.SOLID if p.parking_lane else Boundary.CURB
    innermost = []
    for prefix, forward in (("fwd", True), ("bwd", False))[: 2 if p.two_way else 1]:
        ids = _carriageway(draft, ref, prefix, n, w, p.speed_limit, inner, forward, centre_edge, kerb_edge)
        innermost.append(ids[-1])
        if p.parking_lane:
            offset = inner + n * w + p.parking_width / 2.0
            points = ref.offset(-offset) if forward else ref.offset(offset)[::-1]
            park = draft.add(f"{prefix}.parking", points, p.parking_width, p.speed_limit, kind="parking",
                             left_boundary=Boundary.SOLID, right_boundary=Boundary.CURB)
            draft.side_by_side(ids[0], park)
    if p.two_way:
        fwd, bwd = innermost
        draft.specs[fwd]["left_opposite"], draft.specs[bwd]["left_opposite"] = bwd, fwd
    sidewalks = ()
    if p.sidewalks:
        sw = p.sidewalk_width
        sidewalks = (
            Sidewalk(0, Polyline(ref.offset(-(right_kerb + sw / 2.0))), sw),
            Sidewalk(1, Polyline(ref.offset(left_kerb + sw / 2.0)[::-1]), sw),
        )
    return _finish(name, draft, p, sidewalks=sidewalks)


def straight(params: dict | None = None) -> RoadMap:
    """A straight road along +x: forward lanes "fwd.i" south of y = 0, backward lanes "bwd.i" north of it."""
    p = _parse(StraightParams, "straight", params)
    return _road("straight", Polyline([[0.0, 0.0], [p.length_m, 0.0]]), p)


def curved(params: dict | None = None) -> RoadMap:
    """A straight lead-in along +x from the origin, an arc (left for angle_deg > 0), a straight lead-out."""
    p = _parse(CurvedParams, "curved", params)
    if p.angle_deg == 0.0:
        raise MapError("curved.angle_deg: must be nonzero (use the straight builder), got 0.0")
    half = max(_kerbs(p)[1:]) + (p.sidewalk_width if p.sidewalks else 0.0)
    if p.radius_m < half + 5.0:
        raise MapError(f"curved.radius_m: must be >= road half width + 5 m ({half + 5.0:.1f}), got {p.radius_m}")
    sign, theta = math.copysign(1.0, p.angle_deg), math.radians(p.angle_deg)
    centre = np.array([p.lead_m, sign * p.radius_m])
    phi = np.linspace(0.0, theta, math.ceil(p.radius_m * abs(theta)) + 1)  # samples every <= 1 m
    arc = centre + sign * p.radius_m * np.stack([np.sin(phi), -np.cos(phi)], axis=1)
    parts = [arc]
    if p.lead_m > 0:
        parts = [np.zeros((1, 2)), arc, arc[-1:] + p.lead_m * np.array([[math.cos(theta), math.sin(theta)]])]
    return _road("curved", Polyline(np.concatenate(parts)), p)


# ---- highways ------------------------------------------------------------------------------------------
def _highway_lanes(draft: _Draft, p) -> list[int]:
    ref = Polyline([[0.0, 0.0], [p.length_m, 0.0]])
    return _carriageway(draft, ref, "main", p.lanes, p.lane_width, p.speed_limit, -p.lane_width / 2.0, True,
                        Boundary.SOLID, Boundary.SOLID)


def highway(params: dict | None = None) -> RoadMap:
    """A straight one-way highway along +x ("main.0" rightmost); mirrors highway-env's road with y flipped."""
    p = _parse(HighwayParams, "highway", params)
    draft = _Draft()
    _highway_lanes(draft, p)
    return _finish("highway", draft, p)


def highway_merge(params: dict | None = None) -> RoadMap:
    """A one-way highway with an on-ramp from the right: "ramp.entry" curves in and feeds "ramp.accel", which
    runs beside "main.0" (its left neighbour) for accel_lane_m and then ends; vehicles must merge left.
    main.0 spans the whole highway, so its right_neighbor (the acceleration lane) exists only for x in
    [merge_start_m, merge_start_m + accel_lane_m]."""
    p = _parse(HighwayMergeParams, "highway_merge", params)
    if p.merge_start_m + p.accel_lane_m > p.length_m - 10.0:
        raise MapError(f"highway_merge.accel_lane_m: the acceleration lane must end >= 10 m before the highway "
                       f"ends (merge_start_m + accel_lane_m <= {p.length_m - 10.0}), got {p.accel_lane_m}")
    if p.ramp_length_m > p.merge_start_m:
        raise MapError(f"highway_merge.ramp_length_m: must be <= merge_start_m ({p.merge_start_m}), "
                       f"got {p.ramp_length_m}")
    draft = _Draft()
    main = _highway_lanes(draft, p)
    y, x0 = -p.lanes * p.lane_width, p.merge_start_m
    start = [x0 - p.ramp_length_m, y - p.ramp_offset_m]
    entry_pts = _bezier(start, 0.0, [x0, y], 0.0, p.ramp_length_m / 2.0, p.ramp_length_m / 2.0)
    entry = draft.add("ramp.entry", entry_pts, p.lane_width, p.ramp_speed_limit, kind="ramp",
                      left_boundary=Boundary.SOLID, right_boundary=Boundary.SOLID)
    accel = draft.add("ramp.accel", [[x0, y], [x0 + p.accel_lane_m, y]], p.lane_width, p.ramp_speed_limit,
                      kind="ramp", left_boundary=Boundary.DASHED, right_boundary=Boundary.SOLID)
    draft.link(entry, accel)
    draft.side_by_side(main[0], accel)
    return _finish("highway_merge", draft, p)


# ---- junctions -----------------------------------------------------------------------------------------
ARRIVAL_HEADING = {"south": math.pi / 2, "west": 0.0, "north": -math.pi / 2, "east": math.pi}  # [rad]


@dataclass(frozen=True)
class _Arm:
    """One arm of a junction. Offsets are measured to the right of the arriving traffic's heading."""

    name: str  # compass side: traffic on "south_in" lanes arrives from the south heading north
    n: int  # through lanes in each direction
    pocket: bool  # an extra left-turn lane on the inside of the approach
    stop: float  # [m] from the centre to the stop line (in-lanes end and out-lanes start here)
    core: float  # [m] from the centre to the junction box edge on this arm

    @property
    def heading(self) -> float:
        return ARRIVAL_HEADING[self.name]

    def half_width(self, w: float) -> float:
        return self.n * w + (w / 2.0 if self.pocket else 0.0)

    def point(self, dist: float, right: float) -> np.ndarray:
        """World point `dist` [m] from the centre along the arm, `right` [m] right of the arriving direction."""
        c, s = math.cos(self.heading), math.sin(self.heading)
        return np.array([-c * dist + s * right, -s * dist - c * right])


def _lane_offset(arm: _Arm, i: int, w: float) -> float:
    """Right offset of lane i (0 = kerb side) of either direction; the pocket lane (i = n) sits on the axis."""
    return 0.0 if i == arm.n else (w / 2.0 if arm.pocket else 0.0) + (arm.n - 1 - i + 0.5) * w


def _arm_at(arms: list[_Arm], heading: float) -> _Arm | None:
    return next((a for a in arms if abs(wrap_angle(a.heading - heading)) < 1e-6), None)


def _junction(p, arms: list[_Arm], top: float = 0.0):
    """Lanes, connectors, box and sidewalks of a junction whose arms cross at the origin.

    `top` is the box edge [m] on a compass side without an arm. Returns (draft, in-lane ids by arm, connector
    (arm, turn) by lane id, RoadMap parts); the caller adds control, right of way and crosswalks.
    """
    draft, w, speed = _Draft(), p.lane_width, p.speed_limit
    ins: dict[str, list[int]] = {}
    outs: dict[str, list[int]] = {}
    for arm in arms:
        far = arm.stop + p.arm_length_m
        ins[arm.name], outs[arm.name] = [], []
        for i in range(arm.n + arm.pocket):
            o = _lane_offset(arm, i, w)
            inner = i == arm.n + arm.pocket - 1
            left = Boundary.DOUBLE_YELLOW if inner else Boundary.DASHED
            if arm.pocket and i == arm.n - 1:
                left = Boundary.SOLID  # beside the left-turn pocket
            right = Boundary.CURB if i == 0 else Boundary.SOLID if i == arm.n else Boundary.DASHED
            lane = draft.add(f"{arm.name}_in.{i}", [arm.point(far, o), arm.point(arm.stop, o)], w, speed,
                             left_boundary=left, right_boundary=right)
            ins[arm.name].append(lane)
        for j in range(arm.n):
            o = _lane_offset(arm, j, w)
            left = Boundary.DOUBLE_YELLOW if j == arm.n - 1 else Boundary.DASHED
            right = Boundary.CURB if j == 0 else Boundary.DASHED
            lane = draft.add(f"{arm.name}_out.{j}", [arm.point(arm.stop, -o), arm.point(far, -o)], w, speed,
                             left_boundary=left, right_boundary=right)
            outs[arm.name].append(lane)
        for group in (ins[arm.name], outs[arm.name]):
            for k in range(1, len(group)):
                draft.side_by_side(group[k], group[k - 1])
        draft.specs[ins[arm.name][-1]]["left_opposite"] = outs[arm.name][-1]
        draft.specs[outs[arm.name][-1]]["left_opposite"] = ins[arm.name][-1]
    connector: dict[int, tuple[str, str]] = {}
    for a in arms:
        for e in arms:
            if e is a:
                continue
            out_heading = e.heading + math.pi
            quarter = round(float(wrap_angle(out_heading - a.heading)) / (math.pi / 2))
            turn = {0: "straight", 1: "left", -1: "right"}[quarter]
            pairs = {"straight": [(i, i) for i in range(a.n)], "left": [(a.n + a.pocket - 1, e.n - 1)],
                     "right": [(0, 0)]}
            for i, j in pairs[turn]:
                src, dst = draft.specs[ins[a.name][i]], draft.specs[outs[e.name][j]]
                p0, p1 = src["centerline"].points[-1], dst["centerline"].points[0]
                points = [p0, p1] if turn == "straight" else _turn(p0, a.heading, p1, out_heading)
                label = f"{a.name}.{turn}" + (f".{i}" if turn == "straight" else "")
                c = draft.add(label, points, w, speed, left_boundary=Boundary.NONE, right_boundary=Boundary.NONE,
                              junction=0, turn=turn)
                draft.link(ins[a.name][i], c)
                draft.link(c, outs[e.name][j])
                connector[c] = (a.name, turn)
    box = {k: (_arm_at(arms, h).core if _arm_at(arms, h) else top) for k, h in ARRIVAL_HEADING.items()}
    polygon = np.array([[-box["west"], -box["south"]], [box["east"], -box["south"]],
                        [box["east"], box["north"]], [-box["west"], box["north"]]])
    parts = {"junctions": (Junction(0, polygon),), "sidewalks": (), "crosswalks": ()}
    if p.sidewalks:
        parts["sidewalks"] = _junction_sidewalks(arms, w, p.sidewalk_width, p.arm_length_m)
    return draft, ins, connector, parts


def _junction_sidewalks(arms: list[_Arm], w: float, sw: float, length: float) -> tuple[Sidewalk, ...]:
    """Two sidewalks per arm along its kerbs, from the corner with the neighbouring arm (or from the axis of
    the crossing road where there is no neighbouring arm) out to the arm's end."""
    walks = []
    for arm in arms:
        for side in (1.0, -1.0):  # right kerb, left kerb of the arriving direction
            neighbour = _arm_at(arms, arm.heading + side * math.pi / 2)
            start = neighbour.half_width(w) + sw / 2.0 if neighbour else 0.0
            o = side * (arm.half_width(w) + sw / 2.0)
            walks.append(Sidewalk(len(walks), Polyline([arm.point(start, o), arm.point(arm.stop + length, o)]), sw))
    return tuple(walks)


def _crosswalk(k: int, arm: _Arm, w: float, lanes: tuple[Lane, ...], signal: int | None) -> Crosswalk:
    """A crosswalk across `arm` just outside the junction box, kerb to kerb, over the lanes it crosses."""
    h, near, far = arm.half_width(w), arm.core + CROSSWALK_GAP_M, arm.core + CROSSWALK_GAP_M + CROSSWALK_WIDTH_M
    polygon = np.array([arm.point(near, h), arm.point(far, h), arm.point(far, -h), arm.point(near, -h)])
    mid = (near + far) / 2.0
    hit = shapely.intersects(shapely.Polygon(polygon), [shapely.LineString(la.centerline.points) for la in lanes])
    crossed = tuple(int(la.id) for la, yes in zip(lanes, hit) if yes)
    return Crosswalk(k, polygon, arm.point(mid, h), arm.point(mid, -h), crossed, signal)


def _set_yields(draft: _Draft, yields: Callable[[int, int], bool]) -> None:
    """Give lane a `yield_to` b for every conflicting pair of junction lanes where yields(a, b)."""
    probe = RoadMap("probe", draft.lanes())
    for a in range(len(draft.specs)):
        draft.specs[a]["yield_to"] = [b for b in probe.conflicts(a) if yields(a, b)]


def _band(p) -> float:
    return CROSSWALK_GAP_M + CROSSWALK_WIDTH_M + STOP_GAP_M if p.sidewalks else 0.0


def intersection(params: dict | None = None) -> RoadMap:
    """A 4-way intersection centred at the origin, signalised with a fixed-time program (or an all-way stop).

    Approach lanes "south_in.i" (arriving from the south, heading north), exits "north_out.i", connectors
    "south.left", "south.straight.i", "south.right". With protected_left each approach gets a left-turn pocket
    "south_in.<n>" (its leftmost lane) with its own signal head and phase; phases are N-S lefts, N-S through,
    E-W lefts, E-W through. Without it, two phases (N-S, E-W) and left turns yield to oncoming traffic.
    """
    p = _parse(IntersectionParams, "intersection", params)
    n, w = p.lanes_per_direction, p.lane_width
    core = n * w + (w / 2.0 if p.protected_left else 0.0) + CORNER_MARGIN_M
    arms = [_Arm(k, n, p.protected_left, core + _band(p), core) for k in ("south", "east", "north", "west")]
    draft, ins, connector, parts = _junction(p, arms, top=core)
    opposite = {"south": "north", "north": "south", "east": "west", "west": "east"}
    if not (p.signalized and p.protected_left):
        _set_yields(draft, lambda a, b: a in connector and b in connector and connector[a][1] == "left"
                    and connector[b][1] != "left" and connector[b][0] == opposite[connector[a][0]])
    lanes = draft.lanes()
    signals, stop_lines, walk_signal = [], [], {}
    if p.signalized:
        axis = {"south": "ns", "north": "ns", "east": "ew", "west": "ew"}
        step = p.yellow_s + p.all_red_s
        order = [("ns", "left"), ("ns", "through"), ("ew", "left"), ("ew", "through")]
        if not p.protected_left:
            order = [("ns", "through"), ("ew", "through")]
        green = {ph: p.left_green_s if ph[1] == "left" else p.green_s for ph in order}
        starts, t = {}, 0.0
        for ph in order:
            starts[ph], t = t, t + green[ph] + step
        cycle = t

        def head(controlled, position, heading, green_s, start):
            signals.append(Signal(len(signals), tuple(controlled), position, heading, green_s, p.yellow_s, cycle,
                                  (cycle - start) % cycle))
            return len(signals) - 1

        for arm in arms:
            facing = float(wrap_angle(arm.heading + math.pi))
            through = head(ins[arm.name][: n], arm.point(arm.stop, arm.half_width(w) + 1.0), facing,
                           p.green_s, starts[(axis[arm.name], "through")])
            lane_signal = {i: through for i in ins[arm.name][:n]}
            if p.protected_left:
                pocket = ins[arm.name][n]
                lane_signal[pocket] = head([pocket], arm.point(arm.stop, 0.0), facing, p.left_green_s,
                                           starts[(axis[arm.name], "left")])
            walk_signal[arm.name] = through
            for lane, sig in lane_signal.items():
                stop_lines.append(StopLine(len(stop_lines), lane, lanes[lane].length, Control.SIGNAL, sig))
        if p.protected_left:
            # a pedestrian head per crosswalk, RED (walk) only while the parallel through phase is green: the
            # vehicle heads are also red during the protected lefts, which cross the crosswalks
            for arm in arms:
                parallel = starts[("ew" if axis[arm.name] == "ns" else "ns", "through")]
                hold = cycle - p.green_s - p.yellow_s
                walk_signal[arm.name] = head([], arm.point(arm.core, arm.half_width(w) + 1.0), arm.heading,
                                             hold, parallel + p.green_s)
    else:
        for arm in arms:
            for lane in ins[arm.name]:
                stop_lines.append(StopLine(len(stop_lines), lane, lanes[lane].length, Control.STOP))
    if p.sidewalks:
        parts["crosswalks"] = tuple(_crosswalk(k, arm, w, lanes, walk_signal.get(arm.name))
                                    for k, arm in enumerate(arms))
    return _finish("intersection", draft, p, signals=tuple(signals), stop_lines=tuple(stop_lines), **parts)


def t_junction(params: dict | None = None) -> RoadMap:
    """An east-west major road with a minor arm from the south under a stop or yield sign.

    Lanes "west_in.i", "east_out.i", "south_in.i", ...; connectors "west.straight.i", "east.straight.i",
    "west.right" (west into the minor road), "east.left", "south.left", "south.right". Minor connectors yield
    to every major connector they cross or merge with; "east.left" yields to the oncoming connectors from the west.
    """
    p = _parse(TJunctionParams, "t_junction", params)
    w, major_half, minor_half = p.lane_width, p.major_lanes * p.lane_width, p.minor_lanes * p.lane_width
    core_x, core_y = minor_half + CORNER_MARGIN_M, major_half + CORNER_MARGIN_M
    arms = [_Arm("west", p.major_lanes, False, core_x, core_x), _Arm("east", p.major_lanes, False, core_x, core_x),
            _Arm("south", p.minor_lanes, False, core_y + _band(p), core_y)]
    draft, ins, connector, parts = _junction(p, arms, top=major_half)

    def yields(a: int, b: int) -> bool:
        if a not in connector or b not in connector:
            return False
        (arm_a, turn_a), (arm_b, _) = connector[a], connector[b]
        if arm_a == "south":
            return arm_b != "south"
        return turn_a == "left" and arm_b == ("west" if arm_a == "east" else "east")

    _set_yields(draft, yields)
    lanes = draft.lanes()
    control = Control.STOP if p.control == "stop" else Control.YIELD
    stop_lines = tuple(StopLine(k, lane, lanes[lane].length, control) for k, lane in enumerate(ins["south"]))
    if p.sidewalks:
        parts["crosswalks"] = (_crosswalk(0, arms[2], w, lanes, None),)
    return _finish("t_junction", draft, p, stop_lines=stop_lines, **parts)


# ---- registry ------------------------------------------------------------------------------------------
BUILDERS: dict[str, Callable[[dict | None], RoadMap]] = {
    "straight": straight,
    "curved": curved,
    "intersection": intersection,
    "t_junction": t_junction,
    "highway": highway,
    "highway_merge": highway_merge,
}


def build_map(name: str, params: dict | None = None) -> RoadMap:
    """Build a registered map by name; MapError listing the known names for an unknown one.

    Maps are immutable, so the same (name, parameters) returns the same RoadMap object from a small
    cache: episode resets then reuse its lazily built drivable area, segment tables and raster tiles.
    """
    if name not in BUILDERS:
        raise MapError(f"unknown map builder {name!r}; known: {', '.join(sorted(BUILDERS))}")
    key = tuple(sorted((params or {}).items()))
    try:
        return _cached_build(name, key)
    except TypeError:  # unhashable parameter values: let the builder report them
        return BUILDERS[name](params)


@functools.lru_cache(maxsize=64)
def _cached_build(name: str, key: tuple) -> RoadMap:
    return BUILDERS[name](dict(key))
