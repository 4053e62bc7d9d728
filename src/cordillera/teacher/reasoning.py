"""Chain-of-Causation records: the decision, the critical components that caused it, one causal sentence.

    >>> import numpy as np
    >>> from cordillera.teacher.planner import TeacherPlanner
    >>> from cordillera.teacher.reasoning import label_moment
    >>> planner = TeacherPlanner()
    >>> result = planner.decide(state)
    >>> coc = label_moment(state, result, planner, None, np.random.default_rng(0), keyframe=True)
    >>> coc.text
    'Stop at the stop line and keep lane because the signal ahead is red.'
    >>> ChainOfCausation.from_dict(coc.to_dict()) == coc
    True

Structure (Alpamayo-R1 §4.1, dataset_and_coc.md §2.2): at a keyframe the record holds the teacher's decision
(at most one longitudinal and one lateral from the closed sets of `teacher.decisions`), the critical components
found by counterfactual attribution (`teacher.attribution`: an object is critical when removing it changes the
privileged planner's decision) and a sentence realised from both (`teacher.texts`). Routine moments (not
keyframes) carry Decision(None, None), no components and a routine sentence; datasets store reasoning None
there, and `reasoned` is False so the evaluation's consistency metric skips them.

Determinism: the record is a function of the state, the planner and the numpy Generator's draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from cordillera.teacher.decisions import Decision, PlanResult
from cordillera.teacher.texts import realise, routine_text

__all__ = ["CATEGORIES", "POSITIONS", "MOTIONS", "UNCERTAINTY", "CriticalComponent", "ChainOfCausation",
           "label_moment", "LabelConfig"]

CATEGORIES = ("object", "signal", "control", "road_event", "lane", "route", "condition")
POSITIONS = ("in path", "left", "right", "oncoming", "behind", "ahead", "on crosswalk")
MOTIONS = ("stopped", "slowing", "crossing", "cutting in", "moving", "approaching", "reversing", "door opening")
SIGNAL_STATES = ("red", "yellow", "green", "dark")
UNCERTAINTY = ("low", "high")


def _check_choice(name: str, value, allowed, optional: bool = True) -> None:
    if value is None and optional:
        return
    if value not in allowed:
        raise ValueError(f"{name}: expected one of {allowed}{' or None' if optional else ''}, got {value!r}")


@dataclass(frozen=True)
class CriticalComponent:
    """One cause of a decision.

    category: object / signal / control / road_event / lane / route / condition; id: the agent's name, or
    "signal:3", "stop_line:2", "route", "curve", ...; object_type: "pedestrian", "school bus", "cone", ... for
    objects, "stop sign" / "yield sign" / "dark signal" for controls, "curve" / "speed_limit" for road events,
    "merge" / "lane_blocked" for lane facts, "construction zone" ... for conditions; position: relative to the
    ego's route (POSITIONS; for route intent the side, "left" / "right"); motion: MOTIONS (objects only);
    signal_state: red / yellow / green / dark (signals); arrow: the arrow a signal shows (None: the map has
    full-disc heads only); uncertainty: "low", or "high" when the object was partly hidden at the keyframe or
    the cause was only jointly decisive; distance_m: from the ego at the keyframe [m] (None if not applicable).
    """

    category: str
    id: str
    object_type: str | None = None
    position: str | None = None
    motion: str | None = None
    signal_state: str | None = None
    arrow: str | None = None
    uncertainty: str = "low"
    distance_m: float | None = None

    def __post_init__(self) -> None:
        _check_choice("category", self.category, CATEGORIES, optional=False)
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"id: expected a non-empty string, got {self.id!r}")
        _check_choice("position", self.position, POSITIONS)
        _check_choice("motion", self.motion, MOTIONS)
        _check_choice("signal_state", self.signal_state, SIGNAL_STATES)
        _check_choice("uncertainty", self.uncertainty, UNCERTAINTY, optional=False)
        if self.object_type is not None and not isinstance(self.object_type, str):
            raise ValueError(f"object_type: expected a string or None, got {self.object_type!r}")
        if self.arrow is not None and self.arrow not in ("left", "right", "straight"):
            raise ValueError(f"arrow: expected left / right / straight or None, got {self.arrow!r}")
        d = self.distance_m
        if d is not None and not (isinstance(d, (int, float)) and math.isfinite(d)):
            raise ValueError(f"distance_m: expected a finite number or None, got {self.distance_m!r}")

    def to_dict(self) -> dict:
        return {"category": self.category, "id": self.id, "object_type": self.object_type,
                "position": self.position, "motion": self.motion, "signal_state": self.signal_state,
                "arrow": self.arrow, "uncertainty": self.uncertainty,
                "distance_m": None if self.distance_m is None else round(float(self.distance_m), 2)}

    @classmethod
    def from_dict(cls, data) -> "CriticalComponent":
        if not isinstance(data, dict):
            raise ValueError(f"critical component: expected a mapping, got {type(data).__name__}")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"critical component: unknown fields {sorted(unknown)}")
        if "category" not in data or "id" not in data:
            raise ValueError("critical component: needs 'category' and 'id'")
        return cls(**data)


@dataclass(frozen=True)
class ChainOfCausation:
    """The CoC record of one moment (t [s]); see the module docstring."""

    t: float
    keyframe: bool
    routine: bool
    decision: Decision
    components: tuple[CriticalComponent, ...] = ()
    text: str = ""
    attribution_calls: int = field(default=0, compare=False)  # planner calls the attribution made (cost)

    def __post_init__(self) -> None:
        if not isinstance(self.t, (int, float)) or not math.isfinite(self.t):
            raise ValueError(f"t: expected a finite time [s], got {self.t!r}")
        if not isinstance(self.decision, Decision):
            raise ValueError(f"decision: expected a Decision, got {type(self.decision).__name__}")
        if self.routine != self.decision.routine:
            raise ValueError(f"routine={self.routine} but the decision is {self.decision.to_dict()}: routine "
                             "moments have no decision and keyframes have one")
        if self.routine and (self.keyframe or self.components):
            raise ValueError("a routine moment is not a keyframe and has no critical components")
        if not all(isinstance(c, CriticalComponent) for c in self.components):
            raise ValueError("components: expected CriticalComponent items")
        if not isinstance(self.text, str) or not self.text.strip():
            raise ValueError("text: expected a non-empty sentence")

    @property
    def reasoned(self) -> bool:
        """Whether this record states a decision (read by eval.episode: routine records are not scored)."""
        return not self.routine

    def critical_ids(self) -> set[str]:
        """Ids of the critical components (what `eval.metrics.reasoning.grounding` compares)."""
        return {c.id for c in self.components}

    def to_dict(self) -> dict:
        return {"t": round(float(self.t), 6), "keyframe": bool(self.keyframe), "routine": bool(self.routine),
                "decision": self.decision.to_dict(), "components": [c.to_dict() for c in self.components],
                "text": self.text}

    @classmethod
    def from_dict(cls, data) -> "ChainOfCausation":
        if not isinstance(data, dict):
            raise ValueError(f"chain of causation: expected a mapping, got {type(data).__name__}")
        missing = {"t", "keyframe", "routine", "decision", "text"} - set(data)
        if missing:
            raise ValueError(f"chain of causation: missing fields {sorted(missing)}")
        unknown = set(data) - {"t", "keyframe", "routine", "decision", "components", "text"}
        if unknown:
            raise ValueError(f"chain of causation: unknown fields {sorted(unknown)}")
        if not isinstance(data["decision"], dict):
            raise ValueError("decision: expected a mapping with 'longitudinal' and 'lateral'")
        for key in ("keyframe", "routine"):
            if not isinstance(data[key], bool):
                raise ValueError(f"{key}: expected a bool, got {data[key]!r}")
        components = data.get("components") or []
        if not isinstance(components, list):
            raise ValueError("components: expected a list")
        return cls(float(data["t"]) if isinstance(data["t"], (int, float)) else data["t"], data["keyframe"],
                   data["routine"], Decision.from_dict(data["decision"]),
                   tuple(CriticalComponent.from_dict(c) for c in components), data["text"])


@dataclass(frozen=True)
class LabelConfig:
    """How moments are labelled; attribution: teacher.attribution.AttributionConfig (None: its defaults)."""

    attribution: object = None


def label_moment(state, result: PlanResult, planner, previous: ChainOfCausation | None, rng: np.random.Generator,
                 *, keyframe: bool, config: LabelConfig | None = None) -> ChainOfCausation:
    """The CoC record of one moment of a teacher rollout.

    state: the WorldState the planner decided at; result: planner.decide(state); previous: the record of the
    previous labelled moment of the same episode (its sentence is not repeated verbatim when another draw
    differs); keyframe: whether this moment is a keyframe (`teacher.keyframes`). Attribution (planner calls)
    runs only at keyframes; a routine moment, or a keyframe whose decision is routine, gets a routine record.
    """
    if previous is not None and previous.t > state.t + 1e-9:
        raise ValueError(f"previous record at t={previous.t} is after this moment (t={state.t})")
    if not keyframe or result.decision.routine:
        return ChainOfCausation(float(state.t), False, True, Decision(), (), routine_text(rng))
    from cordillera.teacher.attribution import AttributionConfig, attribute

    cfg = (config or LabelConfig()).attribution or AttributionConfig()
    components, calls = attribute(state, result, planner, cfg)
    text = realise(result.decision, components, rng, avoid=previous.text if previous is not None else None)
    return ChainOfCausation(float(state.t), True, False, result.decision, components, text, calls)
