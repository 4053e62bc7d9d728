"""The static map as 3D polygons for the cameras: road, shoulders, crosswalks, stop lines, lane markings,
curbs and raised sidewalks. Built once per RoadMap and cached.

    >>> from cordillera.world.render.ground import ground_geometry
    >>> g = ground_geometry(road)      # Ground: flat arrays of polygons in draw order, world frame [m]

Each layer is the union of its shapes (so polygons of one layer never overlap and one cv2.fillPoly call can
draw all of them), cut into pieces by a 10 m grid so that a camera only transforms and clips the pieces near
it. Layers are drawn bottom first; markings lie on the road plane and win by draw order, sidewalks and curb
tops sit 0.15 m above it. Curb faces are the only vertical polygons here and carry an outward normal for
back-face culling.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np
import shapely

from cordillera.geometry import Polyline
from cordillera.world.render.bev import _clean, _dashes, _stop_segment, _zebra
from cordillera.world.roads.map import Boundary, Control, RoadMap

__all__ = ["LAYERS", "Ground", "ground_geometry", "CURB_HEIGHT_M"]

# draw order, bottom first; each name is also the Appearance colour of the layer
LAYERS = ("road", "shoulder", "crosswalk", "stop_line", "marking_white", "marking_yellow", "curb_face", "sidewalk",
          "curb")
CURB_HEIGHT_M = 0.15  # [m] kerb and sidewalk height
CELL_M = 25.0  # [m] grid that cuts layers into pieces (culling granularity)
MARKING_M = 0.15  # [m] painted line width
DOUBLE_GAP_M = 0.3  # [m] centre-to-centre of the two lines of a double yellow
DASH_M, GAP_M = 3.0, 6.0  # [m] US lane-line dashes
STOP_LINE_M = 0.45  # [m]
STRIPE_M = 0.5  # [m] zebra bar and gap
CURB_TOP_M = 0.2  # [m] width of the kerb stone's top
_HEIGHT = {"sidewalk": CURB_HEIGHT_M, "curb": CURB_HEIGHT_M}


@dataclass(frozen=True, eq=False)
class Ground:
    """Polygons of the static map, in LAYERS order. Polygon k is vertices[starts[k]:starts[k+1]]."""

    vertices: np.ndarray  # (V, 3) float64 world frame [m]
    starts: np.ndarray  # (P + 1,) int64
    layer: np.ndarray  # (P,) int64 index into LAYERS
    centre: np.ndarray  # (P, 3) bounding-sphere centres [m]
    radius: np.ndarray  # (P,) bounding-sphere radii [m]
    normal: np.ndarray  # (P, 3) outward normal for back-face culling; zero: drawn from both sides
    order: np.ndarray  # (P,) int64 0..P-1, the draw order handed to the kernels

    @property
    def count(self) -> int:
        return len(self.layer)


def _strip(points: np.ndarray, width: float) -> shapely.Geometry:
    line = shapely.LineString(_clean(np.asarray(points, dtype=np.float64)))
    return line.buffer(width / 2.0, cap_style="flat", join_style="mitre", mitre_limit=3.0)


def _edge_normals(points: np.ndarray) -> np.ndarray:
    """Unit normals (N, 2) pointing left of the polyline's direction at each vertex."""
    d = np.gradient(points, axis=0)
    d /= np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-9)[:, None]
    return np.stack([-d[:, 1], d[:, 0]], -1)


def _boundary(edge: np.ndarray, kind: Boundary, outward: np.ndarray, shapes: dict, curbs: list) -> None:
    """Add the marking (or kerb) of one lane edge. outward (N, 2): unit normals away from the lane."""
    if kind in (Boundary.DASHED, Boundary.DASHED_YELLOW):
        key = "marking_white" if kind == Boundary.DASHED else "marking_yellow"
        shapes[key] += [_strip(d, MARKING_M) for d in _dashes(edge, DASH_M, GAP_M) if len(d) >= 2]
    elif kind == Boundary.SOLID:
        shapes["marking_white"].append(_strip(edge, MARKING_M))
    elif kind == Boundary.DOUBLE_YELLOW:
        half = DOUBLE_GAP_M / 2.0
        shapes["marking_yellow"] += [_strip(edge - outward * half, MARKING_M), _strip(edge + outward * half, MARKING_M)]
    elif kind == Boundary.CURB:
        shapes["curb"].append(_strip(edge + outward * (CURB_TOP_M / 2.0), CURB_TOP_M))
        curbs.append((edge, outward))


