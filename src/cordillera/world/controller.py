"""Plan tracking: turn a Plan (64 rear-axle poses) into (acceleration, steering-rate) commands every step.

LQR tracking as in nuPlan's tracker, on the kinematic bicycle of `dynamics`:
- longitudinal: LQR on [station error, speed error] with the acceleration as input, plus the plan's
  acceleration as feedforward; a plan that stands is met by braking evenly to where it stands;
- lateral: LQR on the bicycle linearised about the reference, states [lateral error, heading error,
  steering-angle error], the steering rate as input, plus the reference steering angle (from the plan's
  curvature) and its rate as feedforward. Weights on lateral acceleration and jerk keep corrections
  gentle at speed.
Gains are solved once per (config, wheelbase, dt) for a table of speeds (cached) and interpolated in
speed; one `track` call is compiled (numba) float arithmetic on a window of ~7 plan poses (~4 us).

CPU example (one step of the closed loop):

    >>> from cordillera.world.dynamics import EgoState, VehicleParams, forward
    >>> reference, _ = tracking_maneuvers()["turn_90"]
    >>> state, params = EgoState(x=0.0, y=0.0, yaw=0.0, v=8.0), VehicleParams()
    >>> accel, steer_rate = track(state, reference[1:65], 0.0, 0.0, params, TrackerConfig(), dt=0.1)
    >>> state = forward(state, accel, steer_rate, params, dt=0.1)

In a simulator the policy's plan (ego frame at the request) goes to the world frame once, with the ego
pose at the request: `plan_world = from_frame(plan, ego_pose)`, `plan_t0 = t_request`; every step then
calls `track(ego, plan_world, plan_t0, t, ...)` and `forward`, also between plans.

`track_reference` runs that loop against a long world-frame reference; `tracking_maneuvers` are the four
benchmark references used by the tests and `benchmarks/tracking_error.py`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields

import numpy as np
from numba import njit
from scipy.linalg import solve_discrete_are

from cordillera import constants as C
from cordillera.geometry import Polyline, wrap_angle
from cordillera.world.dynamics import EgoState, VehicleParams, accel_curvature_to_poses, forward
from cordillera.world.types import validate_plan_array

__all__ = [
    "TrackerConfig",
    "validate_plan_poses",
    "track",
    "track_reference",
    "tracking_errors",
    "tracking_maneuvers",
]

_MIN_SEGMENT_M = 1e-6  # [m] shorter plan steps are standstill: their direction is the pose's yaw
_TWO_PI = 2.0 * math.pi
_PLAN_DT = C.DT  # [s] spacing of plan poses
_START_CHECK_STEPS = 10  # a plan slow now but moving this many steps later is pulling away, not standing
_START_DISTANCE_M = 0.2  # [m] how far it must move in that time


@dataclass(frozen=True)
class TrackerConfig:
    """Weights and look-ahead of the plan tracker."""

    speed_lookahead_s: float = 0.1  # [s] feedforward acceleration = the plan's mean over this window
    estimate_span: int = 3  # plan steps over which speed and curvature are differenced (odd; 1 = raw)
    steer_preview_s: float = 0.0  # [s] reference steering read this far ahead; covers the steering-rate limit
    q_station: float = 0.3  # [1/m^2] weight on being ahead of / behind the plan in time
    q_speed: float = 1.0  # [s^2/m^2] weight on speed error
    r_accel: float = 1.0  # [s^4/m^2] weight on acceleration beyond the feedforward
    q_lateral: float = 2.0  # [1/m^2] weight on lateral error of the rear axle
    q_heading: float = 10.0  # [1/rad^2] weight on heading error
    q_lateral_accel: float = 0.1  # [s^4/m^2] weight on lateral acceleration from steering off the reference
    r_lateral_jerk: float = 0.1  # [s^6/m^2] weight on lateral jerk from steering rate beyond the feedforward
    r_steer_rate: float = 1.0  # [s^2/rad^2] weight on steering rate; bounds the gains at low speed
    max_station_error_m: float = 2.0  # [m] station error is clipped: a plan far behind/ahead is not chased
    stop_speed: float = 0.2  # [m/s] below this, with a standing plan, the tracker brakes to a standstill
    gain_speeds: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0)  # [m/s]

    def __post_init__(self) -> None:
        object.__setattr__(self, "gain_speeds", tuple(self.gain_speeds))  # hashable: gains are cached per config
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name == "gain_speeds":
                ok = len(value) >= 2 and all(math.isfinite(v) and v > 0 for v in value)
                ok = ok and all(b > a for a, b in zip(value, value[1:]))
                if not ok:
                    raise ValueError(
                        f"TrackerConfig.gain_speeds must be >= 2 increasing positive speeds, got {value!r}"
                    )
                continue
            if field.name == "estimate_span":
                if not isinstance(value, int) or value < 1 or value % 2 == 0:
                    raise ValueError(f"TrackerConfig.estimate_span must be an odd int >= 1, got {value!r}")
                continue
            allow_zero = field.name in ("q_station", "q_lateral_accel", "r_lateral_jerk", "steer_preview_s")
            if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
                raise ValueError(f"TrackerConfig.{field.name} must be finite and positive, got {value!r}")
        if max(self.speed_lookahead_s, self.steer_preview_s) > 2.0:
            raise ValueError("TrackerConfig look-ahead times must be <= 2.0 s")


validate_plan_poses = validate_plan_array  # one plan check for the whole project (types.py)


def _dlqr(a: np.ndarray, b: np.ndarray, q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Infinite-horizon discrete LQR gain K (u = -K x)."""
    p = solve_discrete_are(a, b, q, r)
    return np.linalg.solve(r + b.T @ p @ b, b.T @ p @ a)


