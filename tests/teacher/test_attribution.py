"""Counterfactual attribution with the real simulator and the real privileged planner: the red signal, the lead
car and the stepping-out pedestrian are critical; parked cars and far traffic are not; a pedestrian hidden
behind a van is never named (causal locality)."""

from __future__ import annotations

import pytest

from cordillera.scenarios.families import get_family
from cordillera.teacher.attribution import AttributionConfig, attribute, candidates
from cordillera.teacher.decisions import Longitudinal
from cordillera.teacher.planner import TeacherPlanner
from cordillera.teacher.scene import describe_agent, seen_agents
from cordillera.world import sim
from cordillera.world.types import Plan

PLANNER = TeacherPlanner()


def _drive(family: str, seed: int, steps: int):
    """(state, result) after `steps` closed-loop teacher steps; result = the teacher's decision at that state."""
    state = sim.reset(get_family(family).sample(seed), seed)
    for _ in range(steps):
        state = sim.step(state, Plan(PLANNER.decide(state).poses))
    return state, PLANNER.decide(state)


def _objects(components):
    return {c.id for c in components if c.category == "object"}


def test_red_signal_is_critical_and_far_traffic_is_not():
    state, result = _drive("red_light_stop", 0, 5)
    assert result.decision.longitudinal == Longitudinal.STOP
    components, calls = attribute(state, result, PLANNER)
    signals = [c for c in components if c.category == "signal"]
    assert len(signals) == 1 and signals[0].signal_state == "red" and signals[0].uncertainty == "low"
    assert not _objects(components)  # traffic cars elsewhere did not cause the stop
    assert 1 <= calls <= AttributionConfig().max_candidates + 1


def test_lead_car_is_critical():
    state, result = _drive("lead_emergency_brake", 0, 2)
    assert result.decision.longitudinal == Longitudinal.LEAD_FOLLOWING
    components, _ = attribute(state, result, PLANNER)
    lead = next(c for c in components if c.id == "lead")
    view = describe_agent(state, state.agents.names.index("lead"))
    assert (lead.category, lead.object_type, lead.position) == ("object", "car", "in path")
    assert lead.distance_m == pytest.approx(view.distance_m, abs=0.01)  # described at the keyframe, not later


@pytest.fixture(scope="module")
def hidden_pedestrian():
    return _drive("occluded_pedestrian", 0, 20)


def test_hidden_pedestrian_is_not_named_and_parked_cars_are_not_critical(hidden_pedestrian):
    state, result = hidden_pedestrian
    ped = state.agents.names.index("pedestrian")
    assert ped not in seen_agents(state)
    # the teacher already reacts (it knows the scripted intent), but the reasoning may not name what it cannot see
    assert any(c.agent == ped for c in result.constraints)
    components, _ = attribute(state, result, PLANNER)
    ids = {c.id for c in components}
    assert "pedestrian" not in ids
    assert not _objects(components) & {"van", "car_ahead", "parked_0"}
    # what hides it is the perceivable cause, with high uncertainty
    assert all(c.uncertainty == "high" for c in components if c.id.startswith("occlusion:"))


def test_candidates_are_local_ranked_and_capped(hidden_pedestrian):
    state, result = hidden_pedestrian
    seen = seen_agents(state)
    cands = candidates(state, result)
    agents = [c.index for c in cands if c.kind == "agent"]
    assert agents and set(agents) <= set(seen)
    assert [c.rank for c in cands] == sorted(c.rank for c in cands)
    capped = candidates(state, result, AttributionConfig(max_candidates=2))
    assert capped == cands[:2]
    _, calls = attribute(state, result, PLANNER, AttributionConfig(max_candidates=1))
    assert calls <= 1 + len([c for c in result.constraints if c.agent is not None])


@pytest.mark.slow
def test_pedestrian_is_critical_once_it_steps_out():
    state, result = _drive("occluded_pedestrian", 0, 56)
    ped = state.agents.names.index("pedestrian")
    assert ped in seen_agents(state)
    components, _ = attribute(state, result, PLANNER)
    assert "pedestrian" in _objects(components)
    assert not _objects(components) & {"van", "car_ahead", "parked_0", "traffic_0"}


def test_route_intent_counts_only_lane_changes_ahead():
    from cordillera.teacher.attribution import _route_changes_lane

    turn = get_family("lane_change_for_turn").sample(14)
    state = sim.reset(turn, turn.seed)
    assert _route_changes_lane(state, "left") and not _route_changes_lane(state, "right")
    straight = get_family("stop_and_go").sample(14)
    state = sim.reset(straight, straight.seed)
    assert not _route_changes_lane(state, "left") and not _route_changes_lane(state, None)
    # drive the lane-change scenario with the teacher until the ego is past the lane change: no route intent left
    state = sim.reset(turn, turn.seed)
    planner = TeacherPlanner()
    route = list(state.world.route.lanes)
    while not state.done:
        here = int(state.road.project([[state.ego.x, state.ego.y]], [state.ego.yaw]).lane[0])
        if here in route and route.index(here) >= 2:
            break
        state = sim.step(state, Plan(planner.decide(state).poses) if state.step % 5 == 0 else None)
    assert not state.done and not _route_changes_lane(state, "left")
