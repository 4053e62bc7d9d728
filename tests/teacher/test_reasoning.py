"""Chain-of-Causation records: text round trips through both decision readers, variety, determinism,
serialisation and validation, and labelling a real teacher moment."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cordillera.eval.metrics.reasoning import expected_meta_actions
from cordillera.model.reasoning import parse_decision
from cordillera.teacher.decisions import SHORT, Decision, Lateral, Longitudinal, parse_label
from cordillera.teacher.reasoning import ChainOfCausation, CriticalComponent, label_moment
from cordillera.teacher.texts import realise

@pytest.fixture(scope="module")
def red_light():
    """(state, planner, result) 1 s into red_light_stop seed 0: the teacher stops for the red signal."""
    from cordillera.scenarios.families import get_family
    from cordillera.teacher.planner import TeacherPlanner
    from cordillera.world import sim
    from cordillera.world.types import Plan

    state = sim.reset(get_family("red_light_stop").sample(0), 0)
    planner = TeacherPlanner()
    for _ in range(10):
        state = sim.step(state, Plan(planner.decide(state).poses))
    return state, planner, planner.decide(state)


ALL_DECISIONS = [Decision(lon, lat) for lon, lat in itertools.product([None, *Longitudinal], [None, *Lateral])
                 if lon is not None or lat is not None]

COMPONENT_SETS = [
    (),
    (CriticalComponent("object", "ped_0", "pedestrian", "on crosswalk", "crossing"),),
    (CriticalComponent("object", "lead", "car", "in path", "stopped", distance_m=12.0),
     CriticalComponent("signal", "signal:3", "traffic light", "ahead", signal_state="red")),
    (CriticalComponent("object", "cutter", "truck", "left", "cutting in", uncertainty="high"),),
    (CriticalComponent("object", "lead", "car", "in path", "slowing"),),
    (CriticalComponent("control", "stop_line:2", "stop sign", "ahead"),),
    (CriticalComponent("route", "route", None, "right"),),
    (CriticalComponent("object", "ev", "emergency vehicle", "behind", "approaching"),),
    (CriticalComponent("condition", "occlusion:van", "parked car", "right", uncertainty="high"),),
    (CriticalComponent("road_event", "curve", "curve", "ahead"), CriticalComponent("lane", "merge", "merge", "ahead")),
]


def _read_back(text: str) -> dict:
    """parse_decision's labels in the taxonomy's short names (it capitalises differently, e.g. "Keep Distance")."""
    return {k: SHORT[parse_label(v)] if v else None for k, v in parse_decision(text).items()}


@pytest.mark.parametrize("decision", ALL_DECISIONS, ids=lambda d: f"{d.short()['longitudinal']}|{d.short()['lateral']}")
def test_text_states_exactly_the_decision(decision):
    rng = np.random.default_rng(7)
    first = decision.short()["longitudinal"] or decision.short()["lateral"]
    for seed, components in itertools.product(range(6), COMPONENT_SETS):
        text = realise(decision, components, np.random.default_rng(seed * 31 + int(rng.integers(1000))))
        assert text.startswith(first), text
        assert text.endswith(".") and any(j in text for j in (" because ", " since ", " as ")), text
        assert _read_back(text) == decision.short(), text
        assert expected_meta_actions(text) == expected_meta_actions(decision.short()), text


def test_texts_vary_and_are_deterministic_for_a_seed():
    decision = Decision(Longitudinal.STOP, Lateral.LANE_KEEPING)
    components = COMPONENT_SETS[1]
    texts = {realise(decision, components, np.random.default_rng(s)) for s in range(40)}
    assert len(texts) >= 6
    assert realise(decision, components, np.random.default_rng(3)) == realise(decision, components,
                                                                              np.random.default_rng(3))


def test_text_names_the_component_as_recorded():
    text = realise(Decision(Longitudinal.YIELD, Lateral.LANE_KEEPING), COMPONENT_SETS[1], np.random.default_rng(0))
    assert "crosswalk" in text and ("pedestrian" in text or "person on foot" in text)
    hidden = realise(Decision(Longitudinal.LEAD_FOLLOWING, None), COMPONENT_SETS[3], np.random.default_rng(0))
    assert "partly hidden" in hidden and "left" in hidden


def test_routine_decisions_have_no_causal_sentence():
    with pytest.raises(ValueError, match="routine"):
        realise(Decision(), (), np.random.default_rng(0))


def _record():
    return ChainOfCausation(3.2, True, False, Decision(Longitudinal.STOP, Lateral.LANE_KEEPING),
                            COMPONENT_SETS[2], "Stop at the stop line and keep lane because the light ahead is red.")


def test_records_round_trip_through_json():
    record = _record()
    data = json.loads(json.dumps(record.to_dict()))
    assert ChainOfCausation.from_dict(data) == record
    assert record.critical_ids() == {"lead", "signal:3"}
    assert record.reasoned


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.pop("decision"), "missing"),
    (lambda d: d.update(extra=1), "unknown"),
    (lambda d: d.update(routine=True), "routine"),
    (lambda d: d.update(keyframe="yes"), "bool"),
    (lambda d: d.update(text="  "), "text"),
    (lambda d: d.update(decision={"longitudinal": "Turn left", "lateral": None}), "lateral label"),
    (lambda d: d.update(decision={"longitudinal": "Fly", "lateral": None}), "unknown decision"),
    (lambda d: d["components"][0].update(category="weather"), "category"),
    (lambda d: d["components"][0].update(uncertainty="medium"), "uncertainty"),
    (lambda d: d["components"][0].update(motion="flying"), "motion"),
    (lambda d: d["components"][0].pop("id"), "'id'"),
    (lambda d: d["components"][1].update(signal_state="blue"), "signal_state"),
    (lambda d: d.update(components={"a": 1}), "list"),
])
def test_bad_records_are_rejected_clearly(mutate, match):
    data = _record().to_dict()
    mutate(data)
    with pytest.raises(ValueError, match=match):
        ChainOfCausation.from_dict(data)


def test_routine_moment_needs_no_planner():
    state = type("S", (), {"t": 1.5})()
    coc = label_moment(state, type("R", (), {"decision": Decision(Longitudinal.SET_SPEED, Lateral.LANE_KEEPING)})(),
                       None, None, np.random.default_rng(0), keyframe=False)
    assert coc.routine and not coc.keyframe and coc.decision == Decision() and not coc.components
    assert not coc.reasoned and coc.text
    assert expected_meta_actions(coc.text) is None  # a routine sentence states no decision


def test_keyframe_at_a_red_light_names_the_signal(red_light):
    state, planner, result = red_light
    coc = label_moment(state, result, planner, None, np.random.default_rng(0), keyframe=True)
    assert coc.keyframe and coc.decision == result.decision and coc.decision.longitudinal == Longitudinal.STOP
    assert [c.category for c in coc.components][:1] == ["signal"]
    assert coc.components[0].signal_state == "red"
    assert coc.text.startswith("Stop") and _read_back(coc.text) == coc.decision.short()
    again = label_moment(state, result, planner, None, np.random.default_rng(0), keyframe=True)
    assert again == coc  # same seed, same label
    assert 1 <= coc.attribution_calls <= 7


def test_records_feed_the_consistency_metric():
    from cordillera.eval.metrics.reasoning import MetaAction, consistency

    record = _record()
    assert consistency(record.decision, MetaAction("stop", "keep_lane")) == 1.0
    assert consistency(record.text, MetaAction("stop", "keep_lane")) == 1.0
    assert consistency(record.decision, MetaAction("accelerate", "keep_lane")) == 0.0


_values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
                    st.lists(st.integers(), max_size=2))


@settings(max_examples=200, deadline=None)
@given(field=st.sampled_from(["t", "keyframe", "routine", "decision", "components", "text", "category", "id",
                              "object_type", "position", "motion", "signal_state", "arrow", "uncertainty",
                              "distance_m", "longitudinal", "lateral"]), value=_values)
def test_garbage_fields_give_a_clear_value_error(field, value):
    data = _record().to_dict()
    if field in ("longitudinal", "lateral"):
        data["decision"][field] = value
    elif field in CriticalComponent.__dataclass_fields__:
        data["components"][0][field] = value
    else:
        data[field] = value
    try:
        ChainOfCausation.from_dict(data)
    except ValueError:
        pass
