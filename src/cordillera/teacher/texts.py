"""Chain-of-Causation sentences from a decision and its critical components, with seeded variety.

    >>> import numpy as np
    >>> from cordillera.teacher.texts import realise
    >>> realise(Decision(Longitudinal.STOP, Lateral.LANE_KEEPING), components, np.random.default_rng(0))
    'Stop before the crosswalk and keep lane because the pedestrian on the crosswalk is crossing.'

Shape (the released autolabeler's, dataset_and_coc.md §2.8): `<decision verb phrase> (because|since|as|due to)
<proximate cause>.` The sentence starts with the decision in the released short names ("Stop", "Keep distance",
"Nudge left", ...; the longitudinal one first, the lateral one joined to it), so the VLA's `parse_decision` and
the evaluation's `expected_meta_actions`, which read each channel at its earliest phrase, recover exactly the
record's decision. What follows may not name a decision of its own: when a channel is None its words (stop,
slowing, turn, merge, ...) are kept out of the cause, and after a Merge / Split (whose side the parsers read
from the first "left"/"right") so are sides. Each candidate sentence is checked against those word lists and
redrawn (then reduced to a plain cause) if it breaks them; the phrase banks only say what the record holds
(type, position, motion, signal state, uncertainty as "partly hidden").
"""

from __future__ import annotations

import re

import numpy as np

from cordillera.teacher.decisions import Decision, Lateral, Longitudinal

__all__ = ["realise", "routine_text", "LON_WORDS", "LAT_WORDS"]

# words that state a decision of their own (the union of model.reasoning.parse_decision's and
# eval.metrics.reasoning's patterns, per channel)
LON_WORDS = re.compile(r"\b(stop|yield|pass|overtak|gap|follow|keep\w*( a)? distance|slow|decelerat|brak|resum|"
                       r"accelerat|speed up|set speed|adapt|maintain|cruis|keep speed)")
LAT_WORDS = re.compile(r"\b(turn|u turn|merg|split|nudg|shift|lane change|chang\w* lanes?|"
                       r"keep\w* (the |its |our )?lane|lane keep|stay\w* in|pull\w* over|curb approach|abort|straddl|centering|out of lane)")
SIDE_WORDS = re.compile(r"\b(left|right)\b")

