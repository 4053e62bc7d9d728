"""Agents and traffic signals as small stacks of shaded boxes with lights, for the cameras.

    >>> from cordillera.world.render.objects import build_objects
    >>> objs = build_objects(road, log_step, agent_types, agent_heights, look)   # Objects, world frame

Every agent type has a template: parts (boxes in fractions of the agent's length, width and height, optionally
tapered towards the top) and decals (quads on a part's face: windows, head and tail lights, blinkers). A car
is a dark chassis, a body and a glass cabin; a pedestrian is legs, torso and head (tall and thin); a cyclist a
thin bike under a rider; a bus one long box with a band of windows; a cone three tapered orange and white
rings. Flags add brake lights, blinkers, an emergency light bar or an open door. Signal heads stand on the far
side of the junction over each controlled lane (and on a pole at the stop line), with the lit lamp emissive.

Occlusion is a painter's algorithm: objects are drawn far to near (closest point of their box), the parts of
one object bottom-up by template level and then far to near, and decals right after their face.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np

from cordillera.world.agents import AgentType, Flag
from cordillera.world.render.appearance import Appearance
from cordillera.world.roads.map import RoadMap, SignalState

__all__ = ["Objects", "build_objects", "FACES"]

# box corners: 0..3 bottom front-left, rear-left, rear-right, front-right; 4..7 the same on top.
# faces as (bottom-left, bottom-right, top-right, top-left) seen from outside; winding gives outward normals
FACES = np.array([[3, 0, 4, 7], [1, 2, 6, 5], [0, 1, 5, 4], [2, 3, 7, 6], [5, 6, 7, 4], [0, 3, 2, 1]])
FRONT, BACK, LEFT, RIGHT, TOP, BOTTOM = range(6)
_BOTTOM_SHADE = 0.35

# fixed colours by role (agent-specific roles come from the Appearance palettes)
_FIXED = {"dark": (32, 32, 34), "glass": (42, 52, 64), "bike": (48, 48, 54), "helmet": (35, 35, 40),
          "orange": (245, 100, 25), "white": (236, 236, 232), "metal": (112, 114, 118), "housing": (30, 32, 30),
          "school": (245, 188, 20), "emergency": (240, 240, 240), "lamp_off": (52, 50, 44)}
_HEAD_ON, _HEAD_OFF = (255, 250, 225), (205, 205, 196)
_TAIL_NIGHT, _TAIL_DAY, _BRAKE = (190, 25, 25), (125, 22, 26), (255, 40, 40)
_BLINKER = (255, 168, 20)
_SIREN = ((255, 35, 35), (45, 90, 255))
_LAMPS = ((255, 45, 35), (255, 200, 40), (60, 255, 130))  # red, yellow, green (top to bottom)
_WALK, _DONT_WALK = (235, 235, 225), (255, 120, 30)
FLASH_HZ = 2.0  # blinkers and sirens toggle at this rate [Hz], as in the BEV

_ALL = ("",) * 6


def _faces(side: str, top: str | None = None) -> tuple[str, ...]:
    return (side, side, side, side, top or side, side)


# part: (face roles, x0, x1, y0, y1, z0, z1, taper, level); x, y in fractions of length / width about the centre,
# z in fractions of height; taper scales the top face; level orders stacked parts (lower first)
_CAR = (
    (_faces("dark"), -0.46, 0.46, -0.47, 0.47, 0.0, 0.25, 1.0, 0),
    (_faces("body"), -0.5, 0.5, -0.5, 0.5, 0.2, 0.6, 1.0, 1),
    (_faces("glass", "body"), -0.32, 0.2, -0.46, 0.46, 0.6, 1.0, 0.82, 2),
)
_TRUCK = (
    (_faces("dark"), -0.48, 0.48, -0.46, 0.46, 0.0, 0.16, 1.0, 0),
    (_faces("body"), 0.3, 0.5, -0.5, 0.5, 0.14, 0.82, 1.0, 1),
    (_faces("cargo"), -0.5, 0.28, -0.5, 0.5, 0.14, 1.0, 1.0, 1),
)
_BUS = (
    (_faces("dark"), -0.47, 0.47, -0.46, 0.46, 0.0, 0.12, 1.0, 0),
    (_faces("body"), -0.5, 0.5, -0.5, 0.5, 0.1, 1.0, 1.0, 1),
)
_MOTORCYCLE = (
    (_faces("bike"), -0.5, 0.5, -0.2, 0.2, 0.0, 0.42, 1.0, 0),
    (_faces("body"), -0.1, 0.32, -0.28, 0.28, 0.32, 0.56, 1.0, 1),
    (_faces("cloth"), -0.3, 0.02, -0.42, 0.42, 0.54, 0.86, 0.9, 2),
    (_faces("helmet"), -0.2, 0.0, -0.22, 0.22, 0.86, 1.0, 1.0, 3),
)
_CYCLIST = (
    (_faces("bike"), -0.5, 0.5, -0.08, 0.08, 0.0, 0.55, 1.0, 0),
    (_faces("pants"), -0.15, 0.12, -0.24, 0.24, 0.3, 0.56, 1.0, 1),
    (_faces("cloth"), -0.2, 0.1, -0.4, 0.4, 0.55, 0.86, 0.85, 2),
    (_faces("skin", "helmet"), -0.1, 0.06, -0.2, 0.2, 0.87, 1.0, 1.0, 3),
)
_PEDESTRIAN = (
    (_faces("pants"), -0.18, 0.18, -0.26, 0.26, 0.0, 0.48, 1.0, 0),
    (_faces("cloth"), -0.22, 0.22, -0.4, 0.4, 0.48, 0.84, 0.9, 1),
    (_faces("skin"), -0.16, 0.16, -0.16, 0.16, 0.86, 1.0, 1.0, 2),
)
_CONE = (
    (_faces("dark"), -0.5, 0.5, -0.5, 0.5, 0.0, 0.05, 1.0, 0),
    (_faces("orange"), -0.4, 0.4, -0.4, 0.4, 0.05, 0.45, 0.62, 1),
    (_faces("white"), -0.25, 0.25, -0.25, 0.25, 0.45, 0.65, 0.62, 2),
    (_faces("orange"), -0.155, 0.155, -0.155, 0.155, 0.65, 1.0, 0.35, 3),
)
_BARRIER = (
    (_faces("dark"), -0.5, 0.5, -0.5, -0.4, 0.0, 0.55, 1.0, 0),
    (_faces("dark"), -0.5, 0.5, 0.4, 0.5, 0.0, 0.55, 1.0, 0),
    (_faces("orange"), -0.12, 0.12, -0.5, 0.5, 0.5, 0.78, 1.0, 1),
    (_faces("white"), -0.12, 0.12, -0.5, 0.5, 0.78, 1.0, 1.0, 2),
)
_DEBRIS = (
    (_faces("debris"), -0.5, 0.15, -0.5, 0.3, 0.0, 1.0, 0.8, 0),
    (_faces("debris"), 0.0, 0.5, -0.15, 0.5, 0.0, 0.55, 0.9, 0),
)
_ANIMAL = (
    (_faces("animal_dark"), -0.4, 0.32, -0.3, 0.3, 0.0, 0.5, 1.0, 0),
    (_faces("animal"), -0.5, 0.3, -0.5, 0.5, 0.45, 0.85, 1.0, 1),
    (_faces("animal"), 0.3, 0.5, -0.3, 0.3, 0.62, 1.0, 1.0, 1),
)
_SIREN_PARTS = (
    (_faces("siren_left"), -0.08, 0.06, 0.0, 0.42, 1.0, 1.07, 1.0, 9),
    (_faces("siren_right"), -0.08, 0.06, -0.42, 0.0, 1.0, 1.07, 1.0, 9),
)
_DOOR_PARTS = ((_faces("body"), 0.1, 0.14, 0.5, 0.95, 0.22, 0.58, 1.0, 1),)

# decal: (part index, face, u0, u1, v0, v1, kind); u runs left to right, v bottom to top as seen from outside
_LIGHTS_CAR = ((1, FRONT, 0.06, 0.24, 0.55, 0.8, "head"), (1, FRONT, 0.76, 0.94, 0.55, 0.8, "head"),
               (1, BACK, 0.04, 0.22, 0.55, 0.82, "tail"), (1, BACK, 0.78, 0.96, 0.55, 0.82, "tail"),
               (1, FRONT, 0.0, 0.06, 0.55, 0.8, "blink_right"), (1, FRONT, 0.94, 1.0, 0.55, 0.8, "blink_left"),
               (1, BACK, 0.0, 0.04, 0.55, 0.82, "blink_left"), (1, BACK, 0.96, 1.0, 0.55, 0.82, "blink_right"))
_TRUCK_DECALS = ((1, FRONT, 0.06, 0.94, 0.55, 0.92, "glass"), (1, LEFT, 0.1, 0.85, 0.55, 0.9, "glass"),
                 (1, RIGHT, 0.15, 0.9, 0.55, 0.9, "glass"), (1, FRONT, 0.05, 0.2, 0.12, 0.25, "head"),
                 (1, FRONT, 0.8, 0.95, 0.12, 0.25, "head"), (2, BACK, 0.03, 0.15, 0.04, 0.12, "tail"),
                 (2, BACK, 0.85, 0.97, 0.04, 0.12, "tail"))
_BUS_DECALS = ((1, FRONT, 0.05, 0.95, 0.45, 0.92, "glass"), (1, LEFT, 0.04, 0.9, 0.5, 0.85, "glass"),
               (1, RIGHT, 0.1, 0.96, 0.5, 0.85, "glass"), (1, BACK, 0.1, 0.9, 0.6, 0.85, "glass"),
               (1, FRONT, 0.05, 0.18, 0.08, 0.16, "head"), (1, FRONT, 0.82, 0.95, 0.08, 0.16, "head"),
               (1, BACK, 0.03, 0.14, 0.08, 0.2, "tail"), (1, BACK, 0.86, 0.97, 0.08, 0.2, "tail"),
               (1, FRONT, 0.0, 0.05, 0.08, 0.16, "blink_right"), (1, FRONT, 0.95, 1.0, 0.08, 0.16, "blink_left"),
               (1, BACK, 0.0, 0.03, 0.08, 0.2, "blink_left"), (1, BACK, 0.97, 1.0, 0.08, 0.2, "blink_right"))
_MOTO_DECALS = ((1, FRONT, 0.3, 0.7, 0.3, 0.8, "head"), (0, BACK, 0.3, 0.7, 0.7, 0.95, "tail"))

# AgentType -> (parts, decals, body palette)
_TEMPLATES = {
    AgentType.CAR: (_CAR, _LIGHTS_CAR, "car"),
    AgentType.PARKED_CAR: (_CAR, _LIGHTS_CAR, "car"),
    AgentType.STALLED_VEHICLE: (_CAR, _LIGHTS_CAR, "car"),
    AgentType.TRUCK: (_TRUCK, _TRUCK_DECALS, "car"),
    AgentType.BUS: (_BUS, _BUS_DECALS, "bus"),
    AgentType.MOTORCYCLE: (_MOTORCYCLE, _MOTO_DECALS, "car"),
    AgentType.CYCLIST: (_CYCLIST, (), "car"),
    AgentType.PEDESTRIAN: (_PEDESTRIAN, (), "car"),
    AgentType.CONE: (_CONE, (), "car"),
    AgentType.BARRIER: (_BARRIER, (), "car"),
    AgentType.DEBRIS: (_DEBRIS, (), "car"),
    AgentType.ANIMAL: (_ANIMAL, (), "car"),
}
_VEHICLES = (AgentType.CAR, AgentType.PARKED_CAR, AgentType.STALLED_VEHICLE, AgentType.TRUCK, AgentType.BUS)


@dataclass(frozen=True)
class Objects:
    """Quads of every visible-candidate object face and decal for one time step (world frame), shared by the
    cameras of a rig. Quad k is quads[k] (4 corners); it belongs to part `part[k]`."""

    quads: np.ndarray  # (Q, 4, 3) float64 [m]
    normal: np.ndarray  # (Q, 3) outward unit normals
    centre: np.ndarray  # (Q, 3) bounding-sphere centres [m]
    radius: np.ndarray  # (Q,) [m]
    color: np.ndarray  # (Q, 3) uint8, lit
    emissive: np.ndarray  # (Q,) bool
    decal: np.ndarray  # (Q,) bool: drawn after the faces of its part
    part: np.ndarray  # (Q,) int index into the part arrays
    part_centre: np.ndarray  # (P, 3) [m]
    part_half: np.ndarray  # (P, 3) half extents along the part's own axes [m]
    part_yaw: np.ndarray  # (P,) [rad]
    part_level: np.ndarray  # (P,) int stacking order within an object
    part_group: np.ndarray  # (P,) int object id (parts of one object are contiguous)

    @property
    def count(self) -> int:
        return len(self.quads)


# ---- geometry helpers ----------------------------------------------------------------------------------


def _boxes(parts: tuple, x, y, yaw, length, width, height) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Corners (n, K, 8, 3) of K template parts on n objects, plus local centres (n, K, 3) and half sizes."""
    spec = np.array([p[1:8] for p in parts], dtype=np.float64)  # (K, 7)
    x0, x1, y0, y1, z0, z1, taper = spec.T
    L, W, H = (np.asarray(v, dtype=np.float64)[:, None] for v in (length, width, height))
    bx = np.stack([x1, x0, x0, x1], -1)[None] * L[..., None]  # (n, K, 4) along the object's x
    by = np.stack([y1, y1, y0, y0], -1)[None] * W[..., None]
    cx, cy = bx.mean(-1, keepdims=True), by.mean(-1, keepdims=True)
    tx = cx + (bx - cx) * taper[None, :, None]
    ty = cy + (by - cy) * taper[None, :, None]
    lx = np.concatenate([bx, tx], -1)  # (n, K, 8)
    ly = np.concatenate([by, ty], -1)
    lz = np.concatenate([np.repeat((z0[None] * H)[..., None], 4, -1), np.repeat((z1[None] * H)[..., None], 4, -1)], -1)
    c, s = np.cos(yaw)[:, None, None], np.sin(yaw)[:, None, None]
    wx = np.asarray(x)[:, None, None] + c * lx - s * ly
    wy = np.asarray(y)[:, None, None] + s * lx + c * ly
    corners = np.stack([wx, wy, lz], -1)
    half = np.stack([(x1 - x0)[None] * L / 2, (y1 - y0)[None] * W / 2, (z1 - z0)[None] * H / 2], -1)
    centre = corners.mean(axis=2)
    return corners, centre, half


