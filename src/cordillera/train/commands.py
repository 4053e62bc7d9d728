"""`cordillera train`: supervised training of the VLA from a dataset directory.

    cordillera train --config configs/train/vla-small.yaml --data runs/data/teacher --out runs/train/small
    cordillera train --config configs/train/vla-small.yaml --data runs/data/teacher --out runs/train/small --resume
    cordillera train --config configs/train/vla-small-dagger.yaml --data runs/data/teacher runs/data/dagger \
        --init runs/train/small/final --out runs/train/small-dagger        # fine-tune on a DAgger round
    torchrun --nproc_per_node 2 -m cordillera train --config ... --data ... --out ...

Everything the user can get wrong (config file, dataset version, corrupt shards, a run directory of another
run) is checked before the first step and reported on one line (exit code 2).
"""

from __future__ import annotations

import argparse
import json

from cordillera.errors import UsageError

__all__ = ["register"]


def register(sub) -> None:
    p = sub.add_parser("train", help="train the reasoning VLA on a dataset (supervised; resumable; DDP via torchrun)")
    p.add_argument("--config", required=True, help="training config (YAML or JSON), e.g. configs/train/vla-small.yaml")
    p.add_argument("--data", required=True, nargs="+", metavar="DIR",
                   help="dataset directory written by `cordillera datagen` (several: trained on together)")
    p.add_argument("--init", default=None, metavar="CHECKPOINT",
                   help="start from this checkpoint's weights, tokenizer and action statistics (fine-tuning, e.g. "
                        "on a DAgger round); its model config must equal the training config's")
    p.add_argument("--out", required=True, help="run directory (metrics, checkpoints, final model)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its newest checkpoint")
    p.add_argument("--stop-at", type=int, default=None, metavar="STEP",
                   help="end after STEP optimiser steps with a checkpoint (continue later with --resume)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs still go to metrics.jsonl)")
    p.set_defaults(func=_train)


def open_datasets(path: str | list[str], config):
    """The train and val splits of a dataset directory, every shard verified, checked against the model.

    A Cordillera dataset (`cordillera datagen`) or a directory in the PhysicalAI-AV layout (real clips, or the
    teacher's export from `cordillera data export-pai-av`): both give the same Sample type. Several
    directories (Cordillera datasets) are read as one (data.union.DatasetUnion), in the order given."""
    from cordillera.data import DatasetError, DrivingDataset
    from cordillera.data.pai_av import PaiAvDataset, is_pai_av_dir
    from cordillera.data.union import DatasetUnion

    paths = [path] if isinstance(path, str) else list(path)
    if len(set(paths)) != len(paths):
        raise UsageError(f"--data names a directory twice: {' '.join(paths)}")
    if len(paths) > 1:
        opened = [open_datasets(p, config) for p in paths]
        if any(not isinstance(train, DrivingDataset) for train, _ in opened):
            raise UsageError("only datasets written by `cordillera datagen` can be trained on together")
        try:
            return DatasetUnion([t for t, _ in opened]), DatasetUnion([v for _, v in opened])
        except DatasetError as exc:
            raise UsageError(str(exc)) from None
    path = paths[0]
    try:
        if is_pai_av_dir(path):
            train_set = PaiAvDataset(path, split="train", rig=config.model.rig)
            val_set = PaiAvDataset(path, split="val", rig=config.model.rig)
            train_set.verify()  # every zip member of every clip is there
        else:
            train_set = DrivingDataset(path, split="train")
            val_set = DrivingDataset(path, split="val")
            train_set.reader.verify()  # checksums and shard metadata of every shard, before any step
    except DatasetError as exc:
        raise UsageError(str(exc)) from None
    rig = config.model.rig
    unknown = [c for c in train_set.cameras if c not in rig.camera_vocabulary]
    if unknown:
        raise UsageError(f"{path}: camera {unknown[0]!r} is not in the model's camera vocabulary")
    if train_set.frames < rig.num_frames:
        raise UsageError(f"{path}: the dataset stores {train_set.frames} frames per camera; the model config "
                         f"reads {rig.num_frames} (model.rig.num_frames)")
    return train_set, val_set


def _train(args: argparse.Namespace) -> int:
    from cordillera.train.config import TrainConfigError, load_train_config
    from cordillera.train.data import DataError
    from cordillera.train.trainer import TrainError, train

    try:
        config = load_train_config(args.config)
    except TrainConfigError as exc:
        raise UsageError(str(exc)) from None
    train_set, val_set = open_datasets(args.data, config)
    try:
        result = train(config, train_set, val_set, args.out, resume=args.resume, progress=not args.no_progress,
                       stop_at_step=args.stop_at, init=args.init)
    except (TrainError, DataError) as exc:
        raise UsageError(str(exc)) from None
    if result.rank != 0:
        return 0  # under torchrun only rank 0 reports
    print(json.dumps({"out": str(result.out), "final": str(result.final) if result.final else None,
                      "step": result.step, "wall_s": round(result.wall_s, 1),
                      "validation": {k: v for k, v in result.validation.items() if k != "replica_digests"}}))
    return 0