@dataclass(frozen=True)
class _Gains:
    speeds: tuple[float, ...]  # [m/s] schedule
    lateral: tuple[tuple[float, float, float], ...]  # K per speed for [lateral, heading, steering] errors
    station: float  # [1/s^2]
    speed: float  # [1/s]
    window: int  # plan poses read around the current time
    span: int  # half-width, in segments, of the speed and curvature estimates

    @functools.cached_property
    def speed_table(self) -> np.ndarray:
        return np.array(self.speeds)

    @functools.cached_property
    def lateral_table(self) -> np.ndarray:
        return np.array(self.lateral)


@functools.lru_cache(maxsize=64)
def _gains(config: TrackerConfig, wheelbase_m: float, dt: float) -> _Gains:
    long_a = np.array([[1.0, dt], [0.0, 1.0]])
    long_b = np.array([[0.5 * dt * dt], [dt]])
    long_q = np.diag([config.q_station, config.q_speed])
    if config.q_station == 0.0:  # station is then uncontrolled but unpenalised: LQR on speed alone
        k_speed = _dlqr(long_a[1:, 1:], long_b[1:], long_q[1:, 1:], np.array([[config.r_accel]]))[0, 0]
        long_k = (0.0, float(k_speed))
    else:
        long_k = tuple(float(k) for k in _dlqr(long_a, long_b, long_q, np.array([[config.r_accel]]))[0])
    lateral = []
    for v in config.gain_speeds:
        c = v / wheelbase_m
        a = np.array([[1.0, v * dt, 0.5 * c * v * dt * dt], [0.0, 1.0, c * dt], [0.0, 0.0, 1.0]])
        b = np.array([[c * v * dt**3 / 6.0], [0.5 * c * dt * dt], [dt]])  # exact hold of the steering rate
        accel_per_steer = v * v / wheelbase_m  # [m/s^2 per rad] lateral acceleration per steering angle
        q = np.diag([config.q_lateral, config.q_heading, config.q_lateral_accel * accel_per_steer**2])
        r = np.array([[config.r_steer_rate + config.r_lateral_jerk * accel_per_steer**2]])
        k = _dlqr(a, b, q, r)[0]
        lateral.append((float(k[0]), float(k[1]), float(k[2])))
    span = config.estimate_span // 2
    ahead = max(config.speed_lookahead_s, config.steer_preview_s + dt) / C.DT
    window = min(C.PLAN_STEPS, 5 + math.ceil(ahead) + span)  # 2 behind "now", the look-ahead, margins
    return _Gains(tuple(config.gain_speeds), tuple(lateral), long_k[0], long_k[1], window, span)