def _bilinear(face: np.ndarray, u0, u1, v0, v1) -> np.ndarray:
    """Quad (..., 4, 3) at face coordinates [u0, u1] x [v0, v1] of face corners (..., 4, 3) (bl, br, tr, tl)."""
    bl, br, tr, tl = face[..., 0, :], face[..., 1, :], face[..., 2, :], face[..., 3, :]

    def at(u, v):
        return bl + (br - bl) * u + (tl - bl) * v + (bl - br + tr - tl) * (u * v)

    return np.stack([at(u0, v0), at(u1, v0), at(u1, v1), at(u0, v1)], -2)


class _Batch:
    """Accumulates parts and quads of one frame, then packs them into Objects."""

    def __init__(self, look: Appearance):
        self.look = look
        sun = np.asarray(look.sun, dtype=np.float64)
        self.sun = sun / np.linalg.norm(sun)
        self.quads, self.colors, self.emissive, self.decal, self.part = [], [], [], [], []
        self.part_centre, self.part_half, self.part_yaw, self.part_level, self.part_group = [], [], [], [], []
        self.n_parts = 0
        self.n_groups = 0

    def add_parts(self, corners, centre, half, yaw, levels, face_colors, emissive=None) -> np.ndarray:
        """corners (n, K, 8, 3); face_colors (n, K, 6, 3) base colours. Object i's parts get group ids in order.
        Returns the part ids (n, K)."""
        n, k = corners.shape[:2]
        ids = self.n_parts + np.arange(n * k).reshape(n, k)
        self.n_parts += n * k
        self.part_centre.append(centre.reshape(-1, 3))
        self.part_half.append(half.reshape(-1, 3))
        self.part_yaw.append(np.repeat(np.asarray(yaw, dtype=np.float64), k))
        self.part_level.append(np.tile(np.asarray(levels), n))
        self.part_group.append(np.repeat(self.n_groups + np.arange(n), k))
        self.n_groups += n
        faces = corners[:, :, FACES]  # (n, K, 6, 4, 3)
        normal = np.cross(faces[..., 1, :] - faces[..., 0, :], faces[..., 3, :] - faces[..., 0, :])
        normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-12)
        shade = np.where(np.arange(6) == BOTTOM, _BOTTOM_SHADE, 0.58 + 0.42 * np.maximum(normal @ self.sun, 0.0))
        lit = self.look.shade(face_colors, shade)
        emissive = np.zeros((n, k), bool) if emissive is None else emissive
        emit = np.repeat(emissive[:, :, None], 6, 2)
        lit = np.where(emit[..., None], face_colors, lit)
        self.quads.append(faces.reshape(-1, 4, 3))
        self.colors.append(lit.reshape(-1, 3))
        self.emissive.append(emit.reshape(-1))
        self.decal.append(np.zeros(n * k * 6, bool))
        self.part.append(np.repeat(ids.reshape(-1), 6))
        return ids

    def add_decals(self, quads, part_ids, colors, emissive) -> None:
        """quads (m, 4, 3) on parts part_ids (m,); colors (m, 3) base; emissive (m,) bool."""
        if not len(quads):
            return
        faces_normal = np.cross(quads[:, 1] - quads[:, 0], quads[:, 3] - quads[:, 0])
        faces_normal /= np.maximum(np.linalg.norm(faces_normal, axis=-1, keepdims=True), 1e-12)
        shade = 0.58 + 0.42 * np.maximum(faces_normal @ self.sun, 0.0)
        lit = np.where(emissive[:, None], colors, self.look.shade(colors, shade))
        self.quads.append(quads + faces_normal[:, None, :] * 0.005)
        self.colors.append(lit)
        self.emissive.append(np.asarray(emissive, bool))
        self.decal.append(np.ones(len(quads), bool))
        self.part.append(np.asarray(part_ids))

    def pack(self) -> Objects:
        if not self.quads:
            z3, z = np.zeros((0, 3)), np.zeros(0)
            return Objects(np.zeros((0, 4, 3)), z3, z3, z, np.zeros((0, 3), np.uint8), z.astype(bool),
                           z.astype(bool), z.astype(np.int64), z3, z3, z, z.astype(np.int64), z.astype(np.int64))
        quads = np.concatenate(self.quads)
        normal = np.cross(quads[:, 1] - quads[:, 0], quads[:, 3] - quads[:, 0])
        normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-12)
        lo, hi = quads.min(axis=1), quads.max(axis=1)
        return Objects(quads, normal, (lo + hi) / 2.0, np.linalg.norm(hi - lo, axis=-1) / 2.0,
                       np.round(np.concatenate(self.colors)).astype(np.uint8), np.concatenate(self.emissive),
                       np.concatenate(self.decal), np.concatenate(self.part).astype(np.int64),
                       np.concatenate(self.part_centre), np.concatenate(self.part_half),
                       np.concatenate(self.part_yaw), np.concatenate(self.part_level).astype(np.int64),
                       np.concatenate(self.part_group).astype(np.int64))


