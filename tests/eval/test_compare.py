"""`compare_runs` on two real result directories of the same tiny suite."""

import json

import pytest

from cordillera.eval.compare import COMPARE_KEYS, compare_runs
from cordillera.eval.runner import RESULTS, EvalConfig, EvalError, run_eval

ITEMS = "lane_follow_straight:20000,stalled_vehicle:20000,child_ball:20001"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    for policy in ("constant-velocity", "rule-based"):
        run_eval(EvalConfig(policy=policy, suite=ITEMS, out=str(root / policy), duration_s=7.0, videos=False))
    return root


def test_per_family_deltas(runs):
    table = compare_runs(runs / "constant-velocity", runs / "rule-based")
    assert table["a"]["policy"] == "constant-velocity" and table["b"]["policy"] == "rule-based"
    assert table["same_suite"] is True
    assert table["overall"]["n_pairs"] == 3
    assert list(table["families"]) == ["lane_follow_straight", "stalled_vehicle", "child_ball"]
    stalled = table["families"]["stalled_vehicle"]
    assert stalled["n_pairs"] == 1
    # constant velocity drives into the stalled car within 7 s; the lane follower stops behind it
    assert stalled["success_rate"]["delta"] == 1.0 and stalled["at_fault_collision_rate"]["delta"] == -1.0
    assert stalled["success_rate"]["p_value"] == 1.0 and not stalled["success_rate"]["significant"]
    for key in COMPARE_KEYS:
        d = table["overall"][key]
        assert d["delta"] == pytest.approx(d["b"] - d["a"])
        assert d["ci95"][0] <= d["delta"] <= d["ci95"][1]
        assert 0.0 < d["p_value"] <= 1.0
    json.dumps(table)


def test_a_run_against_itself_has_no_delta(runs):
    table = compare_runs(runs / "rule-based", runs / "rule-based")
    assert all(table["overall"][k]["delta"] == 0.0 and table["overall"][k]["p_value"] == 1.0 for k in COMPARE_KEYS)


def test_only_common_scenarios_are_paired(runs, tmp_path):
    run_eval(EvalConfig(policy="rule-based", suite="stalled_vehicle:20000,child_ball:0", out=str(tmp_path / "c"),
                        duration_s=7.0, videos=False))
    table = compare_runs(runs / "constant-velocity", tmp_path / "c")
    assert table["same_suite"] is False and table["overall"]["n_pairs"] == 1
    with pytest.raises(EvalError, match="not a finished evaluation directory"):
        compare_runs(runs / "rule-based", tmp_path)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "summary.json").write_text(json.dumps({"policy": "x", "suite": "s", "suite_hash": "h"}))
    (tmp_path / "d" / RESULTS).write_text("")
    with pytest.raises(EvalError, match="no scenario in common"):
        compare_runs(runs / "rule-based", tmp_path / "d")
