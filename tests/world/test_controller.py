import math

import numpy as np
import pytest

from cordillera.geometry import from_frame, to_frame
from cordillera import constants as C
from cordillera.world.controller import (
    TrackerConfig,
    track,
    track_reference,
    tracking_errors,
    tracking_maneuvers,
    validate_plan_poses,
)
from cordillera.world.dynamics import EgoState, VehicleParams, accel_curvature_to_poses, forward

PARAMS = VehicleParams()
CONFIG = TrackerConfig()
STEPS = 80  # 8 s closed loop
MANEUVERS = tracking_maneuvers(STEPS)

# Max |error| over 8 s, about 2x what `benchmarks/tracking_error.py` measures over the variants below
# (measured worst: turn 0.079 m / 0.019 rad, lane change 0.083 m / 0.014 rad, stop 0.30 m/s).
BOUNDS = {  # lateral [m], heading [rad], speed [m/s]
    "straight": (0.01, 0.005, 0.01),
    "turn_90": (0.15, 0.04, 0.03),
    "lane_change": (0.15, 0.03, 0.01),
    "stop": (0.01, 0.005, 0.45),
}
REPLAN_EVERY = [1, 5, 10]  # steps between plans: 10 Hz, 2 Hz, 1 Hz


def _straight_plan(speed: float, origin=(0.0, 0.0, 0.0)) -> np.ndarray:
    poses = accel_curvature_to_poses(np.zeros(C.PLAN_STEPS), np.zeros(C.PLAN_STEPS), speed, C.DT)
    return from_frame(poses, np.array(origin))


# --- plan validation -------------------------------------------------------------------------------------------


def test_validate_plan_poses_accepts_and_converts():
    plan = validate_plan_poses(np.zeros((64, 3), dtype=np.float32).tolist())
    assert plan.dtype == np.float64 and plan.shape == (64, 3)


@pytest.mark.parametrize(
    "poses, message",
    [
        (np.zeros((10, 3)), r"plan poses must have shape \(64, 3\), got \(10, 3\)"),
        (np.zeros((64, 2)), r"plan poses must have shape \(64, 3\), got \(64, 2\)"),
        (np.zeros(192), r"plan poses must have shape \(64, 3\), got \(192,\)"),
        ([["a", "b", "c"]] * 64, "plan poses must be a numeric array"),
    ],
)
def test_validate_plan_poses_rejects_bad_shapes(poses, message):
    with pytest.raises(ValueError, match=message):
        validate_plan_poses(poses)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_validate_plan_poses_names_the_first_bad_index(bad):
    poses = np.zeros((64, 3))
    poses[5, 2] = bad
    poses[9, 0] = bad
    with pytest.raises(ValueError, match="plan poses contain NaN or inf at index 5"):
        validate_plan_poses(poses)


def test_track_validates_its_inputs():
    state = EgoState(0.0, 0.0, 0.0, 5.0)
    with pytest.raises(ValueError, match="shape"):
        track(state, np.zeros((10, 3)), 0.0, 0.0, PARAMS, CONFIG, 0.1)
    with pytest.raises(ValueError, match="after the current time"):
        track(state, _straight_plan(5.0), 1.0, 0.5, PARAMS, CONFIG, 0.1)


@pytest.mark.parametrize("name", ["q_lateral", "r_accel", "speed_lookahead_s", "stop_speed"])
def test_bad_config_names_the_field(name):
    with pytest.raises(ValueError, match=rf"TrackerConfig\.{name}"):
        TrackerConfig(**{name: -1.0})
    with pytest.raises(ValueError, match=rf"TrackerConfig\.{name}"):
        TrackerConfig(**{name: float("nan")})


def test_bad_config_span_and_schedule():
    with pytest.raises(ValueError, match="estimate_span"):
        TrackerConfig(estimate_span=2)
    with pytest.raises(ValueError, match="gain_speeds"):
        TrackerConfig(gain_speeds=(5.0, 1.0))


# --- closed-loop benchmark --------------------------------------------------------------------------------------


@pytest.mark.parametrize("replan_every", REPLAN_EVERY)
@pytest.mark.parametrize("name", list(MANEUVERS))
def test_tracking_error_bounds(name, replan_every):
    reference, speeds = MANEUVERS[name]
    start = EgoState(0.0, 0.0, 0.0, v=float(speeds[0]))
    states = track_reference(reference, start, PARAMS, CONFIG, STEPS, replan_every=replan_every)
    errors = tracking_errors(states, reference, speeds)
    lateral, heading, speed = BOUNDS[name]
    assert np.abs(errors["lateral"]).max() < lateral
    assert np.abs(errors["heading"]).max() < heading
    assert np.abs(errors["speed"]).max() < speed
    assert np.abs(np.diff(states[:, 5])).max() <= PARAMS.max_steer_rate_rad_s * C.DT + 1e-12


