"""Junction maps: a 4-way intersection (signals, protected lefts, stop control) and a T-junction, built
from arms around a junction box with turn paths, stop lines, crosswalks and sidewalks (`builders.py` holds
their parameter dataclasses and the helpers every builder shares).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import shapely

from cordillera.geometry import Polyline, wrap_angle
from cordillera.world.roads.builders import (
    CORNER_MARGIN_M,
    CROSSWALK_GAP_M,
    CROSSWALK_WIDTH_M,
    STOP_GAP_M,
    IntersectionParams,
    TJunctionParams,
    _Draft,
    _finish,
    _parse,
    _turn,
)
from cordillera.world.roads.map import (
    Boundary, Control, Crosswalk, Junction, Lane, RoadMap, Sidewalk, Signal, StopLine,
)

__all__ = ["intersection", "t_junction", "ARRIVAL_HEADING"]


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
