"""Scene question-answer pairs: answers read the privileged state, only name what the camera saw, and are
deterministic for a seed."""

from __future__ import annotations

import numpy as np
import pytest

from cordillera.scenarios.families import get_family
from cordillera.teacher.qa import (CONTROL_CLASSES, QUESTIONS, SIGNAL_CLASSES, qa_pairs, question_kind,
                                  scene_facts)
from cordillera.world import sim
from cordillera.world.roads.map import SignalState


def _drive(family: str, seed: int, steps: int):
    """The state after `steps` steps of the scenario with the ego holding speed and heading (no plan)."""
    state = sim.reset(get_family(family).sample(seed), seed)
    for _ in range(steps):
        state = sim.step(state, None)
    return state


@pytest.fixture(scope="module")
def red_light():
    return _drive("red_light_stop", 0, 5)


def _answers(state, seed=0) -> dict[str, str]:
    pairs = qa_pairs(state, np.random.default_rng(seed))
    assert len(pairs) == 5 and all(isinstance(q, str) and isinstance(a, str) and q.endswith("?") for q, a in pairs)
    return {q: a for q, a in pairs}


def test_signal_limit_and_control_at_a_red_light(red_light):
    text = " | ".join(_answers(red_light).values())
    assert int(SignalState.RED) in red_light.log[-1].signals
    assert "The signal ahead is red" in text
    limit = red_light.road.lanes[red_light.road.project(np.array([[red_light.ego.x, red_light.ego.y]]),
                                                         np.array([red_light.ego.yaw])).lane[0]].speed_limit
    assert f"{limit * 3.6:.0f} km/h" in text
    assert "A traffic signal" in text and "No one is crossing" in text


def test_same_seed_same_pairs_and_phrasings_vary(red_light):
    assert qa_pairs(red_light, np.random.default_rng(4)) == qa_pairs(red_light, np.random.default_rng(4))
    questions = {q for s in range(20) for q, _ in qa_pairs(red_light, np.random.default_rng(s))}
    assert len(questions) >= 10
    # the answers do not depend on the phrasing drawn
    assert sorted(_answers(red_light, 1).values()) == sorted(_answers(red_light, 2).values())


def test_every_pair_asks_each_kind_once(red_light):
    for seed in range(10):
        kinds = [question_kind(q) for q, _ in qa_pairs(red_light, np.random.default_rng(seed))]
        assert sorted(kinds) == sorted(QUESTIONS)
    assert question_kind("What is the vehicle ahead doing?") == "vehicle ahead"
    assert question_kind("Is the road wet?") is None


def test_vehicle_ahead_is_described():
    state = _drive("lead_emergency_brake", 0, 3)
    lead = state.agents.names.index("lead")
    answer = next(a for a in _answers(state).values() if "in our lane" in a)
    gap = np.hypot(state.agents.x[lead] - state.ego.x, state.agents.y[lead] - state.ego.y)
    assert answer.startswith("The car") and f"{abs(state.agents.v[lead]):.1f} m/s" in answer
    assert abs(float(answer.split()[2]) - gap) < 3.0  # "The car 20 m ahead ..." (route distance from the axle)


def test_a_hidden_pedestrian_is_not_revealed():
    state = _drive("occluded_pedestrian", 0, 10)  # the pedestrian waits behind the parked van
    from cordillera.teacher.scene import seen_agents

    assert state.agents.names.index("pedestrian") not in seen_agents(state)
    assert "No one is crossing" in " ".join(_answers(state).values())


def test_scene_facts_read_the_answers_back(red_light):
    facts = scene_facts(qa_pairs(red_light, np.random.default_rng(0)))
    assert facts.signal == SIGNAL_CLASSES.index("red") and facts.control == CONTROL_CLASSES.index("signal")
    assert facts.crossing == 0.0 and np.isnan(facts.crossing_distance)
    state = _drive("lead_emergency_brake", 0, 3)
    pairs = qa_pairs(state, np.random.default_rng(0))
    facts = scene_facts(pairs)
    lead_answer = next(a for q, a in pairs if question_kind(q) == "vehicle ahead")
    assert facts.lead == 1.0 and facts.lead_distance == float(lead_answer.split()[2]) and facts.lead_stopped == 0.0
    # the phrasing drawn does not change the facts; a subset leaves the rest unknown
    assert np.array_equal(scene_facts(qa_pairs(state, np.random.default_rng(5))).vector(), facts.vector(),
                          equal_nan=True)
    only_lead = scene_facts([p for p in pairs if question_kind(p[0]) == "vehicle ahead"]).vector()
    assert not np.isnan(only_lead[:3]).any() and np.isnan(only_lead[3:]).all()


@pytest.mark.parametrize("answer, expected", [
    ("There is no vehicle ahead in our lane.", [0.0, np.nan, np.nan]),
    ("A cone stands in our path 12 m ahead.", [1.0, 12.0, 1.0]),
    ("The truck 31 m ahead in our lane is stopped (0.0 m/s).", [1.0, 31.0, 1.0]),
    ("The car 8 m ahead in our lane is slowing (4.2 m/s).", [1.0, 8.0, 0.0]),
])
def test_scene_facts_of_lead_answers(answer, expected):
    got = scene_facts([("What is the car in front doing?", answer)]).vector()[:3]
    assert np.allclose(got, expected, equal_nan=True)


def test_scene_facts_refuse_answers_the_teacher_cannot_write():
    with pytest.raises(ValueError, match="signal"):
        scene_facts([("What does the traffic light ahead show?", "The signal ahead is purple, 20 m away.")])
    with pytest.raises(ValueError, match="distance"):
        scene_facts([("Is anyone about to cross?", "Yes: a pedestrian somewhere.")])
    with pytest.raises(ValueError, match="vehicle-ahead"):
        scene_facts([("What is the car in front doing?", "Yield to the cyclist 12 m ahead.")])
    assert np.isnan(scene_facts([("Is the road wet?", "Yes.")]).vector()).all()  # other questions are ignored
    # strict=False (QA from another source): what cannot be read stays unknown, the rest is read
    mixed = [("Is anyone about to cross?", "Yield to the pedestrian"),
             ("What traffic control is ahead?", "A stop sign 20 m ahead: stop fully at the line.")]
    facts = scene_facts(mixed, strict=False)
    assert np.isnan(facts.crossing) and facts.control == CONTROL_CLASSES.index("stop")