# ---- agents --------------------------------------------------------------------------------------------


def _role_colors(role: str, look: Appearance, index: np.ndarray, body: np.ndarray, flags: np.ndarray,
                 flash: bool) -> np.ndarray:
    n = len(index)
    if role == "body":
        return body
    if role in _FIXED:
        return np.broadcast_to(np.asarray(_FIXED[role], np.float64), (n, 3))
    if role == "animal_dark":
        return look.agent_colors("animal", index) * 0.55
    if role in ("siren_left", "siren_right"):
        first = (role == "siren_left") == flash
        return np.broadcast_to(np.asarray(_SIREN[0] if first else _SIREN[1], np.float64), (n, 3))
    palette = {"cargo": "cargo", "cloth": "cloth", "pants": "pants", "skin": "skin", "debris": "debris",
               "animal": "animal"}[role]
    offset = 97 if role == "pants" else 0  # trousers and shirt of one pedestrian differ
    return look.agent_colors(palette, index + offset)


def _face_colors(parts, look, index, body, flags, flash) -> np.ndarray:
    roles = sorted({r for p in parts for r in p[0]})
    table = {r: _role_colors(r, look, index, body, flags, flash) for r in roles}
    return np.stack([np.stack([table[r] for r in p[0]], 1) for p in parts], 1)  # (n, K, 6, 3)


