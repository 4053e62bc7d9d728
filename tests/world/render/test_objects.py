"""Object geometry for the cameras: templates, placement, flags, lights and signal lamps."""

import numpy as np
import pytest

from cordillera.world.agents import DEFAULT_SIZE, AgentType, Flag
from cordillera.world.render.appearance import sample_appearance
from cordillera.world.render.objects import build_objects
from cordillera.world.render.templates import COMPILED, KINDS
from cordillera.world.roads import build_map
from cordillera.world.roads.map import SignalState
from cordillera.world.sim import LogStep

PLAIN = sample_appearance(0, variety=False)


def step_with(kinds, flags=None, t=0.0, active=None, signals=(), forward=10.0):
    """Agents of `kinds` in a row ahead of an ego at the origin heading +x."""
    kinds = np.asarray(kinds, np.int64)
    rows = np.array([[forward + 8.0 * k, 0.0, 0.0, 0.0, 0.0, *DEFAULT_SIZE[AgentType(int(t_))][:2]]
                     for k, t_ in enumerate(kinds)]).reshape(-1, 7)
    flags = np.zeros(len(kinds), np.int32) if flags is None else np.asarray(flags, np.int32)
    active = np.ones(len(kinds), bool) if active is None else np.asarray(active)
    heights = np.array([DEFAULT_SIZE[AgentType(int(t_))][2] for t_ in kinds])
    step = LogStep(t, np.zeros(7), np.zeros(3), rows, active, flags, np.asarray(signals, np.int8), None, 0.0, ())
    return step, kinds, heights


ROAD = build_map("straight", {})


def build(*args, **kw):
    step, kinds, heights = step_with(*args, **kw)
    return build_objects(ROAD, step, kinds, heights, PLAIN)


def test_templates_are_grouped_by_part_with_outward_faces():
    for kind in range(KINDS):
        a, b = COMPILED.q_start[kind], COMPILED.q_start[kind + 1]
        assert b > a, kind
        parts = COMPILED.part[a:b]
        assert np.all(np.diff(parts) >= 0)  # quads grouped by part (faces, then decals)
        quads = COMPILED.quad[a:b]
        normal = np.cross(quads[:, 1] - quads[:, 0], quads[:, 3] - quads[:, 0])
        centre = COMPILED.part_centre[COMPILED.p_start[kind] + parts]
        flat = COMPILED.part_half[COMPILED.p_start[kind] + parts, 2] == 0.0  # a contact shadow: only a top
        faces = ~COMPILED.decal[a:b] & ~flat
        outward = np.einsum("qk,qk->q", normal, quads.mean(axis=1) - centre)
        assert np.all(outward[faces] > 0), kind
        assert np.all(normal[flat & ~COMPILED.decal[a:b], 2] > 0), kind


def test_every_agent_type_places_its_parts_on_its_box():
    kinds = [t for t in AgentType]
    objs = build(kinds)
    assert objs.count > 0 and set(np.unique(objs.part_group)) == set(range(len(kinds)))
    for k, t in enumerate(kinds):
        mine = objs.part_group[objs.part] == k
        corners = objs.quads[mine].reshape(-1, 3)
        length, width, height = DEFAULT_SIZE[t]
        x0 = 10.0 + 8.0 * k
        assert corners[:, 0].min() >= x0 - 0.6 * length and corners[:, 0].max() <= x0 + 0.6 * length
        assert corners[:, 2].min() >= 0.0 and corners[:, 2].max() <= 1.08 * height + 1e-9


def test_inactive_and_far_agents_are_left_out():
    objs = build([AgentType.CAR, AgentType.CAR], active=[False, True])
    assert set(np.unique(objs.part_group)) == {0}
    assert build([AgentType.CAR], forward=5000.0).count == 0


def emissive_colours(objs) -> set[tuple[int, ...]]:
    return {tuple(c) for c in objs.color[objs.emissive].tolist()}


def test_conditional_parts_and_lights():
    plain = build([AgentType.CAR])
    siren = build([AgentType.CAR], [int(Flag.EMERGENCY)])
    door = build([AgentType.CAR], [int(Flag.DOOR_OPEN)])
    assert siren.count > plain.count and door.count > plain.count
    assert siren.part_enabled.sum() == plain.part_enabled.sum() + 2
    assert not plain.emissive.any()  # a day without brakes: nothing glows
    braking = build([AgentType.CAR], [int(Flag.BRAKE)])
    assert (255, 40, 40) in emissive_colours(braking)
    on = build([AgentType.CAR], [int(Flag.HAZARD)], t=0.0)
    off = build([AgentType.CAR], [int(Flag.HAZARD)], t=0.25)
    assert on.count == off.count + 4 and (255, 168, 20) in emissive_colours(on)


def test_lights_on_at_dusk():
    step, kinds, heights = step_with([AgentType.CAR])
    objs = build_objects(ROAD, step, kinds, heights, sample_appearance(0, "dusk", variety=False))
    assert objs.emissive.sum() == 4  # two headlights, two tail lights


@pytest.mark.parametrize("state, lit", [(SignalState.RED, (255, 45, 35)), (SignalState.YELLOW, (255, 200, 40)),
                                        (SignalState.GREEN, (60, 255, 130))])
def test_signal_lamps_follow_the_state(state, lit):
    road = build_map("intersection", {"lanes_per_direction": 1})
    step, kinds, heights = step_with([], signals=[int(state)] * len(road.signals))
    objs = build_objects(road, step, kinds, heights, PLAIN)
    assert emissive_colours(objs) == {lit}
    dark = build_objects(road, step_with([], signals=[int(SignalState.DARK)] * len(road.signals))[0], kinds, heights,
                         PLAIN)
    assert not dark.emissive.any()
