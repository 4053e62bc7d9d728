"""Supervised training of the reasoning VLA (issue 7): staged cross-entropy + flow matching, exact resume, DDP.

    cordillera train --config configs/train/vla-small.yaml --data DIR --out runs/train/small [--resume]

    >>> from cordillera.train import TrainConfig, load_train_config, train
    >>> result = train(load_train_config("configs/train/vla-small.yaml"), train_samples, val_samples, "runs/x")

Modules: config (TrainConfig and its sections), data (batch order, loader, corpus, statistics), state
(optimiser and RNG state without pickle), logbook (metrics.jsonl, curves.png), distributed (torchrun
process group, replica check), trainer (the loop), commands (the CLI verb).
"""

_EXPORTS = {  # name -> module; loaded on first use, so `cordillera --help` does not import torch
    "CheckpointConfig": "config", "DataConfig": "config", "OptimConfig": "config", "StageConfig": "config",
    "TrainConfig": "config", "TrainConfigError": "config", "ValidationConfig": "config",
    "load_train_config": "config", "DataError": "data", "TrainError": "trainer", "TrainResult": "trainer",
    "learning_rate": "trainer", "train": "trainer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"cordillera.train.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'cordillera.train' has no attribute {name!r}")
