"""Training data: a resumable, rank-aware batch order, the DataLoader, the run's text corpus and statistics.

    >>> from cordillera.train.data import StepBatchSampler, make_loader
    >>> sampler = StepBatchSampler(len(dataset), batch_size=16, seed=0, start_step=1200, total_steps=5000)
    >>> loader = make_loader(dataset, sampler, processor, workers=1, prefetch=4)   # yields Batch

A training set is any sequence of `cordillera.model.processor.Sample` (a `cordillera.data.DrivingDataset`
or a list). The batch of optimiser step s is a pure function of (seed, s, rank, world size): epoch
e = s // steps_per_epoch is shuffled by `torch.utils.data.DistributedSampler` seeded with `seed` and
`set_epoch(e)` (drop_last, so every rank sees distinct samples), and the rank's indices are cut into
batches. So resuming at step k needs only k, whatever the number of DataLoader workers.

Decoding (PNG frames) and collating (tokenising, resizing, building the prompt) run in the DataLoader's
worker processes, next to the main process's forward/backward.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from cordillera.geometry import plan_speed
from cordillera.model.action_space import ACTION_LIMITS, ActionStats, trajectory_to_actions
from cordillera.model.config import ActionConfig
from cordillera.model.processor import Batch, Processor, Sample
from cordillera.teacher.qa import scene_facts

__all__ = ["StepBatchSampler", "make_loader", "Collator", "SampleView", "text_corpus", "action_stats",
           "data_fingerprint", "seed_everything_from", "DataError", "oversampling"]


class DataError(ValueError):
    """The training data cannot be used (too few samples, no future trajectories, ...)."""


class _Indices(Dataset):
    """Just a length, for DistributedSampler (which only reads len())."""

    def __init__(self, length: int):
        self.length = length

    def __len__(self) -> int:
        return self.length


class StepBatchSampler(Sampler[list[int]]):
    """Batches of dataset indices for steps start_step ... total_steps - 1 of one rank (see module doc)."""

    def __init__(self, length: int, batch_size: int, seed: int, start_step: int, total_steps: int,
                 rank: int = 0, world_size: int = 1):
        if length < batch_size * world_size:
            raise DataError(f"the training split has {length} samples; one step needs batch_size x processes = "
                            f"{batch_size} x {world_size}")
        self.length, self.batch_size, self.seed = length, batch_size, seed
        self.start_step, self.total_steps = start_step, total_steps
        self.rank, self.world_size = rank, world_size
        self.steps_per_epoch = (length // world_size) // batch_size

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        sampler = DistributedSampler(_Indices(self.length), num_replicas=self.world_size, rank=self.rank,
                                     shuffle=True, seed=self.seed, drop_last=True)
        sampler.set_epoch(epoch)
        indices = list(sampler)
        return [indices[i * self.batch_size: (i + 1) * self.batch_size] for i in range(self.steps_per_epoch)]

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start_step
        while step < self.total_steps:
            epoch, offset = divmod(step, self.steps_per_epoch)
            batches = self.epoch_batches(epoch)
            for batch in batches[offset: offset + self.total_steps - step]:
                yield batch
                step += 1

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step)


class SampleView(Dataset):
    """A sequence of Samples as a torch Dataset; reasoning=False drops texts and keyframe labels; index
    (optional) maps view positions to sample indices (an epoch with repeated samples, see `oversampling`);
    qa_pairs: how many of a sample's scene QA pairs it keeps (a fixed subset per sample, drawn with the
    sample's index as seed, so every epoch and every rank sees the same ones)."""

    def __init__(self, samples: Sequence[Sample], reasoning: bool = True, index: np.ndarray | None = None,
                 qa_pairs: int = 0):
        self.samples = samples
        self.reasoning = reasoning
        self.index = index
        self.qa_pairs = qa_pairs

    def __len__(self) -> int:
        return len(self.samples) if self.index is None else len(self.index)

    def __getitem__(self, index: int) -> Sample:
        position = index if self.index is None else int(self.index[index])
        sample = self.samples[position]
        if not self.reasoning and (sample.reasoning is not None or sample.keyframe):
            sample = replace(sample, reasoning=None, keyframe=False)
        if sample.facts is None and sample.qa:  # the perception targets read all pairs, before the cut below
            sample = replace(sample, facts=scene_facts(sample.qa, strict=False).vector())
        if len(sample.qa) > self.qa_pairs:
            keep = np.sort(np.random.default_rng(position).permutation(len(sample.qa))[: self.qa_pairs])
            sample = replace(sample, qa=tuple(sample.qa[k] for k in keep))
        return sample


class Collator:
    """Samples -> training Batch with the model's processor (runs in DataLoader workers)."""

    def __init__(self, processor: Processor):
        self.processor = processor

    def __call__(self, samples: list[Sample]) -> Batch:
        return self.processor.collate(samples, targets=True)


def make_loader(dataset: Dataset, sampler: StepBatchSampler, processor: Processor, workers: int,
                prefetch: int) -> DataLoader:
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=Collator(processor), num_workers=workers,
                      prefetch_factor=prefetch if workers else None, persistent_workers=False)


MOVING_OFF_SPEED = 0.5  # [m/s] "at standstill" below this speed
MOVING_OFF_DISTANCE = 1.0  # [m] ... and moving off when the future is this far away after 2 s
SPEEDING_UP = 0.5  # [m/s] "speeding up": the speed 2 s ahead exceeds the current one by this much
BRAKING = 4.0  # [m/s] "braking hard": the speed 2 s ahead is this much below the current one


