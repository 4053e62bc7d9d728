"""Agents and traffic-signal hardware of one time step as coloured quads in the world frame.

    >>> from cordillera.world.render.objects import build_objects
    >>> objs = build_objects(road, log_step, agent_types, agent_heights, look)   # Objects, shared by all cameras

Shapes come from `templates.py`; this module places them (one vectorised pass over every part of every
object), colours them (palettes from the Appearance, lights from the agent flags, lamps from the signal
states) and shades each face by its angle to the sun. Signal heads stand on the far side of the junction
over each controlled lane, hung from a mast arm on a pole at the right kerb, plus one head on a pole at the
stop line; the lit lamp is emissive.

Occlusion is resolved later per camera (painter's algorithm, `camera.py`): objects far to near by the
closest point of their parts, the parts of one object by template level (stacked parts bottom-up) and then
far to near, and decals right after the faces of their part.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np
from numba import njit

from cordillera.world.agents import AgentType, Flag
from cordillera.world.render.appearance import Appearance
from cordillera.world.render.templates import (
    ALWAYS,
    COMPILED,
    DOOR,
    EMERGENCY,
    HEAD,
    KINDS,
    POLE,
    ROLES,
    VEHICLE_KINDS,
    WALK_HEAD,
    R,
)
from cordillera.world.roads.map import RoadMap, SignalState

assert (ALWAYS, EMERGENCY, DOOR) == (0, 1, 2)  # the column order of the condition table in _assemble

__all__ = ["Objects", "build_objects", "FLASH_HZ"]

FLASH_HZ = 2.0  # blinkers and sirens toggle at this rate [Hz], as in the BEV
HEAD_Z = 5.6  # [m] bottom of a mast-arm signal head
POLE_HEAD_Z = 2.6  # [m] bottom of a pole-mounted head

# fixed colours by role (R, G, B)
_FIXED = {"dark": (32, 32, 34), "glass": (42, 52, 64), "bike": (48, 48, 54), "helmet": (35, 35, 40),
          "orange": (245, 100, 25), "white": (236, 236, 232), "metal": (112, 114, 118), "housing": (30, 32, 30)}
_SCHOOL, _EMERGENCY_BODY = (245, 188, 20), (240, 240, 240)
_HEAD_ON, _HEAD_OFF = (255, 250, 225), (205, 205, 196)
_TAIL_NIGHT, _TAIL_DAY, _BRAKE = (190, 25, 25), (125, 22, 26), (255, 40, 40)
_BLINKER = (255, 168, 20)
_SIREN = ((255, 35, 35), (45, 90, 255))
_LAMP_OFF = (52, 50, 44)
_LAMPS = {"lamp_red": ((255, 45, 35), SignalState.RED), "lamp_yellow": ((255, 200, 40), SignalState.YELLOW),
          "lamp_green": ((60, 255, 130), SignalState.GREEN)}
_WALK, _DONT_WALK = (235, 235, 225), (255, 120, 30)


@dataclass(frozen=True)
class Objects:
    """Quads of every object face and decal of one time step (world frame), shared by a rig's cameras.
    Quad k belongs to part `part[k]`; the parts of one object (`part_group`) are contiguous."""

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
    part_group: np.ndarray  # (P,) int object id
    part_enabled: np.ndarray  # (P,) bool: conditional parts that are off (a closed door) have no quads
    starts: np.ndarray  # (Q + 1,) int64 0, 4, 8, ...: quads as flat polygons for the kernels

    @property
    def count(self) -> int:
        return len(self.quads)


@dataclass(frozen=True)
class _Rows:
    """Objects to place: one row each. rows (n, 7): x, y, yaw, length, width, height, base z [m]."""

    rows: np.ndarray
    kind: np.ndarray  # (n,) int AgentType or signal hardware kind
    flags: np.ndarray  # (n,) int Flag bits
    palette: np.ndarray  # (n,) int colour draw index (the agent index)
    state: np.ndarray  # (n,) int SignalState of a head's signal, DARK otherwise


def _concat(parts: list[_Rows]) -> _Rows:
    names = ("rows", "kind", "flags", "palette", "state")
    return _Rows(*(np.concatenate([getattr(p, name) for p in parts]) for name in names))


# ---- signal hardware -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fixtures:
    rows: np.ndarray  # (B, 7) as _Rows.rows
    kind: np.ndarray  # (B,) POLE, HEAD or WALK_HEAD
    signal: np.ndarray  # (B,) signal id of a head, -1 for poles


def _fixtures(road: RoadMap) -> _Fixtures:
    rows, kind, signal = [], [], []

    def box(x, y, yaw, length, width, z0, z1, k, sid=-1):
        rows.append((x, y, yaw, length, width, z1 - z0, z0))
        kind.append(k)
        signal.append(sid)

    for sig in road.signals:
        facing = float(sig.heading)  # the heads face the drivers they serve
        fwd = np.array([math.cos(facing), math.sin(facing)])
        drivers_left = np.array([fwd[1], -fwd[0]])
        px, py = (float(v) for v in sig.position)
        box(px, py, facing, 0.2, 0.2, 0.0, POLE_HEAD_Z + 1.1, POLE)
        hx, hy = np.array([px, py]) + fwd * 0.25  # in front of its pole
        if not sig.lanes:  # a pedestrian head
            box(hx, hy, facing, 0.3, 0.38, POLE_HEAD_Z, POLE_HEAD_Z + 0.75, WALK_HEAD, sig.id)
            continue
        box(hx, hy, facing, 0.3, 0.38, POLE_HEAD_Z, POLE_HEAD_Z + 1.05, HEAD, sig.id)
        heads = []
        for lane_id in sig.lanes:  # over each lane on the far side of the junction
            lane = road.lanes[lane_id]
            end = lane.centerline.points[-1]
            ahead = [s for s in lane.successors if road.lanes[s].turn == "straight"] or list(lane.successors)
            across = 12.0
            if ahead:
                across = max(float(np.dot(road.lanes[ahead[0]].centerline.points[-1] - end, -fwd)), 6.0)
            heads.append(end - fwd * across)
        heads = np.array(heads)
        lateral = heads @ drivers_left
        right = int(np.argmin(lateral))
        kerb = heads[right] - drivers_left * (road.lanes[sig.lanes[right]].width / 2.0 + 1.0)
        arm_z = HEAD_Z + 1.05  # the heads hang from the arm
        box(kerb[0], kerb[1], facing, 0.3, 0.3, 0.0, arm_z + 0.3, POLE)
        tip = heads[int(np.argmax(lateral))] + drivers_left * 0.5
        mid, span = (kerb + tip) / 2.0, float(np.hypot(*(tip - kerb)))
        box(mid[0], mid[1], facing, 0.18, span, arm_z, arm_z + 0.18, POLE)
        for hx, hy in heads:
            box(hx, hy, facing, 0.3, 0.38, HEAD_Z, arm_z, HEAD, sig.id)
    if not rows:
        return _Fixtures(np.zeros((0, 7)), np.zeros(0, np.int64), np.zeros(0, np.int64))
    return _Fixtures(np.array(rows, dtype=np.float64), np.array(kind, np.int64), np.array(signal, np.int64))


_FIXTURES: "weakref.WeakKeyDictionary[RoadMap, _Fixtures]" = weakref.WeakKeyDictionary()


def _fixture_rows(road: RoadMap, states: np.ndarray, centre: np.ndarray, reach: float) -> _Rows:
    fix = _FIXTURES.get(road)
    if fix is None:
        fix = _FIXTURES[road] = _fixtures(road)
    near = np.hypot(fix.rows[:, 0] - centre[0], fix.rows[:, 1] - centre[1]) < reach
    states = np.asarray(states, dtype=np.int64)
    sid = fix.signal[near]
    state = np.full(len(sid), int(SignalState.DARK), np.int64)
    ok = (sid >= 0) & (sid < len(states))
    state[ok] = states[sid[ok]]
    n = len(sid)
    return _Rows(fix.rows[near], fix.kind[near], np.zeros(n, np.int64), np.zeros(n, np.int64), state)


def _agent_rows(step, agent_types, agent_heights, centre: np.ndarray, reach: float) -> _Rows:
    agents = np.asarray(step.agents, dtype=np.float64).reshape(-1, 7)
    near = np.asarray(step.active, bool) & (np.hypot(agents[:, 0] - centre[0], agents[:, 1] - centre[1]) < reach)
    idx = np.flatnonzero(near)
    a = agents[idx]
    heights = np.asarray(agent_heights, dtype=np.float64)[idx]
    rows = np.stack([a[:, 0], a[:, 1], a[:, 2], a[:, 5], a[:, 6], heights, np.zeros(len(idx))], -1)
    kinds = np.clip(np.asarray(agent_types, dtype=np.int64)[idx], 0, len(AgentType) - 1)
    return _Rows(rows, kinds, np.asarray(step.flags, dtype=np.int64)[idx], idx,
                 np.full(len(idx), int(SignalState.DARK), np.int64))


# ---- colours ------------------------------------------------------------------------------------------

# every colour an object quad can take: per-agent palettes (256 draws each) then constants
_PER_AGENT = ("car", "bus", "cargo", "cloth", "skin", "debris", "animal")
_CONSTANTS = {**_FIXED, "animal_dark": None, "shadow": None, "head_on": _HEAD_ON, "head_off": _HEAD_OFF,
              "tail_night": _TAIL_NIGHT, "tail_day": _TAIL_DAY, "brake": _BRAKE, "blinker": _BLINKER,
              "siren_red": _SIREN[0], "siren_blue": _SIREN[1], "lamp_off": _LAMP_OFF, "walk": _WALK,
              "dont_walk": _DONT_WALK, "school": _SCHOOL, "emergency": _EMERGENCY_BODY,
              **{name: rgb for name, (rgb, _) in _LAMPS.items()}}
_ENTRIES = _PER_AGENT + tuple(_CONSTANTS)
E = {name: k for k, name in enumerate(_ENTRIES)}
_TABLES: dict[Appearance, np.ndarray] = {}


def _palette(look: Appearance) -> np.ndarray:
    """(entries, 256, 3) colours: row k of a per-agent palette is the colour of agents k, k + 256, ..."""
    table = _TABLES.get(look)
    if table is None:
        index = np.arange(256)
        rows = [look.agent_colors(name, index) for name in _PER_AGENT]
        for name, rgb in _CONSTANTS.items():
            if name == "animal_dark":
                rows.append(rows[E["animal"]] * 0.55)
            elif name == "shadow":
                rows.append(np.broadcast_to(np.asarray(look.road, np.float64) * 0.45, (256, 3)))
            else:
                rows.append(np.broadcast_to(np.asarray(rgb, np.float64), (256, 3)))
        table = np.stack(rows)
        if len(_TABLES) > 64:
            _TABLES.clear()
        _TABLES[look] = table
    return table


def _role_map(lights_on: bool, flash: bool) -> np.ndarray:
    """(KINDS, roles) palette entry of each role on each object kind."""
    names = {role: role for role in ROLES}
    names.update(body="car", pants="cloth", head="head_on" if lights_on else "head_off",
                 tail="tail_night" if lights_on else "tail_day", blink_left="blinker", blink_right="blinker",
                 siren_left="siren_red" if flash else "siren_blue", siren_right="siren_blue" if flash else "siren_red",
                 lamp_walk="walk", lamp_dont_walk="dont_walk")
    table = np.array([[E[names[role]] for role in ROLES] for _ in range(KINDS)], np.int64)
    table[AgentType.BUS, R["body"]] = E["bus"]
    return table


_ROLE_MAPS = {(on, fl): _role_map(on, fl) for on in (False, True) for fl in (False, True)}
_OFFSET = np.where(np.array(ROLES) == "pants", 97, 0)  # trousers and shirt of one agent differ
_IS_VEHICLE = np.isin(np.arange(KINDS), VEHICLE_KINDS)
_LAMP_STATE = np.array([int(_LAMPS[r][1]) if r in _LAMPS else -9 for r in ROLES])
# plain ints: enum attribute lookups cost microseconds each on this hot path
_F_SCHOOL_BUS, _F_EMERGENCY, _F_BRAKE = int(Flag.SCHOOL_BUS), int(Flag.EMERGENCY), int(Flag.BRAKE)
_F_BLINK_LEFT, _F_BLINK_RIGHT, _F_HAZARD, _F_DOOR_OPEN = (int(Flag.BLINK_LEFT), int(Flag.BLINK_RIGHT),
                                                          int(Flag.HAZARD), int(Flag.DOOR_OPEN))
_S_RED, _S_YELLOW, _S_GREEN = int(SignalState.RED), int(SignalState.YELLOW), int(SignalState.GREEN)
_BUS = int(AgentType.BUS)
_ALWAYS_GLOW = np.isin(ROLES, ("blink_left", "blink_right", "siren_left", "siren_right"))
_LIGHTS = np.isin(ROLES, ("head", "tail"))


def _quad_colors(r: _Rows, owner: np.ndarray, role: np.ndarray, look: Appearance, flash: bool):
    """Base colours (Q, 3), emissive (Q,) and drawn (Q,) of quads with roles `role` on objects `owner`."""
    kind, flags, state = r.kind[owner], r.flags[owner], r.state[owner]
    entry = _ROLE_MAPS[(look.lights_on, flash)][kind, role]
    body = role == R["body"]
    entry = np.where(body & (kind == _BUS) & ((flags & _F_SCHOOL_BUS) != 0), E["school"], entry)
    entry = np.where(body & _IS_VEHICLE[kind] & ((flags & _F_EMERGENCY) != 0), E["emergency"], entry)
    brake = (role == R["tail"]) & ((flags & _F_BRAKE) != 0)
    entry = np.where(brake, E["brake"], entry)
    walk, dont = role == R["lamp_walk"], role == R["lamp_dont_walk"]
    lamp = (_LAMP_STATE[role] != -9) | walk | dont
    lit = (state == _LAMP_STATE[role]) | (walk & (state == _S_RED))
    lit |= dont & ((state == _S_GREEN) | (state == _S_YELLOW))
    entry = np.where(lamp & ~lit, E["lamp_off"], entry)
    colors = _palette(look)[entry, (r.palette[owner] + _OFFSET[role]) % 256]
    emissive = _ALWAYS_GLOW[role] | (_LIGHTS[role] & look.lights_on) | brake | (lamp & lit)
    side = np.where(role == R["blink_left"], _F_BLINK_LEFT, _F_BLINK_RIGHT) | _F_HAZARD
    blink = (role == R["blink_left"]) | (role == R["blink_right"])
    drawn = ~blink | (flash & ((flags & side) != 0))
    return colors, emissive, drawn


# ---- assembly ------------------------------------------------------------------------------------------


def _ranges(counts: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For objects with `counts` items beginning at `starts` in a table: owner (N,), table index (N,), and
    the first output position of each object (n,)."""
    first = np.cumsum(counts) - counts
    owner = np.repeat(np.arange(len(counts)), counts)
    index = starts[owner] + np.arange(int(counts.sum())) - first[owner]
    return owner, index, first


