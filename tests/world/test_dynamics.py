import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cordillera.world.dynamics import (
    EgoState,
    VehicleParams,
    accel_curvature_to_poses,
    center_to_rear_axle,
    forward,
    inverse,
    inverse_states,
    poses_to_accel_curvature,
    rear_axle_to_center,
    rollout,
)

DT = 0.1
PARAMS = VehicleParams()


# --- VehicleParams / EgoState ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", [f for f in VehicleParams.__dataclass_fields__])
@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_params_name_the_field(name, bad):
    with pytest.raises(ValueError, match=rf"VehicleParams\.{name} .*{bad}"):
        VehicleParams(**{name: bad})


def test_params_geometry_must_fit():
    with pytest.raises(ValueError, match="wheelbase_m"):
        VehicleParams(wheelbase_m=4.0, rear_overhang_m=1.0, length_m=4.8)
    with pytest.raises(ValueError, match="max_steer_rad"):
        VehicleParams(max_steer_rad=1.6)
    assert VehicleParams().rear_axle_to_center_m == pytest.approx(1.4)


def test_state_array_round_trip_and_validation():
    state = EgoState(x=1.0, y=-2.0, yaw=0.5, v=3.0, a=-1.0, steer=0.1)
    np.testing.assert_array_equal(state.as_array(), [1.0, -2.0, 0.5, 3.0, -1.0, 0.1])
    assert EgoState.from_array(state.as_array()) == state
    np.testing.assert_array_equal(state.pose, [1.0, -2.0, 0.5])
    with pytest.raises(ValueError, match="shape"):
        EgoState.from_array(np.zeros(5))
    with pytest.raises(ValueError, match="v must be >= 0"):
        EgoState(0.0, 0.0, 0.0, v=-0.1)
    with pytest.raises(ValueError, match="v must be >= 0"):
        EgoState(0.0, 0.0, 0.0, v=float("nan"))


def test_center_and_rear_axle_round_trip():
    poses = np.array([[1.0, 2.0, 0.0], [0.0, 0.0, math.pi / 2]])
    centers = rear_axle_to_center(poses, PARAMS)
    np.testing.assert_allclose(centers, [[2.4, 2.0, 0.0], [0.0, 1.4, math.pi / 2]], atol=1e-12)
    np.testing.assert_allclose(center_to_rear_axle(centers, PARAMS), poses, atol=1e-12)


# --- forward ------------------------------------------------------------------------------------------------


def test_straight_constant_speed_is_exact():
    state = EgoState(0.0, 0.0, 0.0, v=10.0)
    for _ in range(10):
        state = forward(state, 0.0, 0.0, PARAMS, DT)
    assert state.x == pytest.approx(10.0, abs=1e-12)
    assert state.y == 0.0 and state.yaw == 0.0 and state.v == 10.0


def test_constant_steering_stays_on_the_circle():
    radius = 15.0
    steer = math.atan(PARAMS.wheelbase_m / radius)
    state = EgoState(0.0, 0.0, 0.0, v=8.0, steer=steer)
    for _ in range(100):
        state = forward(state, 0.0, 0.0, PARAMS, DT)
        assert math.hypot(state.x, state.y - radius) == pytest.approx(radius, abs=1e-9)
    assert state.yaw == pytest.approx(math.remainder(8.0 * 10.0 / radius, 2 * math.pi), abs=1e-9)


def test_constant_acceleration_distance_is_exact():
    state = EgoState(0.0, 0.0, 0.0, v=5.0)
    for _ in range(20):
        state = forward(state, 1.5, 0.0, PARAMS, DT)
    assert state.v == pytest.approx(8.0)
    assert state.x == pytest.approx(5.0 * 2.0 + 0.5 * 1.5 * 4.0)
    assert state.a == pytest.approx(1.5)


