"""Open-loop metrics with Alpamayo's semantics, on errors chosen by hand."""

from __future__ import annotations

import numpy as np
import pytest

from cordillera.eval.metrics.open_loop import ade, corner_distance, fde, min_ade, min_fde, speeds_ahead


def _two_samples():
    """gt at the origin for 10 steps; sample 0 is 1 m off for the first 5 steps then exact (mean 0.5 m);
    sample 1 is 0.2 m off for 5 steps then 0.9 m (mean 0.55 m)."""
    gt = np.zeros((10, 2))
    pred = np.zeros((2, 10, 2))
    pred[0, :5, 1] = 1.0
    pred[1, :5, 0] = 0.2
    pred[1, 5:, 0] = 0.9
    return pred, gt


def test_min_ade_reports_every_horizon_on_the_full_horizon_choice():
    pred, gt = _two_samples()
    out = min_ade(pred, gt, dt=0.1, horizons_s=(0.5, 1.0))
    assert set(out) == {"min_ade", "min_ade@0.5s", "min_ade@1.0s"}
    assert out["min_ade"] == pytest.approx(0.5)
    assert out["min_ade@0.5s"] == pytest.approx(1.0)  # sample 0's first half, not sample 1's 0.2
    assert out["min_ade@1.0s"] == pytest.approx(0.5)


def test_ade_and_fde_use_the_first_sample():
    pred, gt = _two_samples()
    assert ade(pred, gt)["ade"] == pytest.approx(0.5)
    assert ade(pred[::-1], gt, horizons_s=(0.5,))["ade@0.5s"] == pytest.approx(0.2)
    assert ade(pred[::-1], gt)["ade"] == pytest.approx(0.55)
    assert fde(pred, gt) == 0.0 and fde(pred[::-1], gt) == pytest.approx(0.9)
    assert min_fde(pred[::-1], gt) == 0.0


def test_min_ade_keeps_leading_dimensions_and_default_horizons():
    rng = np.random.default_rng(0)
    pred = rng.normal(size=(2, 3, 6, 64, 2))
    gt = rng.normal(size=(2, 3, 64, 2))
    out = min_ade(pred, gt)
    assert set(out) == {"min_ade", "min_ade@0.5s", "min_ade@1.0s", "min_ade@3.0s", "min_ade@5.0s"}
    assert all(v.shape == (2, 3) for v in out.values())
    flat = min_ade(pred[1, 2], gt[1, 2])
    assert out["min_ade@3.0s"][1, 2] == pytest.approx(flat["min_ade@3.0s"])
    # a yaw column is ignored
    with_yaw = np.concatenate([pred, np.ones(pred.shape[:-1] + (1,))], -1)
    np.testing.assert_allclose(min_ade(with_yaw, gt)["min_ade"], out["min_ade"])


def test_shape_and_horizon_errors_are_clear():
    with pytest.raises(ValueError, match="gt: expected shape"):
        min_ade(np.zeros((6, 64, 2)), np.zeros((32, 2)))
    with pytest.raises(ValueError, match="pred: expected shape"):
        min_ade(np.zeros((64, 2)), np.zeros((64, 2)))
    with pytest.raises(ValueError, match="horizon 7.0 s"):
        min_ade(np.zeros((6, 64, 2)), np.zeros((64, 2)), horizons_s=(7.0,))


def test_corner_distance_min_over_samples_per_time_and_corner():
    gt = np.zeros((2, 3))  # two poses at the origin heading +x
    shifted = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])  # every corner 1 m away
    turned = np.array([[0.0, 0.0, np.pi], [0.0, 0.0, 0.0]])  # reversed box: corners 2*hypot(2, 1.5) = 5 m away
    assert corner_distance(shifted[None], gt) == pytest.approx(1.0)
    assert corner_distance(turned[None], gt) == pytest.approx((5.0 + 0.0) / 2)
    assert corner_distance(np.stack([shifted, turned]), gt) == pytest.approx((1.0 + 0.0) / 2)


def test_speeds_ahead_by_hand():
    t = 0.1 * np.arange(1, 65)
    keep = np.column_stack([10.0 * t, np.zeros(64)])  # 10 m/s throughout
    brake = np.column_stack([10.0 * t - 1.0 * t * t, np.zeros(64)])  # 2 m/s^2: 10 - 2 t
    # the step from pose 19 (t = 2.0 s) to pose 20 (2.1 s) over 0.1 s: 10 - 2 * 2.05 = 5.9 m/s
    predicted, truth = speeds_ahead(np.stack([keep, brake])[None], brake[None], seconds=2.0)
    assert predicted.shape == truth.shape == (1,)
    assert truth[0] == pytest.approx(5.9)
    assert predicted[0] == pytest.approx((10.0 + 5.9) / 2)  # the mean over the two samples
    with pytest.raises(ValueError, match="horizon"):
        speeds_ahead(np.stack([keep])[None], keep[None], seconds=9.0)
