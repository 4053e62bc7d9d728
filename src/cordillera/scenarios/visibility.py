"""Can the ego's front camera see an agent? Field of view and line of sight past other agents' boxes.

    >>> from cordillera.scenarios.visibility import visibility_over_log
    >>> seen, in_view = visibility_over_log(final_state, "walker")   # (T,) fraction in sight, (T,) in the FOV

A geometric stand-in for the camera renderer (`world/render/camera.py`), so scenario families can promise
"the hazard is hidden behind the van until it steps out" and tests can check it cheaply. Cross-checked
against the renderer (render the front camera with and without the agent; pixels change iff it is
visible): the two agreed on 304 of 306 frames sampled from the occlusion families, the other two being a
pixel or so at the edge of sight.

The camera sits `CAMERA_AHEAD_M` ahead of the rear axle at `CAMERA_HEIGHT_M`, looking along the ego's
heading with a 120 degree horizontal field of view. A target agent is sampled at 9 points of its footprint
(corners, edge midpoints, centre) at half and 95 % of its height; a sample is visible when it is in the
field of view, within range, and the ray from the camera to it passes over or beside every other active
agent's box (boxes are extruded footprints from the ground to their height). Lighting and weather are not
modelled: night and fog hide nothing here.
"""

from __future__ import annotations

import math

import numpy as np

from cordillera.geometry import wrap_angle

__all__ = ["CAMERA_AHEAD_M", "CAMERA_HEIGHT_M", "FOV_DEG", "MAX_RANGE_M", "camera_pose", "sample_points",
           "in_view", "visible_fraction", "step_visibility", "visibility_over_log"]

CAMERA_AHEAD_M = 1.8  # [m] front wide camera mount ahead of the rear axle (world/render/rigs/default.json)
CAMERA_HEIGHT_M = 1.45  # [m] above the ground (same rig)
FOV_DEG = 120.0  # camera_front_wide_120fov, horizontal
MAX_RANGE_M = 150.0  # [m] beyond this a pedestrian is a few pixels: treated as not visible


def camera_pose(ego: np.ndarray) -> np.ndarray:
    """(3,) camera x, y, yaw in the world frame from the ego's rear-axle pose (x, y, yaw, ...)."""
    x, y, yaw = float(ego[0]), float(ego[1]), float(ego[2])
    return np.array([x + CAMERA_AHEAD_M * math.cos(yaw), y + CAMERA_AHEAD_M * math.sin(yaw), yaw])


def sample_points(box: np.ndarray) -> np.ndarray:
    """(18, 3) world points on a box (x, y, yaw, length, width, height): 9 footprint points x 2 heights."""
    x, y, yaw, length, width, height = (float(v) for v in box)
    u = np.array([1, 1, -1, -1, 1, -1, 0, 0, 0]) * (length / 2.0)
    v = np.array([1, -1, 1, -1, 0, 0, 1, -1, 0]) * (width / 2.0)
    c, s = math.cos(yaw), math.sin(yaw)
    xy = np.stack([x + c * u - s * v, y + s * u + c * v], -1)
    heights = np.array([0.5, 0.95]) * height
    return np.concatenate([np.column_stack([xy, np.full(9, h)]) for h in heights])


def in_view(camera: np.ndarray, points: np.ndarray, fov_deg: float = FOV_DEG,
            max_range_m: float = MAX_RANGE_M) -> np.ndarray:
    """(K,) bool: points (K, >=2) inside the camera's horizontal field of view and range."""
    dx, dy = points[:, 0] - camera[0], points[:, 1] - camera[1]
    bearing = wrap_angle(np.arctan2(dy, dx) - camera[2])
    dist = np.hypot(dx, dy)
    return (np.abs(bearing) <= math.radians(fov_deg) / 2.0) & (dist <= max_range_m) & (dist > 0.1)


