"""The family library: every family samples deterministically into valid scenarios, and every sample does
what its family says (events fire, the hazard is visible or hidden as promised, a stopping or evading plan
exists) when the rule-based lane follower drives it.

Every family samples 5 seeds in the default run; the closed-loop check (one rollout of the lane follower,
plus the scripted plan for "brake" and "evade" families) runs seed 0 of each family by default (about a
minute) and seeds 1-5 with `pytest -m slow` (about five minutes).
"""

import numpy as np
import pytest

from cordillera.scenarios.builtin import resolve_scenario
from cordillera.scenarios.checks import check_sample
from cordillera.scenarios.families import DECISIONS, FAMILIES, family_names, get_family, sample_family
from cordillera.scenarios.families.base import Choice, IntRange, Uniform
from cordillera.scenarios.schema import ScenarioError, dump_scenario, load_scenario
from cordillera.world import sim

NAMES = family_names()


def test_the_library_has_nominal_and_long_tail_families():
    assert len(FAMILIES) >= 30
    nominal, longtail = family_names(longtail=False), family_names(longtail=True)
    assert len(nominal) >= 10 and len(longtail) >= 20
    assert NAMES[: len(nominal)] == nominal  # nominal first in the listing
    for fam in FAMILIES.values():
        assert fam.category and fam.description
        assert set(fam.decisions) <= set(DECISIONS)
        assert fam.solution in ("baseline", "brake", "evade")


@pytest.mark.parametrize("name", NAMES)
def test_samples_are_deterministic_valid_and_round_trip(name):
    fam = get_family(name)
    for seed in range(5):
        scenario = fam.sample(seed)
        assert scenario == fam.sample(seed)
        assert load_scenario(dump_scenario(scenario)) == scenario
        assert dump_scenario(load_scenario(dump_scenario(scenario))) == dump_scenario(scenario)
        assert scenario.name == f"{name}:{seed}" and scenario.seed == seed
        tags = scenario.tags
        assert (tags.family, tags.longtail, tags.category) == (name, fam.longtail, fam.category)
        assert tags.expected_decision in fam.decisions
        assert tags.critical == fam.hazards
        assert 10.0 <= scenario.success.time_s <= 25.0
        if seed < 2:
            state = sim.reset(scenario)
            assert not state.log[0].collisions  # nothing starts on top of the ego
            assert all(h in state.agents.names for h in fam.hazards)
    assert fam.draw(0) != fam.draw(1)


def test_families_differ_for_the_same_seed():
    first = {name: get_family(name).draw(0) for name in ("stalled_vehicle", "debris_on_road")}
    assert first["stalled_vehicle"]["ego_speed"] != first["debris_on_road"]["ego_speed"]


def test_appearance_variants_appear_across_the_library():
    looks = {(get_family(n).sample(s).appearance.time_of_day, get_family(n).sample(s).appearance.weather)
             for n in NAMES for s in range(3)}
    times, weathers = {t for t, _ in looks}, {w for _, w in looks}
    assert times == {"day", "dusk", "night"} and weathers == {"clear", "rain", "fog"}
    assert all(get_family("animal_crossing_night").sample(s).appearance.time_of_day == "night" for s in range(5))


def test_expected_decisions_vary_with_the_sample():
    assert {sample_family("yellow_dilemma", s).tags.expected_decision for s in range(8)} == {"stop", "proceed"}
    assert {sample_family("construction_zone", s).tags.expected_decision for s in range(10)} == {
        "lane_change_left", "lane_change_right"}


def test_distributions_draw_within_their_ranges():
    rng = np.random.default_rng(0)
    assert all(2.0 <= Uniform(2.0, 3.0).draw(rng) <= 3.0 for _ in range(100))
    assert {IntRange(1, 3).draw(rng) for _ in range(100)} == {1, 2, 3}
    assert {Choice(("a", "b"), (1.0, 0.0)).draw(rng) for _ in range(20)} == {"a"}
    assert all(round(x, 1) == x for x in (Uniform(0.0, 1.0, digits=1).draw(rng) for _ in range(20)))


def test_family_seed_resolves_like_sample_family():
    assert resolve_scenario("child_ball:2") == sample_family("child_ball", 2)


def test_unknown_family_lists_the_known_ones():
    with pytest.raises(ScenarioError) as info:
        resolve_scenario("roundabout_cut_in:3")
    msg = str(info.value)
    assert "'roundabout_cut_in'" in msg and "occluded_pedestrian" in msg and "zipper_merge" in msg


@pytest.mark.parametrize("seed", [-1, 1.5, True, "3"])
def test_bad_seeds_are_refused(seed):
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        get_family("stop_and_go").sample(seed)


def test_seed_beyond_the_schema_range_names_the_field():
    with pytest.raises(ScenarioError, match=r"^seed: "):
        get_family("stop_and_go").sample(2**60)


# ---- each family does what it says --------------------------------------------------------------------
def _check(name, seed):
    report = check_sample(get_family(name), seed)
    assert report.problems == [], f"{name}:{seed}: {report.problems} (lane follower: {report.baseline})"


@pytest.mark.parametrize("seed", [0])
@pytest.mark.parametrize("name", NAMES)
def test_family_does_what_it_says(name, seed):
    _check(name, seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("name", NAMES)
def test_family_does_what_it_says_on_more_seeds(name, seed):
    _check(name, seed)