def _decal_color(kind: str, flags: np.ndarray, look: Appearance, flash: bool):
    """(colours (n, 3), emissive (n,), drawn (n,)) of one decal kind for n objects."""
    n = len(flags)
    ones = np.ones(n, bool)
    if kind == "glass":
        return np.broadcast_to(np.asarray(_FIXED["glass"], np.float64), (n, 3)), ~ones, ones
    if kind == "head":
        color = _HEAD_ON if look.lights_on else _HEAD_OFF
        return np.broadcast_to(np.asarray(color, np.float64), (n, 3)), ones & look.lights_on, ones
    if kind == "tail":
        brake = (flags & Flag.BRAKE) != 0
        dim = _TAIL_NIGHT if look.lights_on else _TAIL_DAY
        color = np.where(brake[:, None], np.asarray(_BRAKE, np.float64), np.asarray(dim, np.float64))
        return color, brake | look.lights_on, ones
    side = Flag.BLINK_LEFT if kind == "blink_left" else Flag.BLINK_RIGHT
    on = ((flags & (side | Flag.HAZARD)) != 0) & flash
    return np.broadcast_to(np.asarray(_BLINKER, np.float64), (n, 3)), ones, on


def _add_template(batch: _Batch, parts, decals, rows, index, flags, heights, body, flash) -> None:
    x, y, yaw, length, width = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 5], rows[:, 6]
    corners, centre, half = _boxes(parts, x, y, yaw, length, width, heights)
    colors = _face_colors(parts, batch.look, index, body, flags, flash)
    emissive = np.broadcast_to(np.array([p[0][0].startswith("siren") for p in parts]), (len(index), len(parts)))
    ids = batch.add_parts(corners, centre, half, yaw, [p[8] for p in parts], colors, emissive)
    for part, face, u0, u1, v0, v1, kind in decals:
        color, emit, drawn = _decal_color(kind, flags, batch.look, flash)
        if not drawn.any():
            continue
        quad = _bilinear(corners[drawn, part][:, FACES[face]], u0, u1, v0, v1)
        batch.add_decals(quad, ids[drawn, part], np.asarray(color)[drawn], np.asarray(emit)[drawn])


