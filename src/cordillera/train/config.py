"""Configuration of a supervised training run: one frozen dataclass per part, composed in `TrainConfig`.

    >>> from cordillera.train.config import TrainConfig, load_train_config
    >>> config = load_train_config("configs/train/vla-small.yaml")     # YAML or JSON; unknown keys fail
    >>> TrainConfig.from_dict(config.to_dict()) == config
    True

A run is a list of stages (Alpamayo trains in stages: the language model with cross-entropy first, then the
action expert by flow matching on the backbone's cache, joint or with the cache detached). Each stage names
its steps, the loss terms that enter its objective, whether the flow loss stops at the cache, and its peak
learning rate; every stage warms up and decays (cosine) on its own. Every field is checked on construction
and every key of a file is checked against the fields, so a typo fails with the field's name.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from cordillera.constants import REASONING_MODES
from cordillera.model.config import ModelConfig, section_from_dict
from cordillera.model.config import ConfigError as ModelConfigError

__all__ = ["TrainConfig", "DataConfig", "OptimConfig", "StageConfig", "ValidationConfig", "CheckpointConfig",
           "TrainConfigError", "load_train_config", "DEFAULT_LOSSES", "LOSS_TERMS", "PRECISIONS"]

DEFAULT_LOSSES = ("text", "gate", "flow", "perception")  # a stage's terms when its config names none
LOSS_TERMS = DEFAULT_LOSSES + ("speed",)  # CordilleraVLA.loss terms; "text" includes discrete trajectory
#                                           tokens; "perception" is 0 without a head; "speed" (the expert's
#                                           speed-profile error) enters scaled by StageConfig.speed_weight
PRECISIONS = ("float32", "bfloat16")


class TrainConfigError(ModelConfigError):
    """A training configuration value or file is invalid; the message names the field."""


def _check_int(obj: Any, name: str, minimum: int = 1) -> None:
    value = getattr(obj, name)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise TrainConfigError(f"{type(obj).__name__}.{name} must be an integer >= {minimum}, got {value!r}")


def _check_float(obj: Any, name: str, low: float = 0.0, strict: bool = True, high: float = math.inf) -> None:
    value = getattr(obj, name)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and (value > low if strict else value >= low) and value <= high
    if not ok:
        bound = f"> {low}" if strict else f">= {low}"
        raise TrainConfigError(f"{type(obj).__name__}.{name} must be a finite number {bound}"
                               f"{'' if high == math.inf else f' and <= {high}'}, got {value!r}")


@dataclass(frozen=True)
class DataConfig:
    batch_size: int = 16  # samples per step and process (global batch = batch_size x processes)
    workers: int = 1  # DataLoader processes per rank that decode samples and collate; 0 = in the main process
    prefetch: int = 4  # batches each worker keeps ready
    reasoning: bool = True  # False drops every reasoning text and keyframe label (the action-only ablation)
    tokenizer_min_frequency: int = 2  # BPE merges need a pair seen this often in the run's texts
    # each epoch repeats these samples (train/data.py `oversampling`): moving off from standstill, speeding up
    repeat_moving_off: int = 1
    repeat_speeding_up: int = 1
    repeat_braking: int = 1  # repeats per epoch of samples whose future brakes hard (train.data.oversampling)
    qa_pairs: int = 0  # scene QA pairs per sample trained as an auxiliary answer target (0: none)
    augment: bool = False  # photometric augmentation of the training images (train/augment.py)

    def __post_init__(self) -> None:
        _check_int(self, "batch_size")
        _check_int(self, "workers", 0)
        _check_int(self, "prefetch")
        _check_int(self, "tokenizer_min_frequency")
        _check_int(self, "repeat_moving_off")
        _check_int(self, "repeat_speeding_up")
        _check_int(self, "repeat_braking")
        _check_int(self, "qa_pairs", 0)
        for name in ("reasoning", "augment"):
            if not isinstance(getattr(self, name), bool):
                raise TrainConfigError(f"DataConfig.{name} must be true or false, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 1e-3  # peak learning rate of a stage that does not set its own
    weight_decay: float = 0.01  # AdamW, decoupled; not applied to norms, biases and embeddings
    beta1: float = 0.9
    beta2: float = 0.95  # shorter second-moment memory: steadier on small noisy batches
    eps: float = 1e-8
    grad_clip: float = 1.0  # max global gradient norm
    warmup_steps: int = 100  # linear warmup at the start of every stage
    min_lr_ratio: float = 0.1  # cosine decays to this fraction of the peak at the end of a stage

    def __post_init__(self) -> None:
        _check_float(self, "lr")
        _check_float(self, "weight_decay", strict=False)
        _check_float(self, "beta1", strict=False, high=0.999999)
        _check_float(self, "beta2", strict=False, high=0.999999)
        _check_float(self, "eps")
        _check_float(self, "grad_clip")
        _check_int(self, "warmup_steps", 0)
        _check_float(self, "min_lr_ratio", strict=False, high=1.0)


@dataclass(frozen=True)
class StageConfig:
    name: str
    steps: int
    losses: tuple[str, ...] = DEFAULT_LOSSES  # terms summed into the objective (the others are only logged)
    detach_prefix: bool = False  # the flow loss stops at the backbone cache (Alpamayo stage 2)
    lr: float | None = None  # peak learning rate; None: OptimConfig.lr
    flow_samples: int = 1  # noise/time draws per sample for the flow loss (the expert is cheap)
    true_facts: float = 0.0  # share of samples whose expert reads the true scene facts, not the head's
    #                          predictions (needs model.perception.to_expert; docs/architecture.md, "DAgger,
    #                          fact forcing, and why the expert does not brake")
    speed_weight: float = 0.25  # scale of the "speed" term [(m/s)^2] when `losses` names it (docs/architecture.md,
    #                             "A speed-profile loss")

    def __post_init__(self) -> None:
        object.__setattr__(self, "losses", tuple(self.losses))
        if not isinstance(self.name, str) or not self.name:
            raise TrainConfigError(f"StageConfig.name must be a non-empty string, got {self.name!r}")
        _check_int(self, "steps")
        _check_int(self, "flow_samples")
        if not self.losses or len(set(self.losses)) != len(self.losses):
            raise TrainConfigError(f"stage {self.name!r}: losses must name distinct terms, got {list(self.losses)}")
        unknown = [t for t in self.losses if t not in LOSS_TERMS]
        if unknown:
            raise TrainConfigError(f"stage {self.name!r}: unknown loss {unknown[0]!r}; known: {', '.join(LOSS_TERMS)}")
        if not isinstance(self.detach_prefix, bool):
            raise TrainConfigError(f"stage {self.name!r}: detach_prefix must be true or false")
        if self.lr is not None:
            _check_float(self, "lr")
        _check_float(self, "true_facts", strict=False, high=1.0)
        object.__setattr__(self, "true_facts", float(self.true_facts))
        _check_float(self, "speed_weight", strict=False)
        object.__setattr__(self, "speed_weight", float(self.speed_weight))


@dataclass(frozen=True)
class ValidationConfig:
    every_steps: int = 500  # validate (and log val metrics) every this many steps and at the end
    max_samples: int = 64  # val samples evaluated (the first ones of the split: the same each time)
    trajectories: int = 6  # K samples per prompt for open-loop minADE
    mode: str = "auto"  # reasoning mode of the open-loop generation: always | never | auto
    closed_loop_suite: str | None = None  # e.g. "stalled_vehicle:0,child_ball:3"; run at every checkpoint
    closed_loop_workers: int = 1
    closed_loop_duration_s: float | None = None  # simulated seconds per scenario; None: the scenario's

    def __post_init__(self) -> None:
        _check_int(self, "every_steps")
        _check_int(self, "max_samples")
        _check_int(self, "trajectories")
        _check_int(self, "closed_loop_workers")
        if self.mode not in REASONING_MODES:
            raise TrainConfigError(f"ValidationConfig.mode must be always, never or auto, got {self.mode!r}")
        if self.closed_loop_suite is not None and (not isinstance(self.closed_loop_suite, str)
                                                   or not self.closed_loop_suite.strip()):
            raise TrainConfigError("ValidationConfig.closed_loop_suite must be a suite name or null")
        if self.closed_loop_duration_s is not None:
            _check_float(self, "closed_loop_duration_s")


@dataclass(frozen=True)
class CheckpointConfig:
    every_steps: int = 500  # a resumable checkpoint every this many steps (and at the end)
    keep: int = 2  # step checkpoints kept (older ones are deleted); the final model is always kept

    def __post_init__(self) -> None:
        _check_int(self, "every_steps")
        _check_int(self, "keep")


_SECTIONS = {"data": DataConfig, "optim": OptimConfig, "validation": ValidationConfig,
             "checkpoint": CheckpointConfig}


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    stages: tuple[StageConfig, ...] = (StageConfig("joint", 1000),)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    precision: str = "float32"  # autocast dtype of forward passes on CPU: float32 | bfloat16
    log_every: int = 10  # steps between training lines in metrics.jsonl
    seed: int = 0  # model init, data order, flow noise: all derive from it

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", tuple(self.stages))
        if not isinstance(self.model, ModelConfig):
            raise TrainConfigError("TrainConfig.model must be a ModelConfig")
        if not self.stages or not all(isinstance(s, StageConfig) for s in self.stages):
            raise TrainConfigError("TrainConfig.stages must list at least one stage")
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise TrainConfigError(f"TrainConfig.stages: stage names must be distinct, got {names}")
        if self.precision not in PRECISIONS:
            raise TrainConfigError(f"TrainConfig.precision must be one of {', '.join(PRECISIONS)}, "
                                   f"got {self.precision!r}")
        _check_int(self, "log_every")
        _check_int(self, "seed", 0)
        perception = self.model.perception
        forcing = [s.name for s in self.stages if s.true_facts > 0]
        if forcing and not (perception.enabled and perception.to_expert):
            raise TrainConfigError(f"stage {forcing[0]!r}: true_facts needs model.perception.enabled and "
                                   "model.perception.to_expert (the expert must read the perception outputs)")

    @property
    def total_steps(self) -> int:
        return sum(s.steps for s in self.stages)

    def stage_at(self, step: int) -> tuple[StageConfig, int]:
        """The stage that runs optimiser step `step` (0-based) and the step's index within it."""
        for stage in self.stages:
            if step < stage.steps:
                return stage, step
            step -= stage.steps
        raise IndexError(f"step {step} is past the last stage")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: Any) -> "TrainConfig":
        if not isinstance(doc, dict):
            raise TrainConfigError(f"train config must be a mapping, got {type(doc).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise TrainConfigError(f"train config: unknown key {unknown[0]!r}; known: {', '.join(sorted(known))}")
        values = {k: v for k, v in doc.items() if k not in ("model", "stages", *_SECTIONS)}
        try:
            if "model" in doc:
                values["model"] = ModelConfig.from_dict(doc["model"])
            for name, section in _SECTIONS.items():
                if name in doc:
                    values[name] = section_from_dict(section, doc[name], name)
        except ModelConfigError as exc:
            raise TrainConfigError(str(exc)) from None
        if "stages" in doc:
            if not isinstance(doc["stages"], (list, tuple)) or not doc["stages"]:
                raise TrainConfigError("stages must be a non-empty list of stage mappings")
            stages = []
            for i, stage in enumerate(doc["stages"]):
                try:
                    stages.append(section_from_dict(StageConfig, stage, f"stages[{i}]"))
                except ModelConfigError as exc:
                    raise TrainConfigError(str(exc)) from None
            values["stages"] = tuple(stages)
        return cls(**values)


def read_config_file(path: str | Path, error: type[Exception], kind: str):
    """The document of a YAML (.yaml/.yml) or JSON config file (None for an empty file); `error` names the file
    when it is missing or does not parse. Shared by the SFT and RL configs."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise error(f"{kind} config not found: {path}")
    try:
        text = path.read_text()
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'} ({exc})") from None


def load_train_config(path: str | Path) -> TrainConfig:
    """A TrainConfig from a YAML (.yaml/.yml) or JSON file; TrainConfigError names the file and field."""
    doc = read_config_file(path, TrainConfigError, "train")
    try:
        return TrainConfig.from_dict(doc if doc is not None else {})
    except TrainConfigError as exc:
        raise TrainConfigError(f"{path}: {exc}") from None
