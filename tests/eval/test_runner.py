"""The harness end to end on a tiny suite of short scenarios: output files, resume, crashes, determinism."""

import json

import numpy as np
import pytest

from cordillera import __version__
from cordillera import constants as C
from cordillera.eval import episode
from cordillera.eval.aggregate import HEADLINE_KEYS
from cordillera.eval.runner import CONFIG, REPORT, RESULTS, SUMMARY, EvalConfig, EvalError, code_version, \
    read_results, run_eval
from cordillera.policies import Policy, base
from cordillera.world.types import Plan

ITEMS = "lane_follow_straight:20000,stalled_vehicle:20000,child_ball:20001"
SHORT_S = 3.0  # simulated seconds per scenario: enough for every metric's windows, fast to run

SUMMARY_KEYS = ("suite", "suite_hash", "policy", "n_scenarios", *HEADLINE_KEYS, "families")


def _config(tmp_path, name="run", **kw) -> EvalConfig:
    kw = {"policy": "rule-based", "suite": ITEMS, "duration_s": SHORT_S, "videos": False, **kw}
    return EvalConfig(out=str(tmp_path / name), **kw)


def _without_timing(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "timing"} for r in records]


@pytest.fixture
def count_rollouts(monkeypatch):
    calls = []
    real = episode.replay

    def counting(task, *args, **kwargs):
        calls.append(task.scenario_id)
        return real(task, *args, **kwargs)

    monkeypatch.setattr(episode, "replay", counting)
    return calls


def test_output_files_keys_and_types(tmp_path):
    result = run_eval(_config(tmp_path, policy="constant-velocity"))
    out = tmp_path / "run"
    assert {p.name for p in out.iterdir()} >= {CONFIG, RESULTS, SUMMARY, REPORT, "plots"}
    records = read_results(out / RESULTS)
    assert [r["scenario"] for r in records] == ITEMS.split(",")
    for r in records:
        assert r["suite"] == "custom" and len(r["suite_hash"]) == 64
        assert r["policy"] == "constant-velocity" and r["code_version"].startswith(__version__)
        assert isinstance(r["seed"], int) and r["status"] == "ok" and r["error"] is None
        assert isinstance(r["metrics"]["epdms"], float) and "alpasim.scene_score" in r["metrics"]
        assert set(r["timing"]) == {"rollout_s", "reference_s", "metrics_s", "total_s"}
        assert r["success"] == (r["failure"] is None)
        assert r["tags"]["category"] and isinstance(r["tags"]["longtail"], bool)
    summary = json.loads((out / SUMMARY).read_text())
    assert summary == result.summary
    assert set(SUMMARY_KEYS) <= set(summary)
    assert summary["n_scenarios"] == 3 and summary["policy"] == "constant-velocity"
    for key in HEADLINE_KEYS:
        assert summary[key] is None or isinstance(summary[key], float), key
    assert summary["min_ade"] is None and summary["reasoning_action_consistency"] is None
    assert 0.0 <= summary["epdms"] <= 1.0 and 0.0 <= summary["route_completion"] <= 100.0
    ci = summary["ci95"]["success_rate"]
    assert ci[0] <= summary["success_rate"] <= ci[1]
    assert summary["km_per_incident"] == pytest.approx(summary["km_driven"] / max(1, summary["incidents"]))
    assert set(summary["families"]) == {"lane_follow_straight", "stalled_vehicle", "child_ball"}
    for fam in summary["families"].values():
        assert set(HEADLINE_KEYS) <= set(fam) and fam["n_scenarios"] == 1
    assert set(summary["tags"]) == {"category", "longtail", "expected_decision", "time_of_day", "weather"}
    assert sum(g["n_scenarios"] for g in summary["tags"]["longtail"].values()) == 3
    assert "<table" in (out / REPORT).read_text()


def test_resume_skips_finished_scenarios(tmp_path, count_rollouts):
    config = _config(tmp_path)
    first = run_eval(config)
    assert (first.ran, first.skipped) == (3, 0)
    assert len(count_rollouts) == 3  # rule-based is its own reference: one rollout per scenario
    again = run_eval(config)
    assert (again.ran, again.skipped) == (0, 3)
    assert len(count_rollouts) == 3
    # a run killed mid-write: one finished line and half of the next
    path = tmp_path / "run" / RESULTS
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + lines[1][:40])
    resumed = run_eval(config)
    assert (resumed.ran, resumed.skipped) == (2, 1)
    assert count_rollouts[3:] == ITEMS.split(",")[1:]
    assert _without_timing(read_results(path)) == _without_timing([json.loads(line) for line in lines])
    assert resumed.summary["success_rate"] == first.summary["success_rate"]


def test_resume_refuses_a_directory_of_another_run(tmp_path):
    run_eval(_config(tmp_path))
    with pytest.raises(EvalError, match="another evaluation.*policy"):
        run_eval(_config(tmp_path, policy="constant-velocity"))
    with pytest.raises(EvalError, match="suite_hash"):
        run_eval(_config(tmp_path, suite="lane_follow_straight:20000"))


class CrashOnSecondScenario(Policy):
    """Drives at constant speed; raises in the second rollout it is reset for (test only)."""

    name = "test_crash_on_second_scenario"
    resets = 0

    def reset(self, info=None):
        type(self).resets += 1

    def plan(self, obs):
        if type(self).resets == 2:
            raise RuntimeError("sensor fusion exploded")
        return Plan.from_speed_profile(np.full(C.PLAN_STEPS, obs.speed))


def test_a_crashing_policy_is_recorded_and_the_run_goes_on(tmp_path, monkeypatch):
    monkeypatch.setitem(base._REGISTRY, CrashOnSecondScenario.name, CrashOnSecondScenario)
    monkeypatch.setattr(CrashOnSecondScenario, "resets", 0)
    result = run_eval(_config(tmp_path, policy=CrashOnSecondScenario.name, videos=True))
    records = read_results(tmp_path / "run" / RESULTS)
    assert [r["status"] for r in records] == ["ok", "error", "ok"]
    crashed = records[1]
    assert crashed["success"] is False and crashed["metrics"] is None
    assert crashed["error"]["stage"] == "policy" and crashed["error"]["type"] == "RuntimeError"
    assert "sensor fusion exploded" in crashed["error"]["traceback"]
    assert "in plan" in crashed["error"]["traceback"]
    assert crashed["failure"] == "policy raised RuntimeError: sensor fusion exploded"
    assert result.summary["n_errors"] == 1
    assert result.summary["success_rate"] <= 2 / 3
    report = (tmp_path / "run" / REPORT).read_text()
    assert "sensor fusion exploded" in report and "traceback (policy)" in report


def test_same_seeds_give_identical_results_with_one_or_two_workers(tmp_path):
    one = run_eval(_config(tmp_path, "one", policy="constant-velocity"))
    again = run_eval(_config(tmp_path, "again", policy="constant-velocity"))
    two = run_eval(_config(tmp_path, "two", policy="constant-velocity", workers=2))
    records = [_without_timing(read_results(tmp_path / name / RESULTS)) for name in ("one", "again", "two")]
    assert records[0] == records[1] == records[2]
    summaries = [{k: v for k, v in r.summary.items() if k != "timing"} for r in (one, again, two)]
    assert summaries[0] == summaries[1] == summaries[2]


def test_code_version_names_the_package_and_commit():
    version = code_version()
    assert version.split("+")[0] == __version__
    if "+" in version:  # a git checkout: short commit, ".dirty" with uncommitted changes to tracked files
        commit = version.split("+")[1].removesuffix(".dirty")
        assert len(commit) == 12 and int(commit, 16) >= 0