def _layer_shapes(road: RoadMap) -> tuple[dict[str, list], list]:
    shapes: dict[str, list] = {name: [] for name in LAYERS}
    curbs: list[tuple[np.ndarray, np.ndarray]] = []
    shapes["road"].append(road.drivable_area)
    shapes["shoulder"] += [shapely.Polygon(road.lane_polygon(la.id)) for la in road.lanes
                           if la.kind in ("shoulder", "parking")]
    for cw in road.crosswalks:
        shapes["crosswalk"] += [shapely.Polygon(bar) for bar in _zebra(cw.polygon, cw.start, cw.end, STRIPE_M)]
    for sl in road.stop_lines:
        _, ends = _stop_segment(road, sl.lane, sl.s)
        pieces = _dashes(ends, 0.6, 0.4) if sl.control == Control.YIELD else [ends]
        shapes["stop_line"] += [_strip(p, STOP_LINE_M) for p in pieces if len(p) >= 2]
    for lane in road.lanes:
        cl = lane.centerline
        # each shared edge once: by the lane on its right (same direction) or the lower id (two-way)
        if lane.left_opposite is None or lane.id < lane.left_opposite:
            edge = cl.offset(lane.width / 2.0)
            _boundary(edge, lane.left_boundary, _edge_normals(edge), shapes, curbs)
        if lane.right_neighbor is None:
            edge = cl.offset(-lane.width / 2.0)
            _boundary(edge, lane.right_boundary, -_edge_normals(edge), shapes, curbs)
    for sw in road.sidewalks:
        line = Polyline(_clean(sw.path.points))
        left, right = line.offset(sw.width / 2.0), line.offset(-sw.width / 2.0)
        shapes["sidewalk"].append(shapely.Polygon(np.concatenate([left, right[::-1]])))
    return shapes, curbs


def _polygons(geom: shapely.Geometry) -> list[np.ndarray]:
    """Outer rings (K, 2) of a geometry's pieces on the grid; pieces with holes are triangulated."""
    if geom is None or geom.is_empty:
        return []
    xmin, ymin, xmax, ymax = geom.bounds
    xs = np.arange(math.floor(xmin / CELL_M) * CELL_M, xmax, CELL_M)
    ys = np.arange(math.floor(ymin / CELL_M) * CELL_M, ymax, CELL_M)
    gx, gy = np.meshgrid(xs, ys)
    cells = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + CELL_M, gy.ravel() + CELL_M)
    shapely.prepare(geom)
    cells = cells[shapely.intersects(geom, cells)]
    out = []
    for piece in shapely.intersection(geom, cells):
        for part in shapely.get_parts(piece):
            if not isinstance(part, shapely.Polygon) or part.area < 1e-4:
                continue
            part = shapely.simplify(part, 0.01)
            if part.is_empty or not isinstance(part, shapely.Polygon):
                continue
            if len(part.interiors):
                tris = shapely.get_parts(shapely.constrained_delaunay_triangles(part))
                out += [np.asarray(t.exterior.coords)[:-1] for t in tris]
            else:
                out.append(np.asarray(part.exterior.coords)[:-1])
    return out


def _curb_faces(curbs: list) -> list[tuple[np.ndarray, np.ndarray]]:
    """Vertical kerb faces (4, 3) with their normals (3,) towards the road, at most CELL_M wide each."""
    faces = []
    for edge, outward in curbs:
        edge = _clean(edge)
        if len(edge) < 2:
            continue
        line = Polyline(edge)
        n = max(2, int(math.ceil(line.length / CELL_M)) + 1)
        xy, _ = line.interpolate(np.linspace(0.0, line.length, n))
        for a, b in zip(xy[:-1], xy[1:]):
            d = (b - a) / max(float(np.hypot(*(b - a))), 1e-9)
            inward = np.array([d[1], -d[0]])  # right of the edge direction
            if np.dot(inward, outward.mean(axis=0)) > 0:
                inward = -inward  # make it face the road, away from the kerb's outside
            h = CURB_HEIGHT_M
            quad = np.array([[a[0], a[1], 0.0], [b[0], b[1], 0.0], [b[0], b[1], h], [a[0], a[1], h]])
            faces.append((quad, np.array([inward[0], inward[1], 0.0])))
    return faces


def _build(road: RoadMap) -> Ground:
    shapes, curbs = _layer_shapes(road)
    verts, starts, layer, normals = [], [0], [], []
    for k, name in enumerate(LAYERS):
        if name == "curb_face":
            for quad, normal in _curb_faces(curbs):
                verts.append(quad)
                starts.append(starts[-1] + 4)
                layer.append(k)
                normals.append(normal)
            continue
        if not shapes[name]:
            continue
        z = _HEIGHT.get(name, 0.0)
        for ring in _polygons(shapely.union_all(shapes[name])):
            verts.append(np.concatenate([ring, np.full((len(ring), 1), z)], axis=1))
            starts.append(starts[-1] + len(ring))
            layer.append(k)
            normals.append(np.zeros(3))
    vertices = np.concatenate(verts) if verts else np.zeros((0, 3))
    starts_arr = np.asarray(starts, dtype=np.int64)
    count = len(layer)
    centre = np.zeros((count, 3))
    radius = np.zeros(count)
    for i in range(count):
        v = vertices[starts_arr[i]:starts_arr[i + 1]]
        lo, hi = v.min(axis=0), v.max(axis=0)
        centre[i] = (lo + hi) / 2.0
        radius[i] = float(np.linalg.norm(hi - lo)) / 2.0
    return Ground(vertices, starts_arr, np.asarray(layer, dtype=np.int64), centre, radius,
                  np.asarray(normals, dtype=np.float64).reshape(count, 3), np.arange(count, dtype=np.int64))


# keyed by the RoadMap object (hashed by identity); entries die with the map
_CACHE: "weakref.WeakKeyDictionary[RoadMap, Ground]" = weakref.WeakKeyDictionary()


def ground_geometry(road: RoadMap) -> Ground:
    """The cached static polygons of a map."""
    ground = _CACHE.get(road)
    if ground is None:
        ground = _CACHE[road] = _build(road)
    return ground
