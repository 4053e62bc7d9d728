"""`cordillera card`: the model card is written from the run, the dataset and real evaluations."""

from __future__ import annotations

import json

import pytest

from cordillera.errors import UsageError
from cordillera.eval.runner import EvalConfig, run_eval
from cordillera.train.card import eval_row, write_card
from cordillera.train.trainer import train

from .conftest import tiny_train_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory, samples):
    root = tmp_path_factory.mktemp("card")
    train(tiny_train_config(2), samples[:8], None, root / "run", progress=False)
    (root / "data" / "meta").mkdir(parents=True)
    (root / "data" / "meta" / "info.json").write_text(json.dumps(
        {"episodes": 3, "samples": 8, "keyframes": 4, "config": {"suite": "train"}, "code_version": "test"}))
    checkpoint = root / "run" / "final"
    run_eval(EvalConfig(policy=f"vla:{checkpoint}", suite="lane_follow_straight:20000", out=str(root / "eval"),
                        duration_s=1.0, policy_hz=2.0, videos=False))
    return root, checkpoint


def test_card_rows_are_the_evaluation_summaries(trained):
    root, checkpoint = trained
    path = write_card(checkpoint, root / "run", root / "data", root / "recipe.yaml", [f"demo={root / 'eval'}"],
                      [f"reference={root / 'eval'}"])
    card = path.read_text()
    summary = json.loads((root / "eval" / "summary.json").read_text())
    assert eval_row("demo", summary, 2.0) in card
    assert "| reference | this checkpoint | 1 | 2 |" in card
    copied = json.loads((checkpoint / "eval" / "demo.json").read_text())
    assert copied["epdms"] == summary["epdms"] and copied["policy_hz"] == 2.0
    assert "2 steps" in card and "3 episodes" in card and "ms without reasoning" in card
    assert "{" not in card.split("## Limitations")[1]  # every field filled in
    mode = json.loads((checkpoint / "prompt.json").read_text())["reasoning"]
    assert f"reasoning mode | `{mode}`" in card


def test_eval_row_formats_a_hand_computed_summary():
    summary = {"policy": "rule-based", "n_scenarios": 87, "epdms": 0.9012, "success_rate": 0.885,
               "at_fault_collision_rate": 0.023, "offroad_rate": 0.0, "reasoning_action_consistency": None}
    assert eval_row("test", summary, 10.0) == "| test | rule-based | 87 | 10 | 0.901 | 88.5 | 2.3 | 0.0 | - |"


def test_bad_evaluation_arguments_are_named(trained):
    root, checkpoint = trained
    with pytest.raises(UsageError, match="NAME=DIR"):
        write_card(checkpoint, root / "run", root / "data", root / "r.yaml", ["just-a-dir"], [])
    with pytest.raises(UsageError, match="evaluation summary"):
        write_card(checkpoint, root / "run", root / "data", root / "r.yaml", [f"x={root / 'nowhere'}"], [])
    with pytest.raises(UsageError, match="metrics.jsonl"):
        write_card(checkpoint, root / "data", root / "data", root / "r.yaml", [], [])
