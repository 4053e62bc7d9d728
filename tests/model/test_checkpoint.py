"""save_pretrained / from_pretrained: identical outputs after a round trip, clear errors for bad checkpoints."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from cordillera.model import CheckpointError, CordilleraVLA
from cordillera.model.action_space import ActionStats
from cordillera.model.checkpoint import FILES
from cordillera.model.config import BackboneConfig


@pytest.fixture
def saved(tmp_path, make_model, tokenizer, tiny_config):
    model = CordilleraVLA(tiny_config, tokenizer, ActionStats((0.1, 0.001), (0.9, 0.03)))
    torch.nn.init.normal_(model.expert.out_proj.weight, std=0.3)  # non-trivial trajectories
    model.eval()
    path = model.save_pretrained(tmp_path / "ckpt")
    return model, path


def run(model, sample, seed=3):
    return model.generate(model.processor.collate([sample]), mode="always", num_samples=3, max_reasoning_tokens=6,
                          generator=torch.Generator().manual_seed(seed))


def test_round_trip_identical_outputs(saved, make_sample):
    model, path = saved
    assert sorted(p.name for p in path.iterdir()) == sorted(FILES)
    loaded = CordilleraVLA.from_pretrained(path)
    assert loaded.config == model.config and loaded.stats == model.stats
    assert loaded.backbone.lm_head.weight is loaded.backbone.model.embed_tokens.weight  # still tied
    a, b = run(model, make_sample(0)), run(loaded, make_sample(0))
    assert a.reasoning == b.reasoning
    np.testing.assert_array_equal(a.poses, b.poses)
    np.testing.assert_array_equal(a.gate_probability, b.gate_probability)


def test_files_are_plain_json_and_safetensors(saved):
    _, path = saved
    config = json.loads((path / "config.json").read_text())
    assert config["format"] == "cordillera-vla" and config["format_version"] == 1
    assert {"cordillera", "torch", "transformers"} <= set(config["versions"])
    assert json.loads((path / "rig.json").read_text())["num_frames"] == 2
    assert json.loads((path / "stats.json").read_text())["actions"]["std"] == [0.9, 0.03]
    assert "backbone.lm_head.weight" not in load_file(str(path / "model.safetensors"))


@pytest.mark.parametrize("name", FILES)
def test_missing_file(saved, name):
    _, path = saved
    (path / name).unlink()
    with pytest.raises(CheckpointError, match=name.replace(".", r"\.")):
        CordilleraVLA.from_pretrained(path)


def test_missing_directory(tmp_path):
    with pytest.raises(CheckpointError, match="directory not found"):
        CordilleraVLA.from_pretrained(tmp_path / "nope")


def edit_json(path, name, change):
    doc = json.loads((path / name).read_text())
    change(doc)
    (path / name).write_text(json.dumps(doc))


def test_wrong_format_version(saved):
    _, path = saved
    edit_json(path, "config.json", lambda d: d.update(format_version=99))
    with pytest.raises(CheckpointError, match="format_version 99; this cordillera reads version 1"):
        CordilleraVLA.from_pretrained(path)


def test_not_a_checkpoint_config(saved):
    _, path = saved
    (path / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    with pytest.raises(CheckpointError, match="not a cordillera-vla checkpoint"):
        CordilleraVLA.from_pretrained(path)


def test_invalid_json(saved):
    _, path = saved
    (path / "prompt.json").write_text("{")
    with pytest.raises(CheckpointError, match=r"prompt\.json: not valid JSON"):
        CordilleraVLA.from_pretrained(path)


def test_unknown_and_invalid_config_fields(saved):
    _, path = saved
    edit_json(path, "config.json", lambda d: d["model"]["backbone"].update(hidden_sise=64))
    with pytest.raises(CheckpointError, match="backbone: unknown key 'hidden_sise'"):
        CordilleraVLA.from_pretrained(path)
    edit_json(path, "config.json", lambda d: d["model"]["backbone"].pop("hidden_sise"))
    edit_json(path, "rig.json", lambda d: d.update(num_frames=0))
    with pytest.raises(CheckpointError, match="num_frames must be a positive integer"):
        CordilleraVLA.from_pretrained(path)


def test_shape_mismatch_names_the_tensor(saved, tiny_config):
    _, path = saved
    edit_json(path, "config.json", lambda d: d["model"]["backbone"].update(intermediate_size=160))
    with pytest.raises(CheckpointError, match=r"mlp\.gate_proj\.weight has shape \(128, 64\), the config builds \(160, 64\)"):
        CordilleraVLA.from_pretrained(path)


def test_missing_and_extra_tensors(saved):
    _, path = saved
    state = load_file(str(path / "model.safetensors"))
    state.pop("expert.out_proj.bias")
    state["extra.weight"] = torch.zeros(2)
    save_file(state, str(path / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"missing 1 tensors \(first: expert\.out_proj\.bias\); 1 unexpected"):
        CordilleraVLA.from_pretrained(path)


def test_truncated_weights(saved):
    _, path = saved
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        CordilleraVLA.from_pretrained(path)


def test_tokenizer_larger_than_vocab(saved, tiny_config):
    _, path = saved
    edit_json(path, "config.json", lambda d: d["model"]["backbone"].update(vocab_size=64))
    with pytest.raises(CheckpointError, match="backbone vocab_size is 64"):
        CordilleraVLA.from_pretrained(path)


def test_bad_stats(saved):
    _, path = saved
    edit_json(path, "stats.json", lambda d: d["actions"].update(std=[1.0, -1.0]))
    with pytest.raises(CheckpointError, match=r"stats\.json: ActionStats"):
        CordilleraVLA.from_pretrained(path)


def test_qwen2_family_round_trip(tmp_path, tokenizer, tiny_config, make_sample):
    config = replace(tiny_config, backbone=replace(tiny_config.backbone, family="qwen2", tie_embeddings=False))
    model = CordilleraVLA(config, tokenizer).eval()
    loaded = CordilleraVLA.from_pretrained(model.save_pretrained(tmp_path / "q"))
    assert isinstance(loaded.config.backbone, BackboneConfig) and loaded.config.backbone.family == "qwen2"
    np.testing.assert_array_equal(run(model, make_sample(1)).poses, run(loaded, make_sample(1)).poses)


def test_checkpoint_from_before_direct_inputs_loads_without_them(tmp_path, tokenizer, tiny_config, make_sample):
    """config.json written before ExpertConfig.direct_inputs existed has no such key and no such weights."""
    old = replace(tiny_config, expert=replace(tiny_config.expert, direct_inputs=False))
    model = CordilleraVLA(old, tokenizer).eval()
    path = model.save_pretrained(tmp_path / "old")
    doc = json.loads((path / "config.json").read_text())
    del doc["model"]["expert"]["direct_inputs"]
    (path / "config.json").write_text(json.dumps(doc))
    loaded = CordilleraVLA.from_pretrained(path)
    assert loaded.config.expert.direct_inputs is False and loaded.expert_inputs is None
    np.testing.assert_array_equal(run(loaded, make_sample(1)).poses, run(model, make_sample(1)).poses)
