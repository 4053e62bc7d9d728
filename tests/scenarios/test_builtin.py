"""Built-in scenarios and `resolve_scenario`: names, YAML paths and FAMILY:SEED."""

import sys

import pytest

from cordillera.scenarios.builtin import BUILTIN, builtin_scenario, resolve_scenario
from cordillera.scenarios.schema import ScenarioError, dump_scenario, load_scenario
from cordillera.world import sim
from cordillera.world.roads import BUILDERS


def test_one_builtin_per_road_builder():
    assert sorted(BUILTIN) == sorted(BUILDERS)
    assert {spec["map"]["builder"] for spec in BUILTIN.values()} == set(BUILDERS)


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_builtin_resolves_and_resets(name):
    scenario = resolve_scenario(name)
    assert scenario == builtin_scenario(name)
    assert scenario.name == name
    state = sim.reset(scenario, seed=0)
    assert state.t == 0.0 and state.step == 0 and not state.done
    assert state.world.route.path.length > 0
    assert len(state.log) == 1 and not state.log[0].collisions  # nothing spawns on top of the ego
    assert state.agents.n >= scenario.traffic.vehicles // 2  # background traffic found room on the map
    assert load_scenario(dump_scenario(scenario)) == scenario


def test_builtin_seed_is_the_scenario_seed():
    assert builtin_scenario("straight", seed=5).seed == 5
    assert resolve_scenario("straight").seed == 0


def test_resolve_yaml_path(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(dump_scenario(builtin_scenario("curved", seed=3)))
    scenario = resolve_scenario(str(path))
    assert scenario == builtin_scenario("curved", seed=3)
    assert sim.reset(scenario).world.seed == 3


def test_resolve_yaml_path_without_yaml_suffix(tmp_path):
    path = tmp_path / "scenario.txt"
    path.write_text("map: {builder: straight}\nego: {lane: fwd.0}\n")
    assert resolve_scenario(str(path)).map.builder == "straight"


def test_resolve_missing_yaml_file(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read scenario file .*missing.yaml"):
        resolve_scenario(str(tmp_path / "missing.yaml"))


def test_resolve_invalid_yaml_file_names_the_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("map: {builder: straight}\nego: {lane: fwd.0, speed: -3}\n")
    with pytest.raises(ScenarioError, match=r"^ego\.speed: Input should be greater than or equal to 0"):
        resolve_scenario(str(path))


@pytest.mark.parametrize("resolve", [resolve_scenario, builtin_scenario])
def test_unknown_name_lists_the_known_ones(resolve):
    with pytest.raises(ScenarioError) as info:
        resolve("roundabout")
    msg = str(info.value)
    assert "'roundabout'" in msg
    for name in BUILTIN:
        assert name in msg


def test_family_seed_without_a_family_library(monkeypatch):
    monkeypatch.setitem(sys.modules, "cordillera.scenarios.families", None)  # as in a build without the library
    with pytest.raises(ScenarioError, match="'cut_in:3': no scenario family library is installed"):
        resolve_scenario("cut_in:3")


def test_family_seed_needs_an_integer_seed():
    pytest.importorskip("cordillera.scenarios.families")
    with pytest.raises(ScenarioError, match="FAMILY:SEED needs an integer seed"):
        resolve_scenario("cut_in:three")
