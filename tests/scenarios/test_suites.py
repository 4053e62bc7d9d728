"""Suites and splits (stable, disjoint, hashed) and the `cordillera scenarios` verb, including bad input.

The pinned hashes below change only when a suite's (family, seed) list changes: that is a new suite
version and must be deliberate. Regenerate them with `cordillera scenarios list --suite NAME --json`.
"""

import hashlib
import json

import av
import pytest

from cordillera.cli import main
from cordillera.scenarios.families import FAMILIES, sample_family
from cordillera.scenarios.schema import dump_scenario, load_scenario
from cordillera.scenarios.suites import (
    HOLDOUT_FAMILIES, SEEN_FAMILIES, SUITE_SEEDS, Suite, get_suite, suite_names,
)

PINNED = {
    "train": (580, "3ea4d597465c478bc07e27856d594c8025085f8b12a875153ddf1e6499406ea1"),
    "val": (58, "f8a567c34ff90217662b55e9c59a3f4ede67333760fcfdc0f1e26d5669f934b5"),
    "test": (87, "0b4cf1f2d76cbb9b8039b0157626fb90e05ddd7434abc1af0c53aa3424a62236"),
    "longtail-holdout": (35, "ca7ce007728dc4c024cb65f5b05b5728d4255954e8aec4117d0bda17e98b42df"),
}


def test_suite_names_and_pinned_sizes_and_hashes():
    assert suite_names() == ["train", "val", "test", "longtail-holdout"]
    for name, (size, digest) in PINNED.items():
        suite = get_suite(name)
        assert (len(suite), suite.hash) == (size, digest), name


def test_hash_is_the_sha256_of_the_canonical_item_list():
    suite = Suite("mine", (("child_ball", 3), ("stop_and_go", 0)))
    text = '[{"family":"child_ball","seed":3},{"family":"stop_and_go","seed":0}]'
    assert suite.hash == hashlib.sha256(text.encode()).hexdigest()
    assert Suite("other", suite.items).hash == suite.hash  # the name is not part of the content
    assert Suite("mine", suite.items[::-1]).hash != suite.hash


def test_every_family_is_either_seen_or_held_out():
    # a new family must be placed on purpose (which changes the suites that take it)
    assert set(SEEN_FAMILIES) | set(HOLDOUT_FAMILIES) == set(FAMILIES)
    assert not set(SEEN_FAMILIES) & set(HOLDOUT_FAMILIES)


def test_held_out_families_are_long_tail_and_never_trained_on():
    assert len(HOLDOUT_FAMILIES) >= 6
    assert all(FAMILIES[name].longtail for name in HOLDOUT_FAMILIES)
    for name in ("train", "val", "test"):
        assert not {family for family, _ in get_suite(name).items} & set(HOLDOUT_FAMILIES)
    assert {family for family, _ in get_suite("longtail-holdout").items} == set(HOLDOUT_FAMILIES)


def test_seed_ranges_are_disjoint_and_the_test_split_holds_out_seeds():
    seeds = {name: {seed for _, seed in get_suite(name).items} for name in suite_names()}
    for a in seeds:
        for b in seeds:
            if a != b:
                assert not seeds[a] & seeds[b], (a, b)
    assert {family for family, _ in get_suite("test").items} == set(SEEN_FAMILIES)
    assert 80 <= len(get_suite("test")) <= 120


def test_suite_scenarios_sample_in_order_and_content_hash_is_stable():
    suite = get_suite("longtail-holdout")
    first = next(suite.scenarios())
    assert first == sample_family(*suite.items[0])
    assert suite.content_hash() == suite.content_hash() != suite.hash
    small = Suite("two", suite.items[:2])
    assert small.content_hash() != Suite("two", suite.items[1:3]).content_hash()


def test_unknown_suite_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown suite 'tset'; known: train, val, test, longtail-holdout"):
        get_suite("tset")


def test_suite_naming_a_missing_family_fails_clearly(monkeypatch):
    monkeypatch.setitem(SUITE_SEEDS, "val", (("gone_family",), range(2)))
    with pytest.raises(ValueError, match="not in the library: gone_family"):
        get_suite("val")


# ---- the `cordillera scenarios` verb -------------------------------------------------------------------
def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _usage_error(capsys, *argv) -> str:
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cordillera scenarios: error: "), err
    return lines[0]


