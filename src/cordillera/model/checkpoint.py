"""Checkpoints of the VLA: a directory of JSON files and one safetensors file; nothing is unpickled.

    >>> model.save_pretrained("checkpoints/small")
    >>> model = CordilleraVLA.from_pretrained("checkpoints/small")

Layout (FORMAT_VERSION 1):

    config.json         {"format": "cordillera-vla", "format_version": 1, "model": ModelConfig (minus rig and
                         prompt), "versions": {...}}   (versions of cordillera/torch/transformers that wrote it)
    model.safetensors   every parameter (the tied lm_head is stored once, as the token embedding)
    tokenizer.json      byte-level BPE with the special tokens (tokenizers JSON)
    stats.json          {"actions": {"mean": [a, k], "std": [a, k]}}: normalisation of the action space
    rig.json            RigConfig: camera names, camera vocabulary, frames, image size
    prompt.json         PromptConfig: prompt sections, scales, reasoning mode and gate threshold

Loading checks the format name and version, every file's presence and schema, and every tensor's name and
shape against the model the config builds, and raises CheckpointError naming the file and the problem.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from cordillera.model.action_space import ActionStats
from cordillera.model.config import ConfigError, ModelConfig
from cordillera.model.tokenizer import TextTokenizer, TokenizerError

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "CheckpointError", "save_pretrained", "load_pretrained", "read_config",
           "weights_digest"]

FORMAT_NAME = "cordillera-vla"
FORMAT_VERSION = 1
FILES = ("config.json", "model.safetensors", "tokenizer.json", "stats.json", "rig.json", "prompt.json")


class CheckpointError(ValueError):
    """A checkpoint directory is missing a file, is malformed, or does not match its config."""


def _versions() -> dict[str, str]:
    import transformers

    from cordillera import __version__

    return {"cordillera": __version__, "torch": torch.__version__, "transformers": transformers.__version__}


def _tied(model) -> set[str]:
    """State-dict keys that alias another key's tensor (stored once)."""
    return {"backbone.lm_head.weight"} if model.config.backbone.tie_embeddings else set()


def save_pretrained(model, path: str | Path) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    doc = model.config.to_dict()
    rig, prompt = doc.pop("rig"), doc.pop("prompt")
    config = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "model": doc, "versions": _versions()}
    (path / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (path / "rig.json").write_text(json.dumps(rig, indent=2) + "\n")
    (path / "prompt.json").write_text(json.dumps(prompt, indent=2) + "\n")
    (path / "stats.json").write_text(json.dumps({"actions": model.stats.to_dict()}, indent=2) + "\n")
    model.tokenizer.save(path / "tokenizer.json")
    skip = _tied(model)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items() if k not in skip}
    save_file(state, str(path / "model.safetensors"), metadata={"format": FORMAT_NAME,
                                                                 "format_version": str(FORMAT_VERSION)})
    return path


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise CheckpointError(f"checkpoint file missing: {path}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None


def weights_digest(path: str | Path) -> str:
    """SHA-256 (first 16 hex digits) of a checkpoint's model.safetensors: what identifies its weights in the
    records of runs and datasets made from it. CheckpointError when the file is not there."""
    weights = Path(path) / "model.safetensors"
    if not weights.is_file():
        raise CheckpointError(f"checkpoint file missing: {weights} (give a checkpoint directory, e.g. "
                              f"runs/train/RUN/final)")
    digest = hashlib.sha256()
    with weights.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def read_config(path: str | Path) -> ModelConfig:
    """The ModelConfig of a checkpoint directory (config.json + rig.json + prompt.json), validated."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint directory not found: {path}")
    config = _read_json(path / "config.json")
    if not isinstance(config, dict) or config.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path / 'config.json'}: not a {FORMAT_NAME} checkpoint config "
                              f"(format {config.get('format') if isinstance(config, dict) else None!r})")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path / 'config.json'}: format_version {version!r}; this cordillera reads "
                              f"version {FORMAT_VERSION}")
    model_doc = config.get("model")
    if not isinstance(model_doc, dict) or {"rig", "prompt"} & set(model_doc):
        raise CheckpointError(f"{path / 'config.json'}: 'model' must be an object without 'rig' and 'prompt' "
                              "(those live in rig.json and prompt.json)")
    expert = model_doc.get("expert")
    if isinstance(expert, dict) and "direct_inputs" not in expert:  # written before the field existed
        model_doc = {**model_doc, "expert": {**expert, "direct_inputs": False}}
    try:
        rig = _read_json(path / "rig.json")
        prompt = _read_json(path / "prompt.json")
        return ModelConfig.from_dict({**model_doc, "rig": rig, "prompt": prompt})
    except ConfigError as exc:
        raise CheckpointError(f"{path}: {exc}") from None


def load_pretrained(path: str | Path):
    from cordillera.model.vla import CordilleraVLA

    path = Path(path)
    config = read_config(path)
    try:
        tokenizer = TextTokenizer.load(path / "tokenizer.json", config.rig.camera_vocabulary)
    except TokenizerError as exc:
        raise CheckpointError(str(exc)) from None
    stats_doc = _read_json(path / "stats.json")
    try:
        stats = ActionStats.from_dict(stats_doc.get("actions") if isinstance(stats_doc, dict) else None)
    except ValueError as exc:
        raise CheckpointError(f"{path / 'stats.json'}: {exc}") from None
    try:
        model = CordilleraVLA(config, tokenizer, stats)
    except TokenizerError as exc:
        raise CheckpointError(f"{path}: {exc}") from None

    weights = path / "model.safetensors"
    if not weights.is_file():
        raise CheckpointError(f"checkpoint file missing: {weights}")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights}: not a readable safetensors file ({exc})") from None
    expected = {k: v for k, v in model.state_dict().items() if k not in _tied(model)}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = ([f"missing {len(missing)} tensors (first: {missing[0]})"] if missing else []) + \
                ([f"{len(unexpected)} unexpected tensors (first: {unexpected[0]})"] if unexpected else [])
        raise CheckpointError(f"{weights}: does not match config.json: {'; '.join(parts)}")
    for name, tensor in expected.items():
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise CheckpointError(f"{weights}: tensor {name} has shape {tuple(state[name].shape)}, the config "
                                  f"builds {tuple(tensor.shape)}")
        if state[name].dtype != tensor.dtype:
            raise CheckpointError(f"{weights}: tensor {name} has dtype {state[name].dtype}, expected {tensor.dtype}")
    model.load_state_dict(state, strict=False)
    model.eval()
    return model
