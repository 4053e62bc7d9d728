"""Agent types and the agents-as-arrays container the simulator steps.

Every field is an array over agents (N,), so one step updates all agents with a few numpy calls and a
batch of worlds can later be stacked along a new leading axis.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum

import numpy as np

from cordillera.geometry import speed_profile

__all__ = ["AgentType", "Behavior", "Flag", "DEFAULT_SIZE", "STATIC_TYPES", "Agents", "PathTable"]


class AgentType(IntEnum):
    CAR = 0
    TRUCK = 1
    BUS = 2
    MOTORCYCLE = 3
    CYCLIST = 4
    PEDESTRIAN = 5
    CONE = 6
    BARRIER = 7
    DEBRIS = 8
    PARKED_CAR = 9
    STALLED_VEHICLE = 10
    ANIMAL = 11


STATIC_TYPES = (AgentType.CONE, AgentType.BARRIER, AgentType.DEBRIS, AgentType.PARKED_CAR, AgentType.STALLED_VEHICLE)
VRU_TYPES = (AgentType.PEDESTRIAN, AgentType.CYCLIST, AgentType.ANIMAL)

# length, width, height [m]
DEFAULT_SIZE = {
    AgentType.CAR: (4.6, 1.9, 1.5),
    AgentType.TRUCK: (8.5, 2.5, 3.4),
    AgentType.BUS: (12.0, 2.6, 3.2),
    AgentType.MOTORCYCLE: (2.2, 0.8, 1.4),
    AgentType.CYCLIST: (1.8, 0.7, 1.7),
    AgentType.PEDESTRIAN: (0.6, 0.6, 1.75),
    AgentType.CONE: (0.4, 0.4, 0.7),
    AgentType.BARRIER: (0.6, 2.0, 1.0),
    AgentType.DEBRIS: (0.8, 0.8, 0.3),
    AgentType.PARKED_CAR: (4.6, 1.9, 1.5),
    AgentType.STALLED_VEHICLE: (4.6, 1.9, 1.5),
    AgentType.ANIMAL: (1.2, 0.5, 0.9),
}


CURVE_LATERAL_ACCEL = 2.0  # [m/s^2] comfortable lateral acceleration that sets speeds in curves
CURVE_DECEL = 2.0  # [m/s^2] braking used to slow down before a curve


class Behavior(IntEnum):
    IDM = 0
    STATIC = 1
    WALK = 2
    PATH = 3
    REPLAY = 4


class Flag(IntEnum):
    BRAKE = 1
    HAZARD = 2
    EMERGENCY = 4
    DOOR_OPEN = 8
    BLINK_LEFT = 16
    BLINK_RIGHT = 32
    SCHOOL_BUS = 64


@dataclass(frozen=True)
class PathTable:
    """Many polylines packed into one array so that all agents interpolate in one compiled loop (`kernels.interpolate_paths`).

    Path k occupies points[start[k]:end[k]]; its arc length in the packed table is offset by base[k],
    with a 1 m gap between consecutive paths so queries never leak into a neighbour.
    """

    points: np.ndarray  # (P, 2) world frame [m]
    s: np.ndarray  # (P,) packed arc length [m]
    start: np.ndarray  # (K,) int
    end: np.ndarray  # (K,) int (exclusive)
    base: np.ndarray  # (K,) packed arc length of each path's first point [m]
    length: np.ndarray  # (K,) [m]
    speed_cap: np.ndarray  # (P,) highest comfortable speed at each point (curves ahead) [m/s]

    @staticmethod
    def pack(paths: list[np.ndarray]) -> "PathTable":
        pts, ss, start, end, base, length, caps = [], [], [], [], [], [], []
        n, offset = 0, 0.0
        for p in paths:
            p = np.asarray(p, dtype=np.float64)
            seg = np.hypot(*np.diff(p, axis=0).T)
            cum = np.concatenate([[0.0], np.cumsum(seg)])
            pts.append(p)
            ss.append(cum + offset)
            start.append(n)
            end.append(n + len(p))
            base.append(offset)
            length.append(cum[-1])
            caps.append(speed_profile(p, CURVE_LATERAL_ACCEL, CURVE_DECEL))
            n += len(p)
            offset += cum[-1] + 1.0
        if not paths:
            empty = np.zeros(0, dtype=np.int64)
            return PathTable(np.zeros((0, 2)), np.zeros(0), empty, empty, np.zeros(0), np.zeros(0), np.zeros(0))
        return PathTable(np.concatenate(pts), np.concatenate(ss), np.array(start), np.array(end), np.array(base),
                         np.array(length), np.concatenate(caps))

    def append(self, points: np.ndarray) -> "PathTable":
        """A new table with one more path at index len(start) (the existing paths are not re-packed)."""
        tail = PathTable.pack([points])
        offset = self.base[-1] + self.length[-1] + 1.0 if len(self.base) else 0.0
        n = len(self.points)
        return PathTable(np.concatenate([self.points, tail.points]), np.concatenate([self.s, tail.s + offset]),
                         np.concatenate([self.start, tail.start + n]), np.concatenate([self.end, tail.end + n]),
                         np.concatenate([self.base, tail.base + offset]), np.concatenate([self.length, tail.length]),
                         np.concatenate([self.speed_cap, tail.speed_cap]))



@dataclass(frozen=True)
class Agents:
    """All non-ego agents as arrays (N,). World frame, SI units.

    Lane-following (IDM) agents move along a path (their route's centreline) at arc length `u` with
    lateral offset `d`; walkers and path agents move along their path; static agents never move.
    `route_offset` (N, L) gives, for every lane id, where that lane starts on the agent's path [m]
    (NaN for lanes not on its route); the leader search and stop-line logic read it.
    """

    names: tuple[str, ...]
    type: np.ndarray  # int8
    behavior: np.ndarray  # int8
    active: np.ndarray  # bool
    x: np.ndarray
    y: np.ndarray
    yaw: np.ndarray
    v: np.ndarray  # speed along heading [m/s]
    a: np.ndarray  # [m/s^2]
    length: np.ndarray
    width: np.ndarray
    height: np.ndarray
    flags: np.ndarray  # int32 bit set of Flag
    path: np.ndarray  # int index into the path table, -1 for none
    u: np.ndarray  # arc length along path [m]
    d: np.ndarray  # lateral offset from path [m], + left
    d_rate: np.ndarray  # lateral speed during a lane change [m/s]
    v_desired: np.ndarray  # [m/s]
    headway: np.ndarray  # IDM time headway [s]
    min_gap: np.ndarray  # IDM jam distance [m]
    max_accel: np.ndarray  # [m/s^2]
    comfort_decel: np.ndarray  # [m/s^2]
    forced_decel: np.ndarray  # >0 while a scripted hard brake / stop is active [m/s^2]
    ignore_signals: np.ndarray  # bool
    lane_changes: np.ndarray  # bool, MOBIL enabled
    stopped_for: np.ndarray  # [s] time spent stopped at a stop/yield line (stop-sign logic)
    cleared_stop: np.ndarray  # float path coordinate of the last stop line this agent has served [m]
    route_offset: np.ndarray  # (N, L) float

    @property
    def n(self) -> int:
        return len(self.x)

    def replace(self, **changes) -> "Agents":
        """A new Agents with some arrays swapped (no validation: the hot path of every step)."""
        new = object.__new__(Agents)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new

    def copy_arrays(self) -> dict[str, np.ndarray]:
        """A dict of writable copies of every array field (for building the next state)."""
        return {f.name: getattr(self, f.name).copy() for f in fields(self) if f.name != "names"}

    def to_npz_dict(self, prefix: str = "agents.") -> dict[str, np.ndarray]:
        return {prefix + k: v for k, v in self.copy_arrays().items()}

    @staticmethod
    def from_npz_dict(data, names: tuple[str, ...], prefix: str = "agents.") -> "Agents":
        kwargs = {}
        for f in fields(Agents):
            if f.name == "names":
                continue
            kwargs[f.name] = np.array(data[prefix + f.name])
        return Agents(names=tuple(names), **kwargs)
