"""benchmarks/perception_probe.py: its scores by hand (AUROC, priors, near-lead rows) and a tiny training run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cordillera.model.config import VisionConfig


@pytest.fixture(scope="module")
def probe(load_benchmark):
    return load_benchmark("perception_probe")


def test_auroc_by_hand(probe):
    labels = np.array([1, 1, 0, 0])
    assert probe.auroc(np.array([0.9, 0.8, 0.1, 0.2]), labels) == 1.0
    assert probe.auroc(np.array([0.1, 0.2, 0.9, 0.8]), labels) == 0.0
    # pairs (pos, neg): (0.9, 0.5) win, (0.9, 0.1) win, (0.5, 0.5) tie, (0.5, 0.1) win -> 3.5 / 4
    assert probe.auroc(np.array([0.9, 0.5, 0.5, 0.1]), labels) == 0.875
    assert math.isnan(probe.auroc(np.array([0.3, 0.4]), np.array([1, 1])))


def test_evaluate_against_priors_by_hand(probe):
    nan = math.nan
    # facts: lead, distance, stopped, crossing, crossing distance, signal, control
    train = np.array([[0, nan, nan, 0, nan, 0, 0]] * 3 + [[1, 20, 0, 1, 5, 1, 1]], dtype=np.float32)
    facts = np.array([[1, 10, 1, 0, nan, 1, 0], [0, nan, nan, 0, nan, 0, 0], [1, 50, 0, 1, 8, 0, 1]],
                     dtype=np.float32)
    outputs = np.zeros((3, 14), dtype=np.float32)
    outputs[:, 0] = [2.0, -1.0, -0.5]  # lead logits: right, right, wrong at 0 (but above the clear lane's)
    outputs[:, 1] = [0.25, 0.0, 1.0]  # 10 m and 40 m predicted
    outputs[0, 5 + 1] = 3.0  # signal "red" for the first, "none" (argmax of zeros) for the others
    got = probe.evaluate(outputs, facts, train)
    assert got["lead_acc"] == pytest.approx(2 / 3) and got["lead_prior"] == pytest.approx(1 / 3)  # prior: "no lead"
    assert got["lead_auroc"] == 1.0  # positives 2.0 and -0.5 both above the negative -1.0
    assert got["near_lead_auroc"] == 1.0  # the 50 m lead is left out: 2.0 against -1.0
    assert got["lead_distance_mae_m"] == pytest.approx((0.0 + 10.0) / 2)  # |10 - 10|, |40 - 50|
    assert got["lead_distance_prior_m"] == pytest.approx((10.0 + 30.0) / 2)  # train median 20 m
    assert got["signal_acc"] == 1.0 and got["signal_prior"] == pytest.approx(2 / 3)


def test_a_tiny_probe_trains_and_scores(probe):
    torch.manual_seed(0)
    images = torch.randint(0, 256, (12, 2, 3, 32, 64), dtype=torch.uint8)
    facts = torch.tensor([[k % 2, 10.0 if k % 2 else math.nan] + [math.nan] * 5 for k in range(12)])
    vision = VisionConfig(patch_size=4, channels=(8, 16), token_grid=(2, 2))
    outputs, seen, seconds = probe.train_variant(vision, images, facts, images[:4], steps=3, batch=4, seed=0,
                                                 augment=True)
    assert outputs.shape == (4, 14) and seen.shape == (12, 14) and np.isfinite(outputs).all() and seconds > 0
    # with the dense target: the same outputs' shapes, and the dense head changes what the encoder learns
    dense = torch.randint(-1, 6, (12, 2, 4, 8))  # stride 8 at 32 x 64: a 4 x 8 grid per camera
    with_dense, _, _ = probe.train_variant(vision, images, facts, images[:4], steps=3, batch=4, seed=0,
                                           augment=True, dense=dense)
    assert with_dense.shape == (4, 14) and not np.allclose(with_dense, outputs)


def test_probe_reads_dense_classes_from_a_real_dataset(probe, small_dataset):
    from cordillera.data import DrivingDataset

    root, _ = small_dataset
    dataset = DrivingDataset(root, "all")
    images, facts, dense = probe.load(dataset, 4, np.random.default_rng(0), (4, 8))
    assert images.shape == (4, 4, 3, 64, 128) and facts.shape == (4, 7) and dense.shape == (4, 4, 4, 8)
    assert int(dense.min()) >= 0 and int(dense.max()) <= 5 and bool((dense > 0).any())  # objects in view


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # two short episodes: some facts never occur (NaN scores)
def test_score_checkpoint_reports_the_head_and_the_dense_cells(probe, small_dataset, tiny_config, tokenizer, tmp_path):
    from dataclasses import replace

    from cordillera.model import CordilleraVLA
    from cordillera.model.config import PerceptionConfig

    torch.manual_seed(0)
    config = replace(tiny_config, perception=PerceptionConfig(enabled=True, dense=True))
    CordilleraVLA(config, tokenizer).save_pretrained(tmp_path / "m")
    root, _ = small_dataset
    row = probe.score_checkpoint(str(tmp_path / "m"), str(root), 4, 1)
    assert row["samples"] == 4 and 0.0 <= row["lead_acc"] <= 1.0
    assert 0.0 <= row["dense_accuracy"] <= 1.0  # an untrained head, scored on the val samples' render codes
