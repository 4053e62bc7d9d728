"""Planar geometry shared by every part: SE(2) frames, polylines, oriented boxes.

Conventions (see docs/architecture.md): world frame x east, y north; yaw counter-clockwise from +x [rad];
ego frame x forward, y left. All functions are vectorised over leading dimensions.

    >>> from cordillera.geometry import Polyline
    >>> line = Polyline([[0, 0], [10, 0]])
    >>> line.project([[3.0, 1.0]])  # (s, d, segment)
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "wrap_angle",
    "to_frame",
    "from_frame",
    "rotate",
    "Polyline",
    "curvature",
    "speed_profile",
    "speed_cap_at",
    "plan_speed",
    "box_corners",
    "boxes_overlap",
]


def wrap_angle(angle: np.ndarray | float) -> np.ndarray:
    """Wrap angles to [-pi, pi)."""
    wrapped = (np.asarray(angle) + np.pi) % (2.0 * np.pi) - np.pi
    # just below -pi, the modulo rounds up to 2 pi and the result to +pi: fold that back to -pi
    return np.where(wrapped >= np.pi, wrapped - 2.0 * np.pi, wrapped)[()]


def rotate(xy: np.ndarray, yaw: np.ndarray | float) -> np.ndarray:
    """Rotate points (..., 2) counter-clockwise by yaw (broadcast over leading dims)."""
    xy = np.asarray(xy, dtype=np.float64)
    c, s = np.cos(yaw), np.sin(yaw)
    x, y = xy[..., 0], xy[..., 1]
    return np.stack([c * x - s * y, s * x + c * y], axis=-1)


def to_frame(poses: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Express world poses (..., 3) [x, y, yaw] in the frame of `origin` (3,) [x, y, yaw]."""
    poses = np.asarray(poses, dtype=np.float64)
    origin = np.asarray(origin, dtype=np.float64)
    xy = rotate(poses[..., :2] - origin[:2], -origin[2])
    yaw = wrap_angle(poses[..., 2] - origin[2])
    return np.concatenate([xy, yaw[..., None]], axis=-1)


