"""Scene question-answer pairs: answers read the privileged state, only name what the camera saw, and are
deterministic for a seed."""

from __future__ import annotations

import numpy as np
import pytest

from cordillera.scenarios.families import get_family
from cordillera.teacher.qa import QUESTIONS, qa_pairs, question_kind
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