_LAT_JOIN = {  # lateral phrase after a longitudinal head ({d}: the side)
    "Keep lane": (" and keep lane", ", keeping our lane,", " while staying in the lane"),
    "Nudge": (" and nudge {d}", ", then nudge {d},", " while we nudge {d}"),
    "Lane change": (" and lane change {d}", " and change lanes to the {d}", ", then change lanes to the {d},"),
    "Turn": (" and turn {d}", ", then turn {d},", " before we turn {d}"),
    "Merge": (" and merge", ", then merge,"),
    "Split": (" and split off", ", then split off,"),
    "Pull over": (" and pull over", ", then pull over to the curb,"),
    "Abort": (" and abort the manoeuvre", ", aborting the manoeuvre,"),
}
_OBJECT_WORDS = {
    "pedestrian": ("pedestrian", "person on foot"), "cyclist": ("cyclist", "bike rider"),
    "car": ("car", "vehicle"), "truck": ("truck", "lorry"), "bus": ("bus",), "school bus": ("school bus",),
    "emergency vehicle": ("emergency vehicle", "emergency vehicle with its lights on"),
    "motorcycle": ("motorcycle", "motorbike"), "animal": ("animal",), "debris": ("debris", "piece of debris"),
    "cone": ("cone", "traffic cone"), "barrier": ("barrier",), "parked car": ("parked car",),
    "stalled vehicle": ("stalled vehicle", "broken-down car"),
}
_POSITION_WORDS = {
    "in path": ("in our path", "in our lane", "right ahead in our lane"),
    "left": ("on our left", "to our left"), "right": ("on our right", "to our right"),
    "oncoming": ("in the oncoming lane", "coming toward us"), "behind": ("behind us",),
    "ahead": ("ahead", "up ahead"), "on crosswalk": ("on the crosswalk", "at the crosswalk"),
}
_MOTION_WORDS = {
    "stopped": ("is stopped", "has stopped", "is standing still", "is not moving"),
    "slowing": ("is slowing down", "is braking", "is losing speed"),
    "crossing": ("is crossing", "is crossing our path", "is stepping across"),
    "cutting in": ("is cutting in", "is moving into our lane"),
    "moving": ("is moving", "is on the move"), "approaching": ("is approaching", "is closing in"),
    "reversing": ("is reversing", "is backing out"), "door opening": ("is opening a door", "has a door opening"),
}
_SIGNAL_WORDS = {
    "red": ("the signal ahead is red", "the light ahead is red", "the traffic light ahead shows red"),
    "yellow": ("the light ahead turned yellow", "the signal ahead is yellow"),
    "green": ("the light ahead is green", "the signal ahead turned green"),
    "dark": ("the signal ahead is dark", "the traffic light ahead is out of order"),
}
_CONTROL_WORDS = {
    "stop sign": ("there is a stop sign ahead", "a stop sign controls the junction ahead"),
    "yield sign": ("there is a yield sign ahead", "a yield sign gives others priority ahead"),
    "dark signal": ("the signal ahead is dark and the junction works as an all-way stop",),
    "signal": ("the stop line ahead is signal-controlled",),
}
_ROAD_EVENT_WORDS = {
    "curve": ("the road bends ahead", "a bend is coming up"),
    "speed_limit": ("the speed limit applies on this stretch", "this road has a lower speed limit"),
}
_LANE_WORDS = {
    "merge": ("our lane joins the main road here", "the lanes come together ahead"),
    "lane_blocked": ("our lane is blocked ahead", "the lane ahead is closed"),
}
_CONDITION_WORDS = {
    "construction zone": ("we are in a construction zone", "road works narrow the road"),
    "emergency vehicle": ("an emergency vehicle needs the way",),
    "school bus": ("a school bus is loading",),
}
_ROUTE_WORDS = ("our route goes {d} ahead", "the route continues to the {d}", "the navigation asks for the {d}")
_ROUTE_PLAIN = ("our route goes that way", "the route requires it")
_CLEAR = ("the road ahead is clear", "nothing is in our way", "the way ahead is free")
_FALLBACK = ("of the situation ahead", "of what is ahead of us")
_SENTENCE_JOIN = (" because ", " since ", " as ")
_ROUTINE = ("Nothing calls for a change; carry on along the route.", "Routine driving, no event needs a reaction.",
            "Carry on as before; the scene needs no reaction.")


def _pick(rng: np.random.Generator, options) -> str:
    return options[int(rng.integers(len(options)))]


def _head(decision: Decision, components, rng: np.random.Generator) -> str:
    short = decision.short()
    lon, lat = short["longitudinal"], short["lateral"]
    if lon is None:
        return lat
    head = lon
    if lon == "Stop" and any(c.category in ("signal", "control") for c in components):
        head += _pick(rng, (" at the stop line", " before the stop line"))
    elif lon in ("Stop", "Yield") and any(c.position == "on crosswalk" for c in components):
        head += " before the crosswalk"
    if lat is None:
        return head
    base, _, side = lat.rpartition(" ") if lat.split()[-1] in ("left", "right") else (lat, "", "")
    return head + _pick(rng, _LAT_JOIN[base]).format(d=side)


def _object(c, rng: np.random.Generator) -> str:
    noun = _pick(rng, _OBJECT_WORDS.get(c.object_type or "", (c.object_type or "object",)))
    hidden = "partly hidden " if c.uncertainty == "high" else ""
    where = _pick(rng, _POSITION_WORDS[c.position]) if c.position in _POSITION_WORDS else ""
    what = _pick(rng, _MOTION_WORDS[c.motion]) if c.motion in _MOTION_WORDS else "is there"
    if c.position == "in path" and c.motion in ("cutting in", "crossing"):
        where = ""
    return " ".join(w for w in (f"the {hidden}{noun}", where, what) if w)


