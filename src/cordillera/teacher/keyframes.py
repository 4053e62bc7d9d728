"""Keyframes of a teacher rollout: where the decision or the ego's meta-action changes, or a new cause appears.

    >>> from cordillera.teacher.keyframes import keyframe_steps, keyframes
    >>> keyframe_steps(states, results)          # positions in the per-step lists of a closed-loop rollout
    >>> keyframes(decisions, poses, speeds=v)    # the same from plain arrays: (T,) Decisions, (T, 3) poses

A step is a keyframe when (dataset_and_coc.md §2.3):
- the teacher's decision changes and the new one holds for `min_decision_s` (no flicker keyframes); the
  decision at the first step counts when it is not plain cruising (set-speed tracking + lane keeping);
- a longitudinal or lane meta-action segment of the ego starts (`eval.metrics.meta_actions`, the same detector
  the consistency metric uses): the keyframe is placed `lead_s` (0.5 s) before the ego reacts, as in the
  paper's reactive keyframes;
- a cause appears: the planner's constraints name an agent, signal or stop line they did not name before
  (the critical object enters the scene), and it stays named for `min_decision_s`.
Decision changes are always keyframes; the other two kinds are dropped within `min_gap_s` of a keyframe already
kept (earliest first). Every other step is a routine moment: its CoC record
has decision None (the VLA's reasoning gate learns from this).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from cordillera.eval.metrics.config import MetaActionConfig
from cordillera.eval.metrics.meta_actions import detect_meta_actions
from cordillera.teacher.decisions import Decision, Lateral, Longitudinal

__all__ = ["KeyframeConfig", "keyframes", "keyframe_steps", "CRUISING"]

CRUISING = Decision(Longitudinal.SET_SPEED, Lateral.LANE_KEEPING)


@dataclass(frozen=True)
class KeyframeConfig:
    lead_s: float = 0.5  # [s] a meta-action keyframe sits this long before the ego's behaviour changes
    min_decision_s: float = 0.5  # [s] a new decision / constraint must hold this long to count
    min_gap_s: float = 1.0  # [s] keyframes closer than this merge into the earliest
    meta: MetaActionConfig = field(default_factory=MetaActionConfig)


def _cause_keys(constraints) -> frozenset:
    return frozenset((c.kind, c.agent, c.signal, c.stop_line) for c in constraints
                     if c.agent is not None or c.signal is not None or c.stop_line is not None)


def keyframes(decisions: Sequence[Decision], poses, speeds=None, constraints=None, dt: float = 0.1,
              config: KeyframeConfig | None = None) -> list[int]:
    """Sorted keyframe steps of a rollout.

    decisions: (T,) the teacher's decision per step; poses: (T, 3) ego poses [x, y, yaw] in any fixed frame, dt
    apart; speeds: optional (T,) ego speeds [m/s]; constraints: optional (T,) iterables of the planner's
    Constraints per step.
    """
    cfg = config or KeyframeConfig()
    n = len(decisions)
    poses = np.asarray(poses, dtype=np.float64)
    if poses.shape != (n, 3):
        raise ValueError(f"poses: expected shape ({n}, 3) to match {n} decisions, got {poses.shape}")
    if constraints is not None and len(constraints) != n:
        raise ValueError(f"constraints: expected {n} entries, got {len(constraints)}")
    hold = max(1, int(round(cfg.min_decision_s / dt)))
    primary: set[int] = set()  # decision changes: always kept
    if n and decisions[0] != CRUISING and not decisions[0].routine:
        primary.add(0)
    stable = decisions[0] if n else None
    for i in range(1, n):
        if decisions[i] != stable and all(d == decisions[i] for d in decisions[i:i + hold]):
            primary.add(i)
            stable = decisions[i]
    picks: set[int] = set()  # causes appearing, meta-action changes: kept unless near another keyframe
    if constraints is not None:
        keys = [_cause_keys(c) for c in constraints]
        known = keys[0] if n else frozenset()
        for i in range(1, n):
            new = keys[i] - known
            if new and all(new <= k for k in keys[i:i + hold]):
                picks.add(i)
            known = known | keys[i]
    if n >= 3:
        lead = int(round(cfg.lead_s / dt))
        timeline = detect_meta_actions(poses, dt, speeds=speeds, cfg=cfg.meta)
        picks.update(max(0, k - lead) for k in timeline.changes())
    gap = max(1, int(round(cfg.min_gap_s / dt)))
    out = sorted(primary)
    for k in sorted(picks - primary):
        if all(abs(k - j) >= gap for j in out):
            out.append(k)
            out.sort()
    return out


def keyframe_steps(states, results, config: KeyframeConfig | None = None) -> list[int]:
    """Keyframe positions in a closed-loop rollout's per-step lists: states[k] (WorldState) and results[k]
    (the PlanResult the teacher returned at it)."""
    if len(states) != len(results):
        raise ValueError(f"states and results: expected equal lengths, got {len(states)} and {len(results)}")
    if not states:
        return []
    poses = np.array([[s.ego.x, s.ego.y, s.ego.yaw] for s in states])
    speeds = np.array([s.ego.v for s in states])
    return keyframes([r.decision for r in results], poses, speeds, [r.constraints for r in results],
                     states[0].world.config.dt, config)
