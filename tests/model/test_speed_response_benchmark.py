"""benchmarks/speed_response.py: its table by hand and a run on a tiny model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from .conftest import straight_future


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("speed_response")


def test_response_table_by_hand(bench):
    label = np.array([-6.0, -4.0, -2.0, 0.0, 0.5, 2.0])
    plan = np.array([-1.0, -2.0, -1.0, 0.0, 0.5, 2.0])
    got = bench.response_table(label, plan)
    hard = got["groups"]["hard braking"]
    assert hard["n"] == 2 and hard["label"] == -5.0 and hard["plan"] == -1.5 and hard["response"] == pytest.approx(0.3)
    assert got["groups"]["braking"]["response"] == pytest.approx(0.5)
    assert got["groups"]["steady"]["n"] == 2 and math.isnan(got["groups"]["steady"]["response"])
    assert "hard speeding up" not in got["groups"]
    assert got["mae"] == pytest.approx((5 + 2 + 1) / 6)
    assert bench.response_table(label, label)["slope"] == pytest.approx(1.0)
    assert bench.response_table(label, label)["correlation"] == pytest.approx(1.0)
    assert math.isnan(bench.response_table(label, np.zeros(6))["correlation"])  # a constant plan


def test_measure_on_a_tiny_model(bench, make_model, make_sample):
    model = make_model()
    samples = [make_sample(seed=i, speed=10.0, future=straight_future(10.0, -3.0 if i % 2 else 0.0))
               for i in range(4)]
    label, plan = bench.measure(model, samples, samples=4, trajectories=2, noise_scale=1.0, batch_size=3)
    assert label.shape == plan.shape == (4,)
    # the step from 2.0 to 2.1 s of 10 t - 1.5 t^2 is 10 - 3 * 2.05 = 3.85 m/s: a change of -6.15
    assert label == pytest.approx([0.0, -6.15, 0.0, -6.15])
    assert np.isfinite(plan).all()
