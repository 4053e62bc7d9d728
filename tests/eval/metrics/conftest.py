"""Hand-made rollout logs for metric tests: every number in them is chosen so results can be checked by hand.

`make_log` takes the ego's box-centre poses and speeds per step and, optionally, agents per step; overlaps
are found with the same box test the simulator uses, unless given. The default map is a 200 m straight two-way
road with one 3.5 m lane per direction and no sidewalks: lane 0 ("fwd.0") runs +x along y = -1.75, lane 1
("bwd.0") runs -x along y = +1.75; the drivable area is |y| <= 3.5 (+ 0.05 m).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from cordillera.eval.metrics.rollout_log import RolloutLog
from cordillera.geometry import box_corners, boxes_overlap
from cordillera.world.dynamics import VehicleParams
from cordillera.world.roads import build_map
from cordillera.world.roads.routes import route_from_lanes
from cordillera.world.sim import LogStep

VEHICLE = VehicleParams()  # 4.8 m x 1.9 m, rear axle 1.4 m behind the box centre
STRAIGHT = build_map("straight", {"lanes_per_direction": 1, "length_m": 200.0, "sidewalks": False})


def straight_ego(x0: float, speed, steps: int, y: float = -1.75, dt: float = 0.1):
    """Centre poses (T, 3) and speeds (T,) of an ego driving +x at `speed` (scalar or (T,) per step) [m/s]."""
    v = np.broadcast_to(np.asarray(speed, dtype=np.float64), (steps,)).copy()
    x = x0 + np.concatenate([[0.0], np.cumsum(v[:-1] * dt)])
    return np.stack([x, np.full(steps, y), np.zeros(steps)], -1), v


def agent_row(x, y, yaw=0.0, v=0.0, length=4.6, width=1.9, a=0.0):
    return [x, y, yaw, v, a, length, width]


def make_log(centers, speeds, agents=None, types=(), active=None, accels=None, yaw_rates=None, collisions=None,
             plans=None, plan_t0=None, signals=None, flags=None, road=None, route_lanes=(0,), scenario=None,
             dt: float = 0.1) -> RolloutLog:
    """A RolloutLog from per-step ego box-centre poses (T, 3) and speeds (T,); agents (T, N, 7) or None."""
    road = road or STRAIGHT
    centers = np.asarray(centers, dtype=np.float64)
    T = len(centers)
    speeds = np.broadcast_to(np.asarray(speeds, dtype=np.float64), (T,))
    accels = np.zeros(T) if accels is None else np.broadcast_to(np.asarray(accels, dtype=np.float64), (T,))
    yaw_rates = np.zeros(T) if yaw_rates is None else np.broadcast_to(np.asarray(yaw_rates, dtype=np.float64), (T,))
    n = len(types)
    agents = np.zeros((T, 0, 7)) if agents is None else np.asarray(agents, dtype=np.float64).reshape(T, n, 7)
    active = np.ones((T, n), dtype=bool) if active is None else np.asarray(active, dtype=bool).reshape(T, n)
    flags = np.zeros((T, n), dtype=np.int64) if flags is None else np.asarray(flags).reshape(T, n)
    signals = np.zeros((T, len(road.signals)), dtype=np.int64) if signals is None else np.asarray(signals)
    off = VEHICLE.rear_axle_to_center_m
    steps = []
    for k in range(T):
        cx, cy, yaw = centers[k]
        rear = [cx - off * np.cos(yaw), cy - off * np.sin(yaw)]
        if collisions is None:
            ego_c = box_corners(cx, cy, yaw, VEHICLE.length_m, VEHICLE.width_m)
            a = agents[k]
            other = box_corners(a[:, 0], a[:, 1], a[:, 2], a[:, 5], a[:, 6])
            hit = tuple(int(i) for i in np.flatnonzero(boxes_overlap(ego_c[None], other) & active[k]))
        else:
            hit = tuple(collisions[k])
        plan = None if plans is None else plans[k]
        t0 = 0.0 if plan_t0 is None else plan_t0[k]
        steps.append(LogStep(round(k * dt, 9), np.array([*rear, yaw, speeds[k], accels[k], 0.0, yaw_rates[k]]),
                             centers[k].copy(), agents[k], active[k], flags[k], signals[k], plan, t0, hit))
    route = route_from_lanes(road, list(route_lanes))
    return RolloutLog.from_steps(steps, road, route, np.asarray(types, dtype=np.int64), VEHICLE, scenario)


@pytest.fixture
def kit():
    """The helpers above: kit.make_log, kit.straight_ego, kit.agent_row, kit.STRAIGHT, kit.VEHICLE."""
    return SimpleNamespace(make_log=make_log, straight_ego=straight_ego, agent_row=agent_row, STRAIGHT=STRAIGHT,
                           VEHICLE=VEHICLE)