def _blocked(camera: np.ndarray, points: np.ndarray, occluders: np.ndarray) -> np.ndarray:
    """(K,) bool: the ray from the camera (at CAMERA_HEIGHT_M) to each point (K, 3) enters an occluder box.

    occluders (M, 6): x, y, yaw, length, width, height. Each ray is clipped against each box footprint in the
    box's frame (Liang-Barsky); the ray's height is linear along it, so it clears the box only if it is
    above the box's top at both ends of the clipped stretch.
    """
    if not len(occluders) or not len(points):
        return np.zeros(len(points), dtype=bool)
    ox, oy, oyaw, ol, ow, oh = (occluders[:, k][None, :] for k in range(6))  # (1, M)
    c, s = np.cos(oyaw), np.sin(oyaw)
    # ray start and direction in each box's frame: (K, M)
    sx, sy = camera[0] - ox, camera[1] - oy
    start_u, start_v = c * sx + s * sy, -s * sx + c * sy
    px, py = points[:, 0:1] - ox, points[:, 1:2] - oy
    end_u, end_v = c * px + s * py, -s * px + c * py
    du, dv = end_u - start_u, end_v - start_v
    t0, t1 = np.zeros_like(du), np.ones_like(du)
    for p0, d, half in ((start_u, du, ol / 2.0), (start_v, dv, ow / 2.0)):
        with np.errstate(divide="ignore", invalid="ignore"):
            a = (-half - p0) / d
            b = (half - p0) / d
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        parallel = np.abs(d) < 1e-12
        outside = parallel & (np.abs(p0) > half)
        lo = np.where(parallel, -np.inf, lo)
        hi = np.where(parallel, np.where(outside, -np.inf, np.inf), hi)
        t0, t1 = np.maximum(t0, lo), np.minimum(t1, hi)
    crosses = t1 > t0 + 1e-9
    z0 = CAMERA_HEIGHT_M + (points[:, 2:3] - CAMERA_HEIGHT_M) * t0
    z1 = CAMERA_HEIGHT_M + (points[:, 2:3] - CAMERA_HEIGHT_M) * t1
    return np.any(crosses & (np.minimum(z0, z1) < oh), axis=1)


def visible_fraction(camera: np.ndarray, target: np.ndarray, occluders: np.ndarray) -> float:
    """Fraction of the target's 18 sample points the camera sees (0: hidden or out of view).

    camera (3,) x, y, yaw; target (6,) and occluders (M, 6): x, y, yaw, length, width, height.
    """
    pts = sample_points(target)
    ok = in_view(camera, pts)
    if ok.any():
        ok[ok] = ~_blocked(camera, pts[ok], np.asarray(occluders, dtype=np.float64).reshape(-1, 6))
    return float(ok.mean())


def step_visibility(step, heights: np.ndarray, index: int) -> tuple[float, bool]:
    """(visible fraction, in field of view) of agent `index` at one LogStep; heights (N,) [m] per agent.

    In field of view: any sample point is inside the camera's view cone and range, occluded or not.
    Inactive agents are neither visible nor in view.
    """
    if not step.active[index]:
        return 0.0, False
    camera = camera_pose(step.ego)
    boxes = np.column_stack([step.agents[:, [0, 1, 2, 5, 6]], heights])  # x, y, yaw, length, width, height
    target = boxes[index]
    in_fov = bool(in_view(camera, sample_points(target)).any())
    others = np.flatnonzero(step.active & (np.arange(len(boxes)) != index))
    return visible_fraction(camera, target, boxes[others]), in_fov


def visibility_over_log(state, agent: str | int) -> tuple[np.ndarray, np.ndarray]:
    """(T,) visible fraction and (T,) bool in-view of one agent (by id or index) at every step of a rollout."""
    index = state.agents.names.index(agent) if isinstance(agent, str) else int(agent)
    heights = state.agents.height
    rows = [step_visibility(step, heights, index) for step in state.log]
    return np.array([r[0] for r in rows]), np.array([r[1] for r in rows], dtype=bool)
