"""Procedural road maps from a few parameters: straight and curved roads, a highway and a highway with an
on-ramp, plus what every builder shares (the parameter dataclasses and their parsing, the lane draft, curves);
the 4-way intersection and the T-junction are in `junctions.py`, the registry in `catalog.py`.

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
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from cordillera.geometry import Polyline
from cordillera.world.roads.map import Boundary, Lane, MapError, RoadMap, Sidewalk

__all__ = [
    "StraightParams", "CurvedParams", "IntersectionParams", "TJunctionParams", "HighwayParams", "HighwayMergeParams",
    "straight", "curved", "highway", "highway_merge",
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
