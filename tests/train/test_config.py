"""TrainConfig: strict loading (unknown keys and bad values name the field), round trips, shipped recipes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from cordillera.model import ModelConfig
from cordillera.train.config import (DataConfig, OptimConfig, StageConfig, TrainConfig, TrainConfigError,
                                     ValidationConfig, load_train_config)

RECIPES = Path(__file__).resolve().parents[2] / "configs" / "train"


def _write(tmp_path, text: str, name: str = "train.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_round_trip_through_dict_yaml_and_json(tmp_path):
    config = TrainConfig(model=ModelConfig.tiny(), stages=(StageConfig("lm", 10, losses=("text", "gate")),
                                                           StageConfig("expert", 5, losses=("flow",),
                                                                       detach_prefix=True, lr=3e-4)),
                         precision="bfloat16", seed=7)
    assert TrainConfig.from_dict(config.to_dict()) == config
    path = _write(tmp_path, json.dumps(config.to_dict()), "train.json")
    assert load_train_config(path) == config
    assert config.total_steps == 15
    assert config.stage_at(9) == (config.stages[0], 9)
    assert config.stage_at(10) == (config.stages[1], 0)


def test_defaults_from_an_empty_file(tmp_path):
    assert load_train_config(_write(tmp_path, "")) == TrainConfig()


def test_the_speed_term_is_opt_in(tmp_path):
    assert "speed" not in TrainConfig().stages[0].losses  # configs that name no losses train as before
    config = load_train_config(_write(tmp_path, "stages: [{name: a, steps: 5, losses: [flow, speed], speed_weight: 0.5}]"))
    assert config.stages[0].losses == ("flow", "speed") and config.stages[0].speed_weight == 0.5


@pytest.mark.parametrize("text, message", [
    ("optimiser: {lr: 0.001}", "unknown key 'optimiser'"),
    ("optim: {learning_rate: 0.001}", "optim: unknown key 'learning_rate'"),
    ("model: {backbone: {layers: 4}}", "backbone: unknown key 'layers'"),
    ("model: {vison: {}}", "unknown section 'vison'"),
    ("stages: [{name: a, steps: 10, detach: true}]", r"stages\[0\]: unknown key 'detach'"),
    ("validation: {every: 5}", "validation: unknown key 'every'"),
])
def test_unknown_fields_are_named(tmp_path, text, message):
    with pytest.raises(TrainConfigError, match=message):
        load_train_config(_write(tmp_path, text))


@pytest.mark.parametrize("text, message", [
    ("optim: {lr: -0.001}", "OptimConfig.lr must be a finite number > 0"),
    ("optim: {beta2: 1.5}", "OptimConfig.beta2"),
    ("data: {batch_size: 0}", "DataConfig.batch_size must be an integer >= 1"),
    ("data: {workers: -1}", "DataConfig.workers"),
    ("data: {augment: sometimes}", "DataConfig.augment must be true or false"),
    ("model: {perception: {queries: 0}}", "perception"),
    ("precision: float16", "precision must be one of float32, bfloat16"),
    ("stages: []", "stages must be a non-empty list"),
    ("stages: [{name: a, steps: 10, losses: [text, kl]}]", "unknown loss 'kl'"),
    ("stages: [{name: a, steps: 0}]", "StageConfig.steps"),
    ("stages: [{name: a, steps: 5}, {name: a, steps: 5}]", "stage names must be distinct"),
    ("stages: [{steps: 5}]", "name"),
    ("validation: {mode: sometimes}", "ValidationConfig.mode"),
    ("stages: [{name: a, steps: 5, true_facts: 1.5}]", "StageConfig.true_facts must be a finite number >= 0.0"),
    ("stages: [{name: a, steps: 5, true_facts: 0.5}]", "true_facts needs model.perception.enabled"),
    ("stages: [{name: a, steps: 5, speed_weight: -1}]", "StageConfig.speed_weight must be a finite number >= 0.0"),
    ("seed: -1", "TrainConfig.seed"),
    ("- a list", "must be a mapping"),
])
def test_bad_values_are_rejected_with_the_field(tmp_path, text, message):
    with pytest.raises(TrainConfigError, match=message):
        load_train_config(_write(tmp_path, text))


def test_unreadable_files(tmp_path):
    with pytest.raises(TrainConfigError, match="not found"):
        load_train_config(tmp_path / "missing.yaml")
    with pytest.raises(TrainConfigError, match="not valid YAML"):
        load_train_config(_write(tmp_path, "optim: {lr: [", "bad.yaml"))
    with pytest.raises(TrainConfigError, match="not valid JSON"):
        load_train_config(_write(tmp_path, "{", "bad.json"))


def test_direct_construction_checks_values():
    with pytest.raises(TrainConfigError):
        DataConfig(reasoning="yes")
    with pytest.raises(TrainConfigError):
        OptimConfig(min_lr_ratio=2.0)
    with pytest.raises(TrainConfigError):
        ValidationConfig(closed_loop_suite="  ")
    with pytest.raises(TrainConfigError):
        StageConfig("a", 5, losses=())


@pytest.mark.parametrize("name", ["vla-small.yaml", "action-only.yaml", "vla-small-perception.yaml",
                                  "vla-small-dagger.yaml", "action-only-perception.yaml"])
def test_shipped_recipes_load(name):
    config = load_train_config(RECIPES / name)
    assert config.total_steps > 0
    if name == "vla-small-dagger.yaml":  # fine-tunes the perception recipe's model: `--init` needs the same config
        assert config.model == load_train_config(RECIPES / "vla-small-perception.yaml").model
        assert config.stages[0].true_facts == 0.5 and "speed" in config.stages[0].losses
    if name == "vla-small-perception.yaml":  # two processes of 8: the global batch of vla-small.yaml
        assert config.model.perception.to_expert and config.data.augment and config.data.batch_size == 8
    if name == "action-only.yaml":
        assert config.data.reasoning is False and config.model.prompt.reasoning == "never"
        small = load_train_config(RECIPES / "vla-small.yaml")
        assert config.total_steps == small.total_steps and config.data.batch_size == small.data.batch_size
    if name == "action-only-perception.yaml":  # the perception recipe without the text: every other field equal
        assert config.data.reasoning is False and config.model.prompt.reasoning == "never"
        recipe = load_train_config(RECIPES / "vla-small-perception.yaml")
        assert replace(config.model, prompt=recipe.model.prompt) == recipe.model
        assert config.stages == recipe.stages and config.optim == recipe.optim
        assert replace(config.data, reasoning=True) == recipe.data