def _empty() -> Objects:
    z3, z = np.zeros((0, 3)), np.zeros(0)
    zi, zb = z.astype(np.int64), z.astype(bool)
    return Objects(np.zeros((0, 4, 3)), z3, z3, z, np.zeros((0, 3), np.uint8), zb, zb, zi, z3, z3, z, zi, zi, zb,
                   np.zeros(1, np.int64))


@njit(cache=True)
def _place_quads(rows, owner, index, template, decal, sun, out_quads, out_normal, out_centre, out_radius, out_shade):
    """World corners of template quads `index` on objects `owner`, with normals, bounding spheres and the
    sun shading factor. Decals are lifted 5 mm off their face."""
    for i in range(owner.shape[0]):
        o, t = owner[i], index[i]
        x, y, yaw, length, width, height, z0 = (rows[o, 0], rows[o, 1], rows[o, 2], rows[o, 3], rows[o, 4],
                                                 rows[o, 5], rows[o, 6])
        c, s = math.cos(yaw), math.sin(yaw)
        for k in range(4):
            lx, ly = template[t, k, 0] * length, template[t, k, 1] * width
            out_quads[i, k, 0] = x + c * lx - s * ly
            out_quads[i, k, 1] = y + s * lx + c * ly
            out_quads[i, k, 2] = z0 + template[t, k, 2] * height
        ax, ay, az = (out_quads[i, 1, 0] - out_quads[i, 0, 0], out_quads[i, 1, 1] - out_quads[i, 0, 1],
                      out_quads[i, 1, 2] - out_quads[i, 0, 2])
        bx, by, bz = (out_quads[i, 3, 0] - out_quads[i, 0, 0], out_quads[i, 3, 1] - out_quads[i, 0, 1],
                      out_quads[i, 3, 2] - out_quads[i, 0, 2])
        nx, ny, nz = ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx
        norm = max(math.sqrt(nx * nx + ny * ny + nz * nz), 1e-12)
        nx, ny, nz = nx / norm, ny / norm, nz / norm
        out_normal[i, 0], out_normal[i, 1], out_normal[i, 2] = nx, ny, nz
        lift = 0.005 if decal[t] else 0.0
        cx = cy = cz = 0.0
        for k in range(4):
            out_quads[i, k, 0] += nx * lift
            out_quads[i, k, 1] += ny * lift
            out_quads[i, k, 2] += nz * lift
            cx += out_quads[i, k, 0] / 4.0
            cy += out_quads[i, k, 1] / 4.0
            cz += out_quads[i, k, 2] / 4.0
        r = 0.0
        for k in range(4):
            r = max(r, math.sqrt((out_quads[i, k, 0] - cx) ** 2 + (out_quads[i, k, 1] - cy) ** 2
                                 + (out_quads[i, k, 2] - cz) ** 2))
        out_centre[i, 0], out_centre[i, 1], out_centre[i, 2] = cx, cy, cz
        out_radius[i] = r
        out_shade[i] = 0.58 + 0.42 * max(nx * sun[0] + ny * sun[1] + nz * sun[2], 0.0)


