"""Reasoning metrics: meta-actions of a trajectory, the meta-actions a stated decision implies, their
consistency, and grounding of the objects a reasoning trace names.

    >>> from cordillera.eval.metrics.reasoning import classify_meta_action, consistency, grounding
    >>> meta = classify_meta_action(poses)               # poses (T, 3), 0.1 s apart, first = start pose
    >>> consistency("Yield", meta)                       # 1.0 when the driving matches the decision
    >>> grounding(named={"ped_1", "car_3"}, causal={"ped_1"}).precision

Meta-actions (longitudinal x lateral) follow the CoC autolabeler's rules on 10 Hz ego states
(dataset_and_coc.md §2.2): a speed change needs |mean acceleration| >= 0.15 m/s^2 and |delta v| >= 0.8 m/s,
strong ones >= 1.4 m/s^2 (a strong deceleration reads as yielding, a gentle one as slowing down); stop = mean
speed under 0.12 m/s at the end; a turn needs >= 0.2 rad of heading change at >= 0.05 rad/m ("sharp steer"); a
lane change >= 1 m of lateral offset; a nudge is a smaller offset of at least 0.3 m (ours). Lateral offsets are
measured from a reference centreline when given (use the start lane's, `lane_reference`), else from the
start pose's heading line, which is only right on straight roads and when the trajectory starts lined up with
its lane (true of a plan in the ego frame at a keyframe, not of one that starts mid-manoeuvre).
The rules live in `eval.metrics.meta_actions`, whose 10 Hz detector (used by the teacher's keyframes) applies
them per segment: one implementation. A decision text is read per channel at its earliest recognised phrase
("Keep distance because the lead car stopped" is keeping distance, not stopping).

Consistency is binary, as in Alpamayo-R1's RL reward: every channel the decision states must contain the
classified meta-action; an unparsable decision scores 0. Decision labels are the paper's Table 1 names and the
released autolabeler's names ("Yield", "Keep Distance", "Lane Change left", "lane_change_left", ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

from cordillera.eval.metrics.config import MetaActionConfig
from cordillera.eval.metrics.meta_actions import (
    COARSE_LANE, COARSE_LONGITUDINAL, lane_class, lateral_offsets, speed_change,
)
from cordillera.geometry import Polyline
from cordillera.world.roads.map import RoadMap
from cordillera.world.roads.routes import Route

__all__ = ["LONGITUDINAL", "LATERAL", "MetaAction", "ExpectedMetaAction", "classify_meta_action", "lane_reference",
           "expected_meta_actions", "consistency", "Grounding", "grounding"]

LONGITUDINAL = ("stop", "yield", "slow_down", "keep", "accelerate")
LATERAL = ("keep_lane", "nudge_left", "nudge_right", "lane_change_left", "lane_change_right", "turn_left",
           "turn_right")


@dataclass(frozen=True)
class MetaAction:
    longitudinal: str  # one of LONGITUDINAL
    lateral: str  # one of LATERAL


@dataclass(frozen=True)
class ExpectedMetaAction:
    """Meta-actions a decision allows per channel; None when the decision says nothing about that channel."""

    longitudinal: frozenset | None
    lateral: frozenset | None


def classify_meta_action(poses, dt: float = 0.1, reference: Polyline | None = None,
                         cfg: MetaActionConfig | None = None) -> MetaAction:
    """Meta-action of a trajectory poses (T >= 3, 3) [x, y, yaw], dt apart, the first being the start pose.

    The whole trajectory is one segment of the 10 Hz detector (`eval.metrics.meta_actions`): the same speed and
    lane rules, except that "stop" means the trajectory ends stopped (mean speed of its last stop_window_s).
    """
    cfg = cfg or MetaActionConfig()
    p = np.asarray(poses, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or len(p) < 3:
        raise ValueError(f"poses: expected shape (T >= 3, 3) [x, y, yaw], got {p.shape}")
    seg = np.hypot(*np.diff(p[:, :2], axis=0).T)  # (T-1,) [m]
    v = seg / dt  # segment speeds [m/s]
    tail = max(1, int(round(cfg.stop_window_s / dt)))
    if v[-tail:].mean() < cfg.stop_speed_mps:
        lon = "stop"
    else:
        lon = COARSE_LONGITUDINAL[speed_change(v, dt, cfg)]
    turn = float(np.unwrap(p[:, 2])[-1] - p[0, 2])
    d = lateral_offsets(p, reference)
    lat = COARSE_LANE[lane_class(d - d[0], turn, float(seg.sum()), cfg)]
    return MetaAction(lon, lat)


def lane_reference(road: RoadMap, pose, length_m: float, route: Route | None = None) -> Polyline:
    """Centreline of the lane at pose (3,) [x, y, yaw], continued along successors for length_m past it (the
    route's next lane where the route continues by a successor link, else the first successor)."""
    pose = np.asarray(pose, dtype=np.float64)
    match = road.project(pose[None, :2], pose[None, 2])
    lane = int(match.lane[0])
    if lane < 0:
        raise ValueError(f"lane_reference: no lane within reach of {pose[:2].tolist()}")
    route_next = {}
    if route is not None:
        route_next = {a: b for a, b in zip(route.lanes[:-1], route.lanes[1:]) if b in road.lanes[a].successors}
    points = [road.lanes[lane].centerline.points]
    covered = road.lanes[lane].length - float(match.s[0])
    seen = {lane}
    while covered < length_m:
        succ = road.lanes[lane].successors
        nxt = route_next.get(lane, succ[0] if succ else None)
        if nxt is None or nxt in seen:
            break
        lane = nxt
        seen.add(lane)
        points.append(road.lanes[lane].centerline.points[1:])
        covered += road.lanes[lane].length
    xy = np.concatenate(points)
    keep = np.concatenate([[True], np.hypot(*np.diff(xy, axis=0).T) > 1e-9])
    return Polyline(xy[keep])


# ---- decisions ------------------------------------------------------------------------------------
_ANY_DIR = ("left", "right")
# (pattern, channel, allowed meta-actions; "{d}" expands to the stated direction, or both when none is stated)
_RULES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (r"\bstop", "lon", ("stop",)),
    (r"\byield", "lon", ("stop", "yield", "slow_down")),
    (r"\bgap search", "lon", ("slow_down", "keep", "accelerate")),
    (r"\b(pass|overtak|acceleration for passing)", "lon", ("accelerate",)),
    (r"\b(keep distance|lead obstacle following|follow)", "lon", ("keep", "slow_down", "yield", "stop")),
    (r"\b(adapt speed|speed adaptation)", "lon", ("slow_down", "yield", "keep")),
    (r"\b(slow down|slow_down|decelerat|brake)", "lon", ("slow_down", "yield", "stop")),
    (r"\b(resume speed|set speed tracking|speed tracking)", "lon", ("accelerate", "keep")),
    (r"\b(accelerat|speed up)", "lon", ("accelerate",)),
    (r"\b(keep speed|maintain speed|cruise|keep$)", "lon", ("keep",)),
    (r"\b(out of lane nudge|straddle)", "lat", ("nudge_{d}", "lane_change_{d}")),
    (r"\b(lane change|change lanes?)\b", "lat", ("lane_change_{d}",)),
    (r"\b(nudge|shift)", "lat", ("nudge_{d}",)),
    (r"\bu turn\b", "lat", ("turn_left", "turn_right")),
    (r"\bturn", "lat", ("turn_{d}",)),
    (r"\b(merge|split)", "lat", ("lane_change_{d}",)),
    (r"\b(pull over|curb approach)", "lat", ("nudge_right", "lane_change_right")),
    (r"\babort", "lat", ("keep_lane", "nudge_left", "nudge_right")),
    (r"\b(keep\w* (the |its |our )?lane|lane keep|stay\w* in (the |its |our )?lane|centering)", "lat", ("keep_lane",)),
)


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[_\-/(),;:+&.]", " ", text.lower()).split())


