"""What each kind of object looks like: boxes and decals in units of the object's size, compiled to flat arrays.

A template is a few parts (boxes given as fractions of the object's length, width and height, optionally
tapered towards the top) and decals (quads on a part's face: windows, lamps). A car is a glass cabin on a
body that floats above a dark contact shadow (the gap reads as wheels); a pedestrian is legs, torso and head,
tall and thin; a cyclist is a thin bike under a rider; a bus one long box with a band of windows; a cone three
tapered rings. Conditional parts (emergency light bar, open door) are drawn only when the agent's flags ask.

`COMPILED` flattens every template into arrays (quads in normalised coordinates, one role per quad) so that
a frame's objects are built with a handful of vectorised numpy operations (`objects.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cordillera.world.agents import AgentType

__all__ = ["FACES", "ROLES", "KINDS", "POLE", "HEAD", "WALK_HEAD", "COMPILED", "Compiled", "VEHICLE_KINDS",
           "ALWAYS", "EMERGENCY", "DOOR"]

# box corners: 0..3 bottom front-left, rear-left, rear-right, front-right; 4..7 the same on top.
# faces as (bottom-left, bottom-right, top-right, top-left) seen from outside; winding gives outward normals
FACES = np.array([[3, 0, 4, 7], [1, 2, 6, 5], [0, 1, 5, 4], [2, 3, 7, 6], [5, 6, 7, 4], [0, 3, 2, 1]])
FRONT, BACK, LEFT, RIGHT, TOP, BOTTOM = range(6)

ROLES = ("body", "cargo", "cloth", "pants", "skin", "debris", "animal", "animal_dark", "dark", "glass", "bike",
         "helmet", "orange", "white", "metal", "housing", "shadow", "head", "tail", "blink_left", "blink_right",
         "siren_left", "siren_right", "lamp_red", "lamp_yellow", "lamp_green", "lamp_dont_walk", "lamp_walk")
R = {name: k for k, name in enumerate(ROLES)}
ALWAYS, EMERGENCY, DOOR = 0, 1, 2  # conditions of conditional parts

# object kinds: the AgentTypes, then signal hardware
POLE, HEAD, WALK_HEAD = len(AgentType), len(AgentType) + 1, len(AgentType) + 2
KINDS = len(AgentType) + 3
VEHICLE_KINDS = (AgentType.CAR, AgentType.PARKED_CAR, AgentType.STALLED_VEHICLE, AgentType.TRUCK, AgentType.BUS)


def _faces(side: str, top: str | None = None) -> tuple[str, ...]:
    return (side, side, side, side, top or side, side)


# part: (face roles, x0, x1, y0, y1, z0, z1, taper, level[, condition]); x, y in fractions of length / width about
# the centre, z in fractions of height; taper scales the top face; level orders stacked parts (lower first)
_SHADOW = (_faces("shadow"), -0.52, 0.52, -0.54, 0.54, 0.0, 0.0, 1.0, -1)
_SIREN = ((_faces("siren_left"), -0.08, 0.06, 0.0, 0.42, 1.0, 1.07, 1.0, 9, EMERGENCY),
          (_faces("siren_right"), -0.08, 0.06, -0.42, 0.0, 1.0, 1.07, 1.0, 9, EMERGENCY))
_DOOR = ((_faces("body"), 0.1, 0.14, 0.5, 0.95, 0.2, 0.58, 1.0, 1, DOOR),)
_CAR = (_SHADOW, (_faces("body"), -0.5, 0.5, -0.5, 0.5, 0.1, 0.6, 1.0, 1),
        (_faces("glass", "body"), -0.32, 0.2, -0.46, 0.46, 0.6, 1.0, 0.82, 2)) + _SIREN + _DOOR
_TRUCK = (_SHADOW, (_faces("body"), 0.3, 0.5, -0.5, 0.5, 0.08, 0.82, 1.0, 1),
          (_faces("cargo"), -0.5, 0.28, -0.5, 0.5, 0.08, 1.0, 1.0, 1)) + _SIREN
_BUS = (_SHADOW, (_faces("body"), -0.5, 0.5, -0.5, 0.5, 0.06, 1.0, 1.0, 1)) + _SIREN
_MOTORCYCLE = (
    (_faces("bike"), -0.5, 0.5, -0.1, 0.1, 0.0, 0.4, 1.0, 0),
    (_faces("body"), -0.2, 0.32, -0.26, 0.26, 0.3, 0.56, 0.9, 1),
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
    (_faces("orange"), -0.42, 0.42, -0.42, 0.42, 0.0, 0.45, 0.6, 1),
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
_UNIT_METAL = ((_faces("metal"), -0.5, 0.5, -0.5, 0.5, 0.0, 1.0, 1.0, 0),)
_UNIT_HOUSING = ((_faces("housing"), -0.5, 0.5, -0.5, 0.5, 0.0, 1.0, 1.0, 0),)

# decal: (part index, face, u0, u1, v0, v1, role); u runs left to right, v bottom to top as seen from outside
_LIGHTS = ((1, FRONT, 0.06, 0.24, 0.55, 0.8, "head"), (1, FRONT, 0.76, 0.94, 0.55, 0.8, "head"),
           (1, BACK, 0.04, 0.22, 0.55, 0.82, "tail"), (1, BACK, 0.78, 0.96, 0.55, 0.82, "tail"),
           (1, FRONT, 0.0, 0.06, 0.55, 0.8, "blink_right"), (1, FRONT, 0.94, 1.0, 0.55, 0.8, "blink_left"),
           (1, BACK, 0.0, 0.04, 0.55, 0.82, "blink_left"), (1, BACK, 0.96, 1.0, 0.55, 0.82, "blink_right"))
_TRUCK_DECALS = ((1, FRONT, 0.06, 0.94, 0.55, 0.92, "glass"), (1, LEFT, 0.1, 0.85, 0.55, 0.9, "glass"),
                 (1, RIGHT, 0.15, 0.9, 0.55, 0.9, "glass"), (1, FRONT, 0.05, 0.2, 0.12, 0.25, "head"),
                 (1, FRONT, 0.8, 0.95, 0.12, 0.25, "head"), (2, BACK, 0.03, 0.15, 0.04, 0.12, "tail"),
                 (2, BACK, 0.85, 0.97, 0.04, 0.12, "tail"), (2, BACK, 0.0, 0.03, 0.04, 0.12, "blink_left"),
                 (2, BACK, 0.97, 1.0, 0.04, 0.12, "blink_right"))
_BUS_DECALS = ((1, FRONT, 0.05, 0.95, 0.45, 0.92, "glass"), (1, LEFT, 0.04, 0.9, 0.5, 0.85, "glass"),
               (1, RIGHT, 0.1, 0.96, 0.5, 0.85, "glass"), (1, BACK, 0.1, 0.9, 0.6, 0.85, "glass"),
               (1, FRONT, 0.05, 0.18, 0.08, 0.16, "head"), (1, FRONT, 0.82, 0.95, 0.08, 0.16, "head"),
               (1, BACK, 0.03, 0.14, 0.08, 0.2, "tail"), (1, BACK, 0.86, 0.97, 0.08, 0.2, "tail"),
               (1, FRONT, 0.0, 0.05, 0.08, 0.16, "blink_right"), (1, FRONT, 0.95, 1.0, 0.08, 0.16, "blink_left"),
               (1, BACK, 0.0, 0.03, 0.08, 0.2, "blink_left"), (1, BACK, 0.97, 1.0, 0.08, 0.2, "blink_right"))
_MOTO_DECALS = ((1, FRONT, 0.3, 0.7, 0.3, 0.8, "head"), (0, BACK, 0.3, 0.7, 0.7, 0.95, "tail"))
_HEAD_DECALS = tuple((0, FRONT, 0.18, 0.82, v0, v0 + 0.26, role)
                     for role, v0 in (("lamp_red", 0.69), ("lamp_yellow", 0.38), ("lamp_green", 0.07)))
_WALK_DECALS = ((0, FRONT, 0.18, 0.82, 0.55, 0.9, "lamp_dont_walk"), (0, FRONT, 0.18, 0.82, 0.1, 0.45, "lamp_walk"))

TEMPLATES = {
    AgentType.CAR: (_CAR, _LIGHTS), AgentType.PARKED_CAR: (_CAR, _LIGHTS),
    AgentType.STALLED_VEHICLE: (_CAR, _LIGHTS), AgentType.TRUCK: (_TRUCK, _TRUCK_DECALS),
    AgentType.BUS: (_BUS, _BUS_DECALS), AgentType.MOTORCYCLE: (_MOTORCYCLE, _MOTO_DECALS),
    AgentType.CYCLIST: (_CYCLIST, ()), AgentType.PEDESTRIAN: (_PEDESTRIAN, ()), AgentType.CONE: (_CONE, ()),
    AgentType.BARRIER: (_BARRIER, ()), AgentType.DEBRIS: (_DEBRIS, ()), AgentType.ANIMAL: (_ANIMAL, ()),
    POLE: (_UNIT_METAL, ()), HEAD: (_UNIT_HOUSING, _HEAD_DECALS), WALK_HEAD: (_UNIT_HOUSING, _WALK_DECALS),
}


@dataclass(frozen=True)
class Compiled:
    """All templates as flat arrays. Kind k owns quads q_start[k]:q_start[k+1] and parts p_start[k]:p_start[k+1];
    within a kind, quads are grouped by part (faces, then that part's decals)."""

    quad: np.ndarray  # (Q, 4, 3) corners in fractions of (length, width, height)
    role: np.ndarray  # (Q,) int index into ROLES
    part: np.ndarray  # (Q,) int part index within the kind
    decal: np.ndarray  # (Q,) bool
    condition: np.ndarray  # (Q,) int ALWAYS / EMERGENCY / DOOR
    part_centre: np.ndarray  # (P, 3) normalised
    part_half: np.ndarray  # (P, 3) normalised half extents
    part_level: np.ndarray  # (P,) int
    part_condition: np.ndarray  # (P,) int
    q_start: np.ndarray  # (KINDS + 1,) int
    p_start: np.ndarray  # (KINDS + 1,) int


def _corners(x0, x1, y0, y1, z0, z1, taper) -> np.ndarray:
    """(8, 3) normalised corners of a part in FACES order."""
    bx, by = np.array([x1, x0, x0, x1]), np.array([y1, y1, y0, y0])
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    top = np.stack([cx + (bx - cx) * taper, cy + (by - cy) * taper, np.full(4, z1)], -1)
    return np.concatenate([np.stack([bx, by, np.full(4, z0)], -1), top])


def _bilinear(face: np.ndarray, u0, u1, v0, v1) -> np.ndarray:
    """Quad (4, 3) at face coordinates [u0, u1] x [v0, v1] of a face (4, 3) given as (bl, br, tr, tl)."""
    bl, br, tr, tl = face

    def at(u, v):
        return bl + (br - bl) * u + (tl - bl) * v + (bl - br + tr - tl) * (u * v)

    return np.stack([at(u0, v0), at(u1, v0), at(u1, v1), at(u0, v1)])


def _compile() -> Compiled:
    quad, role, part, decal, cond = [], [], [], [], []
    centre, half, level, pcond = [], [], [], []
    q_start, p_start = [0], [0]
    for kind in range(KINDS):
        parts, decals = TEMPLATES[kind]
        for k, spec in enumerate(parts):
            roles, x0, x1, y0, y1, z0, z1, taper, lvl = spec[:9]
            condition = spec[9] if len(spec) > 9 else ALWAYS
            corners = _corners(x0, x1, y0, y1, z0, z1, taper)
            centre.append(corners.mean(axis=0))
            half.append([(x1 - x0) / 2.0, (y1 - y0) / 2.0, (z1 - z0) / 2.0])
            level.append(lvl)
            pcond.append(condition)
            flat = z1 <= z0
            # a flat part (contact shadow) is only its top; a part on the ground never shows its bottom
            faces = (TOP,) if flat else tuple(f for f in range(6) if not (f == BOTTOM and z0 <= 0.0))
            for f in faces:
                quad.append(corners[FACES[f]])
                role.append(R[roles[f]])
                part.append(k)
                decal.append(False)
                cond.append(condition)
            for d_part, face, u0, u1, v0, v1, d_role in decals:
                if d_part == k:
                    quad.append(_bilinear(corners[FACES[face]], u0, u1, v0, v1))
                    role.append(R[d_role])
                    part.append(k)
                    decal.append(True)
                    cond.append(condition)
        q_start.append(len(quad))
        p_start.append(len(centre))
    return Compiled(np.array(quad), np.array(role, np.int64), np.array(part, np.int64), np.array(decal, bool),
                    np.array(cond, np.int64), np.array(centre), np.array(half), np.array(level, np.int64),
                    np.array(pcond, np.int64), np.array(q_start, np.int64), np.array(p_start, np.int64))


COMPILED = _compile()