def test_list_families_json(capsys):
    code, out, err = _run(capsys, "scenarios", "list", "--json")
    assert code == 0, err
    listing = json.loads(out)
    assert [item["name"] for item in listing] == list(FAMILIES)
    for item in listing:
        assert set(item) == {"name", "tags", "longtail"}
        fam = FAMILIES[item["name"]]
        assert item["longtail"] is fam.longtail
        assert item["tags"]["category"] == fam.category and item["tags"]["expected_decision"] == fam.decisions[0]
        assert item["tags"]["holdout"] == (item["name"] in HOLDOUT_FAMILIES)


def test_list_families_as_text(capsys):
    code, out, _ = _run(capsys, "scenarios", "list")
    assert code == 0 and len(out.strip().splitlines()) == len(FAMILIES)
    assert "occluded_pedestrian" in out and "held out" in out


def test_list_suite_json(capsys):
    code, out, err = _run(capsys, "scenarios", "list", "--suite", "test", "--json")
    assert code == 0, err
    doc = json.loads(out)
    suite = get_suite("test")
    assert doc == {"suite": "test", "hash": suite.hash, "items": [{"family": f, "seed": s} for f, s in suite.items]}


def test_list_suite_text_prints_the_hash(capsys):
    code, out, _ = _run(capsys, "scenarios", "list", "--suite", "val")
    lines = out.strip().splitlines()
    assert code == 0 and get_suite("val").hash in lines[0] and lines[1] == "lane_follow_straight:10000"


def test_export_prints_yaml_that_loads_back(capsys):
    code, out, err = _run(capsys, "scenarios", "export", "construction_zone", "--seed", "4")
    assert code == 0, err
    assert load_scenario(out) == sample_family("construction_zone", 4)
    assert out == dump_scenario(sample_family("construction_zone", 4))


def test_export_to_a_file_and_sim_runs_it(capsys, tmp_path):
    path = tmp_path / "deep" / "scenario.yaml"
    code, out, err = _run(capsys, "scenarios", "export", "debris_on_road", "--seed", "1", "--output", str(path))
    assert code == 0 and out == "", err
    assert [p.name for p in path.parent.iterdir()] == ["scenario.yaml"]  # no temporary file left behind
    code, out, err = main(["sim", str(path), "--json", "--duration", "2"]), *capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["scenario"] == "debris_on_road:1"


def test_sim_accepts_family_colon_seed(capsys):
    code = main(["sim", "tight_cut_in:3", "--json", "--duration", "2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["scenario"] == "tight_cut_in:3"


def test_show_drives_the_sample_and_writes_a_video(capsys, tmp_path):
    video = tmp_path / "show.mp4"
    code, out, err = _run(capsys, "scenarios", "show", "zipper_merge", "--seed", "2", "--video", str(video),
                          "--no-cameras", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["scenario"] == "zipper_merge:2" and summary["tags"]["family"] == "zipper_merge"
    assert all(t is not None for t in summary["events_fired_at_s"])
    with av.open(str(video)) as container:
        assert sum(1 for _ in container.decode(video=0)) == summary["steps"] + 1
    assert [p.name for p in tmp_path.iterdir()] == ["show.mp4"]


@pytest.mark.parametrize("argv, needle", [
    (("scenarios", "show", "roundabout"), "unknown scenario family 'roundabout'"),
    (("scenarios", "export", "roundabout"), "unknown scenario family 'roundabout'"),
    (("scenarios", "list", "--suite", "nope"), "unknown suite 'nope'"),
    (("scenarios", "show", "child_ball", "--policy", "teleport"), "unknown policy 'teleport'"),
    (("scenarios", "export", "child_ball", "--seed", str(2**60)), "seed: "),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, needle):
    assert needle in _usage_error(capsys, *argv)


def test_unwritable_outputs_leave_nothing_behind(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    line = _usage_error(capsys, "scenarios", "export", "child_ball", "--output", str(blocker / "x.yaml"))
    assert "cannot write" in line
    line = _usage_error(capsys, "scenarios", "show", "child_ball", "--video", str(blocker / "x.mp4"), "--no-cameras")
    assert "cannot write" in line
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


@pytest.mark.parametrize("argv", [("scenarios",), ("scenarios", "show"), ("scenarios", "export", "child_ball",
                                                                          "--seed", "-1")])
def test_argument_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    assert info.value.code == 2
    capsys.readouterr()
