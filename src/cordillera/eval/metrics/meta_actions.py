"""Atomic meta-actions of a trajectory at 10 Hz: the one detector behind keyframes and reasoning consistency.

    >>> from cordillera.eval.metrics.meta_actions import detect_meta_actions
    >>> timeline = detect_meta_actions(poses)             # poses (T, 3) [x, y, yaw], 0.1 s apart
    >>> timeline.segments("longitudinal")                 # [Segment("maintain_speed", 0, 31), ...]
    >>> timeline.changes()                                # steps where a longitudinal or lane segment starts

Three channels, as in the CoC autolabeler (dataset_and_coc.md §2.2, Alpamayo-R1 Table 5):
- longitudinal: gentle/strong acceleration, gentle/strong deceleration, maintain speed, stop;
- steering: go straight, steer left/right, sharp steer left/right;
- lane: lane keep, lane change left/right, shift left/right, turn left/right.

How (all thresholds in `MetaActionConfig`, eval/metrics/config.py):
1. per step, a raw label: speed below 0.12 m/s is a stop, else the smoothed acceleration's class
   (|a| < 0.15 maintain, 0.15-1.4 gentle, >= 1.4 strong); heading rate per metre >= 0.0015 rad/m steers, >= 0.05
   rad/m steers sharply; lateral speed off the lane reference (or the start heading line) >= 0.1 m/s shifts.
   A sharp steer is a turn in the lane channel.
2. segment smoothing: runs shorter than `min_segment_s` (0.8 s, the autolabeler's 8 ticks) merge into their
   longer neighbour, shortest first.
3. each segment is classified again as a whole, by the same rules `classify_meta_action` applies to a whole
   trajectory (`speed_change`, `lane_class`): a speed change needs |delta v| >= 0.8 m/s and |mean a| >= 0.15
   m/s^2; a stop needs the segment's mean speed below 0.12 m/s; a steer needs >= 0.015 rad of heading change
   (sharp: >= 0.2 rad and >= 0.05 rad/m); a shift of >= 1 m is a lane change, >= 0.3 m a shift, less is lane
   keeping. Equal neighbours merge.

`classify_meta_action` (eval.metrics.reasoning) is step 3 applied to the whole trajectory, so the consistency
metric and the teacher's keyframes can never disagree about what an action is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cordillera.eval.metrics.config import MetaActionConfig
from cordillera.geometry import Polyline, rotate

__all__ = ["LONGITUDINAL_ACTIONS", "STEERING_ACTIONS", "LANE_ACTIONS", "COARSE_LONGITUDINAL", "COARSE_LANE",
           "Segment", "MetaActionTimeline", "speed_change", "lane_class", "lateral_offsets", "detect_meta_actions"]

LONGITUDINAL_ACTIONS = ("strong_acceleration", "gentle_acceleration", "maintain_speed", "gentle_deceleration",
                        "strong_deceleration", "stop")
STEERING_ACTIONS = ("go_straight", "steer_left", "steer_right", "sharp_steer_left", "sharp_steer_right")
LANE_ACTIONS = ("lane_keep", "lane_change_left", "lane_change_right", "shift_left", "shift_right", "turn_left",
                "turn_right")
# atomic action -> the coarse meta-action the consistency metric compares with a decision
COARSE_LONGITUDINAL = {"stop": "stop", "strong_deceleration": "yield", "gentle_deceleration": "slow_down",
                       "maintain_speed": "keep", "gentle_acceleration": "accelerate",
                       "strong_acceleration": "accelerate"}
COARSE_LANE = {"lane_keep": "keep_lane", "lane_change_left": "lane_change_left",
               "lane_change_right": "lane_change_right", "shift_left": "nudge_left", "shift_right": "nudge_right",
               "turn_left": "turn_left", "turn_right": "turn_right"}
CHANNELS = ("longitudinal", "steering", "lane")


@dataclass(frozen=True)
class Segment:
    label: str
    start: int  # first step
    end: int  # one past the last step


@dataclass(frozen=True)
class MetaActionTimeline:
    """Per-step atomic meta-actions (T,) of each channel, dt apart."""

    dt: float
    longitudinal: tuple[str, ...]
    steering: tuple[str, ...]
    lane: tuple[str, ...]

    def segments(self, channel: str) -> list[Segment]:
        if channel not in CHANNELS:
            raise ValueError(f"channel: expected one of {CHANNELS}, got {channel!r}")
        return [Segment(label, start, end) for label, start, end in _runs(getattr(self, channel))]

    def changes(self, channels: tuple[str, ...] = ("longitudinal", "lane")) -> list[int]:
        """Sorted steps (> 0) where a segment of any of the channels starts."""
        return sorted({seg.start for ch in channels for seg in self.segments(ch) if seg.start > 0})

    def coarse(self, k: int) -> tuple[str, str]:
        """(longitudinal, lateral) coarse meta-action at step k, in eval.metrics.reasoning's vocabulary."""
        return COARSE_LONGITUDINAL[self.longitudinal[k]], COARSE_LANE[self.lane[k]]


