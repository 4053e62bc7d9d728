"""Datasets read as one (data.union): indexing across parts, pooled statistics, what must match."""

from __future__ import annotations

import numpy as np
import pytest

from cordillera.data import DatasetError, DrivingDataset
from cordillera.data.union import DatasetUnion, pooled_stats
from cordillera.model.action_space import ActionStats
from cordillera.teacher.datagen import DatagenConfig, generate


def test_union_indexes_each_part_in_order(small_dataset):
    root, _ = small_dataset
    a, b = DrivingDataset(root, "all"), DrivingDataset(root, "train")
    union = DatasetUnion([a, b])
    assert len(union) == len(a) + len(b) and union.cameras == a.cameras and union.frames == a.frames
    last = len(a) + len(b) - 1
    for i, (part, j) in {0: (a, 0), len(a) - 1: (a, len(a) - 1), len(a): (b, 0), last: (b, len(b) - 1),
                         -1: (b, len(b) - 1)}.items():
        got, want = union.record(i), part.record(j)
        assert (got["episode"], got["step"]) == (want["episode"], want["step"])
        sample, expected = union[i], part[j]
        np.testing.assert_array_equal(sample.future, expected.future)
        assert all(np.array_equal(sample.cameras[n], expected.cameras[n]) for n in a.cameras)
    with pytest.raises(IndexError, match="out of range"):
        union[len(union)]
    assert union.reader.verify() == 2 * len(a.reader.episodes)
    assert union.info == {"union": [a.info, b.info]}


def test_pooled_statistics_are_those_of_the_merged_sets():
    rng = np.random.default_rng(0)
    x, y = rng.normal([1.0, 0.0], [2.0, 0.1], (300, 2)), rng.normal([-0.5, 0.02], [0.5, 0.05], (100, 2))
    parts = [ActionStats(tuple(v.mean(0)), tuple(v.std(0))) for v in (x, y)]
    pooled = pooled_stats(parts, [300, 100])
    both = np.vstack([x, y])
    np.testing.assert_allclose(pooled.mean, both.mean(0), rtol=1e-12)
    np.testing.assert_allclose(pooled.std, both.std(0), rtol=1e-12)
    # by hand: {0, 2} (mean 1, std 1) and {4} (mean 4, std 0) pool to {0, 2, 4}: mean 2, std sqrt(8/3)
    hand = pooled_stats([ActionStats((1.0, 0.0), (1.0, 1.0)), ActionStats((4.0, 0.0), (1e-9, 1.0))], [2, 1])
    assert hand.mean[0] == pytest.approx(2.0) and hand.std[0] == pytest.approx(np.sqrt(8 / 3))


def test_parts_with_other_frames_cannot_be_joined(small_dataset, tmp_path):
    root, _ = small_dataset
    other = tmp_path / "other"
    generate(DatagenConfig(suite="val", episodes=1, seed=0, duration_s=2.0, image_height=32, image_width=64), other)
    with pytest.raises(DatasetError, match="datasets trained together must match"):
        DatasetUnion([DrivingDataset(root, "all"), DrivingDataset(other, "all")])
    with pytest.raises(DatasetError, match="at least one"):
        DatasetUnion([])
