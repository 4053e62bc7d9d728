"""Question-answer pairs about the scene, from the privileged state, for a later question-answering head.

    >>> import numpy as np
    >>> from cordillera.teacher.qa import qa_pairs
    >>> qa_pairs(state, np.random.default_rng(0))
    [('What is the state of the signal ahead?', 'The signal ahead is red, 31 m away.'),
     ('Is anyone about to cross?', 'No one is crossing or about to cross our path.'), ...]

Five questions, each asked in one of a few phrasings drawn from the Generator, in a drawn order:
- the signal ahead on the route (state, distance; a dark signal is an all-way stop), or that there is none;
- whether anyone (pedestrian, cyclist, animal) is crossing or about to cross: on a crosswalk ahead, moving
  across the route, or within `near_path_m` of the path ahead and moving toward it;
- what the vehicle ahead in our path is doing (type, distance, speed, motion), or that the lane is clear;
- how fast we may go here (the current lane's speed limit);
- the traffic control ahead (stop sign, yield sign, signal), or none.
Answers about other road users use only what the front camera saw in the last 2 s (`teacher.scene.seen_agents`),
so an answer never reveals a hidden pedestrian the student could not know about. Deterministic for a seed.

`scene_facts(pairs)` reads the answers back into numbers (a vehicle in our path, its distance, whether it
stands; someone crossing and how far; the signal and traffic-control class): the targets of the model's
perception head (model/perception.py), kept here beside the sentences they parse.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from cordillera.teacher.scene import controls_ahead, describe_agent, seen_agents
from cordillera.world.agents import STATIC_TYPES, VRU_TYPES
from cordillera.world.roads.map import Control

__all__ = ["QAConfig", "QUESTIONS", "qa_pairs", "question_kind", "SceneFacts", "scene_facts", "SIGNAL_CLASSES",
           "CONTROL_CLASSES"]

_VRU = {int(t) for t in VRU_TYPES}
_STATIC = {int(t) for t in STATIC_TYPES}

_Q_SIGNAL = ("What is the state of the signal ahead?", "What does the traffic light ahead show?",
             "Is the light ahead red or green?")
_Q_CROSS = ("Is anyone about to cross?", "Is someone crossing our path?", "Are there pedestrians about to cross?")
_Q_LEAD = ("What is the vehicle ahead doing?", "Is there a vehicle ahead of us in our lane?",
           "What is the car in front doing?")
_Q_LIMIT = ("How fast may we go here?", "What is the speed limit here?", "What is the maximum speed on this road?")
_Q_CONTROL = ("Is there a stop or yield sign ahead?", "What traffic control is ahead?",
              "Do we have to stop at the next junction?")
QUESTIONS = {"signal": _Q_SIGNAL, "crossing": _Q_CROSS, "vehicle ahead": _Q_LEAD, "speed limit": _Q_LIMIT,
             "traffic control": _Q_CONTROL}  # kind -> its phrasings


def question_kind(question: str) -> str | None:
    """Which of the five questions `question` is ("signal", "crossing", ...), or None for another text."""
    return next((kind for kind, phrasings in QUESTIONS.items() if question in phrasings), None)


@dataclass(frozen=True)
class QAConfig:
    signal_horizon_m: float = 100.0  # [m] signals and controls this far ahead on the route are asked about
    lead_horizon_m: float = 80.0  # [m] the vehicle ahead is looked for this far along the route
    near_path_m: float = 4.0  # [m] a road user this close to the path ahead and heading to it is about to cross
    cross_horizon_m: float = 50.0  # [m] ... within this distance ahead
    history_s: float = 2.0  # [s] what the front camera saw this long before counts as known


def _pick(rng: np.random.Generator, options) -> str:
    return options[int(rng.integers(len(options)))]


def _signal_answer(state, cfg: QAConfig) -> str:
    for ctl in controls_ahead(state, cfg.signal_horizon_m):
        if ctl.control == Control.SIGNAL and ctl.state is not None:
            if ctl.state == "dark":
                return f"The signal ahead is dark, {ctl.distance_m:.0f} m away; treat the junction as an all-way stop."
            return f"The signal ahead is {ctl.state}, {ctl.distance_m:.0f} m away."
    return "There is no traffic signal ahead on our route."


def _crossing_answer(state, seen: dict[int, float], cfg: QAConfig) -> str:
    found = []
    for i in sorted(seen):
        if int(state.agents.type[i]) not in _VRU:
            continue
        view = describe_agent(state, i)
        if not 0.0 <= view.ahead_m <= cfg.cross_horizon_m:
            continue
        heading_in = view.motion in ("crossing", "moving", "approaching") and abs(view.lateral_m) <= cfg.near_path_m
        if view.position == "on crosswalk" or view.motion == "crossing" or heading_in:
            found.append(view)
    if not found:
        return "No one is crossing or about to cross our path."
    v = min(found, key=lambda x: x.ahead_m)
    where = "on the crosswalk" if v.position == "on crosswalk" else {"left": "on the left", "right": "on the right",
                                                                    "in path": "in our path"}.get(v.position, "ahead")
    more = f" ({len(found)} road users in all)" if len(found) > 1 else ""
    return f"Yes: a {v.object_type} {v.ahead_m:.0f} m ahead {where} is {v.motion}{more}."


def _lead_answer(state, seen: dict[int, float], cfg: QAConfig) -> str:
    best = None
    for i in sorted(seen):
        if int(state.agents.type[i]) in _VRU:
            continue
        view = describe_agent(state, i)
        ahead = view.position == "in path" and 0.0 < view.ahead_m <= cfg.lead_horizon_m
        if ahead and (best is None or view.ahead_m < best.ahead_m):
            best = view
    if best is None:
        return "There is no vehicle ahead in our lane."
    speed = abs(float(state.agents.v[best.index]))
    if int(state.agents.type[best.index]) in _STATIC and best.motion == "stopped":
        return f"A {best.object_type} stands in our path {best.ahead_m:.0f} m ahead."
    return f"The {best.object_type} {best.ahead_m:.0f} m ahead in our lane is {best.motion} ({speed:.1f} m/s)."


def _limit_answer(state) -> str:
    match = state.road.project(np.array([[state.ego.x, state.ego.y]]), np.array([state.ego.yaw]))
    lane = int(match.lane[0])
    if lane < 0:
        return "We are not on a mapped lane, so no limit is known."
    limit = state.road.lanes[lane].speed_limit
    return f"The limit here is {limit * 3.6:.0f} km/h ({limit:.1f} m/s)."


def _control_answer(state, cfg: QAConfig) -> str:
    for ctl in controls_ahead(state, cfg.signal_horizon_m):
        if ctl.control == Control.STOP:
            return f"A stop sign {ctl.distance_m:.0f} m ahead: stop fully at the line."
        if ctl.control == Control.YIELD:
            return f"A yield sign {ctl.distance_m:.0f} m ahead: give way to crossing traffic."
        if ctl.state == "dark":
            return f"A dark signal {ctl.distance_m:.0f} m ahead: stop as at an all-way stop."
        return f"A traffic signal {ctl.distance_m:.0f} m ahead, now {ctl.state}."
    return "No stop line or traffic control ahead on our route."


def qa_pairs(state, rng: np.random.Generator, config: QAConfig | None = None) -> list[tuple[str, str]]:
    """(question, answer) pairs about `state` (a WorldState), phrasing and order drawn from rng."""
    cfg = config or QAConfig()
    seen = seen_agents(state, cfg.history_s)
    pairs = [(_pick(rng, _Q_SIGNAL), _signal_answer(state, cfg)),
             (_pick(rng, _Q_CROSS), _crossing_answer(state, seen, cfg)),
             (_pick(rng, _Q_LEAD), _lead_answer(state, seen, cfg)),
             (_pick(rng, _Q_LIMIT), _limit_answer(state)),
             (_pick(rng, _Q_CONTROL), _control_answer(state, cfg))]
    order = rng.permutation(len(pairs))
    return [pairs[int(k)] for k in order]


# ---- reading the answers back: the facts a perception head is trained on --------------------------------
SIGNAL_CLASSES = ("none", "red", "yellow", "green", "dark")  # SceneFacts.signal index
CONTROL_CLASSES = ("none", "stop", "yield", "signal")  # SceneFacts.control index
_DISTANCE = re.compile(r"(\d+) m (?:ahead|away)")


@dataclass(frozen=True)
class SceneFacts:
    """What a sample's five answers state, as numbers; NaN where the answers do not say (the question is
    missing, or the fact is undefined: no distance when nothing is there). Distances in metres, rounded as
    the answers round them; signal / control are indices into SIGNAL_CLASSES / CONTROL_CLASSES."""

    lead: float = math.nan  # 1: a vehicle or object in our path within the lead horizon, 0: the lane is clear
    lead_distance: float = math.nan
    lead_stopped: float = math.nan  # 1: it stands still
    crossing: float = math.nan  # 1: someone is crossing or about to cross our path
    crossing_distance: float = math.nan
    signal: float = math.nan
    control: float = math.nan

    def vector(self) -> np.ndarray:
        """(7,) float32 in field order."""
        return np.array([self.lead, self.lead_distance, self.lead_stopped, self.crossing, self.crossing_distance,
                         self.signal, self.control], dtype=np.float32)


def _distance(answer: str) -> float:
    found = _DISTANCE.search(answer)
    if found is None:
        raise ValueError(f"no distance in answer {answer!r}")
    return float(found.group(1))


def scene_facts(pairs, strict: bool = True) -> SceneFacts:
    """SceneFacts of (question, answer) pairs written by `qa_pairs` (any subset, any order). Questions of
    another kind are ignored; an answer this module could not have written raises ValueError, or with
    strict=False leaves its facts unknown (QA pairs from another source)."""
    facts: dict[str, float] = {}
    for question, answer in pairs:
        try:
            facts.update(_facts_of(question_kind(question), answer))
        except ValueError:
            if strict:
                raise
    return SceneFacts(**facts)


def _facts_of(kind: str | None, answer: str) -> dict[str, float]:
    facts: dict[str, float] = {}
    if kind == "vehicle ahead":
        present = not answer.startswith("There is no vehicle ahead")
        if present and " ahead in our lane is " not in answer and " stands in our path " not in answer:
            raise ValueError(f"unexpected vehicle-ahead answer {answer!r}")
        facts["lead"] = float(present)
        if present:
            facts["lead_distance"] = _distance(answer)
            facts["lead_stopped"] = float(" stands in our path " in answer or " is stopped " in answer)
    elif kind == "crossing":
        present = answer.startswith("Yes: ")
        if not present and not answer.startswith("No one is crossing"):
            raise ValueError(f"unexpected crossing answer {answer!r}")
        facts["crossing"] = float(present)
        if present:
            facts["crossing_distance"] = _distance(answer)
    elif kind == "signal":
        if answer.startswith("There is no traffic signal"):
            facts["signal"] = 0.0
        else:
            word = "dark" if answer.startswith("The signal ahead is dark") else answer.split(",")[0].split()[-1]
            if word not in SIGNAL_CLASSES[1:]:
                raise ValueError(f"unexpected signal answer {answer!r}")
            facts["signal"] = float(SIGNAL_CLASSES.index(word))
    elif kind == "traffic control":
        starts = {"No stop line": "none", "A stop sign": "stop", "A yield sign": "yield",
                  "A dark signal": "signal", "A traffic signal": "signal"}
        word = next((value for prefix, value in starts.items() if answer.startswith(prefix)), None)
        if word is None:
            raise ValueError(f"unexpected traffic control answer {answer!r}")
        facts["control"] = float(CONTROL_CLASSES.index(word))
    return facts