def oversampling(samples: Sequence[Sample], moving_off: int, speeding_up: int, braking: int = 1) -> np.ndarray | None:
    """Sample indices of one epoch in which moving-off samples appear `moving_off` times, speeding-up
    samples `speeding_up` times and hard-braking ones `braking` times (others once), or None when all are 1.
    Imitation data is mostly "stopped stays stopped" (96 % of train-v1's standstill samples) and slightly more
    braking than speeding up (33 against 27 %), so a policy that slows down by mistake reads its own braking as
    the reason to keep braking; repeating the rarer cases counters that. Hard braking (2 m/s^2 or more over
    2 s) is rarer still (2.9 % of train-v3's samples above 5 m/s), and a model that never sees it often enough
    does not brake at all (docs/architecture.md, "DAgger, fact forcing, ..."). A dataset with `record(i)` gives
    the targets without decoding frames."""
    if moving_off == 1 and speeding_up == 1 and braking == 1:
        return None
    record = getattr(samples, "record", None)
    repeats = np.ones(len(samples), dtype=np.int64)
    for i in range(len(samples)):
        if callable(record):
            row = record(i)
            future, speed = row["future"], float(row["speed"])
        else:
            future, speed = samples[i].future, samples[i].speed
        if future is None:
            raise DataError(f"training sample {i} has no future trajectory")
        later = plan_speed(future, 2.0)  # speed 2 s ahead [m/s]
        if speed < MOVING_OFF_SPEED and float(np.linalg.norm(future[19, :2])) > MOVING_OFF_DISTANCE:
            repeats[i] = moving_off
        elif later > speed + SPEEDING_UP:
            repeats[i] = speeding_up
        elif later < speed - BRAKING:
            repeats[i] = braking
    return np.repeat(np.arange(len(samples)), repeats)


def text_corpus(samples: Sequence[Sample], reasoning: bool = True, qa: bool = False) -> list[str]:
    """Navigation, (when reasoning) Chain-of-Causation and (when qa) scene QA texts of a training split, for
    the tokenizer. A dataset with `record(i)` (DrivingDataset) gives them without decoding any frame."""
    record = getattr(samples, "record", None)
    texts = []
    for i in range(len(samples)):
        item = record(i) if callable(record) else samples[i]
        navigation, text, pairs = (item["navigation"], item["reasoning"], item.get("qa") or ()) \
            if isinstance(item, dict) else (item.navigation, item.reasoning, item.qa)
        texts += [navigation] + ([text] if reasoning and text else [])
        if qa:
            texts += [part for pair in pairs for part in pair]
    return [t for t in texts if t]


def action_stats(samples: Sequence[Sample], action: ActionConfig | None = None) -> ActionStats:
    """The split's normalisation statistics: `.stats` of a dataset (meta/stats.json), else computed from
    every sample's future with the model's inverse dynamics. In the route frame (`action.frame`) the second
    dimension is the lateral offset, normalised by the fixed action.lateral_scale_m around 0 (a lane kept is
    offset 0 whatever the road's curvature, so its spread is the config's choice, not the data's)."""
    stats = _ego_frame_stats(samples)
    if action is not None and action.frame == "route":
        return ActionStats((stats.mean[0], 0.0), (stats.std[0], action.lateral_scale_m))
    return stats


def _ego_frame_stats(samples: Sequence[Sample]) -> ActionStats:
    stats = getattr(samples, "stats", None)
    if isinstance(stats, ActionStats):
        for name, std, (low, high) in zip(("acceleration", "curvature"), stats.std, ACTION_LIMITS):
            if std > (high - low) / 2:  # no set of clipped actions has a larger spread
                raise DataError(f"the dataset's meta/stats.json gives a {name} std of {std:.3g}, more than clipped "
                                f"actions can have ({(high - low) / 2:.3g}): it was written before targets were "
                                "clipped to the vehicle's limits; regenerate the dataset with `cordillera datagen`")
        return stats
    futures, speeds = [], []
    for i in range(len(samples)):
        sample = samples[i]
        if sample.future is None:
            raise DataError(f"training sample {i} has no future trajectory")
        futures.append(sample.future)
        speeds.append(sample.speed)
    return ActionStats.from_actions(trajectory_to_actions(np.stack(futures), np.array(speeds)))


def data_fingerprint(samples: Sequence[Sample]) -> str:
    """A digest that identifies a split: its meta/info.json content when it is a dataset, else its samples'
    targets and texts. A resumed run must see the same fingerprint."""
    digest = hashlib.sha256()
    info = getattr(samples, "info", None)
    digest.update(str(len(samples)).encode())
    if isinstance(info, dict):
        digest.update(json.dumps(info, sort_keys=True, default=str).encode())
        return digest.hexdigest()[:16]
    for i in range(len(samples)):
        sample = samples[i]
        digest.update(np.ascontiguousarray(sample.future if sample.future is not None else []).tobytes())
        digest.update(f"{sample.navigation}\x00{sample.reasoning}\x00{sample.keyframe}\x00{sample.speed!r}".encode())
        for name in sorted(sample.cameras):
            frames = sample.cameras[name]
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(frames[-1, ::8, ::8]).tobytes())  # a thumbnail of the newest frame
    return digest.hexdigest()[:16]


def seed_everything_from(seed: int, *parts: int) -> torch.Generator:
    """A CPU generator seeded from the run seed and integer parts (rank, step): no shared global state."""
    key = hashlib.sha256(json.dumps([seed, *parts]).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(key[:8], "little") & ((1 << 63) - 1))
