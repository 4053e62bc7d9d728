"""Resumable training state without pickle: tensors in safetensors, everything else in JSON.

    >>> save_training_state(path, optimizer, step=1200, extra={"stage": "joint"})
    >>> state = load_training_state(path, optimizer)     # restores the optimiser; returns the JSON document

A checkpoint directory `RUN/checkpoints/step-NNNNNNN/` holds the model in its `save_pretrained` layout plus

    train_config.json             the TrainConfig of the run
    trainer/optimizer.safetensors every tensor of the optimiser state ("state.<param index>.<name>") and the
                                  global torch RNG state ("rng.torch", uint8)
    trainer/state.json            step, param groups (hyper-parameters, no tensors), the optimiser's non-tensor
                                  per-parameter values, the run fingerprint, written last: a directory
                                  without it is an interrupted write and is ignored on resume

The learning-rate schedule is a pure function of the step and the flow-matching noise of step s comes from a
generator seeded with (seed, rank, s), so the step number restores both exactly.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

__all__ = ["save_training_state", "load_training_state", "first_difference", "step_checkpoints",
           "save_step_checkpoint", "StateError", "STATE_FORMAT", "TRAINER_DIR", "CHECKPOINTS"]

STATE_FORMAT = 1
TRAINER_DIR = "trainer"
CHECKPOINTS = "checkpoints"  # RUN/checkpoints/step-NNNNNNN/


class StateError(ValueError):
    """A training-state directory is missing, malformed or belongs to another run."""


def _write_json(path: Path, doc: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, path)


def save_training_state(path: str | Path, optimizer: torch.optim.Optimizer, step: int, extra: dict) -> None:
    """Write the optimiser, the global torch RNG and `step` + `extra` (JSON values) under path/trainer/."""
    folder = Path(path) / TRAINER_DIR
    folder.mkdir(parents=True, exist_ok=True)
    doc = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state()}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entry in doc["state"].items():
        for name, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{index}.{name}"] = value.detach().contiguous().clone()
            else:
                scalars.setdefault(str(index), {})[name] = value
    groups = [{k: list(v) if isinstance(v, tuple) else v for k, v in g.items()} for g in doc["param_groups"]]
    save_file(tensors, str(folder / "optimizer.safetensors"))
    _write_json(folder / "state.json", {"format": STATE_FORMAT, "step": step, "param_groups": groups,
                                        "optimizer_scalars": scalars, **extra})


def load_training_state(path: str | Path, optimizer: torch.optim.Optimizer) -> dict:
    """Restore the optimiser and the global torch RNG from path/trainer/; returns state.json's document."""
    folder = Path(path) / TRAINER_DIR
    state_path = folder / "state.json"
    if not state_path.is_file():
        raise StateError(f"{path}: no {TRAINER_DIR}/state.json (not a resumable checkpoint)")
    try:
        doc = json.loads(state_path.read_text())
        tensors = load_file(str(folder / "optimizer.safetensors"))
    except (json.JSONDecodeError, UnicodeDecodeError, SafetensorError, OSError) as exc:
        raise StateError(f"{folder}: unreadable training state ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT:
        raise StateError(f"{state_path}: training-state format {doc.get('format') if isinstance(doc, dict) else None!r}"
                         f", this cordillera reads {STATE_FORMAT}")
    state: dict[int, dict[str, Any]] = {}
    for key, tensor in tensors.items():
        if key.startswith("state."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = tensor
    for index, values in doc["optimizer_scalars"].items():
        state.setdefault(int(index), {}).update(values)
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in doc["param_groups"]]
    current = optimizer.state_dict()["param_groups"]
    if [g["params"] for g in groups] != [g["params"] for g in current]:
        raise StateError(f"{state_path}: optimiser parameter groups do not match this model")
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError) as exc:
        raise StateError(f"{state_path}: optimiser state does not fit this model ({exc})") from None
    if "rng.torch" in tensors:
        torch.set_rng_state(tensors["rng.torch"])
    return doc


def first_difference(a, b, where: str = "") -> str | None:
    """The first key path where two JSON documents differ, with both values (None when equal): what a resume
    names when the stored run and the requested one disagree."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            found = first_difference(a.get(key), b.get(key), f"{where}.{key}" if where else key)
            if found:
                return found
        return None
    return None if a == b else f"{where} ({json.dumps(a)} in the run, {json.dumps(b)} now)"


def step_checkpoints(out: str | Path) -> list[Path]:
    """Complete step checkpoints of a run directory (trainer/state.json written last), oldest first."""
    folder = Path(out) / CHECKPOINTS
    if not folder.is_dir():
        return []
    done = [p for p in folder.glob("step-*") if (p / TRAINER_DIR / "state.json").is_file()]
    return sorted(done, key=lambda p: int(p.name.split("-")[1]))


def save_step_checkpoint(out: str | Path, step: int, model, optimizer: torch.optim.Optimizer, config_name: str,
                         config_doc: dict, identity: dict, keep: int) -> Path:
    """Write RUN/checkpoints/step-N atomically (a temporary directory renamed when complete): the model's
    `save_pretrained` files, `config_name` holding config_doc, and the training state with the run identity;
    then keep only the newest `keep` step checkpoints. Shared by SFT and RL."""
    folder = Path(out) / CHECKPOINTS
    final = folder / f"step-{step:07d}"
    tmp = folder / f".step-{step:07d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    (tmp / config_name).write_text(json.dumps(config_doc, indent=2) + "\n")
    save_training_state(tmp, optimizer, step, {"run": identity})
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in step_checkpoints(out)[:-keep]:
        shutil.rmtree(old)
    return final