_last_gains: tuple = (None, None, None, None)  # (config, wheelbase_m, dt, gains) of the latest lookup


def _gains_for(config: TrackerConfig, wheelbase_m: float, dt: float) -> _Gains:
    """`_gains`, remembering the latest lookup: a simulator asks every step with the same config object,
    and the lru_cache key (hashing every config field) costs more than the rest of `track`'s Python."""
    global _last_gains
    last_config, last_wheelbase, last_dt, gains = _last_gains
    if config is last_config and wheelbase_m == last_wheelbase and dt == last_dt:
        return gains
    gains = _gains(config, wheelbase_m, dt)
    _last_gains = (config, wheelbase_m, dt, gains)  # one assignment: safe with threads
    return gains


def track(
    state: EgoState,
    plan_world: np.ndarray,
    plan_t0: float,
    t: float,
    params: VehicleParams,
    config: TrackerConfig,
    dt: float,
    validate: bool = True,
) -> tuple[float, float]:
    """Commands (acceleration [m/s^2], steering rate [rad/s]) that follow a plan from time t for one step dt.

    plan_world: (64, 3) float64, world frame, rear-axle poses [x, y, yaw] of a plan requested at time
    plan_t0 [s] (pose k is at plan_t0 + (k + 1) * 0.1 s); t >= plan_t0 is the current time [s], so a plan
    may be several steps old. Before pose 0 the plan is extrapolated from its first poses (not from the
    ego, so that the errors to the plan stay observable); past its last pose the plan stands there.
    Commands are not clipped here; `forward` applies the actuator limits. Pure function of its inputs.
    validate=False skips the plan checks for a caller that checked the plan when it arrived (the simulator).
    """
    poses = validate_plan_poses(plan_world) if validate else plan_world
    gains = _gains_for(config, params.wheelbase_m, dt)
    now = (t - plan_t0) / C.DT - 1.0  # fractional pose index of the current time
    if now < -1.0 - 1e-6:
        raise ValueError(f"plan was requested at {plan_t0} s, after the current time {t} s")
    return _track_kernel(
        poses, min(now, C.PLAN_STEPS - 1.0), state.x, state.y, state.yaw, state.v, state.steer,
        gains.window, gains.span, gains.station, gains.speed, gains.speed_table, gains.lateral_table,
        config.speed_lookahead_s, config.steer_preview_s, config.stop_speed, config.max_station_error_m,
        params.wheelbase_m, dt,
    )


