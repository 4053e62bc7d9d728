"""History comfort (nuPlan bounds) and two-frame extended comfort, on signals whose derivatives are exact."""

from __future__ import annotations

import numpy as np
import pytest

from cordillera.eval.metrics.comfort import (
    comfort_signals, extended_comfort, extended_comfort_score, history_comfort, history_comfort_score, plan_sequence,
    savgol,
)


def test_savgol_is_exact_on_quadratics_and_shrinks_for_short_series():
    t = np.arange(20) * 0.1
    y = 3.0 * t**2
    np.testing.assert_allclose(savgol(y, 15, 2, deriv=1, dt=0.1), 6.0 * t, atol=1e-9)
    np.testing.assert_allclose(savgol(y, 8, 2, deriv=2, dt=0.1), 6.0, atol=1e-9)
    np.testing.assert_allclose(savgol(y[:3], 15, 2, deriv=2, dt=0.1), 6.0, atol=1e-9)  # window shrinks to 3
    assert np.all(savgol(y[:2], 15, 2, deriv=2, dt=0.1) == 0.0)  # too short for a second derivative


def _log(kit, accels=0.0, yaw_rates=0.0, yaw_step=0.0, speed=10.0, steps=30):
    centers, v = kit.straight_ego(20.0, speed, steps)
    centers[:, 2] = yaw_step * np.arange(steps)
    return kit.make_log(centers, v, accels=accels, yaw_rates=yaw_rates)


@pytest.mark.parametrize("accel, ok", [(1.0, True), (-4.0, True), (-5.0, False), (2.4, False), (2.39, True)])
def test_history_comfort_longitudinal_acceleration_bounds(kit, accel, ok):
    hc = history_comfort(_log(kit, accels=accel))
    assert history_comfort_score(hc) == float(ok)


def test_history_comfort_lateral_acceleration_and_yaw_rate(kit):
    assert history_comfort_score(history_comfort(_log(kit, yaw_rates=0.45))) == 1.0  # 10 m/s * 0.45 = 4.5 m/s^2
    assert history_comfort_score(history_comfort(_log(kit, yaw_rates=0.5))) == 0.0  # 5.0 > 4.89
    assert history_comfort_score(history_comfort(_log(kit, yaw_step=0.09))) == 1.0  # 0.9 rad/s
    assert history_comfort_score(history_comfort(_log(kit, yaw_step=0.1))) == 0.0  # 1.0 > 0.95 rad/s


def test_history_comfort_longitudinal_jerk(kit):
    # acceleration ramps from -4 to 0 m/s^2 at 0.5 m/s^2 per step: 5 m/s^3 of jerk (> 4.13); the magnitude falls
    # at 5 m/s^3 too (< 8.37)
    ramp = -4.0 + 0.5 * np.arange(9)
    log = _log(kit, accels=ramp, steps=9)
    signals = comfort_signals(log)
    np.testing.assert_allclose(signals["lon_jerk"], 5.0, atol=1e-9)
    np.testing.assert_allclose(signals["jerk"], -5.0, atol=1e-9)
    step = history_comfort(log)
    assert step.values.max() == 0.0 and history_comfort_score(step) == 0.0


def test_history_comfort_of_a_stopped_ego_and_a_one_step_log(kit):
    assert history_comfort_score(history_comfort(_log(kit, speed=0.0))) == 1.0
    assert history_comfort_score(history_comfort(_log(kit, steps=1))) == 1.0


def _plan(t0: float, x0: float, v0: float, a: float) -> np.ndarray:
    """World-frame plan made at t0: constant acceleration a from (x0, v0) along +x, pose k at t0 + (k+1) 0.1 s."""
    tau = (np.arange(64) + 1) * 0.1
    return np.stack([x0 + v0 * tau + 0.5 * a * tau**2, np.zeros(64), np.zeros(64)], -1)


def _plans_log(kit, plans, t0s):
    n = len(plans)
    centers, v = kit.straight_ego(20.0, 10.0, n)
    return kit.make_log(centers, v, plans=plans, plan_t0=t0s)


def _continuation(a_next: float, dt: float = 0.1):
    """Plan A (accel 1 m/s^2 from x 20, v 10 at t 0) and plan B made dt later from A's state at dt."""
    x1, v1 = 20.0 + 10.0 * dt + 0.5 * dt**2, 10.0 + dt
    return _plan(0.0, 20.0, 10.0, 1.0), _plan(dt, x1, v1, a_next)


@pytest.mark.parametrize("a_next, passed, rms", [(1.0, True, 0.0), (1.5, True, 0.5), (2.0, False, 1.0)])
def test_extended_comfort_compares_acceleration_on_the_overlap(kit, a_next, passed, rms):
    a, b = _continuation(a_next)
    pairs = extended_comfort(_plans_log(kit, [None, a, b], [0.0, 0.0, 0.1]))
    assert pairs.overlap.tolist() == [63] and pairs.valid.tolist() == [True]
    assert pairs.rms["accel"][0] == pytest.approx(rms, abs=1e-6)
    assert pairs.rms["jerk"][0] == pytest.approx(0.0, abs=1e-6) and pairs.rms["yaw_rate"][0] == 0.0
    assert pairs.passed.tolist() == [passed] and extended_comfort_score(pairs) == float(passed)


def test_extended_comfort_averages_pairs_and_handles_slower_replanning(kit):
    a, b = _continuation(1.0, dt=0.5)  # a 2 Hz policy: the plans share 59 poses
    x2, v2 = 20.0 + 10.0 + 0.5, 11.0
    c = _plan(1.0, x2, v2, 3.0)  # 2 m/s^2 off the previous plan
    log = _plans_log(kit, [a, a, a, a, a, b, b, b, b, b, c], [0.0] * 5 + [0.5] * 5 + [1.0])
    assert [t for t, _ in plan_sequence(log)] == [0.0, 0.5, 1.0]
    pairs = extended_comfort(log)
    assert pairs.overlap.tolist() == [59, 59] and pairs.passed.tolist() == [True, False]
    assert extended_comfort_score(pairs) == 0.5


def test_extended_comfort_with_one_plan_or_none(kit):
    a, _ = _continuation(1.0)
    assert extended_comfort_score(extended_comfort(_plans_log(kit, [None, a, a], [0.0, 0.0, 0.0]))) == 1.0
    assert extended_comfort_score(extended_comfort(_plans_log(kit, [None, None], [0.0, 0.0]))) == 1.0
