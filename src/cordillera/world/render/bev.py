"""Top-down (bird's-eye view) rendering: the policy's BEV observation and frames for rollout videos.

    >>> from cordillera.world.render import render_bev_observation, render_frame
    >>> bev = render_bev_observation(state)   # (384, 192, 3) uint8 RGB, ego facing up, 64 m ahead
    >>> frame = render_frame(state)           # (640, 640, 3) uint8 RGB with time / speed / collision overlay

The static road (surfaces, sidewalks, crosswalks, lane markings, stop lines) is drawn once per RoadMap and
resolution into world-aligned raster tiles (north up). Each frame takes the one tile under the view,
rotates and crops it with a single cv2.warpAffine, then draws only what moves on top: agents, the ego,
signal states, plan and history. Images are RGB; all colours below are (R, G, B).
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np
import shapely

from cordillera import constants as C
from cordillera.geometry import Polyline
from cordillera.world.agents import AgentType, Flag
from cordillera.world.roads.map import Boundary, Control, RoadMap, SignalState

if TYPE_CHECKING:
    from cordillera.world.sim import LogStep, WorldState

__all__ = [
    "BevStyle",
    "BevView",
    "DEFAULT_STYLE",
    "OBSERVATION_VIEW",
    "FRAME_VIEW",
    "view_matrix",
    "render_bev",
    "render_bev_observation",
    "render_frame",
]

RGB = tuple[int, int, int]
SHIFT = 4  # fractional bits of the fixed-point coordinates handed to cv2 (1/16 px)
SCALE = 1 << SHIFT


@dataclass(frozen=True)
class BevStyle:
    """Colours and the real-world sizes of drawn things. Hashable: it is part of the raster cache key."""

    background: RGB = (38, 44, 38)  # off-road: dark green-grey so the road reads as the bright part
    road: RGB = (82, 82, 88)  # asphalt of every lane (the drivable area)
    junction: RGB = (90, 90, 97)  # a shade lighter, so the intersection box is visible
    shoulder: RGB = (70, 70, 74)  # lanes of kind "shoulder" / "parking"
    sidewalk: RGB = (150, 150, 143)  # light grey concrete
    crosswalk: RGB = (220, 220, 220)  # zebra stripes
    marking_white: RGB = (232, 232, 232)  # dashed and solid lane lines, stop lines
    marking_yellow: RGB = (240, 190, 30)  # double yellow / dashed yellow centre lines
    curb: RGB = (185, 185, 176)  # raised kerb edge
    ego: RGB = (40, 205, 90)  # green
    # one colour per AgentType, in enum order
    agents: tuple[RGB, ...] = (
        (60, 125, 235),  # CAR: blue
        (35, 70, 170),  # TRUCK: darker blue
        (30, 55, 150),  # BUS: darker still
        (160, 80, 225),  # MOTORCYCLE: purple
        (190, 100, 235),  # CYCLIST: light purple
        (255, 145, 20),  # PEDESTRIAN: orange
        (255, 90, 30),  # CONE: red-orange
        (245, 215, 40),  # BARRIER: yellow
        (230, 120, 50),  # DEBRIS: orange-brown
        (95, 120, 165),  # PARKED_CAR: muted blue
        (235, 75, 45),  # STALLED_VEHICLE: red-orange (a hazard, not traffic)
        (150, 100, 55),  # ANIMAL: brown
    )
    school_bus: RGB = (250, 200, 20)  # buses with Flag.SCHOOL_BUS
    heading_tick: RGB = (240, 240, 240)  # line from the box centre to its front
    brake: RGB = (255, 30, 30)  # rear edge while Flag.BRAKE
    blinker: RGB = (255, 175, 0)  # corner dots of turn signals and hazards (flashing)
    siren: tuple[RGB, RGB] = ((255, 30, 30), (40, 90, 255))  # emergency light bar halves (flashing)
    # one colour per SignalState: GREEN, YELLOW, RED, DARK
    signals: tuple[RGB, ...] = ((40, 220, 80), (250, 210, 30), (240, 40, 40), (110, 110, 110))
    plan: RGB = (0, 225, 235)  # cyan
    history: RGB = (170, 235, 170)  # pale green, the ego's past
    text: RGB = (245, 245, 245)
    collision: RGB = (255, 40, 40)
    marking_width_m: float = 0.15  # painted lines [m]
    double_yellow_gap_m: float = 0.3  # centre-to-centre distance of the two yellow lines [m]
    dash_m: float = 3.0  # dash length [m]
    dash_gap_m: float = 6.0  # gap between dashes [m]
    curb_width_m: float = 0.3  # [m]
    stop_line_width_m: float = 0.45  # [m]
    crosswalk_stripe_m: float = 0.5  # width of one zebra bar and of the gap after it [m]
    signal_radius_m: float = 0.9  # signal disc at the stop line [m]
    min_agent_px: float = 2.0  # smallest drawn box side, so cones and pedestrians never vanish [px]
    flash_hz: float = 2.0  # blinkers and sirens toggle at this rate [Hz]
    tile_px: int = 1024  # stride of the static raster tiles; tiles are 2x this, so views up to it fit one


@dataclass(frozen=True)
class BevView:
    """Where the image looks: size, resolution, orientation and where the centre pose sits in it."""

    size_px: tuple[int, int]  # (H, W)
    meters_per_px: float
    heading_up: bool  # True: the centre pose's heading points up; False: north up
    anchor: tuple[float, float] = (0.5, 0.5)  # centre pose at (fraction of W from the left, of H from the top)


DEFAULT_STYLE = BevStyle()
# the policy input: 64 m ahead, 32 m behind, 24 m either side of the ego at 0.25 m/px
OBSERVATION_VIEW = BevView((384, 192), 0.25, True, (0.5, 64.0 / 96.0))
# videos: 128 m x 128 m around the ego, north up
FRAME_VIEW = BevView((640, 640), 0.2, False)


def view_matrix(center, size_px, meters_per_px: float, heading_up: bool, anchor=(0.5, 0.5)) -> np.ndarray:
    """(2, 3) affine map from world [m] to image pixels (col, row) for a view centred on `center` (3,)."""
    x0, y0, yaw = (float(v) for v in center[:3])
    theta = yaw if heading_up else math.pi / 2.0
    c, s, m = math.cos(theta), math.sin(theta), meters_per_px
    cx = anchor[0] * size_px[1] - 0.5
    cy = anchor[1] * size_px[0] - 0.5
    # forward (c, s) maps to up (-row), left (-s, c) maps to -col
    return np.array(
        [[s / m, -c / m, cx - (s * x0 - c * y0) / m], [-c / m, -s / m, cy + (c * x0 + s * y0) / m]]
    )


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (..., 2) through an affine (2, 3)."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def _fixed(px: np.ndarray) -> np.ndarray:
    """Pixel coordinates (..., 2) as cv2 fixed-point int32 with SHIFT fractional bits."""
    return np.round(px * SCALE).astype(np.int32)


# ---- static map layer --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Op:
    """One drawing call of the static layer, in world coordinates."""

    kind: str  # "fill": each shape filled separately; "holes": one even-odd fill; "lines": open polylines
    shapes: tuple[np.ndarray, ...]  # each (N, 2) world [m]
    color: RGB
    width_m: float = 0.0  # line width for "lines" [m]
    smooth: bool = True  # anti-aliased edges (off for fills stacked on the road, which would show seams)


def _clean(points: np.ndarray) -> np.ndarray:
    """Drop consecutive duplicates so the points make a valid Polyline."""
    keep = np.ones(len(points), dtype=bool)
    keep[1:] = np.hypot(*np.diff(points, axis=0).T) > 1e-6
    return points[keep]


def _dashes(points: np.ndarray, dash: float, gap: float) -> list[np.ndarray]:
    """Dash pieces (each (K, 2)) of a polyline, starting with a dash at its first point."""
    points = _clean(points)
    if len(points) < 2:
        return []
    line = Polyline(points)
    out = []
    for s0 in np.arange(0.0, line.length, dash + gap):
        s1 = min(s0 + dash, line.length)
        inner = line.s[(line.s > s0) & (line.s < s1)]
        xy, _ = line.interpolate(np.concatenate([[s0], inner, [s1]]))
        out.append(xy)
    return out


def _boundary_lines(edge: np.ndarray, kind: Boundary, normal_shift: np.ndarray, style: BevStyle) -> list[_Op]:
    """Ops for one lane edge. edge (N, 2) points; normal_shift (N, 2) moves a point 1 m towards the outside."""
    w, white, yellow = style.marking_width_m, style.marking_white, style.marking_yellow
    if kind == Boundary.DASHED:
        return [_Op("lines", tuple(_dashes(edge, style.dash_m, style.dash_gap_m)), white, w)]
    if kind == Boundary.SOLID:
        return [_Op("lines", (edge,), white, w)]
    if kind == Boundary.DASHED_YELLOW:
        return [_Op("lines", tuple(_dashes(edge, style.dash_m, style.dash_gap_m)), yellow, w)]
    if kind == Boundary.DOUBLE_YELLOW:
        half = style.double_yellow_gap_m / 2.0
        return [_Op("lines", (edge - normal_shift * half, edge + normal_shift * half), yellow, w)]
    if kind == Boundary.CURB:
        return [_Op("lines", (edge,), style.curb, style.curb_width_m)]
    return []


def _zebra(polygon: np.ndarray, start: np.ndarray, end: np.ndarray, stripe: float) -> list[np.ndarray]:
    """Zebra bars (each (K, 2)) inside a crosswalk quad: bars along the traffic, spaced along the walk."""
    walk = np.asarray(end, dtype=np.float64) - np.asarray(start, dtype=np.float64)
    walk /= max(np.hypot(*walk), 1e-9)
    across = np.array([-walk[1], walk[0]])
    quad = shapely.Polygon(polygon)
    rel = np.asarray(polygon) - start
    a, b = rel @ walk, rel @ across
    bars = []
    for u in np.arange(a.min() + stripe / 2.0, a.max() - stripe / 2.0, 2.0 * stripe):
        corners = [start + walk * uu + across * vv for uu, vv in
                   ((u, b.min() - 1), (u + stripe, b.min() - 1), (u + stripe, b.max() + 1), (u, b.max() + 1))]
        piece = quad.intersection(shapely.Polygon(corners))
        for part in shapely.get_parts(piece):
            if isinstance(part, shapely.Polygon) and not part.is_empty:
                bars.append(np.asarray(part.exterior.coords)[:-1])
    return bars


def _stop_segment(road: RoadMap, lane: int, s: float) -> tuple[np.ndarray, np.ndarray]:
    """Centre (2,) and the two ends (2, 2) of a stop line across `lane` at arc length s."""
    xy, yaw = road.pose_at(lane, s)
    half = road.lanes[lane].width / 2.0
    normal = np.array([-np.sin(yaw), np.cos(yaw)])
    return xy, np.stack([xy + normal * half, xy - normal * half])


def _map_ops(road: RoadMap, style: BevStyle) -> list[_Op]:
    """Everything static, bottom layer first."""
    ops = []
    for sw in road.sidewalks:
        line = Polyline(_clean(sw.path.points))
        left, right = line.offset(sw.width / 2.0), line.offset(-sw.width / 2.0)
        ops.append(_Op("fill", (np.concatenate([left, right[::-1]]),), style.sidewalk))
    for part in shapely.get_parts(road.drivable_area):
        rings = [np.asarray(part.exterior.coords)] + [np.asarray(r.coords) for r in part.interiors]
        ops.append(_Op("holes", tuple(rings), style.road))
    side = tuple(road.lane_polygon(la.id) for la in road.lanes if la.kind in ("shoulder", "parking"))
    if side:
        ops.append(_Op("fill", side, style.shoulder, smooth=False))
    inside = tuple(road.lane_polygon(la.id) for la in road.lanes if la.junction is not None)
    ops.append(_Op("fill", tuple(j.polygon for j in road.junctions) + inside, style.junction, smooth=False))
    bars = [bar for cw in road.crosswalks for bar in _zebra(cw.polygon, cw.start, cw.end, style.crosswalk_stripe_m)]
    if bars:
        ops.append(_Op("fill", tuple(bars), style.crosswalk))
    for lane in road.lanes:
        cl = lane.centerline
        heading = np.concatenate([cl._heading, cl._heading[-1:]])
        normal = np.stack([-np.sin(heading), np.cos(heading)], -1)  # towards the lane's left
        # each shared edge is drawn once: by the lane on its right (same direction) or the lower id (two-way)
        draw_left = lane.left_opposite is None or lane.id < lane.left_opposite
        if draw_left:
            ops += _boundary_lines(cl.offset(lane.width / 2.0), lane.left_boundary, normal, style)
        if lane.right_neighbor is None:
            ops += _boundary_lines(cl.offset(-lane.width / 2.0), lane.right_boundary, -normal, style)
    solid, dashed = [], []
    for sl in road.stop_lines:
        _, ends = _stop_segment(road, sl.lane, sl.s)
        if sl.control == Control.YIELD:
            dashed += _dashes(ends, 0.6, 0.4)
        else:
            solid.append(ends)
    if solid or dashed:
        ops.append(_Op("lines", tuple(solid), style.marking_white, style.stop_line_width_m))
        ops.append(_Op("lines", tuple(dashed), style.marking_white, style.stop_line_width_m))
    return [op for op in ops if op.shapes]


def _draw_ops(canvas: np.ndarray, ops: list[_Op], matrix: np.ndarray, meters_per_px: float) -> None:
    for op in ops:
        pts = [_fixed(_apply(matrix, shape)) for shape in op.shapes]
        line_type = cv2.LINE_AA if op.smooth else cv2.LINE_8
        if op.kind == "holes":
            cv2.fillPoly(canvas, pts, op.color, line_type, SHIFT)
        elif op.kind == "fill":
            for p in pts:  # one call each: a single call fills overlaps even-odd, i.e. leaves holes
                cv2.fillPoly(canvas, [p], op.color, line_type, SHIFT)
        else:
            thickness = max(1, int(round(op.width_m / meters_per_px)))
            cv2.polylines(canvas, pts, False, op.color, thickness, line_type, SHIFT)


class _MapRaster:
    """World-aligned raster of one RoadMap at one resolution, cut into lazily drawn overlapping tiles.

    Tile (i, j) covers pixel columns [i*S, i*S + 2S) and rows [j*S, j*S + 2S) (clipped to the raster), so a
    view whose bounding box is at most S pixels wide and high lies inside the tile holding its corner.
    """

    def __init__(self, road: RoadMap, ops: list[_Op], meters_per_px: float, stride: int, style: BevStyle):
        xmin, ymin, xmax, ymax = road.bounds()
        margin = 5.0  # [m] so the kerb lines at the edge are not cut
        self.x0, self.y1 = xmin - margin, ymax + margin
        self.meters_per_px = meters_per_px
        self.width = int(math.ceil((xmax - xmin + 2 * margin) / meters_per_px)) + 1
        self.height = int(math.ceil((ymax - ymin + 2 * margin) / meters_per_px)) + 1
        self.stride = stride
        self.ops = ops
        self.background = style.background
        self.tiles: dict[tuple[int, int], np.ndarray] = {}
        m = meters_per_px
        self.matrix = np.array([[1.0 / m, 0.0, -self.x0 / m], [0.0, -1.0 / m, self.y1 / m]])  # world -> raster px

    def _count(self, size: int) -> int:
        return max(1, -(-size // self.stride) - 1)

    def tile(self, i: int, j: int) -> np.ndarray:
        key = (i, j)
        if key not in self.tiles:
            c0, r0 = i * self.stride, j * self.stride
            w = min(2 * self.stride, self.width - c0)
            h = min(2 * self.stride, self.height - r0)
            pad = 4  # drawn beyond the tile's edges so anti-aliasing there matches the neighbouring tile
            canvas = np.zeros((h + 2 * pad, w + 2 * pad, 4), dtype=np.uint8)  # RGBA: cv2 warps 4 channels 2x faster
            canvas[:, :, :3] = self.background
            shift = self.matrix.copy()
            shift[:, 2] -= (c0 - pad, r0 - pad)
            _draw_ops(canvas, self.ops, shift, self.meters_per_px)
            self.tiles[key] = canvas[pad:-pad, pad:-pad]
        return self.tiles[key]

    def warp(self, view: np.ndarray, size_px: tuple[int, int]) -> np.ndarray:
        """The static layer seen through `view` (world -> image (2, 3)) as a fresh (H, W, 3) image."""
        h, w = size_px
        image_to_world = cv2.invertAffineTransform(view)
        to_raster = self.matrix[:, :2] @ image_to_world  # image px -> raster px
        to_raster[:, 2] += self.matrix[:, 2]
        corners = _apply(to_raster, np.array([[0, 0], [w, 0], [0, h], [w, h]], dtype=np.float64))
        i = min(max(int(corners[:, 0].min() // self.stride), 0), self._count(self.width) - 1)
        j = min(max(int(corners[:, 1].min() // self.stride), 0), self._count(self.height) - 1)
        to_raster[:, 2] -= (i * self.stride, j * self.stride)
        rgba = cv2.warpAffine(self.tile(i, j), to_raster, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=(*self.background, 0))
        return cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB)


class _RoadCache:
    def __init__(self, road: RoadMap):
        self.ops: dict[BevStyle, list[_Op]] = {}
        self.rasters: dict[tuple, _MapRaster] = {}
        points, ids = [], []
        for sl in road.stop_lines:
            if sl.signal is not None:
                points.append(_stop_segment(road, sl.lane, sl.s)[0])
                ids.append(sl.signal)
        self.signal_points = np.array(points, dtype=np.float64).reshape(-1, 2)  # (K, 2) world [m]
        self.signal_ids = np.array(ids, dtype=np.int64)  # (K,) index into road.signals


# keyed by the RoadMap object itself (frozen, eq=False: hashed by identity); entries die with the map
_CACHE: "weakref.WeakKeyDictionary[RoadMap, _RoadCache]" = weakref.WeakKeyDictionary()


def _road_cache(road: RoadMap) -> _RoadCache:
    cache = _CACHE.get(road)
    if cache is None:
        cache = _CACHE[road] = _RoadCache(road)
    return cache


def _raster(road: RoadMap, meters_per_px: float, size_px: tuple[int, int], style: BevStyle) -> _MapRaster:
    cache = _road_cache(road)
    span = math.hypot(*size_px) + 4
    stride = style.tile_px if span <= style.tile_px else 1 << int(math.ceil(math.log2(span)))
    key = (float(meters_per_px), stride, style)
    if key not in cache.rasters:
        if style not in cache.ops:
            cache.ops[style] = _map_ops(road, style)
        cache.rasters[key] = _MapRaster(road, cache.ops[style], meters_per_px, stride, style)
    return cache.rasters[key]


# ---- dynamic layer -----------------------------------------------------------------------------------


def _box_px(view: np.ndarray, x, y, yaw, length, width) -> np.ndarray:
    """Corners (n, 4, 2) in image px of boxes (n,) centred at (x, y): front-left, rear-left, rear-right,
    front-right (the order of geometry.box_corners, computed straight in pixels: fewer numpy calls)."""
    lin = view[:, :2].T
    centre = np.stack([x, y], -1) @ lin + view[:, 2]  # (n, 2)
    c, s = np.cos(yaw), np.sin(yaw)
    fwd = (np.stack([c, s], -1) @ lin) * (0.5 * np.asarray(length))[:, None]
    left = (np.stack([-s, c], -1) @ lin) * (0.5 * np.asarray(width))[:, None]
    return np.stack([centre + fwd + left, centre - fwd + left, centre - fwd - left, centre + fwd - left], 1)


def _segment(img, a: np.ndarray, b: np.ndarray, color: RGB, thickness: int = 1) -> None:
    p, q = _fixed(a), _fixed(b)
    cv2.line(img, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), color, thickness, cv2.LINE_AA, SHIFT)


def _disc(img, center: np.ndarray, radius_px: float, color: RGB, outline: bool = False) -> None:
    c = _fixed(center)
    xy, r = (int(c[0]), int(c[1])), max(SCALE, int(round(radius_px * SCALE)))
    cv2.circle(img, xy, r, color, -1, cv2.LINE_AA, SHIFT)
    if outline:
        cv2.circle(img, xy, r, (20, 20, 20), 1, cv2.LINE_AA, SHIFT)


_BRAKE = int(Flag.BRAKE)
_EXTRAS = int(Flag.BLINK_LEFT | Flag.BLINK_RIGHT | Flag.HAZARD | Flag.EMERGENCY | Flag.DOOR_OPEN)  # drawn one by one


def _draw_vehicles(img, corners: np.ndarray, colors: list, flags: np.ndarray, t: float, mpp: float,
                   style: BevStyle) -> None:
    """Boxes (n, 4, 2) px (front-left, rear-left, rear-right, front-right) with lights and heading ticks."""
    fixed = _fixed(corners)  # (n, 4, 2)
    for k in range(len(fixed)):
        cv2.fillConvexPoly(img, fixed[k], colors[k], cv2.LINE_AA, SHIFT)
    fl, rl, rr, fr = corners[:, 0], corners[:, 1], corners[:, 2], corners[:, 3]  # each (n, 2)
    centre = corners.mean(axis=1)
    brake = (flags & _BRAKE) != 0
    if brake.any():
        edge = np.stack([rl + (fl - rl) * 0.06, rr + (fr - rr) * 0.06], 1)[brake]  # (b, 2, 2)
        cv2.polylines(img, list(_fixed(edge)), False, style.brake, max(2, int(round(0.3 / mpp))), cv2.LINE_AA, SHIFT)
    flash = int(t * style.flash_hz * 2.0) % 2 == 0
    for k in np.nonzero(flags & _EXTRAS)[0]:
        f = int(flags[k])
        left = f & (Flag.BLINK_LEFT | Flag.HAZARD)
        right = f & (Flag.BLINK_RIGHT | Flag.HAZARD)
        for on, pts in ((left, (fl[k], rl[k])), (right, (fr[k], rr[k]))):
            for p in pts if on and flash else ():
                _disc(img, p + (centre[k] - p) * 0.12, 0.3 / mpp, style.blinker)
        if f & Flag.EMERGENCY:  # light bar across the roof, halves swapping colour
            left_c, right_c = style.siren if flash else style.siren[::-1]
            mid_l, mid_r = (fl[k] + rl[k]) / 2.0, (fr[k] + rr[k]) / 2.0
            bar = max(1, int(round(0.5 / mpp)))
            _segment(img, centre[k] + (mid_l - centre[k]) * 0.8, centre[k], left_c, bar)
            _segment(img, centre[k], centre[k] + (mid_r - centre[k]) * 0.8, right_c, bar)
        if f & Flag.DOOR_OPEN:  # the driver's door swung out from the left side, a third back from the front
            hinge = fl[k] + (rl[k] - fl[k]) * 0.3
            out = (fl[k] - fr[k]) / max(np.hypot(*(fl[k] - fr[k])), 1e-9) / mpp  # 1 m outward [px]
            back = (rl[k] - fl[k]) / max(np.hypot(*(rl[k] - fl[k])), 1e-9) / mpp
            _segment(img, hinge, hinge + out * 0.8 + back * 0.5, colors[k], max(1, int(round(0.15 / mpp))))
    ticks = _fixed(np.stack([centre, (fl + fr) / 2.0], 1))  # (n, 2, 2)
    cv2.polylines(img, list(ticks), False, style.heading_tick, 1, cv2.LINE_AA, SHIFT)


def _agent_colors(agent_types: np.ndarray, flags: np.ndarray, style: BevStyle) -> np.ndarray:
    palette = np.array(style.agents, dtype=np.int64)
    types = np.clip(np.asarray(agent_types, dtype=np.int64), 0, len(palette) - 1)
    colors = palette[types]
    school = (types == AgentType.BUS) & (np.asarray(flags) & Flag.SCHOOL_BUS != 0)
    colors[school] = style.school_bus
    return colors


def render_bev(
    road: RoadMap,
    log_step: "LogStep",
    agent_types: np.ndarray,
    center: np.ndarray,
    size_px: tuple[int, int] = FRAME_VIEW.size_px,
    meters_per_px: float = FRAME_VIEW.meters_per_px,
    heading_up: bool = True,
    plan: np.ndarray | None = None,
    history: np.ndarray | None = None,
    signals: np.ndarray | None = None,
    *,
    anchor: tuple[float, float] = (0.5, 0.5),
    ego_size: tuple[float, float] = (4.8, 1.9),
    style: BevStyle = DEFAULT_STYLE,
) -> np.ndarray:
    """Draw one simulation step from above. Returns (H, W, 3) uint8 RGB.

    log_step: the step to draw (agents, flags, ego box, time). agent_types: (N,) AgentType ints.
    center: (3,) [x, y, yaw] world pose placed at `anchor` of the image (yaw only matters if heading_up).
    plan: (64, 3) world-frame poses drawn as a line with a dot every 0.5 s, or None.
    history: (K, 2) world-frame past ego positions drawn as a thin line, or None.
    signals: (S,) SignalState per road.signals; None: log_step.signals.
    ego_size: (length, width) of the ego box [m], centred on log_step.ego_center.
    """
    h, w = int(size_px[0]), int(size_px[1])
    mpp = float(meters_per_px)
    view = view_matrix(center, (h, w), mpp, heading_up, anchor)
    img = _raster(road, mpp, (h, w), style).warp(view, (h, w))
    t = float(log_step.t)
    centre_world = _apply(cv2.invertAffineTransform(view), np.array([w / 2.0, h / 2.0]))
    reach = 0.5 * math.hypot(h, w) * mpp + 2.0  # [m] anything farther from the image centre is off-image

    # signal heads at their stop lines
    cache = _road_cache(road)
    states = log_step.signals if signals is None else signals
    if len(cache.signal_ids) and states is not None and len(states):
        near = np.hypot(*(cache.signal_points - centre_world).T) < reach
        for p, sid in zip(_apply(view, cache.signal_points[near]), cache.signal_ids[near]):
            state = int(states[sid]) if sid < len(states) else int(SignalState.DARK)
            color = style.signals[min(max(state, 0), len(style.signals) - 1)]
            _disc(img, p, style.signal_radius_m / mpp, color, outline=True)

    # agents
    agents = np.asarray(log_step.agents, dtype=np.float64).reshape(-1, 7)
    if len(agents):
        size = np.maximum(agents[:, 5:7], style.min_agent_px * mpp)
        near = np.asarray(log_step.active, dtype=bool) & (
            np.hypot(agents[:, 0] - centre_world[0], agents[:, 1] - centre_world[1]) < reach + size.sum(1)
        )
        idx = np.nonzero(near)[0]
        if len(idx):
            a = agents[idx]
            corners = _box_px(view, a[:, 0], a[:, 1], a[:, 2], size[idx, 0], size[idx, 1])
            flags = np.asarray(log_step.flags)[idx]
            colors = _agent_colors(np.asarray(agent_types)[idx], flags, style).tolist()
            _draw_vehicles(img, corners, colors, flags, t, mpp, style)

    # ego's past and plan, then the ego on top
    if history is not None and len(history) > 1:
        pts = _fixed(_apply(view, np.asarray(history, dtype=np.float64)[:, :2]))
        cv2.polylines(img, [pts], False, style.history, 1, cv2.LINE_AA, SHIFT)
    if plan is not None and len(plan) > 1:
        px = _apply(view, np.asarray(plan, dtype=np.float64)[:, :2])
        cv2.polylines(img, [_fixed(px)], False, style.plan, max(1, int(round(0.2 / mpp))), cv2.LINE_AA, SHIFT)
        for p in px[4::5]:
            _disc(img, p, 1.5, style.plan)
    ego = np.asarray(log_step.ego_center, dtype=np.float64)
    ego_corners = _box_px(view, ego[:1], ego[1:2], ego[2:3], [ego_size[0]], [ego_size[1]])
    ego_flags = np.array([_BRAKE if float(log_step.ego[4]) < -0.5 else 0])  # brake lights above 0.5 m/s^2
    _draw_vehicles(img, ego_corners, [style.ego], ego_flags, t, mpp, style)
    return img


def render_bev_observation(state: "WorldState", view: BevView = OBSERVATION_VIEW,
                           style: BevStyle = DEFAULT_STYLE) -> np.ndarray:
    """The policy's BEV input at the state's time: ego-centred, ego facing up, no plan. (H, W, 3) uint8."""
    step = state.log[-1]
    vehicle = state.world.config.vehicle
    return render_bev(state.road, step, state.agents.type, step.ego_center, view.size_px, view.meters_per_px,
                      view.heading_up, anchor=view.anchor, ego_size=(vehicle.length_m, vehicle.width_m), style=style)


def _label(img, text: str, origin: tuple[int, int], scale: float, color: RGB) -> None:
    thickness = max(1, int(round(scale * 2)))
    cv2.putText(img, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(img, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, color, thickness, cv2.LINE_AA)


def render_frame(
    state: "WorldState",
    index: int = -1,
    *,
    view: BevView = FRAME_VIEW,
    navigation: str | None = None,
    plan: bool = True,
    history: bool = True,
    style: BevStyle = DEFAULT_STYLE,
) -> np.ndarray:
    """A video frame of log step `index` of a rollout: ego-centred BEV with plan, past path and an overlay.

    The overlay shows the time, the ego speed in km/h, `navigation` text when given, a 10 m scale bar and a
    red border with "COLLISION" while the ego overlaps another agent. Returns (H, W, 3) uint8 RGB.
    """
    log = state.log
    index = index % len(log)
    step = log[index]
    vehicle = state.world.config.vehicle
    past = np.array([s.ego[:2] for s in log[: index + 1]]) if history else None
    future = None
    if plan and step.plan is not None:  # only the poses still ahead in time (a plan is kept while it is tracked)
        elapsed = int(math.floor((step.t - step.plan_t0) / C.DT + 1e-6))
        future = step.plan[max(elapsed - 1, 0):]
    img = render_bev(state.road, step, state.agents.type, step.ego_center, view.size_px, view.meters_per_px,
                     view.heading_up, future, past, anchor=view.anchor,
                     ego_size=(vehicle.length_m, vehicle.width_m), style=style)
    h, w = img.shape[:2]
    scale = max(0.35, w / 1280.0)
    line_h = int(round(30 * scale)) + 4
    _label(img, f"t {step.t:5.1f} s   {float(step.ego[3]) * 3.6:5.1f} km/h", (8, line_h), scale, style.text)
    if navigation:
        _label(img, navigation, (8, 2 * line_h), scale * 0.85, style.text)
    if step.collisions:
        cv2.rectangle(img, (0, 0), (w - 1, h - 1), style.collision, max(2, w // 160))
        _label(img, "COLLISION", (w - int(200 * scale) - 8, line_h), scale, style.collision)
    bar = int(round(10.0 / view.meters_per_px))  # 10 m
    x0, y0 = 10, h - 12
    cv2.line(img, (x0, y0), (x0 + bar, y0), style.text, 2, cv2.LINE_AA)
    for x in (x0, x0 + bar):
        cv2.line(img, (x, y0 - 4), (x, y0 + 4), style.text, 2, cv2.LINE_AA)
    _label(img, "10 m", (x0 + bar + 6, y0 + 5), scale * 0.8, style.text)
    return img
