"""Counterfactual attribution: which of the things the ego could see caused the teacher's decision.

    >>> from cordillera.teacher.attribution import attribute, candidates
    >>> components, calls = attribute(state, planner.decide(state), planner)
    >>> [c.id for c in components]                       # e.g. ['lead'] for a stopped lead car
    >>> calls                                            # planner calls spent (<= max_candidates + 1)

The rule (issue 9): a thing is critical when pretending it away changes the privileged planner's decision.
1. Candidates, causally local: agents the front camera saw in the 2 s up to the keyframe
   (`scenarios.visibility` over the log, `teacher.scene.seen_agents`), agents the planner's constraints name
   (e.g. an emergency vehicle behind, heard and seen in the mirrors: uncertainty "high" if the front camera
   did not see it), and the controls on the route ahead (`teacher.scene.controls_ahead`): a red or yellow signal
   (counterfactual: shown green), a stop / yield line or a dark signal (counterfactual: ignored).
2. Ranked: what the planner's constraints name first, then things in or near the route path, then by distance;
   capped at `max_candidates`.
3. For each, `planner.decide(state, Counterfactual(...))`; critical when the Decision differs, or when the
   plan's mean speed over the next `speed_window_s` changes by >= `speed_change_mps` (a material change the
   closed taxonomy cannot show, e.g. keeping distance to a slower car).
4. Over-determined causes (a stopped lead car at a red light: removing either alone changes nothing): when no
   single candidate is decisive, the constraint-named candidates are removed together; if that changes the
   decision the proximate one (nearest) is critical, with uncertainty "high" (the human-labelling rule "stopped
   lead over red light when not first in queue", dataset_and_coc.md §2.5).
5. Facts that cannot be removed come from the planner's constraints: curves and speed limits (road events),
   merges and blocked lanes (lane facts), and route intent for turns (and lane changes no object explains);
   cones or barriers among the critical objects add the "construction zone" condition.

Descriptions read the state at the keyframe and the log before it (`teacher.scene`), never a forecast.
Cost: one planner call per tested candidate (+1 for the joint test); the factual result is reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from cordillera.scenarios.visibility import step_visibility
from cordillera.teacher.decisions import Counterfactual, Lateral, PlanResult
from cordillera.teacher.reasoning import CriticalComponent
from cordillera.teacher.scene import controls_ahead, describe_agent, seen_agents
from cordillera.world.roads.map import Control

__all__ = ["AttributionConfig", "Candidate", "candidates", "attribute"]

_CONSTRUCTION = ("cone", "barrier")
_TURNS = {Lateral.TURN_LEFT: "left", Lateral.TURN_RIGHT: "right"}
_SIDEWAYS = {Lateral.LANE_CHANGE_LEFT: "left", Lateral.LANE_CHANGE_RIGHT: "right", Lateral.MERGE: None,
             Lateral.SPLIT: None}


@dataclass(frozen=True)
class AttributionConfig:
    history_s: float = 2.0  # [s] causal locality: seen by the front camera this long before the keyframe
    visibility_stride: int = 2  # check visibility every this many log steps (10 Hz log: 5 Hz)
    max_candidates: int = 6  # planner calls per keyframe (plus one joint test) bound the labelling cost
    controls_horizon_m: float = 80.0  # [m] signals and stop lines this far ahead on the route are candidates
    near_path_m: float = 3.5  # [m] within this of the route path ranks as "near the path"
    speed_change_mps: float = 2.0  # [m/s] counterfactual plan mean speed change that counts as material
    speed_window_s: float = 3.0  # [s] ... over this much of the plan
    partly_visible: float = 0.5  # below this visible fraction at the keyframe an object's uncertainty is high
    behind_m: float = 60.0  # [m] an agent the planner names this close behind counts as perceived (mirrors)


class Candidate(NamedTuple):
    kind: str  # "agent", "signal", "stop_line"
    index: int  # agent index, signal index, or stop line id
    named: bool  # the planner's constraints name it
    rank: tuple  # sort key (smaller first)

    def counterfactual(self) -> Counterfactual:
        return counterfactual_of([self])


def counterfactual_of(cands) -> Counterfactual:
    return Counterfactual(removed_agents=frozenset(c.index for c in cands if c.kind == "agent"),
                          green_signals=frozenset(c.index for c in cands if c.kind == "signal"),
                          ignored_stop_lines=frozenset(c.index for c in cands if c.kind == "stop_line"))


def candidates(state, result: PlanResult, config: AttributionConfig | None = None,
               seen: dict[int, float] | None = None) -> list[Candidate]:
    """Ranked, capped candidates for attribution at `state` (see the module docstring)."""
    cfg = config or AttributionConfig()
    seen = seen_agents(state, cfg.history_s, cfg.visibility_stride) if seen is None else seen
    named_agents = {c.agent for c in result.constraints if c.agent is not None}
    named_signals = {c.signal for c in result.constraints if c.signal is not None}
    named_lines = {c.stop_line for c in result.constraints if c.stop_line is not None}
    out: list[Candidate] = []
    for i in sorted(set(seen) | set(_heard(state, named_agents, seen, cfg))):
        view = describe_agent(state, i)
        near = abs(view.lateral_m) <= cfg.near_path_m and view.ahead_m > -5.0
        named = i in named_agents
        out.append(Candidate("agent", int(i), named, (not named, not near, view.distance_m)))
    for ctl in controls_ahead(state, cfg.controls_horizon_m):
        if ctl.control == Control.SIGNAL and ctl.state in ("red", "yellow") and ctl.signal is not None:
            named = ctl.signal in named_signals or ctl.stop_line in named_lines
            out.append(Candidate("signal", int(ctl.signal), named, (not named, False, ctl.distance_m)))
        elif ctl.control != Control.SIGNAL or ctl.state == "dark":
            named = ctl.stop_line in named_lines
            out.append(Candidate("stop_line", int(ctl.stop_line), named, (not named, False, ctl.distance_m)))
    unique = {(c.kind, c.index): c for c in out}  # a signal heading two stop lines is one candidate
    return sorted(unique.values(), key=lambda c: c.rank)[: cfg.max_candidates]


def _named_agents(state, result: PlanResult) -> set[int]:
    active = state.agents.active
    return {c.agent for c in result.constraints if c.agent is not None and 0 <= c.agent < state.agents.n
            and active[c.agent]}


def _heard(state, named: set[int], seen: dict[int, float], cfg: AttributionConfig) -> list[int]:
    """Named agents the front camera did not see but which are behind the ego within `behind_m` (mirrors,
    rear cameras, sirens)."""
    out = []
    for i in sorted(named - set(seen)):
        view = describe_agent(state, i)
        if view.ahead_m < 0.0 and view.distance_m <= cfg.behind_m:
            out.append(i)
    return out


def _occluder(state, hidden: int, seen: dict[int, float]) -> int | None:
    """The seen agent nearest to a hidden one (within 12 m): what blocks the view of it."""
    a = state.agents
    best, best_d = None, 12.0
    for i in seen:
        d = float(np.hypot(a.x[i] - a.x[hidden], a.y[i] - a.y[hidden]))
        if d < best_d:
            best, best_d = i, d
    return best


def _mean_speed(result: PlanResult, window_s: float, dt: float) -> float:
    poses = np.asarray(result.poses, dtype=np.float64)
    n = max(1, min(len(poses) - 1, int(round(window_s / dt))))
    start = np.vstack([[0.0, 0.0, 0.0], poses[: n]])  # the plan starts at the ego (origin of its frame)
    return float(np.hypot(*np.diff(start[:, :2], axis=0).T).sum() / (n * dt))


def _component(state, cand: Candidate, uncertainty: str) -> CriticalComponent:
    if cand.kind == "agent":
        view = describe_agent(state, cand.index)
        return CriticalComponent("object", view.name, view.object_type, view.position, view.motion,
                                 uncertainty=uncertainty, distance_m=round(view.distance_m, 2))
    ctl = next((c for c in controls_ahead(state, 1e9) if (c.signal if cand.kind == "signal" else c.stop_line)
                == cand.index), None)
    distance = None if ctl is None else round(ctl.distance_m, 2)
    if cand.kind == "signal":
        return CriticalComponent("signal", f"signal:{cand.index}", "traffic light", "ahead",
                                 signal_state=None if ctl is None else ctl.state, uncertainty=uncertainty,
                                 distance_m=distance)
    kind = "stop sign"
    if ctl is not None:
        kind = {Control.STOP: "stop sign", Control.YIELD: "yield sign"}.get(ctl.control, "dark signal")
    return CriticalComponent("control", f"stop_line:{cand.index}", kind, "ahead", uncertainty=uncertainty,
                             distance_m=distance)


def _route_changes_lane(state, side: str | None) -> bool:
    """Whether the ego's route AHEAD of the ego moves to a neighbour lane on `side` (None: either side, or a
    merge). From a lane off the route (the ego moved out, e.g. to pass), whether the route lane is that
    neighbour. Lanes of the route already driven do not count."""
    road, lanes = state.road, list(state.world.route.lanes)
    ego = state.ego
    here = int(road.project(np.array([[ego.x, ego.y]]), np.array([ego.yaw])).lane[0])
    if here >= 0 and here not in lanes:
        lane = road.lanes[here]
        sides = {"left": (lane.left_neighbor,), "right": (lane.right_neighbor,),
                 None: (lane.left_neighbor, lane.right_neighbor)}[side]
        return any(n in lanes for n in sides if n is not None)
    start = lanes.index(here) if here in lanes else 0
    for a, b in zip(lanes[start:-1], lanes[start + 1:]):
        lane = road.lanes[a]
        if b == lane.left_neighbor and side in ("left", None) or b == lane.right_neighbor and side in ("right", None):
            return True
        if side is None and len(road.lanes[b].predecessors) > 1:
            return True
    return False


def _facts(state, result: PlanResult, found: list[CriticalComponent]) -> list[CriticalComponent]:
    """Components that cannot be pretended away: road events, lane facts, route intent, conditions."""
    out: list[CriticalComponent] = []
    for c in result.constraints:
        d = None if c.distance_m is None else round(float(c.distance_m), 2)
        if c.kind in ("curve", "speed_limit"):
            out.append(CriticalComponent("road_event", c.kind, c.kind, "ahead", distance_m=d))
        elif c.kind in ("merge", "lane_blocked") and c.agent is None:
            out.append(CriticalComponent("lane", c.kind, c.kind, "ahead", distance_m=d))
    lateral = result.decision.lateral
    objects = [c for c in found if c.category == "object"]
    if lateral in _TURNS:
        out.append(CriticalComponent("route", "route", None, _TURNS[lateral]))
    elif lateral in _SIDEWAYS and not objects and _route_changes_lane(state, _SIDEWAYS[lateral]):
        out.append(CriticalComponent("route", "route", None, _SIDEWAYS[lateral]))
    if any(c.object_type in _CONSTRUCTION for c in objects):
        out.append(CriticalComponent("condition", "construction", "construction zone", "ahead"))
    unique: dict[str, CriticalComponent] = {}
    for c in out:
        unique.setdefault(c.id, c)
    return list(unique.values())


def attribute(state, result: PlanResult, planner, config: AttributionConfig | None = None
              ) -> tuple[tuple[CriticalComponent, ...], int]:
    """(critical components, planner calls spent) for the decision `result` = planner.decide(state)."""
    cfg = config or AttributionConfig()
    seen = seen_agents(state, cfg.history_s, cfg.visibility_stride)
    cands = candidates(state, result, cfg, seen)
    dt = state.world.config.dt
    base_speed = _mean_speed(result, cfg.speed_window_s, dt)
    step = state.log[-1]
    found: list[CriticalComponent] = []
    calls = 0
    for cand in cands:
        cf = planner.decide(state, cand.counterfactual())
        calls += 1
        changed = cf.decision != result.decision
        material = abs(_mean_speed(cf, cfg.speed_window_s, dt) - base_speed) >= cfg.speed_change_mps
        if not (changed or material):
            continue
        uncertainty = "low" if changed else "high"
        if cand.kind == "agent":
            frac, _ = step_visibility(step, state.agents.height, cand.index)
            if frac < cfg.partly_visible:
                uncertainty = "high"
        found.append(_component(state, cand, uncertainty))
    # a cause the cameras could not see (the teacher's privileged foresight) is never named; when removing it
    # changes the decision, what hides it is the cause the ego can perceive ("the parked van blocks our view")
    tested = {c.index for c in cands if c.kind == "agent"}
    for hidden in sorted(_named_agents(state, result) - tested):
        cf = planner.decide(state, Counterfactual(removed_agents=frozenset({hidden})))
        calls += 1
        occluder = _occluder(state, hidden, seen)
        if cf.decision != result.decision and occluder is not None:
            view = describe_agent(state, occluder)
            found.append(CriticalComponent("condition", f"occlusion:{view.name}", view.object_type, view.position,
                                           uncertainty="high", distance_m=round(view.distance_m, 2)))
    named = [c for c in cands if c.named]
    if not found and len(named) >= 2:
        cf = planner.decide(state, counterfactual_of(named))
        calls += 1
        if cf.decision != result.decision:
            proximate = min(named, key=lambda c: c.rank[2])
            found.append(_component(state, proximate, "high"))
    return tuple(found + _facts(state, result, found)), calls