def expected_meta_actions(decision: str | Mapping | None) -> ExpectedMetaAction | None:
    """Meta-actions a decision allows, per channel; None when nothing in it is recognised.

    decision: a label ("Yield", "Lane Change left", "lane_change_left", "yield, keep lane"), or a mapping with
    "longitudinal" and/or "lateral" labels (a CoC decision record).
    """
    if decision is None:
        return None
    if hasattr(decision, "short"):  # a teacher.decisions.Decision
        decision = decision.short()
    if isinstance(decision, Mapping):
        parts = [decision.get("longitudinal"), decision.get("lateral")]
        text = " , ".join(_normalise(str(p)) for p in parts if p)
    else:
        text = _normalise(str(decision))
    first: dict[str, tuple[re.Match, tuple[str, ...]]] = {}  # per channel, the earliest rule match wins
    for pattern, channel, allowed in _RULES:
        match = re.search(pattern, text)
        if match is not None and (channel not in first or match.start() < first[channel][0].start()):
            first[channel] = (match, allowed)
    found: dict[str, frozenset] = {}
    for channel, (match, allowed) in first.items():
        after = text[match.start():]
        dirs = [d for d in _ANY_DIR if re.search(rf"\b{d}\b", after)]
        stated = (min(dirs, key=lambda d: after.index(d)),) if dirs else _ANY_DIR
        found[channel] = frozenset(a.format(d=d) for a in allowed for d in stated)
    if not found:
        return None
    return ExpectedMetaAction(found.get("lon"), found.get("lat"))


def consistency(decision: str | Mapping | None, meta: MetaAction) -> float:
    """1.0 when the classified meta-action is allowed by every channel the decision states, else 0.0."""
    expected = expected_meta_actions(decision)
    if expected is None:
        return 0.0
    if expected.longitudinal is not None and meta.longitudinal not in expected.longitudinal:
        return 0.0
    if expected.lateral is not None and meta.lateral not in expected.lateral:
        return 0.0
    return 1.0


@dataclass(frozen=True)
class Grounding:
    precision: float  # named objects that caused the decision / named objects (1.0 when none named)
    recall: float  # causal objects named / causal objects (1.0 when there were none)
    f1: float


def grounding(named: Iterable, causal: Iterable) -> Grounding:
    """Precision and recall of the object ids a reasoning trace names against the ids that caused the teacher's
    decision. Empty sets are vacuously perfect on their side (no false positive / nothing to find)."""
    named, causal = set(named), set(causal)
    hit = len(named & causal)
    precision = hit / len(named) if named else 1.0
    recall = hit / len(causal) if causal else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return Grounding(precision, recall, f1)