def _add_agents(batch: _Batch, step, agent_types, agent_heights, centre_xy, reach) -> None:
    agents = np.asarray(step.agents, dtype=np.float64).reshape(-1, 7)
    if not len(agents):
        return
    types = np.asarray(agent_types, dtype=np.int64)
    heights = np.asarray(agent_heights, dtype=np.float64)
    flags = np.asarray(step.flags, dtype=np.int64)
    near = np.asarray(step.active, bool) & (np.hypot(agents[:, 0] - centre_xy[0], agents[:, 1] - centre_xy[1]) < reach)
    flash = int(float(step.t) * FLASH_HZ * 2.0) % 2 == 0
    look = batch.look
    for agent_type in np.unique(types[near]):
        idx = np.flatnonzero(near & (types == agent_type))
        parts, decals, palette = _TEMPLATES.get(AgentType(int(agent_type)), _TEMPLATES[AgentType.CAR])
        f = flags[idx]
        body = look.agent_colors(palette, idx).copy()
        if agent_type == AgentType.BUS:
            body[(f & Flag.SCHOOL_BUS) != 0] = _FIXED["school"]
        if agent_type in _VEHICLES:
            body[(f & Flag.EMERGENCY) != 0] = _FIXED["emergency"]
        _add_template(batch, parts, decals, agents[idx], idx, f, heights[idx], body, flash)
        for extra, flag in ((_SIREN_PARTS, Flag.EMERGENCY), (_DOOR_PARTS, Flag.DOOR_OPEN)):
            sel = (f & flag) != 0
            if sel.any() and agent_type in _VEHICLES:
                _add_template(batch, extra, (), agents[idx[sel]], idx[sel], f[sel], heights[idx[sel]], body[sel], flash)