def _clause(c, rng: np.random.Generator) -> str:
    if c.category == "object":
        return _object(c, rng)
    if c.category == "signal":
        return _pick(rng, _SIGNAL_WORDS.get(c.signal_state or "", ("the signal ahead controls the junction",)))
    if c.category == "control":
        return _pick(rng, _CONTROL_WORDS.get(c.object_type or "", ("a traffic control is ahead",)))
    if c.category == "road_event":
        return _pick(rng, _ROAD_EVENT_WORDS.get(c.object_type or "", ("the road changes ahead",)))
    if c.category == "lane":
        return _pick(rng, _LANE_WORDS.get(c.object_type or "", ("the lane layout changes ahead",)))
    if c.category == "condition" and c.id.startswith("occlusion:"):
        noun = _pick(rng, _OBJECT_WORDS.get(c.object_type or "", (c.object_type or "object",)))
        where = _pick(rng, _POSITION_WORDS[c.position]) if c.position in _POSITION_WORDS else ""
        what = _pick(rng, ("blocks our view", "hides what is beyond it", "may hide someone about to step out"))
        return " ".join(w for w in (f"the {noun}", where, what) if w)
    if c.category == "condition":
        return _pick(rng, _CONDITION_WORDS.get(c.object_type or "", ("conditions ahead call for care",)))
    if c.position in ("left", "right"):
        return _pick(rng, _ROUTE_WORDS).format(d=c.position)
    return _pick(rng, _ROUTE_PLAIN)


def _breaks(text: str, decision: Decision) -> bool:
    """Whether the cause states a decision the record lacks (or a side a Merge / Split would read)."""
    lowered = text.lower()
    if decision.longitudinal is None and LON_WORDS.search(lowered):
        return True
    if decision.lateral is None and LAT_WORDS.search(lowered):
        return True
    return decision.lateral in (Lateral.MERGE, Lateral.SPLIT) and bool(SIDE_WORDS.search(lowered))


def realise(decision: Decision, components=(), rng: np.random.Generator | None = None, avoid: str | None = None,
            attempts: int = 8) -> str:
    """One sentence for a non-routine decision and its critical components (the first two are named).

    avoid: a text not to repeat verbatim (the previous moment's) when another draw gives a different one.
    """
    if decision.routine:
        raise ValueError("realise: a routine decision has no Chain-of-Causation sentence; use routine_text")
    rng = rng if rng is not None else np.random.default_rng(0)
    named = tuple(components)[:2]
    cruising = (decision.longitudinal in (None, Longitudinal.SET_SPEED)
                and decision.lateral in (None, Lateral.LANE_KEEPING))  # nothing binds: the way is clear
    text = None
    for _ in range(attempts):
        head = _head(decision, named, rng)
        if named:
            cause = " and ".join(_clause(c, rng) for c in named)
            join = _pick(rng, _SENTENCE_JOIN)
        elif cruising:
            cause, join = _pick(rng, _CLEAR), _pick(rng, _SENTENCE_JOIN)
        else:
            cause, join = _pick(rng, _FALLBACK), " because "
        candidate = f"{head}{join}{cause}."
        if _breaks(cause, decision) or (decision.lateral in (Lateral.MERGE, Lateral.SPLIT) and
                                        SIDE_WORDS.search(head.lower())):
            continue
        text = candidate
        if candidate != avoid:
            break
    if text is None:  # every draw named something the record lacks: a plain cause that cannot
        text = f"{_head(decision, (), rng)} because {_FALLBACK[0]}."
    return text


def routine_text(rng: np.random.Generator) -> str:
    """A sentence for a routine moment (datasets store reasoning None there; kept for completeness)."""
    return _pick(rng, _ROUTINE)
