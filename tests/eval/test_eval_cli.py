"""`cordillera eval` and `cordillera eval compare` in-process: output, and exit code 2 on bad input."""

import importlib.util
import re
import json

import pytest

from cordillera.cli import main

ITEMS = "lane_follow_straight:20000,child_ball:20001"


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _usage_error(capsys, *argv) -> str:
    code, out, err = _run(capsys, *argv)
    assert code == 2, err
    assert out == ""
    line = err.strip().splitlines()[-1]
    assert line.startswith("cordillera eval: error: ")
    return line


@pytest.mark.parametrize("argv, match", [
    (("--policy", "rule-based", "--suite", "nightly"), "unknown suite 'nightly'; known: train, val, test"),
    (("--policy", "ppo", "--suite", "test"), "unknown policy 'ppo'; available: constant-velocity, rule-based"),
    (("--policy", "vla:/no/such/dir", "--suite", "test"), "does not exist"),
    (("--policy", "rule-based", "--suite", "child_ball:x"), "seed must be an integer"),
    (("--policy", "rule-based", "--suite", "test", "--samples", "2"), "draws no trajectory samples"),
])
def test_bad_names_exit_2(capsys, tmp_path, argv, match):
    line = _usage_error(capsys, "eval", *argv, "--out", str(tmp_path / "o"), "--workers", "1")
    assert re.search(match, line), line
    assert not (tmp_path / "o").exists()  # nothing written for a run that cannot start


def test_missing_arguments_exit_2(capsys):
    assert "--policy, --out required" in _usage_error(capsys, "eval", "--suite", "test")
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--workers", "0"])
    assert exc.value.code == 2


@pytest.mark.skipif(importlib.util.find_spec("ray") is not None, reason="Ray is installed here")
def test_ray_executor_without_ray_exit_2(capsys, tmp_path):
    line = _usage_error(capsys, "eval", "--policy", "rule-based", "--suite", ITEMS, "--out", str(tmp_path / "r"),
                        "--executor", "ray", "--duration", "1")
    assert "needs Ray" in line


def test_eval_json_then_compare(capsys, tmp_path):
    common = ("--suite", ITEMS, "--workers", "1", "--duration", "2", "--no-videos")
    code, out, err = _run(capsys, "eval", "--policy", "rule-based", "--out", str(tmp_path / "rb"), "--json", *common)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["policy"] == "rule-based" and summary["n_scenarios"] == 2
    assert summary == json.loads((tmp_path / "rb" / "summary.json").read_text())
    code, out, err = _run(capsys, "eval", "--policy", "constant-velocity", "--out", str(tmp_path / "cv"), *common)
    assert code == 0, err
    assert "constant-velocity on custom (2 scenarios, 0 crashed): 2 run, 0 already done" in out
    assert "report.html" in out
    # the same directory with another policy is refused
    line = _usage_error(capsys, "eval", "--policy", "rule-based", "--out", str(tmp_path / "cv"), *common)
    assert "holds another evaluation" in line
    code, out, err = _run(capsys, "eval", "compare", str(tmp_path / "cv"), str(tmp_path / "rb"))
    assert code == 0, err
    assert out.splitlines()[0].startswith("B - A: A = constant-velocity")
    assert any(line.startswith("child_ball") for line in out.splitlines())
    code, out, err = _run(capsys, "eval", "compare", str(tmp_path / "cv"), str(tmp_path / "rb"), "--json")
    assert json.loads(out)["overall"]["n_pairs"] == 2
    assert "not a finished evaluation directory" in _usage_error(capsys, "eval", "compare", str(tmp_path), "x")