def test_commands_are_clipped_to_the_limits():
    state = EgoState(0.0, 0.0, 0.0, v=10.0, steer=0.0)
    fast = forward(state, 100.0, 100.0, PARAMS, DT)
    assert fast.v == pytest.approx(10.0 + PARAMS.max_accel * DT)
    assert fast.steer == pytest.approx(PARAMS.max_steer_rate_rad_s * DT)
    hard = forward(state, -100.0, -100.0, PARAMS, DT)
    assert hard.v == pytest.approx(10.0 - PARAMS.max_brake * DT)
    assert hard.a == pytest.approx(-PARAMS.max_brake)
    assert hard.steer == pytest.approx(-PARAMS.max_steer_rate_rad_s * DT)

    steered = EgoState(0.0, 0.0, 0.0, v=5.0, steer=0.58)
    assert forward(steered, 0.0, 0.7, PARAMS, DT).steer == PARAMS.max_steer_rad

    top = EgoState(0.0, 0.0, 0.0, v=39.9)
    capped = forward(top, 3.0, 0.0, PARAMS, DT)
    assert capped.v == PARAMS.max_speed
    t_cap = 0.1 / 3.0
    assert capped.x == pytest.approx(0.5 * (39.9 + 40.0) * t_cap + 40.0 * (DT - t_cap))


def test_braking_stops_at_zero_and_never_reverses():
    state = EgoState(0.0, 0.0, 0.3, v=1.0)
    along = [0.0]
    for _ in range(10):
        state = forward(state, -PARAMS.max_brake, 0.0, PARAMS, DT)
        assert state.v >= 0.0
        along.append(state.x * math.cos(0.3) + state.y * math.sin(0.3))
    assert state.v == 0.0
    assert np.all(np.diff(along) >= 0.0)
    # 1 m/s at 8 m/s^2 stops 0.125 s in, inside the second step, after exactly v^2 / (2 b).
    assert along[-1] == pytest.approx(1.0**2 / (2 * PARAMS.max_brake), rel=1e-12)
    held = forward(state, 0.0, 0.0, PARAMS, DT)
    assert (held.x, held.y, held.v, held.a) == (state.x, state.y, 0.0, 0.0)


def test_forward_rejects_nonfinite_commands():
    with pytest.raises(ValueError, match="finite"):
        forward(EgoState(0.0, 0.0, 0.0, 1.0), float("nan"), 0.0, PARAMS, DT)


def test_forward_is_deterministic():
    rng = np.random.default_rng(3)
    accel, rate = rng.uniform(-2, 2, 50), rng.uniform(-0.5, 0.5, 50)
    start = EgoState(1.0, 2.0, 0.3, 10.0)
    np.testing.assert_array_equal(rollout(start, accel, rate, PARAMS, DT), rollout(start, accel, rate, PARAMS, DT))


# --- inverse --------------------------------------------------------------------------------------------------


def _feasible_rollout(seed: int, steps: int = 64):
    """Random commands that keep the vehicle away from every limit, and the states they produce."""
    rng = np.random.default_rng(seed)
    start = EgoState(rng.uniform(-50, 50), rng.uniform(-50, 50), rng.uniform(-3, 3), v=rng.uniform(12.0, 20.0),
                     steer=rng.uniform(-0.1, 0.1))
    accel = rng.uniform(-1.5, 1.5, steps)
    rate = rng.uniform(-0.3, 0.3, steps)
    states = rollout(start, accel, rate, PARAMS, DT)
    assert states[:, 3].min() > 0.5 and states[:, 3].max() < PARAMS.max_speed
    assert np.abs(states[:, 5]).max() < PARAMS.max_steer_rad
    return start, accel, rate, states


@pytest.mark.parametrize("seed", range(5))
def test_inverse_recovers_the_commands(seed):
    start, accel, rate, states = _feasible_rollout(seed)
    fitted_accel, steer = inverse(states[:, :3], DT, PARAMS, v0=start.v, steer0=start.steer)
    np.testing.assert_allclose(fitted_accel, accel, atol=1e-6)
    np.testing.assert_allclose(np.diff(steer) / DT, rate, atol=1e-6)
    replay = rollout(start, fitted_accel, np.diff(steer) / DT, PARAMS, DT)
    assert np.abs(replay[:, :2] - states[:, :2]).max() < 1e-3