def speed_change(v: np.ndarray, dt: float, cfg: MetaActionConfig) -> str:
    """Speed class of a stretch with speeds v (K >= 2,) dt apart [m/s]: maintain_speed unless |delta v| >= the
    minimum change and |mean acceleration| >= gentle; strong at >= strong_accel. Stops are the caller's rule."""
    dv = float(v[-1] - v[0])
    mean_accel = dv / (max(len(v) - 1, 1) * dt)
    if abs(dv) < cfg.min_speed_change_mps or abs(mean_accel) < cfg.gentle_accel:
        return "maintain_speed"
    strength = "strong" if abs(mean_accel) >= cfg.strong_accel else "gentle"
    return f"{strength}_{'acceleration' if dv > 0 else 'deceleration'}"


def lane_class(offset: np.ndarray, heading_change: float, length: float, cfg: MetaActionConfig) -> str:
    """Lane action of a stretch: offset (K,) lateral offsets from the reference relative to the stretch's first
    [m, + left]; heading_change: total heading change [rad, + left]; length: distance driven [m]."""
    turn = abs(heading_change)
    if turn >= cfg.turn_heading_rad and turn >= cfg.turn_rate_rad_per_m * max(length, 1e-9):
        return "turn_left" if heading_change > 0 else "turn_right"
    peak = float(offset[np.argmax(np.abs(offset))])
    if abs(offset[-1]) >= cfg.lane_change_offset_m:
        return "lane_change_left" if offset[-1] > 0 else "lane_change_right"
    if abs(peak) >= cfg.nudge_offset_m:
        return "shift_left" if peak > 0 else "shift_right"
    return "lane_keep"


def _steer_class(heading_change: float, length: float, cfg: MetaActionConfig) -> str:
    rate = abs(heading_change) / max(length, 1e-9)
    side = "left" if heading_change > 0 else "right"
    if abs(heading_change) >= cfg.turn_heading_rad and rate >= cfg.turn_rate_rad_per_m:
        return f"sharp_steer_{side}"
    if abs(heading_change) >= cfg.steer_heading_rad and rate >= cfg.steer_rate_rad_per_m:
        return f"steer_{side}"
    return "go_straight"


def lateral_offsets(poses: np.ndarray, reference: Polyline | None = None) -> np.ndarray:
    """(T,) lateral offsets [m, + left] of poses (T, 3) from the reference polyline, or, without one, from the
    first pose's heading line (right only on straight roads, for a trajectory that starts lined up)."""
    p = np.asarray(poses, dtype=np.float64)
    if reference is not None:
        return reference.project(p[:, :2])[1]
    return rotate(p[:, :2] - p[0, :2], -p[0, 2])[:, 1]


def _runs(labels) -> list[tuple[str, int, int]]:
    out: list[tuple[str, int, int]] = []
    for k, label in enumerate(labels):
        if out and out[-1][0] == label:
            out[-1] = (label, out[-1][1], k + 1)
        else:
            out.append((label, k, k + 1))
    return out


def _merge_short(labels: list[str], min_len: int) -> list[str]:
    """Relabel runs shorter than min_len with their longer neighbour's label, shortest run first."""
    labels = list(labels)
    while True:
        runs = _runs(labels)
        short = [r for r in runs if r[2] - r[1] < min_len]
        if len(runs) < 2 or not short:
            return labels
        k = runs.index(min(short, key=lambda r: r[2] - r[1]))
        neighbours = [runs[j] for j in (k - 1, k + 1) if 0 <= j < len(runs)]
        into = max(neighbours, key=lambda r: r[2] - r[1])
        labels[runs[k][1]:runs[k][2]] = [into[0]] * (runs[k][2] - runs[k][1])


