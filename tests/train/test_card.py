"""`cordillera card`: the model card is written from the run, the dataset and real evaluations."""

from __future__ import annotations

import json

import pytest

from cordillera.errors import UsageError
from cordillera.eval.runner import EvalConfig, run_eval
from cordillera.model import CordilleraVLA
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
    precision = CordilleraVLA.from_pretrained(checkpoint).inference_precision
    assert eval_row("demo", summary, 2.0, None, precision) in card  # the run recorded its precision
    assert f"| reference | `vla:{checkpoint}` | 1 | 2 | checkpoint's | {precision} |" in card  # it names another model
    copied = json.loads((checkpoint / "eval" / "demo.json").read_text())
    assert copied["epdms"] == summary["epdms"] and copied["policy_hz"] == 2.0
    assert "2 steps" in card and "3 episodes" in card and "ms without reasoning" in card
    assert f"flow-integration products in\n{precision})" in card and precision.count("/") == 1
    assert "{" not in card.split("## Limitations")[1]  # every field filled in
    mode = json.loads((checkpoint / "prompt.json").read_text())["reasoning"]
    assert f"reasoning mode | `{mode}`" in card


def test_eval_row_formats_a_hand_computed_summary():
    summary = {"policy": "rule-based", "n_scenarios": 87, "epdms": 0.9012, "success_rate": 0.885,
               "at_fault_collision_rate": 0.023, "offroad_rate": 0.0, "reasoning_action_consistency": None}
    assert eval_row("test", summary, 10.0) == "| test | rule-based | 87 | 10 | - | - | 0.901 | 88.5 | 2.3 | 0.0 | - |"
    vla = {**summary, "policy": "vla:c", "reasoning_action_consistency": 0.4071}
    row = "| t | this checkpoint | 87 | 2 | always | bfloat16 / float32 | 0.901 | 88.5 | 2.3 | 0.0 | 0.41 |"
    assert eval_row("t", vla, 2.0, "always", "bfloat16 / float32") == row
    assert eval_row("t", vla, 2.0, "always").startswith("| t | this checkpoint | 87 | 2 | always | - | 0.901")


def test_bad_evaluation_arguments_are_named(trained):
    root, checkpoint = trained
    with pytest.raises(UsageError, match="NAME=DIR"):
        write_card(checkpoint, root / "run", root / "data", root / "r.yaml", ["just-a-dir"], [])
    with pytest.raises(UsageError, match="evaluation summary"):
        write_card(checkpoint, root / "run", root / "data", root / "r.yaml", [f"x={root / 'nowhere'}"], [])
    with pytest.raises(UsageError, match="metrics.jsonl"):
        write_card(checkpoint, root / "data", root / "data", root / "r.yaml", [], [])


def test_reproduce_script_is_copied_and_listed(trained, tmp_path):
    root, checkpoint = trained
    script = tmp_path / "chain.sh"
    script.write_text("#!/bin/sh\nset -e\ncordillera datagen --suite train --out runs/data/d\n\n"
                      "cordillera train --config c.yaml --data runs/data/d --out runs/train/r\n")
    card = write_card(checkpoint, root / "run", root / "data", root / "recipe.yaml", [], [], script).read_text()
    assert (checkpoint / "reproduce.sh").read_text() == script.read_text()
    assert "    cordillera datagen --suite train --out runs/data/d\n    cordillera train --config c.yaml" in card
    assert "#!/bin/sh" not in card and f"bash {checkpoint / 'reproduce.sh'}" in card
    with pytest.raises(UsageError, match="reproduce script"):
        write_card(checkpoint, root / "run", root / "data", root / "recipe.yaml", [], [], tmp_path / "none.sh")


def test_rl_run_is_described_from_its_record(trained, tmp_path):
    from cordillera.train.rewards import RewardConfig
    from cordillera.train.rl import rl
    from cordillera.train.rl_config import RLConfig
    from cordillera.train.rl_policy import GRPOConfig
    from cordillera.train.rl_prompts import PromptSourceConfig

    root, checkpoint = trained
    config = RLConfig(steps=1, prompts_per_step=1, pool_size=1, eval_prompts=1, eval_every=1, seed=3,
                      grpo=GRPOConfig(group_size=2, max_reasoning_tokens=4, reasoning="auto"),
                      rewards=RewardConfig(horizon_s=1.0),
                      prompts=PromptSourceConfig(driver="lane_follower", min_time_s=0.3, max_time_s=0.6,
                                                 critical_objects=False))
    result = rl(config, checkpoint, tmp_path / "rl", progress=False)
    card = write_card(result.final, root / "run", root / "data", root / "recipe.yaml", [], [],
                      rl_run=tmp_path / "rl").read_text()
    assert "## Post-training (GRPO)" in card
    assert "1 steps of 1 prompts x 2 completions (open-loop plans tracked in the simulator, reasoning `auto`" in card
    assert "On 1 held-out `val` moments (steps 0 -> 1): mean " in card
    with pytest.raises(UsageError, match="not a `cordillera rl` run|RL run record"):
        write_card(result.final, root / "run", root / "data", root / "recipe.yaml", [], [], rl_run=root / "run")