@pytest.mark.parametrize("seed", range(5))
def test_inverse_without_initial_speed_and_steer_reproduces_the_poses(seed):
    _, _, _, states = _feasible_rollout(seed)
    fitted = inverse_states(states[:, :3], DT, PARAMS)
    assert fitted[0, 3] == pytest.approx(states[0, 3], abs=0.1)
    replay = rollout(EgoState.from_array(fitted[0]), np.diff(fitted[:, 3]) / DT, np.diff(fitted[:, 5]) / DT, PARAMS, DT)
    assert np.abs(replay[:, :2] - states[:, :2]).max() < 1e-3
    assert np.abs(replay[:, 2] - states[:, 2]).max() < 1e-6


@settings(derandomize=True, max_examples=40, deadline=None)
@given(
    v0=st.floats(2.0, 30.0),
    steer0=st.floats(-0.4, 0.4),
    accel=st.lists(st.floats(-3.0, 3.0), min_size=2, max_size=30),
    rate_seed=st.integers(0, 2**16),
)
def test_inverse_round_trip_property(v0, steer0, accel, rate_seed):
    rate = np.random.default_rng(rate_seed).uniform(-0.7, 0.7, len(accel))
    start = EgoState(0.0, 0.0, 0.0, v=v0, steer=steer0)
    states = rollout(start, np.array(accel), rate, PARAMS, DT)
    speeds_free = v0 + np.cumsum(np.array(accel) * DT)
    steers_free = steer0 + np.cumsum(rate * DT)
    assume(speeds_free.min() > 0.1 and speeds_free.max() < PARAMS.max_speed)
    assume(np.abs(steers_free).max() < PARAMS.max_steer_rad)
    fitted_accel, steer = inverse(states[:, :3], DT, PARAMS, v0=v0, steer0=steer0)
    np.testing.assert_allclose(fitted_accel, accel, atol=1e-6)
    np.testing.assert_allclose(np.diff(steer) / DT, rate, atol=1e-6)


def test_regularized_inverse_of_a_noisy_log():
    t = np.arange(100) * DT
    accel, rate = np.sin(0.5 * t), 0.2 * np.cos(0.7 * t)
    states = rollout(EgoState(0.0, 0.0, 0.0, v=10.0), accel, rate, PARAMS, DT)
    noisy = states[:, :3] + np.random.default_rng(0).normal(0.0, 1.0, (101, 3)) * [0.01, 0.01, 0.002]
    fitted = inverse_states(noisy, DT, PARAMS, reg=1.0)
    assert np.sqrt(np.mean((fitted[:, 3] - states[:, 3]) ** 2)) < 0.15  # [m/s]
    assert np.sqrt(np.mean((np.diff(fitted[:, 3]) / DT - accel) ** 2)) < 1.0  # [m/s^2]
    assert np.sqrt(np.mean((fitted[:, 5] - states[:, 5]) ** 2)) < 0.005  # [rad]
    exact_accel, _ = inverse(states[:, :3], DT, PARAMS, v0=10.0, steer0=0.0, reg=1e-9)
    np.testing.assert_allclose(exact_accel, accel, atol=1e-3)  # a tiny reg barely biases clean input


def test_inverse_of_a_standstill_holds_speed_and_steering():
    poses = np.zeros((10, 3))
    accel, steer = inverse(poses, DT, PARAMS, v0=0.0, steer0=0.2)
    np.testing.assert_array_equal(accel, 0.0)
    np.testing.assert_array_equal(steer, 0.2)