def test_replanning_in_the_ego_frame_matches_world_frame_plans():
    """The simulator's path: plan in the ego frame at the request, back to world with the request pose."""
    reference, speeds = MANEUVERS["turn_90"]
    state = EgoState(0.0, 0.0, 0.0, v=float(speeds[0]))
    lateral = []
    for n in range(STEPS):
        ego_pose = state.pose
        remaining = reference[n + 1 : n + 1 + C.PLAN_STEPS]
        plan_ego = to_frame(remaining, ego_pose)  # what a policy would return
        accel, rate = track(state, from_frame(plan_ego, ego_pose), n * 0.1, n * 0.1, PARAMS, CONFIG, 0.1)
        state = forward(state, accel, rate, PARAMS, 0.1)
        lateral.append(tracking_errors(state.as_array()[None], reference, speeds)["lateral"][0])
    assert np.abs(lateral).max() < BOUNDS["turn_90"][0]


def test_stop_plan_stops_without_oscillation():
    reference, speeds = MANEUVERS["stop"]
    for replan_every in (1, 5):
        states = track_reference(reference, EgoState(0.0, 0.0, 0.0, v=10.0), PARAMS, CONFIG, STEPS, replan_every)
        speed = states[:, 3]
        assert np.all(np.diff(speed) <= 1e-9)  # never speeds up again
        assert np.all(speed >= 0.0)
        stopped = np.flatnonzero(speed == 0.0)
        assert stopped.size and np.all(speed[stopped[0] :] == 0.0)  # once stopped it stays stopped
        assert stopped[0] * C.DT < 5.5  # the plan stands from t = 5 s
        stop_x = reference[-1, 0]  # 10 m/s for 1 s, then 10^2 / (2 * 2.5) = 20 m
        assert stop_x == pytest.approx(30.0, abs=1e-6)
        assert abs(states[-1, 0] - stop_x) < 0.05
        assert np.all(np.diff(states[:, 0]) >= 0.0)


def test_stationary_plan_keeps_the_car_still():
    origin = (3.0, -2.0, 0.7)
    plan = np.tile(origin, (C.PLAN_STEPS, 1))
    state = EgoState(*origin, v=0.0, steer=0.1)
    for n in range(30):
        accel, rate = track(state, plan, 0.0, n * 0.1, PARAMS, CONFIG, 0.1)
        assert (accel, rate) == (0.0, 0.0)
        state = forward(state, accel, rate, PARAMS, 0.1)
    assert (state.x, state.y, state.yaw, state.v, state.steer) == (*origin, 0.0, 0.1)


def test_standing_plan_brakes_a_moving_car_to_a_stop():
    plan = np.zeros((C.PLAN_STEPS, 3))
    state = EgoState(-20.0, 0.0, 0.0, v=10.0)  # 20 m behind where the plan stands
    for n in range(60):
        accel, rate = track(state, plan, 0.0, n * 0.1, PARAMS, CONFIG, 0.1)
        state = forward(state, accel, rate, PARAMS, 0.1)
        assert state.a <= 0.0
    assert state.v == 0.0
    assert abs(state.x) < 0.1


def test_lateral_offset_is_corrected_smoothly():
    speed = 15.0
    reference = np.concatenate([np.zeros((1, 3)), accel_curvature_to_poses(np.zeros(144), np.zeros(144), speed, 0.1)])
    states = track_reference(reference, EgoState(0.0, 0.5, 0.0, v=speed), PARAMS, CONFIG, STEPS)
    lateral = tracking_errors(states, reference, np.full(len(reference), speed))["lateral"]
    assert np.all(np.abs(lateral[30:]) < 0.05)  # within 5 cm after 3 s
    assert lateral.min() > -0.1  # little overshoot
    lateral_accel = speed**2 * np.tan(states[:, 5]) / PARAMS.wheelbase_m
    assert np.abs(lateral_accel).max() < 1.0  # [m/s^2] a comfortable correction


def test_old_plan_is_tracked_and_held_at_its_end():
    plan = _straight_plan(10.0)  # ends at 64 m
    state = EgoState(0.0, 0.0, 0.0, v=10.0)
    for n in range(100):  # 10 s on one 6.4 s plan
        accel, rate = track(state, plan, 0.0, n * 0.1, PARAMS, CONFIG, 0.1)
        state = forward(state, accel, rate, PARAMS, 0.1)
    assert state.v == 0.0
    assert abs(state.y) < 1e-9
    assert 60.0 < state.x < 72.0  # stopped close to the plan's last pose (braking limits allow overshoot)


def test_track_is_deterministic_and_returns_floats():
    reference, _ = MANEUVERS["lane_change"]
    state = EgoState(0.3, 0.2, 0.05, v=14.0, steer=0.01)
    first = track(state, reference[21:85], 1.7, 2.0, PARAMS, CONFIG, 0.1)
    assert first == track(state, reference[21:85].copy(), 1.7, 2.0, PARAMS, CONFIG, 0.1)
    assert all(type(value) is float and math.isfinite(value) for value in first)
