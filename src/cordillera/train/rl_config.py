"""Configuration of an RL post-training run: frozen dataclasses, unknown keys rejected with their name.

    >>> from cordillera.train.rl_config import RLConfig, load_rl_config
    >>> config = load_rl_config("configs/rl/grpo-small.yaml")        # YAML or JSON
    >>> RLConfig.from_dict(config.to_dict()) == config
    True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from cordillera.model.config import ConfigError, section_from_dict
from cordillera.train.config import read_config_file
from cordillera.train.rewards import RewardConfig
from cordillera.train.rl_closed_loop import ClosedLoopConfig
from cordillera.train.rl_policy import GRPOConfig
from cordillera.train.rl_prompts import PromptSourceConfig

__all__ = ["RLOptimConfig", "RLConfig", "RLConfigError", "load_rl_config"]


class RLConfigError(ConfigError):
    """An RL configuration value or file is invalid; the message names the field."""


@dataclass(frozen=True)
class RLOptimConfig:
    lr: float = 1e-5  # AdamW; RL moves a trained policy a little (Alpamayo: 2e-6 on 10 B parameters)
    weight_decay: float = 0.0  # no decay: the SFT weights are the prior
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    grad_clip: float = 1.0  # max global gradient norm (Alpamayo: 1.0)

    def __post_init__(self) -> None:
        for name in ("lr", "eps", "grad_clip"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                    and value > 0):
                raise RLConfigError(f"RLOptimConfig.{name} must be a finite number > 0, got {value!r}")
        for name in ("weight_decay", "beta1", "beta2"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1):
                raise RLConfigError(f"RLOptimConfig.{name} must be in [0, 1), got {value!r}")


_SECTIONS = {"grpo": GRPOConfig, "rewards": RewardConfig, "prompts": PromptSourceConfig, "optim": RLOptimConfig,
             "closed_loop": ClosedLoopConfig}


@dataclass(frozen=True)
class RLConfig:
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    rewards: RewardConfig = field(default_factory=RewardConfig)
    prompts: PromptSourceConfig = field(default_factory=PromptSourceConfig)
    optim: RLOptimConfig = field(default_factory=RLOptimConfig)
    closed_loop: ClosedLoopConfig = field(default_factory=ClosedLoopConfig)  # off: open-loop completions
    steps: int = 200  # optimiser steps
    prompts_per_step: int = 2  # prompts (groups) whose gradients are summed into one step
    updates_per_batch: int = 1  # optimiser steps on the same sampled groups (PPO epochs; 1 = on-policy)
    pool_size: int = 64  # distinct prompts drawn (built once, lazily) and reused; 0: a new prompt every draw
    seed: int = 0  # prompt draws, reasoning and SDE noise of step s derive from (seed, s)
    log_every: int = 1  # steps between lines of metrics.jsonl
    checkpoint_every: int = 25  # resumable checkpoint every this many steps (and at the end)
    keep: int = 2  # step checkpoints kept
    threads: int | None = None  # torch CPU threads; None: torch's default
    eval_suite: str = "val"  # held-out prompts come from this suite (disjoint seeds from train)
    eval_prompts: int = 0  # held-out prompts scored at step 0, every eval_every steps and at the end; 0: none
    eval_every: int = 25

    def __post_init__(self) -> None:
        for name, cls in _SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise RLConfigError(f"RLConfig.{name} must be a {cls.__name__}")
        for name, low in (("steps", 1), ("prompts_per_step", 1), ("updates_per_batch", 1), ("pool_size", 0),
                          ("seed", 0), ("log_every", 1), ("checkpoint_every", 1), ("keep", 1),
                          ("eval_prompts", 0), ("eval_every", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise RLConfigError(f"RLConfig.{name} must be an integer >= {low}, got {value!r}")
        if not isinstance(self.eval_suite, str) or not self.eval_suite:
            raise RLConfigError(f"RLConfig.eval_suite must be a suite name, got {self.eval_suite!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise RLConfigError(f"RLConfig.threads must be a positive integer or null, got {self.threads!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: Any) -> "RLConfig":
        if not isinstance(doc, dict):
            raise RLConfigError(f"rl config must be a mapping, got {type(doc).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise RLConfigError(f"rl config: unknown key {unknown[0]!r}; known: {', '.join(sorted(known))}")
        values = {k: v for k, v in doc.items() if k not in _SECTIONS}
        try:
            for name, section in _SECTIONS.items():
                if name in doc:
                    values[name] = section_from_dict(section, doc[name], name)
            return cls(**values)
        except RLConfigError:
            raise
        except (ConfigError, TypeError) as exc:
            raise RLConfigError(str(exc)) from None


def load_rl_config(path: str | Path) -> RLConfig:
    """An RLConfig from a YAML (.yaml/.yml) or JSON file; RLConfigError names the file and field."""
    doc = read_config_file(path, RLConfigError, "rl")
    try:
        return RLConfig.from_dict(doc if doc is not None else {})
    except RLConfigError as exc:
        raise RLConfigError(f"{path}: {exc}") from None