def _assemble(r: _Rows, look: Appearance, t: float) -> Objects:
    if not len(r.kind):
        return _empty()
    tpl = COMPILED
    flash = int(t * FLASH_HZ * 2.0) % 2 == 0
    vehicle = _IS_VEHICLE[r.kind]
    condition = np.stack([np.ones(len(r.kind), bool), vehicle & ((r.flags & _F_EMERGENCY) != 0),
                          vehicle & ((r.flags & _F_DOOR_OPEN) != 0)], -1)  # (n, 3) indexed by condition
    # parts: boxes for the painter's order
    p_owner, p_index, p_first = _ranges(tpl.p_start[r.kind + 1] - tpl.p_start[r.kind], tpl.p_start[r.kind])
    row = r.rows[p_owner]
    size = row[:, 3:6]
    local = tpl.part_centre[p_index] * size
    c, s = np.cos(row[:, 2]), np.sin(row[:, 2])
    part_centre = np.stack([row[:, 0] + c * local[:, 0] - s * local[:, 1],
                            row[:, 1] + s * local[:, 0] + c * local[:, 1], row[:, 6] + local[:, 2]], -1)
    part_enabled = condition[p_owner, tpl.part_condition[p_index]]
    # quads
    q_owner, q_index, _ = _ranges(tpl.q_start[r.kind + 1] - tpl.q_start[r.kind], tpl.q_start[r.kind])
    role = tpl.role[q_index]
    base, emissive, drawn = _quad_colors(r, q_owner, role, look, flash)
    keep = condition[q_owner, tpl.condition[q_index]] & drawn
    q_owner, q_index, base, emissive = q_owner[keep], q_index[keep], base[keep], emissive[keep]
    n = len(q_owner)
    quads, normal, centre = np.empty((n, 4, 3)), np.empty((n, 3)), np.empty((n, 3))
    radius, shade = np.empty(n), np.empty(n)
    sun = np.asarray(look.sun, dtype=np.float64)
    _place_quads(r.rows, q_owner, q_index, tpl.quad, tpl.decal, sun / np.linalg.norm(sun), quads, normal, centre,
                 radius, shade)
    lit = np.where(emissive[:, None], base, look.shade(base, shade))
    return Objects(quads, normal, centre, radius, np.round(lit).astype(np.uint8), emissive, tpl.decal[q_index],
                   p_first[q_owner] + tpl.part[q_index], part_centre, tpl.part_half[p_index] * size, row[:, 2],
                   tpl.part_level[p_index], p_owner, part_enabled, np.arange(0, 4 * n + 1, 4, dtype=np.int64))


def build_objects(road: RoadMap, step, agent_types, agent_heights, look: Appearance, reach_m: float = 270.0) -> Objects:
    """Signal hardware and every active agent within reach_m of the ego at one log step, as quads."""
    centre = np.asarray(step.ego[:2], dtype=np.float64)
    rows = _concat([_fixture_rows(road, step.signals, centre, reach_m),
                    _agent_rows(step, agent_types, agent_heights, centre, reach_m)])
    return _assemble(rows, look, float(step.t))