def from_frame(poses: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Inverse of `to_frame`: poses (..., 3) in the frame of `origin` -> world poses."""
    poses = np.asarray(poses, dtype=np.float64)
    origin = np.asarray(origin, dtype=np.float64)
    xy = rotate(poses[..., :2], origin[2]) + origin[:2]
    yaw = wrap_angle(poses[..., 2] + origin[2])
    return np.concatenate([xy, yaw[..., None]], axis=-1)


class Polyline:
    """A 2D polyline with arc length, heading, interpolation and vectorised projection.

    points: (N, 2) float64, N >= 2, consecutive points distinct [m].
    """

    __slots__ = ("points", "s", "length", "_seg_dir", "_seg_len", "_heading")

    def __init__(self, points: np.ndarray | list) -> None:
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] < 2:
            raise ValueError(f"polyline points must have shape (N>=2, 2), got {pts.shape}")
        if not np.all(np.isfinite(pts)):
            raise ValueError("polyline points must be finite")
        seg = np.diff(pts, axis=0)
        seg_len = np.hypot(seg[:, 0], seg[:, 1])
        if np.any(seg_len < 1e-9):
            raise ValueError("polyline has repeated consecutive points")
        self.points = pts
        self._seg_len = seg_len
        self._seg_dir = seg / seg_len[:, None]
        self._heading = np.arctan2(seg[:, 1], seg[:, 0])
        self.s = np.concatenate([[0.0], np.cumsum(seg_len)])
        self.length = float(self.s[-1])

    def __len__(self) -> int:
        return len(self.points)

    def interpolate(self, s: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Positions (..., 2) and headings (...) at arc lengths s (clamped to [0, length])."""
        s = np.clip(np.asarray(s, dtype=np.float64), 0.0, self.length)
        idx = np.clip(np.searchsorted(self.s, s, side="right") - 1, 0, len(self._seg_len) - 1)
        t = (s - self.s[idx])[..., None]
        xy = self.points[idx] + self._seg_dir[idx] * t
        return xy, self._heading[idx]

    def heading_at(self, s: np.ndarray | float) -> np.ndarray:
        """Heading (...) of the segment containing s: piecewise constant along the polyline [rad]."""
        return self.interpolate(s)[1]

    def tangent_heading(self, s: np.ndarray | float, half_window: float = 0.5) -> np.ndarray:
        """Heading (...) of the chord from s - half_window to s + half_window [rad].

        Varies continuously along a sampled curve, unlike `heading_at`; plans built from a polyline
        should use it, or a tracker sees the heading jump at every vertex.
        """
        ahead, _ = self.interpolate(np.asarray(s) + half_window)
        behind, _ = self.interpolate(np.asarray(s) - half_window)
        return np.arctan2(ahead[..., 1] - behind[..., 1], ahead[..., 0] - behind[..., 0])

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Project points (M, 2) onto the polyline.

        Returns s (M,) arc length of the closest point [m], d (M,) signed lateral offset (+ left of the
        direction of travel) [m], and the segment index (M,). Points beyond the ends project onto the end
        segments' extensions, so s may be < 0 or > length there.
        """
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        rel = p[:, None, :] - self.points[None, :-1, :]  # (M, S, 2)
        t = np.einsum("msk,sk->ms", rel, self._seg_dir)  # along-segment coordinate
        n_seg = len(self._seg_len)
        lo = np.full(n_seg, 0.0)
        hi = self._seg_len.copy()
        lo[0] = -np.inf  # extend the first and last segment so ends project continuously
        hi[-1] = np.inf
        tc = np.clip(t, lo, hi)
        closest = self.points[None, :-1, :] + self._seg_dir[None] * tc[..., None]
        dist2 = np.sum((p[:, None, :] - closest) ** 2, axis=-1)
        seg = np.argmin(dist2, axis=1)
        rows = np.arange(len(p))
        s = self.s[seg] + tc[rows, seg]
        r = rel[rows, seg]
        d = self._seg_dir[seg, 0] * r[:, 1] - self._seg_dir[seg, 1] * r[:, 0]
        return s, d, seg

    def resample(self, spacing: float) -> "Polyline":
        n = max(2, int(np.ceil(self.length / spacing)) + 1)
        xy, _ = self.interpolate(np.linspace(0.0, self.length, n))
        return Polyline(xy)

    def offset(self, d: float) -> np.ndarray:
        """Points (N, 2) shifted laterally by d (+ left), using vertex normals."""
        headings = np.concatenate([self._heading[:1], self._heading])
        nxt = np.concatenate([self._heading, self._heading[-1:]])
        mid = headings + wrap_angle(nxt - headings) / 2.0
        normal = np.stack([-np.sin(mid), np.cos(mid)], axis=-1)
        half = wrap_angle(nxt - headings) / 2.0
        scale = 1.0 / np.maximum(np.cos(half), 0.2)
        return self.points + normal * (d * scale)[:, None]


def smoothstep(x: np.ndarray | float) -> np.ndarray:
    """3x^2 - 2x^3 of x clipped to [0, 1]: an S-shaped blend from 0 to 1 with zero slope at both ends."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def curvature(points: np.ndarray) -> np.ndarray:
    """Unsigned curvature (N,) [1/m] at each vertex of a polyline (N, 2), from the circle through neighbours."""
    p = np.asarray(points, dtype=np.float64)
    k = np.zeros(len(p))
    if len(p) < 3:
        return k
    a, b, c = p[:-2], p[1:-1], p[2:]
    ab, bc, ca = np.hypot(*(b - a).T), np.hypot(*(c - b).T), np.hypot(*(a - c).T)
    cross = np.abs((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0])
    k[1:-1] = 2.0 * cross / np.maximum(ab * bc * ca, 1e-12)
    k[0], k[-1] = k[1], k[-2]
    return k


def speed_profile(points: np.ndarray, lateral_accel: float, decel: float, v_cap: float = 50.0) -> np.ndarray:
    """Highest speed (N,) [m/s] at each vertex so that |lateral acceleration| stays under `lateral_accel`
    [m/s^2] in curves and every curve ahead can be reached braking at `decel` [m/s^2]."""
    p = np.asarray(points, dtype=np.float64)
    v = np.minimum(np.sqrt(lateral_accel / np.maximum(curvature(p), 1e-9)), v_cap)
    s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(p, axis=0).T))])
    # v_i^2 <= v_j^2 + 2 decel (s_j - s_i) for every j >= i: a reverse running minimum
    reach = np.minimum.accumulate((v**2 + 2.0 * decel * s)[::-1])[::-1] - 2.0 * decel * s
    return np.sqrt(np.maximum(np.minimum(v**2, reach), 0.0))