# ---- signals -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fixtures:
    """Signal hardware of a map: boxes (pole, mast arm, head) and lamp positions, world frame."""

    boxes: np.ndarray  # (B, 7) x, y, yaw, length, width, z0, z1 [m]
    box_role: tuple[str, ...]  # (B,) "metal" or "housing"
    head_box: np.ndarray  # (L,) int index of the head box each lamp sits on
    lamp_uv: np.ndarray  # (L, 4) u0, u1, v0, v1 on the head's front face
    lamp_signal: np.ndarray  # (L,) int signal id
    lamp_slot: np.ndarray  # (L,) int 0 red, 1 yellow, 2 green; 3 don't walk, 4 walk


HEAD_Z = 5.6  # [m] bottom of a mast-arm head
POLE_HEAD_Z = 2.6  # [m] bottom of a pole-mounted head


def _head(boxes, roles, lamps, sid, x, y, facing, z0, pedestrian: bool) -> None:
    """A head box facing `facing` (its front face normal) with 3 vehicle lamps or 2 pedestrian lamps."""
    h = 0.75 if pedestrian else 1.05
    boxes.append((x, y, facing, 0.3, 0.38, z0, z0 + h))
    roles.append("housing")
    k = len(boxes) - 1
    slots = ((3, 0.55), (4, 0.1)) if pedestrian else ((0, 0.69), (1, 0.38), (2, 0.07))
    for slot, v0 in slots:
        lamps.append((k, (0.18, 0.82, v0, v0 + (0.35 if pedestrian else 0.26)), sid, slot))