@njit(cache=True)
def _track_kernel(poses, now, x, y, yaw, v, steer, width, span, k_station, k_speed, speed_table, lateral_table,
                  speed_lookahead_s, steer_preview_s, stop_speed, max_station_error, wheelbase, dt):
    """The body of `track`, compiled: plain float arithmetic on a window of `width` plan poses."""
    n_poses = poses.shape[0]
    lo = min(max(math.floor(now) - 2, -1), n_poses - width)
    rows = np.empty((width, 3))
    if lo >= 0:
        rows[:] = poses[lo:lo + width]
    else:  # the current time is before pose 0: add pose -1, at the request time
        rows[1:] = poses[:width - 1]
        rows[0] = _pose_before(rows[1], rows[2], rows[3])
    q = now - lo  # current time as an index into the window
    plan_end = n_poses - 1 - lo  # window index of the plan's last pose

    # Segments of the window: unit direction and length; arc length and accumulated turn at each pose.
    n_seg = width - 1
    ux = np.empty(n_seg)
    uy = np.empty(n_seg)
    length = np.empty(n_seg)
    arc = np.zeros(width)
    turn = np.zeros(width)
    for k in range(n_seg):
        dx = rows[k + 1, 0] - rows[k, 0]
        dy = rows[k + 1, 1] - rows[k, 1]
        seg = math.hypot(dx, dy)
        if seg > _MIN_SEGMENT_M:
            ux[k] = dx / seg
            uy[k] = dy / seg
        else:  # standing still: the pose's heading gives the direction
            seg = 0.0
            ux[k] = math.cos(rows[k, 2])
            uy[k] = math.sin(rows[k, 2])
        length[k] = seg
        arc[k + 1] = arc[k] + seg
        turn[k + 1] = turn[k] + (rows[k + 1, 2] - rows[k, 2] + math.pi) % _TWO_PI - math.pi
    last = n_seg - 1  # last segment

    # Speed and curvature of each segment, differenced over `span` segments centred on it.
    speed = np.empty(n_seg)
    curv = np.empty(n_seg)
    for k in range(n_seg):
        h = min(span, k, last - k)
        a = k - h
        b = k + 1 + h
        ds = arc[b] - arc[a]
        speed[k] = ds / ((b - a) * _PLAN_DT)
        curv[k] = (turn[b] - turn[a]) / ds if ds > _MIN_SEGMENT_M else 0.0

    # Project the rear axle onto the window's path; the first and last segments extend without end.
    best = np.inf
    j = 0
    along = 0.0
    cross = 0.0
    for k in range(n_seg):
        rx = x - rows[k, 0]
        ry = y - rows[k, 1]
        a = rx * ux[k] + ry * uy[k]
        c = ux[k] * ry - uy[k] * rx
        if (k == 0 and a < 0.0) or (k == last and a > length[k]):
            clamped = a
        else:
            clamped = min(max(a, 0.0), length[k])
        dist2 = (a - clamped) ** 2 + c * c
        if dist2 < best:
            best, j, along, cross = dist2, k, clamped, c
    s_ego = arc[j] + along
    frac = min(max(along / length[j], 0.0), 1.0) if length[j] > 0.0 else 0.0
    heading_ref = rows[j, 2] + frac * (turn[j + 1] - turn[j])

    # Longitudinal. Past the plan's last pose the plan stands there.
    k = min(max(math.floor(q), 0), last)
    s_ref = arc[k] + (q - k) * length[k]
    v_ref = max(_at_index(speed, q), 0.0) if q < plan_end else 0.0
    q_ahead = q + speed_lookahead_s / _PLAN_DT
    v_ahead = max(_at_index(speed, q_ahead), 0.0) if q_ahead < plan_end else 0.0
    i_now = min(max(math.floor(now) + 1, 0), n_poses - 1)
    i_later = min(i_now + _START_CHECK_STEPS, n_poses - 1)
    starting = math.hypot(poses[i_later, 0] - poses[i_now, 0], poses[i_later, 1] - poses[i_now, 1]) > _START_DISTANCE_M
    if v_ref < stop_speed and v_ahead < stop_speed and not starting:  # the plan stands
        if v < stop_speed:
            return -v / dt, 0.0  # stop within this step and hold; the steering stays where it is
        # Brake evenly to the point where the plan stands (the window's end); at or past it, stop now.
        gap = arc[width - 1] - s_ego
        accel = -v / dt if gap <= 0.5 * v * dt else -v * v / (2.0 * gap)
    else:
        a_ref = (v_ahead - v_ref) / speed_lookahead_s
        e_station = min(max(s_ego - s_ref, -max_station_error), max_station_error)
        accel = a_ref - k_station * e_station - k_speed * (v - v_ref)

    # Lateral: reference steering from the path curvature at (or a little ahead of) the rear axle, and the
    # steering rate that keeps up with it over the step as feedforward.
    ego_index = j + (along / length[j] if length[j] > 0.0 else 0.0)
    preview = ego_index + steer_preview_s / _PLAN_DT
    steer_ref = math.atan(wheelbase * _at_index(curv, preview))
    steer_next = math.atan(wheelbase * _at_index(curv, preview + dt / _PLAN_DT))
    e_heading = (yaw - heading_ref + math.pi) % _TWO_PI - math.pi
    k_lat, k_head, k_steer = _interpolate_gain(speed_table, lateral_table, v)
    feedback = k_lat * cross + k_head * e_heading + k_steer * (steer - steer_ref)
    return accel, (steer_next - steer_ref) / dt - feedback


