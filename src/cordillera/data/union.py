"""Several datasets read as one training set: a teacher dataset and the DAgger rounds driven by its students.

    >>> from cordillera.data.union import DatasetUnion
    >>> train = DatasetUnion([DrivingDataset("runs/data/train-v3"), DrivingDataset("runs/data/dagger-v11")])

Sample i of the union is sample i - offset of the part it falls in, parts in the order given. Every part must
store the same cameras and frame shape (the model reads them alike). `.info` lists the parts' meta/info.json
(so a training run's data fingerprint changes when any part does), `.stats` pools the parts' action statistics
weighted by their sample counts, `reader.verify()` checks every part's shards.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from torch.utils.data import Dataset

from cordillera.data.format import DatasetError

__all__ = ["DatasetUnion", "pooled_stats"]


def pooled_stats(stats: Sequence, counts: Sequence[int]):
    """The mean and standard deviation of the union of sets with these ActionStats and sizes."""
    from cordillera.model.action_space import ActionStats

    weights = np.asarray(counts, dtype=np.float64)
    if weights.sum() <= 0:
        raise DatasetError("cannot pool the statistics of empty datasets")
    weights = weights / weights.sum()
    means = np.array([s.mean for s in stats], dtype=np.float64)
    second = np.array([s.std for s in stats], dtype=np.float64) ** 2 + means ** 2
    mean = weights @ means
    std = np.sqrt(np.maximum(weights @ second - mean ** 2, 1e-12))
    return ActionStats(tuple(mean), tuple(std))


class _Readers:
    """`reader.verify()` over every part (what the trainer calls before its first step)."""

    def __init__(self, parts):
        self.parts = parts

    def verify(self) -> int:
        return sum(part.reader.verify() for part in self.parts)


class DatasetUnion(Dataset):
    """DrivingDatasets of one split concatenated (see the module docstring)."""

    def __init__(self, parts: Sequence):
        parts = tuple(parts)
        if not parts:
            raise DatasetError("a dataset union needs at least one dataset")
        first = parts[0]
        for part in parts[1:]:
            if part.cameras != first.cameras or part.frame_shape != first.frame_shape:
                raise DatasetError(f"{part.reader.root}: stores cameras {list(part.cameras)} at frames "
                                   f"{part.frame_shape}, {first.reader.root} {list(first.cameras)} at "
                                   f"{first.frame_shape}; datasets trained together must match")
        self.parts = parts
        self.split = first.split
        self.cameras, self.frames, self.frame_shape = first.cameras, first.frames, first.frame_shape
        self.offsets = np.cumsum([0] + [len(part) for part in parts])
        self.info = {"union": [part.info for part in parts]}
        self.stats = pooled_stats([part.stats for part in parts], [max(len(part), 1) for part in parts])
        self.reader = _Readers(parts)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def _locate(self, i: int) -> tuple[object, int]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} {self.split} samples")
        i = i % len(self)
        k = int(np.searchsorted(self.offsets, i, side="right")) - 1
        return self.parts[k], i - int(self.offsets[k])

    def __getitem__(self, i: int):
        part, j = self._locate(i)
        return part[j]

    def record(self, i: int) -> dict:
        part, j = self._locate(i)
        return part.record(j)