def _fixtures(road: RoadMap) -> _Fixtures:
    boxes, roles, lamps = [], [], []
    for sig in road.signals:
        facing = float(sig.heading)
        fwd = np.array([math.cos(facing), math.sin(facing)])  # towards the drivers the head serves
        left_of_driver = np.array([-fwd[1], fwd[0]]) * -1.0
        px, py = (float(v) for v in sig.position)
        boxes.append((px, py, facing, 0.2, 0.2, 0.0, POLE_HEAD_Z + 1.1))
        roles.append("metal")
        hx, hy = np.array([px, py]) + fwd * 0.25  # in front of the pole
        _head(boxes, roles, lamps, sig.id, hx, hy, facing, POLE_HEAD_Z, pedestrian=not sig.lanes)
        if not sig.lanes:
            continue
        # far-side heads over each controlled lane, hung from a mast arm on a pole at the right kerb
        heads = []
        for lane_id in sig.lanes:
            lane = road.lanes[lane_id]
            end = lane.centerline.points[-1]
            straight = [s for s in lane.successors if road.lanes[s].turn == "straight"] or list(lane.successors)
            across = 12.0
            if straight:
                across = max(float(np.dot(road.lanes[straight[0]].centerline.points[-1] - end, -fwd)), 6.0)
            heads.append(end - fwd * across)
        heads = np.array(heads)
        lateral = heads @ left_of_driver  # driver's left is positive
        right_kerb = float(lateral.min()) - road.lanes[sig.lanes[0]].width / 2.0 - 1.0
        base = heads[int(np.argmin(lateral))] + left_of_driver * (right_kerb - float(lateral.min()))
        top = HEAD_Z + 1.05  # the heads hang from the arm
        boxes.append((base[0], base[1], facing, 0.3, 0.3, 0.0, top + 0.2))
        roles.append("metal")
        far_end = heads[int(np.argmax(lateral))] + left_of_driver * 0.5
        mid = (base + far_end) / 2.0
        span = float(np.hypot(*(far_end - base)))
        boxes.append((mid[0], mid[1], facing, 0.18, span, top, top + 0.18))
        roles.append("metal")
        for hx, hy in heads:
            _head(boxes, roles, lamps, sig.id, hx, hy, facing, HEAD_Z, pedestrian=False)
    if not boxes:
        empty = np.zeros(0, np.int64)
        return _Fixtures(np.zeros((0, 7)), (), empty, np.zeros((0, 4)), empty, empty)
    return _Fixtures(np.array(boxes, dtype=np.float64), tuple(roles), np.array([l[0] for l in lamps], np.int64),
                     np.array([l[1] for l in lamps], np.float64), np.array([l[2] for l in lamps], np.int64),
                     np.array([l[3] for l in lamps], np.int64))