def _smooth(x: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(x) < 2:
        return x.copy()
    half = window // 2
    padded = np.concatenate([np.full(half, x[0]), x, np.full(half, x[-1])])
    return np.convolve(padded, np.ones(2 * half + 1) / (2 * half + 1), mode="valid")


def detect_meta_actions(poses, dt: float = 0.1, speeds=None, reference: Polyline | None = None,
                        cfg: MetaActionConfig | None = None) -> MetaActionTimeline:
    """Per-step atomic meta-actions of a trajectory.

    poses: (T >= 3, 3) [x, y, yaw] dt apart (any fixed frame) [m, rad]; speeds: optional (T,) speeds [m/s]
    (the logged ones; default: from the pose differences); reference: optional lane centreline the lateral
    offsets are measured from (`eval.metrics.reasoning.lane_reference`).
    """
    cfg = cfg or MetaActionConfig()
    p = np.asarray(poses, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or len(p) < 3:
        raise ValueError(f"poses: expected shape (T >= 3, 3) [x, y, yaw], got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError("poses: must be finite")
    n = len(p)
    window = max(1, int(round(cfg.smoothing_s / dt)))
    min_len = max(1, int(round(cfg.min_segment_s / dt)))
    step_len = np.hypot(*np.gradient(p[:, :2], axis=0).T)  # (T,) distance per step, central [m]
    v = step_len / dt if speeds is None else np.abs(np.asarray(speeds, dtype=np.float64))
    if v.shape != (n,):
        raise ValueError(f"speeds: expected shape ({n},), got {v.shape}")
    v_s = _smooth(v, window)
    accel = np.gradient(v_s) / dt
    travelled = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(p[:, :2], axis=0).T))])  # (T,) [m]
    yaw = np.unwrap(p[:, 2])

    # longitudinal
    raw = []
    for k in range(n):
        if v_s[k] < cfg.stop_speed_mps:
            raw.append("stop")
        elif abs(accel[k]) < cfg.gentle_accel:
            raw.append("maintain_speed")
        else:
            strength = "strong" if abs(accel[k]) >= cfg.strong_accel else "gentle"
            raw.append(f"{strength}_{'acceleration' if accel[k] > 0 else 'deceleration'}")
    lon = _merge_short(raw, min_len)
    for label, a, b in _runs(lon):
        seg_v = v[a:min(b + 1, n)]
        new = "stop" if v[a:b].mean() < cfg.stop_speed_mps else (
            speed_change(seg_v, dt, cfg) if len(seg_v) >= 2 else "maintain_speed")
        lon[a:b] = [new] * (b - a)

    # steering: heading rate per metre, ignored while (nearly) stopped
    rate = np.where(v >= cfg.steer_min_speed_mps, np.gradient(yaw) / np.maximum(step_len, 1e-9), 0.0)
    rate = _smooth(rate, window)
    raw = ["sharp_steer_" if abs(r) >= cfg.turn_rate_rad_per_m else "steer_" if abs(r) >= cfg.steer_rate_rad_per_m
           else "go_straight" for r in rate]
    raw = [r + ("left" if q > 0 else "right") if r != "go_straight" else r for r, q in zip(raw, rate)]
    steer = _merge_short(raw, min_len)
    for label, a, b in _runs(steer):
        end = min(b, n - 1)
        steer[a:b] = [_steer_class(float(yaw[end] - yaw[a]), float(travelled[end] - travelled[a]), cfg)] * (b - a)

    # lane: lateral motion off the reference; sharp steering is a turn
    offset = _smooth(lateral_offsets(p, reference), window)
    lat_rate = np.gradient(offset) / dt
    raw = []
    for k in range(n):
        if steer[k].startswith("sharp_steer_"):
            raw.append("turn_" + steer[k].rsplit("_", 1)[1])
        elif abs(lat_rate[k]) >= cfg.lateral_rate_mps:
            raw.append("shift_left" if lat_rate[k] > 0 else "shift_right")
        else:
            raw.append("lane_keep")
    lane = _merge_short(raw, min_len)
    for label, a, b in _runs(lane):
        if label.startswith("turn_"):
            continue
        end = min(b, n - 1)
        seg = offset[a:end + 1] - offset[a]
        lane[a:b] = [lane_class(seg, 0.0, float(travelled[end] - travelled[a]), cfg)] * (b - a)
    return MetaActionTimeline(dt, tuple(lon), tuple(steer), tuple(lane))