def speed_cap_at(s: np.ndarray, caps: np.ndarray, query: np.ndarray, decel: float) -> np.ndarray:
    """Speed cap at arc lengths `query` from a `speed_profile` sampled at vertex arc lengths `s` [m/s].

    Inside a segment the cap is the smaller of its start vertex's cap and the next vertex's cap braked
    back at `decel`, so a long straight before a bend already slows down where it must.
    """
    q = np.asarray(query, dtype=np.float64)
    i = np.clip(np.searchsorted(s, q, side="right") - 1, 0, len(s) - 2)
    braked = np.sqrt(caps[i + 1] ** 2 + 2.0 * decel * np.maximum(s[i + 1] - q, 0.0))
    return np.minimum(caps[i], braked)


def plan_speed(poses: np.ndarray, seconds: float, dt: float = 0.1) -> float:
    """Speed [m/s] of a plan `seconds` ahead: the step from pose k - 1 to pose k (k = round(seconds / dt)) over
    dt, for poses (T, >= 2) one every dt from t0 + dt (pose k lies at t0 + (k + 1) dt, so the step spans
    seconds .. seconds + dt)."""
    k = int(round(seconds / dt))
    step = np.asarray(poses[k][:2], dtype=np.float64) - np.asarray(poses[k - 1][:2], dtype=np.float64)
    return float(np.hypot(step[0], step[1])) / dt


def box_corners(x, y, yaw, length, width) -> np.ndarray:
    """Corners (..., 4, 2) of oriented boxes centred at (x, y): front-left, rear-left, rear-right, front-right."""
    x, y, yaw, length, width = np.broadcast_arrays(
        *(np.asarray(a, dtype=np.float64) for a in (x, y, yaw, length, width))
    )
    hl, hw = length / 2.0, width / 2.0
    local = np.stack(
        [np.stack([hl, hw], -1), np.stack([-hl, hw], -1), np.stack([-hl, -hw], -1), np.stack([hl, -hw], -1)],
        axis=-2,
    )  # (..., 4, 2)
    c, s = np.cos(yaw)[..., None], np.sin(yaw)[..., None]
    wx = c * local[..., 0] - s * local[..., 1] + x[..., None]
    wy = s * local[..., 0] + c * local[..., 1] + y[..., None]
    return np.stack([wx, wy], axis=-1)


def boxes_overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Separating-axis test between box corner sets a (..., 4, 2) and b (..., 4, 2) (broadcast).

    Returns a bool array (...): True where the boxes overlap (touching counts as no overlap).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a, b = np.broadcast_arrays(a, b)
    overlap = np.ones(a.shape[:-2], dtype=bool)
    for box in (a, b):
        for k in range(2):
            edge = box[..., k + 1, :] - box[..., k, :]
            axis = np.stack([-edge[..., 1], edge[..., 0]], axis=-1)[..., None, :]  # (..., 1, 2)
            pa = np.sum(a * axis, axis=-1)
            pb = np.sum(b * axis, axis=-1)
            sep = (pa.max(-1) <= pb.min(-1)) | (pb.max(-1) <= pa.min(-1))
            overlap &= ~sep
    return overlap
