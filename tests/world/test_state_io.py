"""WorldState files: save, load, continue bit-identically; clear errors for bad files."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from cordillera.policies import make_policy
from cordillera.scenarios.builtin import builtin_scenario
from cordillera.world import sim
from cordillera.world.rollout import rollout
from cordillera.world.state_io import StateFileError, load_state, save_state


def _same(a, b):
    assert a.t == b.t and a.step == b.step and len(a.log) == len(b.log)
    np.testing.assert_array_equal(a.ego.as_array(), b.ego.as_array())
    for name in ("x", "y", "yaw", "v", "u", "d", "active", "flags", "route_offset"):
        np.testing.assert_array_equal(getattr(a.agents, name), getattr(b.agents, name))
    for x, y in zip(a.log, b.log):
        np.testing.assert_array_equal(x.agents, y.agents)
        assert x.collisions == y.collisions and x.t == y.t


def test_saved_state_continues_bit_identically(tmp_path):
    sc = builtin_scenario("intersection")
    policy = make_policy("lane_follower")
    middle = rollout(sc, policy, seed=3, duration_s=4.0)
    path = save_state(middle, tmp_path / "moment.npz")
    loaded = load_state(path)
    _same(middle, loaded)
    a = rollout(sc, make_policy("lane_follower"), duration_s=8.0, state=middle)
    b = rollout(sc, make_policy("lane_follower"), duration_s=8.0, state=loaded)
    _same(a, b)


def test_state_with_events_and_lane_changes_round_trips(tmp_path, scenario_factory):
    sc = scenario_factory(agents=[{"id": "cutter", "lane": "fwd.1", "s": 40.0, "speed": 12.0}],
                          events=[{"agent": "cutter", "trigger": {"kind": "time", "time_s": 0.5},
                                   "action": {"kind": "cut_in", "direction": "right", "duration_s": 2.0}}])
    state = sim.reset(sc, 0)
    for _ in range(15):
        state = sim.step(state)
    assert state.fired == (True,) and len(state.routes) == 2  # the cut-in added a route
    loaded = load_state(save_state(state, tmp_path / "s.npz"))
    assert loaded.fired == state.fired and loaded.routes == state.routes
    _same(sim.step(state), sim.step(loaded))


def test_files_never_unpickle_and_bad_files_fail_clearly(tmp_path):
    with pytest.raises(StateFileError, match="no such state file"):
        load_state(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"definitely not a zip")
    with pytest.raises(StateFileError, match="not a Cordillera state file"):
        load_state(junk)
    # an object array (which would need pickle) is refused by np.load(allow_pickle=False)
    evil = tmp_path / "evil.npz"
    np.savez(evil, header=np.array([{"a": 1}], dtype=object))
    with pytest.raises(StateFileError):
        load_state(evil)
    # a state from another format version
    state = sim.reset(builtin_scenario("straight"), 0)
    good = save_state(state, tmp_path / "good.npz")
    with zipfile.ZipFile(good) as zf:
        arrays = {n[:-4]: np.load(zf.open(n), allow_pickle=False) for n in zf.namelist()}
    header = json.loads(str(arrays["header"]))
    header["format_version"] = 99
    arrays["header"] = np.array(json.dumps(header))
    np.savez(tmp_path / "future.npz", **arrays)
    with pytest.raises(StateFileError, match="state format 99"):
        load_state(tmp_path / "future.npz")


def test_save_is_atomic(tmp_path):
    state = sim.reset(builtin_scenario("straight"), 0)
    path = save_state(state, tmp_path / "deep" / "dir" / "s.npz")
    assert path.exists() and not list(path.parent.glob("*.tmp*"))


def test_plan_reasoning_and_samples_are_logged_and_saved(tmp_path):
    from cordillera import constants as C
    from cordillera.world.types import Plan

    state = sim.reset(builtin_scenario("straight"), 0)
    base = Plan.from_speed_profile(np.full(C.PLAN_STEPS, 10.0)).poses
    samples = np.stack([base, base + [0.0, 0.5, 0.0]])
    state = sim.step(state, Plan(base, samples=samples, reasoning={"text": "keep lane", "decision": "keep"}))
    state = sim.step(state)  # no new plan: nothing recorded on this step
    first, second = state.log[1], state.log[2]
    assert first.reasoning == {"text": "keep lane", "decision": "keep"}
    assert first.samples.shape == (2, C.PLAN_STEPS, 3)
    np.testing.assert_allclose(first.samples[0], first.plan)  # same ego pose: the same world-frame poses
    assert second.reasoning is None and second.samples is None
    loaded = load_state(save_state(state, tmp_path / "r.npz"))
    assert loaded.log[1].reasoning == first.reasoning
    np.testing.assert_array_equal(loaded.log[1].samples, first.samples)
    assert loaded.log[2].samples is None
