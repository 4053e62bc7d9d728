"""`cordillera drive` (the main job) on a tiny checkpoint, and the key moment it reports per scenario."""

from __future__ import annotations

import dataclasses
import json

import pytest

from cordillera.cli import main
from cordillera.drive import DEMO_SUITE, format_record
from cordillera.eval.episode import key_moment
from cordillera.eval.specs import parse_suite
from cordillera.policies import make_policy
from cordillera.scenarios.families import sample_family
from cordillera.world.rollout import rollout


@pytest.fixture
def make_model():
    import torch

    from cordillera.model import CordilleraVLA, ModelConfig, train_tokenizer

    def make():
        config = ModelConfig.tiny()
        tokenizer = train_tokenizer(["Keep distance to the lead car", "Stop for the red light"] * 4,
                                    config.backbone.vocab_size, config.rig.camera_vocabulary)
        torch.manual_seed(0)
        return CordilleraVLA(config, tokenizer).eval()
    return make


class TalkingFollower:
    """The rule-based driver, writing a reasoning text with the time in it on every plan."""

    sensors = ()
    privileged = True

    def __init__(self):
        self.inner = make_policy("lane_follower")

    def reset(self, info=None):
        self.inner.reset(info)

    def plan(self, obs):
        plan = self.inner.plan(obs)
        return dataclasses.replace(plan, reasoning={"text": f"Keep distance at {obs.t:.1f}"})


def test_demo_suite_is_a_dozen_nominal_and_long_tail_scenarios():
    suite = parse_suite(DEMO_SUITE)
    assert len(suite.items) == 12
    tags = [sample_family(f, s).tags for f, s in suite.items]
    assert any(t.longtail for t in tags) and any(not t.longtail for t in tags)


def test_key_moment_is_the_reasoning_at_closest_approach_to_the_critical_agent():
    scenario = sample_family("lead_emergency_brake", 20000)
    final = rollout(scenario, TalkingFollower(), seed=scenario.seed, policy_hz=2.0, duration_s=8.0)
    moment = key_moment(final, scenario.tags.critical)
    assert moment is not None and moment["why"].startswith("closest to lead")
    assert moment["t"] < moment["moment_t"] <= moment["t"] + 0.6 + 1e-9  # the last plan before the moment
    assert moment["text"] == f"Keep distance at {moment['t']:.1f}"
    assert key_moment(rollout(scenario, make_policy("lane_follower"), duration_s=1.0), ("lead",)) is None


def test_drive_runs_a_checkpoint_and_prints_reasoning(make_model, tmp_path, capsys):
    checkpoint = make_model().save_pretrained(tmp_path / "ckpt")
    argv = ["drive", "--checkpoint", str(checkpoint), "--suite", "stalled_vehicle:20000", "--out",
            str(tmp_path / "drive"), "--workers", "1", "--duration", "1.0", "--policy-hz", "2", "--no-videos"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "stalled_vehicle:20000" in out and "EPDMS" in out and "report:" in out
    assert "key moment" in (tmp_path / "drive" / "report.html").read_text()
    lines = out.splitlines()
    assert lines[2].startswith("    t=")  # the demo reasons at every decision (--reasoning always)
    consistency = json.loads((tmp_path / "drive" / "summary.json").read_text())["reasoning_action_consistency"]
    assert 0.0 <= consistency <= 1.0


def test_drive_without_reasoning_says_so(make_model, tmp_path, capsys):
    checkpoint = make_model().save_pretrained(tmp_path / "ckpt")
    argv = ["drive", "--checkpoint", str(checkpoint), "--suite", "stalled_vehicle:20000", "--out",
            str(tmp_path / "drive"), "--workers", "1", "--duration", "1.0", "--policy-hz", "2", "--no-videos",
            "--reasoning", "never", "--samples", "1"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == "    (no reasoning written)"
    total = next(line for line in lines if line.startswith("1 scenarios:"))
    assert "consistency n/a (no reasoning written)" in total  # undefined, not 0, when nothing was written
    assert json.loads((tmp_path / "drive" / "summary.json").read_text())["reasoning_action_consistency"] is None
    assert json.loads((tmp_path / "drive" / "config.json").read_text())["samples"] == 1


def test_drive_without_a_checkpoint_says_where_it_looked(tmp_path, capsys):
    assert main(["drive", "--checkpoint", str(tmp_path / "none")]) == 2
    assert "no checkpoint at" in capsys.readouterr().err


def test_format_record_of_an_error():
    record = {"scenario": "x:1", "status": "error", "success": False, "failure": "policy raised Boom", "metrics": None}
    assert "ERROR" in format_record(record) and "Boom" in format_record(record)
