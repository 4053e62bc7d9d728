"""The checkpoint that ships in the repository: it loads from safetensors, plans on a real observation, is
reproducible for a seed, stays under 30 MB, and its card's evaluation rows are the evidence copied beside it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cordillera.explain import DEFAULT_CHECKPOINT, resolve_checkpoint
from cordillera.model.reasoning import parse_decision
from cordillera.scenarios.families import sample_family
from cordillera.world import sim

torch = pytest.importorskip("torch")

CHECKPOINT = resolve_checkpoint(DEFAULT_CHECKPOINT)


@pytest.fixture(scope="module")
def observation():
    from cordillera.model.policy import VLAPolicy

    sensors = VLAPolicy(checkpoint=CHECKPOINT).sensors
    state = sim.reset(sample_family("stalled_vehicle", 20000), seed=20000)
    for _ in range(20):
        state = sim.step(state, None)
    return sim.observe(state, sensors)


def test_files_are_weights_and_json_only_under_30_mb():
    files = {p.name: p.stat().st_size for p in CHECKPOINT.iterdir() if p.is_file()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "stats.json", "README.md",
            "reproduce.sh"} <= set(files)
    assert sum(files.values()) < 30 * 2**20
    assert not any(name.endswith((".pt", ".pth", ".bin", ".pkl", ".ckpt")) for name in files)  # nothing to unpickle


def test_it_plans_with_reasoning_and_repeats_itself_for_a_seed(observation):
    from cordillera.model.policy import VLAPolicy

    plans = []
    for _ in range(2):
        policy = VLAPolicy(checkpoint=CHECKPOINT, reasoning="always", seed=5)
        policy.reset({"seed": 1})
        plans.append(policy.plan(observation))
    first, again = plans
    assert first.poses.shape == (64, 3) and np.isfinite(first.poses).all()
    np.testing.assert_array_equal(first.poses, again.poses)
    assert first.reasoning.text == again.reasoning.text and first.reasoning.text
    decision = parse_decision(first.reasoning.text)
    assert decision["longitudinal"] or decision["lateral"]  # it states a decision the metrics can check
    path = np.hypot(*np.diff(first.poses[:, :2], axis=0).T).sum()
    assert path < 6.4 * 40.0  # a plausible 6.4 s plan, not a blow-up


def test_card_rows_come_from_the_copied_evaluations():
    from cordillera.train.card import eval_row

    card = (CHECKPOINT / "README.md").read_text()
    evaluations = sorted((CHECKPOINT / "eval").glob("*.json"))
    assert evaluations
    for path in evaluations:
        summary = json.loads(path.read_text())
        assert eval_row(path.stem, summary, summary["policy_hz"], summary["reasoning"]) in card
    assert Path("configs/train/vla-small-dagger.yaml").name in card