def test_inverse_rejects_bad_poses():
    with pytest.raises(ValueError, match="shape"):
        inverse(np.zeros((1, 3)), DT, PARAMS)
    bad = np.zeros((5, 3))
    bad[2, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        inverse(bad, DT, PARAMS)
    with pytest.raises(ValueError, match="reg"):
        inverse(np.zeros((5, 3)), DT, PARAMS, reg=-1.0)


# --- action space: (acceleration, curvature) ------------------------------------------------------------------


def test_action_integration_by_hand():
    poses = accel_curvature_to_poses(np.array([1.0, 0.0]), np.array([0.0, 0.1]), 10.0, DT)
    # Step 1: v 10 -> 10.1, straight: x = 0.05 * (10 + 10.1).
    assert poses[0, 0] == pytest.approx(0.05 * 20.1)
    assert poses[0, 1] == 0.0 and poses[0, 2] == 0.0
    # Step 2: constant 10.1 m/s, yaw += 0.1 * 10.1 * 0.1; trapezoid of the headings.
    yaw = 0.1 * 10.1 * DT
    assert poses[1, 2] == pytest.approx(yaw)
    assert poses[1, 0] == pytest.approx(0.05 * 20.1 + 0.05 * 10.1 * (1 + math.cos(yaw)))
    assert poses[1, 1] == pytest.approx(0.05 * 10.1 * math.sin(yaw))


def _smooth_actions(rng: np.random.Generator, batch: int, steps: int = 64):
    t = np.arange(steps) * DT

    def wave(amplitude: float, low: float, high: float) -> np.ndarray:  # (batch, steps) random sinusoids
        shape = (batch, 1)
        return rng.uniform(0, amplitude, shape) * np.sin(rng.uniform(low, high, shape) * t + rng.uniform(0, 6, shape))

    return wave(2.0, 0.3, 1.5), wave(0.05, 0.3, 1.0), rng.uniform(3.0, 20.0, batch)


def test_action_round_trip_small_regularization():
    accel, curv, v0 = _smooth_actions(np.random.default_rng(0), 8)
    poses = accel_curvature_to_poses(accel, curv, v0, DT)
    fitted_accel, fitted_curv = poses_to_accel_curvature(poses, v0, DT, reg=1e-6)
    np.testing.assert_allclose(fitted_accel, accel, atol=1e-3)
    np.testing.assert_allclose(fitted_curv, curv, atol=1e-5)
    replay = accel_curvature_to_poses(fitted_accel, fitted_curv, v0, DT)
    assert np.abs(replay[..., :2] - poses[..., :2]).max() < 1e-4


def test_action_round_trip_default_regularization_and_batching():
    accel, curv, v0 = _smooth_actions(np.random.default_rng(1), 6)
    poses = accel_curvature_to_poses(accel, curv, v0, DT)
    fitted_accel, fitted_curv = poses_to_accel_curvature(poses.reshape(2, 3, 64, 3), v0.reshape(2, 3), DT)
    assert fitted_accel.shape == (2, 3, 64) and fitted_curv.shape == (2, 3, 64)
    replay = accel_curvature_to_poses(fitted_accel.reshape(6, 64), fitted_curv.reshape(6, 64), v0, DT)
    assert np.abs(replay[..., :2] - poses[..., :2]).max() < 5e-3
    single_accel, single_curv = poses_to_accel_curvature(poses[4], v0[4], DT)
    np.testing.assert_allclose(single_accel, fitted_accel.reshape(6, 64)[4], atol=1e-9)
    np.testing.assert_allclose(single_curv, fitted_curv.reshape(6, 64)[4], atol=1e-9)


def test_action_fit_of_a_standstill_is_zero():
    accel, curv = poses_to_accel_curvature(np.zeros((64, 3)), 0.0, DT)
    np.testing.assert_allclose(accel, 0.0, atol=1e-9)
    np.testing.assert_allclose(curv, 0.0, atol=1e-9)


def test_action_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        poses_to_accel_curvature(np.zeros((64, 2)), 0.0, DT)
    with pytest.raises(ValueError, match="NaN"):
        poses_to_accel_curvature(np.full((64, 3), np.inf), 0.0, DT)
    with pytest.raises(ValueError, match="reg"):
        poses_to_accel_curvature(np.zeros((64, 3)), 0.0, DT, reg=0.0)
    with pytest.raises(ValueError, match="same shape"):
        accel_curvature_to_poses(np.zeros(4), np.zeros(5), 1.0, DT)