_FIXTURES: "weakref.WeakKeyDictionary[RoadMap, _Fixtures]" = weakref.WeakKeyDictionary()


def _lamp_colors(slot: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Colours (L, 3) and lit flags (L,) of lamps in `slot` given their signal's SignalState."""
    vehicle_lit = (slot < 3) & (slot == np.select([state == SignalState.RED, state == SignalState.YELLOW,
                                                   state == SignalState.GREEN], [0, 1, 2], -1))
    walk = state == SignalState.RED  # pedestrians cross while the parallel vehicle heads are red
    ped_lit = ((slot == 4) & walk) | ((slot == 3) & ~walk & (state != SignalState.DARK))
    lit = vehicle_lit | ped_lit
    palette = np.array(_LAMPS + (_DONT_WALK, _WALK), np.float64)
    color = np.where(lit[:, None], palette[slot], np.asarray(_FIXED["lamp_off"], np.float64))
    return color, lit


def _add_signals(batch: _Batch, road: RoadMap, states: np.ndarray, centre_xy, reach) -> None:
    fix = _FIXTURES.get(road)
    if fix is None:
        fix = _FIXTURES[road] = _fixtures(road)
    if not len(fix.boxes):
        return
    b = fix.boxes
    near = np.hypot(b[:, 0] - centre_xy[0], b[:, 1] - centre_xy[1]) < reach
    if not near.any():
        return
    sel = np.flatnonzero(near)
    # one single-part object per box: a unit template scaled by the box, lifted to its bottom height
    unit = ((_ALL, -0.5, 0.5, -0.5, 0.5, 0.0, 1.0, 1.0, 0),)
    corners, centre, half = _boxes(unit, b[sel, 0], b[sel, 1], b[sel, 2], b[sel, 3], b[sel, 4], b[sel, 6] - b[sel, 5])
    corners[..., 2] += b[sel, 5][:, None, None]
    centre[..., 2] += b[sel, 5][:, None]
    colors = np.array([_FIXED[fix.box_role[k]] for k in sel], np.float64)[:, None, None, :].repeat(6, 2)
    ids = batch.add_parts(corners, centre, half, b[sel, 2], [0], colors)
    slot_of = {int(k): i for i, k in enumerate(sel)}
    lamps = np.array([slot_of.get(int(k), -1) for k in fix.head_box])
    ok = lamps >= 0
    if not ok.any():
        return
    sig_state = np.full(len(fix.lamp_signal), int(SignalState.DARK))
    known = fix.lamp_signal < len(states)
    sig_state[known] = np.asarray(states, dtype=np.int64)[fix.lamp_signal[known]]
    color, lit = _lamp_colors(fix.lamp_slot[ok], sig_state[ok])
    front = corners[lamps[ok], 0][:, FACES[FRONT]]  # (L, 4, 3)
    uv = fix.lamp_uv[ok]
    quads = _bilinear(front, uv[:, 0, None], uv[:, 1, None], uv[:, 2, None], uv[:, 3, None])
    batch.add_decals(quads, ids[lamps[ok], 0], color, lit)


def build_objects(road: RoadMap, step, agent_types, agent_heights, look: Appearance, reach_m: float = 250.0) -> Objects:
    """All agents (active, within reach_m of the ego) and signal fixtures of one log step as quads."""
    batch = _Batch(look)
    centre = np.asarray(step.ego[:2], dtype=np.float64)
    _add_signals(batch, road, np.asarray(step.signals), centre, reach_m)
    _add_agents(batch, step, agent_types, agent_heights, centre, reach_m)
    return batch.pack()