@njit(cache=True)
def _at_index(values, index):
    """Piecewise-linear value at a window index, for per-segment values placed at segment centres k + 0.5.

    Extrapolates linearly by up to one segment past either end of the window.
    """
    m = index - 0.5
    k = min(max(math.floor(m), 0), values.shape[0] - 2)
    w = min(max(m - k, -1.0), 2.0)
    return values[k] + w * (values[k + 1] - values[k])


@njit(cache=True)
def _pose_before(p0, p1, p2):
    """Pose one step before p0, extrapolating the speed and curvature of the first two steps linearly."""
    len0 = math.hypot(p1[0] - p0[0], p1[1] - p0[1])
    len1 = math.hypot(p2[0] - p1[0], p2[1] - p1[1])
    out = p0.copy()
    if len0 <= _MIN_SEGMENT_M:
        return out
    curv0 = ((p1[2] - p0[2] + math.pi) % _TWO_PI - math.pi) / len0
    curv1 = ((p2[2] - p1[2] + math.pi) % _TWO_PI - math.pi) / len1 if len1 > _MIN_SEGMENT_M else curv0
    back = max(2.0 * len0 - len1, 0.0)
    turn = (2.0 * curv0 - curv1) * back
    chord = p0[2] - 0.5 * turn
    out[0] = p0[0] - back * math.cos(chord)
    out[1] = p0[1] - back * math.sin(chord)
    out[2] = p0[2] - turn
    return out


@njit(cache=True)
def _interpolate_gain(speeds, lateral, v):
    """Lateral gains at speed v [m/s], linear between the scheduled speeds and held beyond them."""
    n = speeds.shape[0]
    if v <= speeds[0]:
        return lateral[0, 0], lateral[0, 1], lateral[0, 2]
    if v >= speeds[n - 1]:
        return lateral[n - 1, 0], lateral[n - 1, 1], lateral[n - 1, 2]
    i = np.searchsorted(speeds, v, side="right") - 1
    w = (v - speeds[i]) / (speeds[i + 1] - speeds[i])
    return (lateral[i, 0] + w * (lateral[i + 1, 0] - lateral[i, 0]),
            lateral[i, 1] + w * (lateral[i + 1, 1] - lateral[i, 1]),
            lateral[i, 2] + w * (lateral[i + 1, 2] - lateral[i, 2]))


# ---------------------------------------------------------------------------------------------------------
# Closed-loop harness and the benchmark references (used by tests and benchmarks/tracking_error.py).


def track_reference(
    reference: np.ndarray,
    state: EgoState,
    params: VehicleParams,
    config: TrackerConfig,
    steps: int,
    replan_every: int = 1,
) -> np.ndarray:
    """Follow a long timed reference in closed loop at the plan spacing (dt = 0.1 s).

    reference: (N, 3) float64, world frame, rear-axle poses at 0.1 s spacing, pose 0 at t = 0;
    N >= steps + 65. Every `replan_every` steps the plan is the next 64 reference poses, so between
    replans the tracker works on an ageing plan. Returns the ego states (steps + 1, 6).
    """
    reference = np.asarray(reference, dtype=np.float64)
    if reference.ndim != 2 or reference.shape[1] != 3 or len(reference) < steps + C.PLAN_STEPS + 1:
        raise ValueError(f"reference must have shape (N >= {steps + C.PLAN_STEPS + 1}, 3), got {reference.shape}")
    if replan_every < 1:
        raise ValueError(f"replan_every must be >= 1, got {replan_every}")
    states = [state.as_array()]
    for n in range(steps):
        if n % replan_every == 0:
            plan, plan_t0 = reference[n + 1 : n + 1 + C.PLAN_STEPS], n * C.DT
        accel, rate = track(state, plan, plan_t0, n * C.DT, params, config, C.DT)
        state = forward(state, accel, rate, params, C.DT)
        states.append(state.as_array())
    return np.stack(states)


