"""The Chain-of-Causation decision taxonomy and what the privileged planner returns.

    >>> from cordillera.teacher.decisions import Decision, Longitudinal, Lateral, parse_label
    >>> Decision(Longitudinal.YIELD, Lateral.LANE_KEEPING).short()
    {'longitudinal': 'Yield', 'lateral': 'Keep lane'}
    >>> parse_label("Keep distance")
    <Longitudinal.LEAD_FOLLOWING: 'Lead obstacle following'>

The closed sets are Alpamayo-R1's (Table 1): at most one longitudinal and one lateral decision per
keyframe, each possibly None (routine driving has both None). The released autolabeler's shorter names are
accepted as aliases and used in texts, because the VLA's `parse_decision` and the evaluation's consistency
metric read them.

`PlanResult` is the contract between the planner and its users (the policy wrapper, the CoC labeler's
counterfactual attribution, the data factory); `Counterfactual` says what to pretend away when the labeler
asks "would the decision change without this object / with this signal green / without this stop line?".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

__all__ = ["Longitudinal", "Lateral", "Decision", "parse_label", "Constraint", "Counterfactual", "PlanResult"]


class Longitudinal(str, Enum):
    SET_SPEED = "Set-speed tracking"
    LEAD_FOLLOWING = "Lead obstacle following"
    SPEED_ADAPTATION = "Speed adaptation"
    GAP_SEARCH = "Gap searching"
    PASSING = "Acceleration for passing"
    YIELD = "Yield"
    STOP = "Stop for static constraints"


class Lateral(str, Enum):
    LANE_KEEPING = "Lane keeping"
    MERGE = "Merge"
    SPLIT = "Split"
    OUT_OF_LANE_NUDGE_LEFT = "Out-of-lane nudge left"
    OUT_OF_LANE_NUDGE_RIGHT = "Out-of-lane nudge right"
    IN_LANE_NUDGE_LEFT = "In-lane nudge left"
    IN_LANE_NUDGE_RIGHT = "In-lane nudge right"
    LANE_CHANGE_LEFT = "Lane change left"
    LANE_CHANGE_RIGHT = "Lane change right"
    PULL_OVER = "Pull-over"
    TURN_LEFT = "Turn left"
    TURN_RIGHT = "Turn right"
    ABORT = "Lateral manoeuvre abort"


# the released labeler's short names (what texts say and the VLA's parse_decision returns)
SHORT = {
    Longitudinal.SET_SPEED: "Resume speed", Longitudinal.LEAD_FOLLOWING: "Keep distance",
    Longitudinal.SPEED_ADAPTATION: "Adapt speed", Longitudinal.GAP_SEARCH: "Gap-search",
    Longitudinal.PASSING: "Pass", Longitudinal.YIELD: "Yield", Longitudinal.STOP: "Stop",
    Lateral.LANE_KEEPING: "Keep lane", Lateral.MERGE: "Merge", Lateral.SPLIT: "Split",
    Lateral.OUT_OF_LANE_NUDGE_LEFT: "Nudge left", Lateral.OUT_OF_LANE_NUDGE_RIGHT: "Nudge right",
    Lateral.IN_LANE_NUDGE_LEFT: "Nudge left", Lateral.IN_LANE_NUDGE_RIGHT: "Nudge right",
    Lateral.LANE_CHANGE_LEFT: "Lane change left", Lateral.LANE_CHANGE_RIGHT: "Lane change right",
    Lateral.PULL_OVER: "Pull over", Lateral.TURN_LEFT: "Turn left", Lateral.TURN_RIGHT: "Turn right",
    Lateral.ABORT: "Abort",
}
_ALIASES = {
    "resume speed": Longitudinal.SET_SPEED, "keep distance": Longitudinal.LEAD_FOLLOWING,
    "adapt speed": Longitudinal.SPEED_ADAPTATION, "gap-search": Longitudinal.GAP_SEARCH,
    "gap search": Longitudinal.GAP_SEARCH, "pass": Longitudinal.PASSING, "pass/overtake": Longitudinal.PASSING,
    "stop": Longitudinal.STOP, "yield": Longitudinal.YIELD,
    "keep lane": Lateral.LANE_KEEPING, "lane change left": Lateral.LANE_CHANGE_LEFT,
    "lane change right": Lateral.LANE_CHANGE_RIGHT, "nudge left": Lateral.IN_LANE_NUDGE_LEFT,
    "nudge right": Lateral.IN_LANE_NUDGE_RIGHT, "turn left": Lateral.TURN_LEFT, "turn right": Lateral.TURN_RIGHT,
    "merge": Lateral.MERGE, "split": Lateral.SPLIT, "pull over": Lateral.PULL_OVER, "abort": Lateral.ABORT,
}


def parse_label(label: str) -> Longitudinal | Lateral:
    """The taxonomy member a full name, enum name or short alias names (case-insensitive); ValueError if none."""
    key = " ".join(str(label).replace("_", " ").split()).lower()
    for member in (*Longitudinal, *Lateral):
        if key in (member.value.lower(), member.name.replace("_", " ").lower()):
            return member
    if key in _ALIASES:
        return _ALIASES[key]
    raise ValueError(f"unknown decision label {label!r}; known: "
                     f"{', '.join(m.value for m in (*Longitudinal, *Lateral))} (or their short names)")


@dataclass(frozen=True)
class Decision:
    """At most one longitudinal and one lateral decision; both None means routine driving."""

    longitudinal: Longitudinal | None = None
    lateral: Lateral | None = None

    @property
    def routine(self) -> bool:
        return self.longitudinal is None and self.lateral is None

    def short(self) -> dict[str, str | None]:
        """{"longitudinal", "lateral"} in the short names (what `eval.metrics.reasoning.consistency` reads)."""
        return {"longitudinal": SHORT[self.longitudinal] if self.longitudinal else None,
                "lateral": SHORT[self.lateral] if self.lateral else None}

    def to_dict(self) -> dict[str, str | None]:
        return {"longitudinal": self.longitudinal.value if self.longitudinal else None,
                "lateral": self.lateral.value if self.lateral else None}

    @classmethod
    def from_dict(cls, data: dict) -> "Decision":
        lon, lat = data.get("longitudinal"), data.get("lateral")
        lon_m = parse_label(lon) if lon else None
        lat_m = parse_label(lat) if lat else None
        if lon_m is not None and not isinstance(lon_m, Longitudinal):
            raise ValueError(f"longitudinal decision {lon!r} is a lateral label")
        if lat_m is not None and not isinstance(lat_m, Lateral):
            raise ValueError(f"lateral decision {lat!r} is a longitudinal label")
        return cls(lon_m, lat_m)


@dataclass(frozen=True)
class Constraint:
    """What bound the chosen proposal: the thing the ego stops, yields, slows or steers for.

    kind: "agent" (lead vehicle, crossing or oncoming agent, pedestrian, obstacle), "signal", "stop_line"
    (stop / yield sign, all-way stop, dark signal), "yield" (right of way at a yield line or unprotected turn;
    stop_line set when one marks the waiting point), "crosswalk", "speed_limit", "curve", "route_end",
    "school_bus", "emergency_vehicle", "lane_blocked", "merge". agent / signal / stop_line: indices into
    state.agents, the map's signals and stop lines (None when not applicable); distance_m along the route
    from the ego's front bumper [m] (None when not applicable).
    """

    kind: str
    agent: int | None = None
    signal: int | None = None
    stop_line: int | None = None
    distance_m: float | None = None


@dataclass(frozen=True)
class Counterfactual:
    """What a planning call should pretend away (the labeler's attribution): agents removed from the world and
    its forecasts, signals shown green, stop lines (stop / yield controls) ignored."""

    removed_agents: frozenset[int] = frozenset()
    green_signals: frozenset[int] = frozenset()
    ignored_stop_lines: frozenset[int] = frozenset()

    @property
    def empty(self) -> bool:
        return not (self.removed_agents or self.green_signals or self.ignored_stop_lines)


@dataclass(frozen=True)
class PlanResult:
    """One decision of the privileged planner.

    poses: (64, 3) chosen plan in the ego frame at the state's time; world_poses: the same in the world frame.
    proposal: name of the chosen proposal ("lane0/off+0.0/v1.00", "stop", "yield", "pull_over", ...).
    decision: the CoC decision the chosen proposal embodies; constraints: what bound it (may be empty).
    scores: proposal name -> score in [0, 1] (the metric-based score, before tie-breaks); metrics: the chosen
    proposal's metric sub-scores (nc, dac, ddc, tlc, ep, ttc, lk, hc, ec); planning_time_s: wall time.
    scores holds the proposals scored up to the first perfect one (later ones cannot win); n_proposals counts
    every proposal simulated.
    """

    poses: np.ndarray
    world_poses: np.ndarray
    proposal: str
    decision: Decision
    constraints: tuple[Constraint, ...] = ()
    scores: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    planning_time_s: float = 0.0
    n_proposals: int = 0