def tracking_errors(states: np.ndarray, reference: np.ndarray, reference_speed: np.ndarray) -> dict[str, np.ndarray]:
    """Per-step tracking errors of states (T, 6) against a timed reference (N >= T, 3) with speeds (N,).

    lateral [m]: signed distance of the rear axle from the reference path (+ left); heading [rad]: yaw
    minus the path heading there; speed [m/s]: speed minus the reference speed at the same time;
    station [m]: arc length ahead (+) of the reference pose at the same time.
    """
    ref_xy = reference[:, :2]
    keep = np.concatenate([[True], np.hypot(*np.diff(ref_xy, axis=0).T) > 1e-6])  # drop standstill repeats
    path = Polyline(ref_xy[keep])
    yaw = np.unwrap(reference[keep, 2])  # pose headings, interpolated along the path (not chord headings)
    s, d, _ = path.project(states[:, :2])
    s_ref, _, _ = path.project(ref_xy[: len(states)])
    return {
        "lateral": d,
        "heading": wrap_angle(states[:, 2] - np.interp(s, path.s, yaw)),
        "speed": states[:, 3] - reference_speed[: len(states)],
        "station": s - s_ref,
    }


def tracking_maneuvers(steps: int = 80) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The four benchmark references, long enough for `steps` closed-loop steps plus a full plan.

    Returns name -> (poses (steps + 65, 3) world frame, speeds (steps + 65,) [m/s]), pose 0 at the origin
    heading +x at t = 0: "straight" at 20 m/s; "turn_90" at 8 m/s, radius 15 m entered and left over
    0.6 s clothoids; "lane_change" 3.5 m left over 3 s at 15 m/s (minimum-jerk lateral profile); "stop"
    from 10 m/s at -2.5 m/s^2 starting at 1 s, then standing still.
    """
    count = steps + C.PLAN_STEPS  # actions after pose 0
    t = np.arange(count) * C.DT  # start time of each action
    zeros = np.zeros(count)

    ramp = np.clip((t - 1.5) / 0.6, 0.0, 1.0) * np.clip((1.5 + 0.6 + 2.345 + 0.6 - t) / 0.6, 0.0, 1.0)
    turn = ramp * (0.5 * math.pi / (np.sum(ramp) * 8.0 * C.DT))  # exactly 90 degrees of yaw

    tau = np.clip((t + 0.5 * C.DT - 1.0) / 3.0, 0.0, 1.0)  # lateral acceleration of a min-jerk move
    lateral_accel = 3.5 / 9.0 * (60.0 * tau - 180.0 * tau**2 + 120.0 * tau**3) * (tau < 1.0) * (tau > 0.0)
    lane_change = lateral_accel / 15.0**2

    braking = np.where((t >= 1.0 - 1e-9) & (t < 5.0 - 1e-9), -2.5, 0.0)
    specs = {
        "straight": (zeros, zeros, 20.0),
        "turn_90": (zeros, turn, 8.0),
        "lane_change": (zeros, lane_change, 15.0),
        "stop": (braking, zeros, 10.0),
    }
    out = {}
    for name, (accel, curvature, v0) in specs.items():
        poses = np.concatenate([np.zeros((1, 3)), accel_curvature_to_poses(accel, curvature, v0, C.DT)])
        speeds = np.maximum(v0 + np.concatenate([[0.0], np.cumsum(accel * C.DT)]), 0.0)
        out[name] = (poses, speeds)
    return out
