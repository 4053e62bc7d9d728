"""Ego vehicle dynamics: a kinematic bicycle on the rear axle, its inverse, and the model's action space.

The simulator moves the ego with `forward` once per step; `inverse` turns any rear-axle trajectory (a log,
a teacher plan) back into the commands that reproduce it; `accel_curvature_to_poses` and
`poses_to_accel_curvature` are the (acceleration, curvature) action space the model predicts in
(docs: DESIGN.md "Action space"). CPU example:

    >>> from cordillera.world.dynamics import EgoState, VehicleParams, forward
    >>> state = forward(EgoState(x=0.0, y=0.0, yaw=0.0, v=10.0), 1.0, 0.1, VehicleParams(), dt=0.1)
    >>> round(state.x, 3), round(state.v, 3)
    (1.005, 10.1)

Step model (`forward`): the commands are a zero-order hold over the step. The steering angle moves at the
clipped rate and the vehicle drives one constant-curvature arc with the step's mean steering angle;
the speed changes linearly at the clipped acceleration, so the arc length is the exact distance (it stops
at 0 when braking, and at `max_speed`). The arc is integrated in closed form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from cordillera.geometry import wrap_angle

__all__ = [
    "VehicleParams",
    "EgoState",
    "forward",
    "rollout",
    "inverse",
    "inverse_states",
    "rear_axle_to_center",
    "center_to_rear_axle",
    "accel_curvature_to_poses",
    "poses_to_accel_curvature",
]

_TWO_PI = 2.0 * math.pi
_MIN_STEP_M = 1e-9  # [m] a step shorter than this is "not moving": its curvature is unobservable


@dataclass(frozen=True)
class VehicleParams:
    """Geometry and actuator limits of the ego vehicle (a mid-size sedan by default)."""

    wheelbase_m: float = 2.85  # [m] rear axle to front axle
    length_m: float = 4.8  # [m] bumper to bumper
    width_m: float = 1.9  # [m] without mirrors
    rear_overhang_m: float = 1.0  # [m] rear bumper to rear axle
    max_accel: float = 3.0  # [m/s^2] strongest forward acceleration
    max_brake: float = 8.0  # [m/s^2] strongest deceleration, as a positive number
    max_steer_rad: float = 0.6  # [rad] road-wheel angle, either side
    max_steer_rate_rad_s: float = 0.7  # [rad/s] road-wheel angle rate, either side
    max_speed: float = 40.0  # [m/s] top speed; the vehicle never reverses (min speed 0)

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"VehicleParams.{field.name} must be finite and positive, got {value!r}")
        if self.wheelbase_m + self.rear_overhang_m >= self.length_m:
            raise ValueError(
                f"VehicleParams: wheelbase_m + rear_overhang_m ({self.wheelbase_m} + {self.rear_overhang_m}) "
                f"must be less than length_m ({self.length_m})"
            )
        if self.max_steer_rad >= math.pi / 2:
            raise ValueError(f"VehicleParams.max_steer_rad must be below pi/2, got {self.max_steer_rad!r}")

    @property
    def rear_axle_to_center_m(self) -> float:
        """Distance from the rear axle forward to the centre of the bounding box [m]."""
        return self.length_m / 2.0 - self.rear_overhang_m


@dataclass(frozen=True)
class EgoState:
    """Ego state. (x, y, yaw) is the pose of the REAR AXLE centre in the world frame [m, m, rad].

    v: speed along the heading [m/s], >= 0 (no reversing). a: mean longitudinal acceleration over the last
    step [m/s^2]. steer: road-wheel steering angle [rad], + left.
    """

    x: float
    y: float
    yaw: float
    v: float = 0.0
    a: float = 0.0
    steer: float = 0.0

    def __post_init__(self) -> None:
        if not self.v >= 0.0:  # also rejects NaN
            raise ValueError(f"EgoState.v must be >= 0 (no reversing), got {self.v!r}")

    @property
    def pose(self) -> np.ndarray:
        """Rear-axle pose (3,) [x, y, yaw], world frame."""
        return np.array([self.x, self.y, self.yaw])

    def as_array(self) -> np.ndarray:
        """(6,) float64 [x, y, yaw, v, a, steer]."""
        return np.array([self.x, self.y, self.yaw, self.v, self.a, self.steer])

    @classmethod
    def from_array(cls, values: np.ndarray) -> "EgoState":
        """Inverse of `as_array`: values (6,) [x, y, yaw, v, a, steer]."""
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape != (6,):
            raise ValueError(f"EgoState array must have shape (6,), got {arr.shape}")
        x, y, yaw, v, a, steer = arr.tolist()
        return cls(x, y, yaw, v, a, steer)


def _clip(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value


def _sinc(x: float) -> float:
    """sin(x) / x, accurate near 0."""
    return 1.0 - x * x / 6.0 if abs(x) < 1e-4 else math.sin(x) / x


def forward(state: EgoState, accel_cmd: float, steer_rate_cmd: float, params: VehicleParams, dt: float) -> EgoState:
    """Advance the ego by one step of dt [s] under (acceleration [m/s^2], steering rate [rad/s]) commands.

    Commands are clipped to the actuator limits: acceleration to [-max_brake, max_accel], steering rate to
    +-max_steer_rate_rad_s, steering angle to +-max_steer_rad, speed to [0, max_speed]. Braking stops at 0
    within the step (it never reverses). Deterministic; plain floats for speed (~3 us).
    """
    accel_cmd = float(accel_cmd)
    steer_rate_cmd = float(steer_rate_cmd)
    if not (math.isfinite(accel_cmd) and math.isfinite(steer_rate_cmd)):
        raise ValueError(f"commands must be finite, got accel={accel_cmd!r}, steer_rate={steer_rate_cmd!r}")
    accel = _clip(accel_cmd, -params.max_brake, params.max_accel)
    rate = _clip(steer_rate_cmd, -params.max_steer_rate_rad_s, params.max_steer_rate_rad_s)
    steer = _clip(state.steer + rate * dt, -params.max_steer_rad, params.max_steer_rad)

    v0 = state.v
    v1 = v0 + accel * dt
    if v1 <= 0.0:  # stops within the step: distance to standstill at the commanded deceleration
        dist = 0.5 * v0 * v0 / -accel if accel < 0.0 else 0.0
        v1 = 0.0
    elif v1 > params.max_speed:  # reaches top speed within the step, then cruises
        vmax = params.max_speed
        t_cap = (vmax - v0) / accel if accel > 0.0 and v0 < vmax else 0.0
        dist = 0.5 * (v0 + vmax) * t_cap + vmax * (dt - t_cap)
        v1 = vmax
    else:
        dist = 0.5 * (v0 + v1) * dt

    curvature = math.tan(0.5 * (state.steer + steer)) / params.wheelbase_m
    dyaw = curvature * dist
    chord = dist * _sinc(0.5 * dyaw)  # straight-line length of the arc
    heading = state.yaw + 0.5 * dyaw  # direction of the chord
    yaw = state.yaw + dyaw
    if not -math.pi <= yaw < math.pi:
        yaw = (yaw + math.pi) % _TWO_PI - math.pi
    return _ego_state(state.x + chord * math.cos(heading), state.y + chord * math.sin(heading), yaw, v1,
                      (v1 - v0) / dt, steer)


def _ego_state(x: float, y: float, yaw: float, v: float, a: float, steer: float) -> EgoState:
    """EgoState(x, y, yaw, v, a, steer) without the frozen dataclass __init__ and its check: `forward` runs
    every simulation step, the constructor was most of its cost, and its speed is >= 0 by construction."""
    state = object.__new__(EgoState)
    state.__dict__.update(x=x, y=y, yaw=yaw, v=v, a=a, steer=steer)
    return state


def rollout(
    state: EgoState, accel_cmds: np.ndarray, steer_rate_cmds: np.ndarray, params: VehicleParams, dt: float
) -> np.ndarray:
    """Apply `forward` for each command pair (T,) and return the states (T + 1, 6) [x, y, yaw, v, a, steer]."""
    accel_cmds = np.asarray(accel_cmds, dtype=np.float64)
    steer_rate_cmds = np.asarray(steer_rate_cmds, dtype=np.float64)
    if accel_cmds.ndim != 1 or accel_cmds.shape != steer_rate_cmds.shape:
        raise ValueError(
            f"commands must be two (T,) arrays of equal length, got {accel_cmds.shape} and {steer_rate_cmds.shape}"
        )
    states = [state.as_array()]
    for accel, rate in zip(accel_cmds.tolist(), steer_rate_cmds.tolist()):
        state = forward(state, accel, rate, params, dt)
        states.append(state.as_array())
    return np.stack(states)


def _alternating_chain(targets: np.ndarray, linked: np.ndarray, start: float | None, reg: float) -> np.ndarray:
    """Solve x[k] + x[k+1] = 2 targets[k] where linked[k], else x[k+1] = x[k]; x (n + 1,).

    reg == 0: exact. With `start` given the chain is determined; without it the solution is defined up to
    c * sign (a mode that flips sign at each linked step), and c is picked so that x is as smooth as
    possible (least squares on its second differences, first differences for short chains).
    reg > 0: least squares of the chain equations plus reg * |second differences of x|^2, for noisy input.
    """
    flips = np.where(linked, -1.0, 1.0)
    sign = np.concatenate([[1.0], np.cumprod(flips)])  # (n + 1,)
    if reg > 0.0:
        n = len(targets)
        rows = np.arange(n)
        system = np.zeros((n, n + 1))  # linked: x[k] + x[k+1]; held: x[k+1] - x[k]
        system[rows, rows] = np.where(linked, 1.0, -1.0)
        system[rows, rows + 1] = 1.0
        rhs = np.where(linked, 2.0 * targets, 0.0)
        if n >= 2:
            system = np.vstack([system, math.sqrt(reg) * np.diff(np.eye(n + 1), n=2, axis=0)])
            rhs = np.concatenate([rhs, np.zeros(n - 1)])
        if start is None:
            return np.linalg.lstsq(system, rhs, rcond=None)[0]
        rest = np.linalg.lstsq(system[:, 1:], rhs - system[:, 0] * start, rcond=None)[0]
        return np.concatenate([[start], rest])
    # y = sign * x obeys y[k+1] = y[k] + 2 targets[k] sign[k+1] on linked steps, y[k+1] = y[k] otherwise.
    steps = np.where(linked, 2.0 * targets * sign[1:], 0.0)
    x = sign * ((0.0 if start is None else start) + np.concatenate([[0.0], np.cumsum(steps)]))
    if start is None:
        order = 2 if len(x) >= 3 else 1
        dx, ds = np.diff(x, n=order), np.diff(sign, n=order)
        denom = float(ds @ ds)
        if denom > 0.0:
            x = x - (float(dx @ ds) / denom) * sign
    return x


def inverse_states(
    poses: np.ndarray,
    dt: float,
    params: VehicleParams,
    v0: float | None = None,
    steer0: float | None = None,
    reg: float = 0.0,
) -> np.ndarray:
    """Full ego states (T, 6) [x, y, yaw, v, a, steer] that `forward` passes through along `poses`.

    poses: (T, 3) float64, T >= 2, rear-axle poses [x, y, yaw] at spacing dt [s], any frame.
    v0, steer0: speed [m/s] and steering angle [rad] at poses[0] when known. Unknown ones are fitted:
    they are the only quantities the poses do not determine, and the smoothest speed / steering profile is
    chosen. Column a holds the acceleration of the step that ends at each pose (pose 0 repeats step 0's).

    Each step is read as one constant-curvature arc: its length comes from the chord, its curvature from
    the yaw change; sideways motion that the bicycle cannot make is ignored. A step's mean speed and mean
    steering angle are the means of their values at its two ends, and those chains are solved exactly
    (reg = 0): exact for trajectories made by `forward` that do not touch a limit (no clipping, no stop
    inside a step), but noise in the poses is not damped (1 cm of noise gives accelerations off by tens
    of m/s^2). For logs give reg > 0 (1 to 10 at centimetre noise): a least-squares fit with
    reg * |second differences|^2 of speed [m/s] and steering [rad].
    Steering over standstill steps is held. Results are not clipped to the actuator limits.
    """
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 2 or poses.shape[1] != 3 or poses.shape[0] < 2:
        raise ValueError(f"poses must have shape (T>=2, 3), got {poses.shape}")
    if not np.all(np.isfinite(poses)):
        raise ValueError("poses contain NaN or inf")
    if not (math.isfinite(reg) and reg >= 0.0):
        raise ValueError(f"reg must be finite and >= 0, got {reg!r}")
    yaw = poses[:, 2]
    delta = np.diff(poses[:, :2], axis=0)  # (T-1, 2)
    dyaw = wrap_angle(np.diff(yaw))  # (T-1,)
    heading = yaw[:-1] + 0.5 * dyaw  # chord direction of each arc
    along = delta[:, 0] * np.cos(heading) + delta[:, 1] * np.sin(heading)
    dist = np.maximum(along / np.sinc(0.5 * dyaw / np.pi), 0.0)  # arc length; np.sinc is sin(pi x)/(pi x)

    speed = _alternating_chain(dist / dt, np.ones_like(dist, dtype=bool), v0, reg)  # v[k] + v[k+1] = 2 s / dt
    moving = dist > _MIN_STEP_M
    curvature = np.divide(dyaw, dist, out=np.zeros_like(dist), where=moving)
    mean_steer = np.arctan(curvature * params.wheelbase_m)  # mean steering angle of each step
    steer = _alternating_chain(mean_steer, moving, steer0, reg)

    accel = np.diff(speed) / dt
    return np.column_stack([poses, speed, np.concatenate([accel[:1], accel]), steer])


def inverse(
    poses: np.ndarray,
    dt: float,
    params: VehicleParams,
    v0: float | None = None,
    steer0: float | None = None,
    reg: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Commands that reproduce a rear-axle trajectory with `forward` (see `inverse_states`).

    Returns accel (T-1,) [m/s^2], the acceleration command of each step, and steer (T,) [rad], the steering
    angle at each pose; the steering-rate commands are np.diff(steer) / dt.
    """
    states = inverse_states(poses, dt, params, v0=v0, steer0=steer0, reg=reg)
    return np.diff(states[:, 3]) / dt, states[:, 5]


def rear_axle_to_center(poses: np.ndarray, params: VehicleParams) -> np.ndarray:
    """Bounding-box centre poses (..., 3) from rear-axle poses (..., 3), same frame."""
    poses = np.asarray(poses, dtype=np.float64)
    offset = params.rear_axle_to_center_m
    out = poses.copy()
    out[..., 0] += offset * np.cos(poses[..., 2])
    out[..., 1] += offset * np.sin(poses[..., 2])
    return out


def center_to_rear_axle(poses: np.ndarray, params: VehicleParams) -> np.ndarray:
    """Rear-axle poses (..., 3) from bounding-box centre poses (..., 3), same frame."""
    poses = np.asarray(poses, dtype=np.float64)
    offset = params.rear_axle_to_center_m
    out = poses.copy()
    out[..., 0] -= offset * np.cos(poses[..., 2])
    out[..., 1] -= offset * np.sin(poses[..., 2])
    return out


# ---------------------------------------------------------------------------------------------------------
# Action space of the model: per step (acceleration, curvature), trapezoid integration.


def accel_curvature_to_poses(
    accel: np.ndarray, curvature: np.ndarray, v0: np.ndarray | float, dt: float
) -> np.ndarray:
    """Integrate actions into poses with the trapezoid rule of DESIGN.md "Action space".

    accel: (..., T) [m/s^2]; curvature: (..., T) [1/m]; v0: (...) speed at the start [m/s].
    Returns poses (..., T, 3) [x, y, yaw] in the start frame (the start pose, the origin, is not included),
    pose k at time (k + 1) dt. Per step: v' = v + a dt; yaw' = yaw + k v dt + k a dt^2 / 2;
    (x, y)' = (x, y) + dt / 2 (v (cos, sin) yaw + v' (cos, sin) yaw'). Speeds are not clipped at 0.
    """
    accel = np.asarray(accel, dtype=np.float64)
    curvature = np.asarray(curvature, dtype=np.float64)
    v0 = np.asarray(v0, dtype=np.float64)
    if accel.shape != curvature.shape or accel.ndim < 1:
        raise ValueError(f"accel and curvature must have the same shape (..., T), got {accel.shape}, {curvature.shape}")
    speed = v0[..., None] + np.cumsum(accel * dt, axis=-1)  # (..., T) speed at the end of each step
    speed_prev = np.concatenate([np.broadcast_to(v0[..., None], speed[..., :1].shape), speed[..., :-1]], axis=-1)
    yaw = np.cumsum(curvature * dt * 0.5 * (speed_prev + speed), axis=-1)  # (..., T)
    yaw_prev = np.concatenate([np.zeros_like(yaw[..., :1]), yaw[..., :-1]], axis=-1)
    step_x = 0.5 * dt * (speed_prev * np.cos(yaw_prev) + speed * np.cos(yaw))
    step_y = 0.5 * dt * (speed_prev * np.sin(yaw_prev) + speed * np.sin(yaw))
    return np.stack([np.cumsum(step_x, axis=-1), np.cumsum(step_y, axis=-1), wrap_angle(yaw)], axis=-1)


def _difference_matrix(n: int, order: int) -> np.ndarray:
    """(n - order, n) finite-difference operator."""
    return np.diff(np.eye(n), n=order, axis=0)


def poses_to_accel_curvature(
    poses: np.ndarray, v0: np.ndarray | float, dt: float, reg: float = 0.1, chunk: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Regularized least-squares inverse of `accel_curvature_to_poses`: any trajectory becomes a target.

    poses: (..., T, 3) [x, y, yaw] in the start frame (start pose at the origin, not included);
    v0: (...) speed at the start [m/s]; dt [s]; reg: Tikhonov weight (dimensionless) on first differences.
    Returns accel (..., T) [m/s^2] and curvature (..., T) [1/m].

    Two linear fits. Speeds: with the yaws given, the trapezoid positions p_k are linear in the speeds, so
    minimise sum |p_k - p_k(v)|^2 + reg sum ((a_{k+1} - a_k) dt^2)^2 [m^2]. Curvature: with those speeds the
    yaws are linear in curvature (yaw_k = sum_{j<k} c_j s_j, s_j the step lengths), so minimise
    sum (yaw_k - yaw_k(c))^2 + reg sum ((c_{k+1} - c_k) s_mean)^2 [rad^2] (s_mean: mean step length, at
    least 0.1 m, so that curvature at standstill is filled in smoothly). Fitting absolute positions and
    yaws rather than steps keeps fitting errors from drifting along the horizon.
    The default reg reproduces smooth clean trajectories to ~1 mm over 6.4 s; for logs with centimetre
    noise, 1-10 gives smoother accelerations.
    """
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim < 2 or poses.shape[-1] != 3 or poses.shape[-2] < 2:
        raise ValueError(f"poses must have shape (..., T>=2, 3), got {poses.shape}")
    if not np.all(np.isfinite(poses)):
        raise ValueError("poses contain NaN or inf")
    if not (math.isfinite(reg) and reg > 0):
        raise ValueError(f"reg must be finite and positive, got {reg!r}")
    batch_shape, horizon = poses.shape[:-2], poses.shape[-2]
    flat = poses.reshape(-1, horizon, 3)
    v0_flat = np.broadcast_to(np.asarray(v0, dtype=np.float64), batch_shape).reshape(-1)
    accel = np.empty((len(flat), horizon))
    curvature = np.empty((len(flat), horizon))
    for start in range(0, len(flat), chunk):  # bounds memory: each sample needs two (T, T) systems
        part = slice(start, start + chunk)
        accel[part], curvature[part] = _fit_actions(flat[part], v0_flat[part], dt, reg)
    return accel.reshape(*batch_shape, horizon), curvature.reshape(*batch_shape, horizon)


def _fit_actions(poses: np.ndarray, v0: np.ndarray, dt: float, reg: float) -> tuple[np.ndarray, np.ndarray]:
    """`poses_to_accel_curvature` for poses (B, T, 3), v0 (B,)."""
    batch, horizon = poses.shape[:2]
    rows = np.arange(horizon)
    half = 0.5 * dt
    # Yaw of every pose including the start (0), unwrapped so that differences are the true turns.
    yaw = np.concatenate([np.zeros((batch, 1)), poses[..., 2]], axis=1)  # (B, T+1)
    yaw = np.concatenate([np.zeros((batch, 1)), np.cumsum(wrap_angle(np.diff(yaw, axis=1)), axis=1)], axis=1)
    heading = np.stack([np.cos(yaw), np.sin(yaw)], axis=-1)  # (B, T+1, 2)

    # Speeds v_1..v_T: step k moves dt/2 (v_k u_k + v_{k+1} u_{k+1}); positions are cumulative sums of steps.
    step_design = np.zeros((batch, horizon, 2, horizon))  # step k, (x, y), speed column
    step_design[:, rows, :, rows] = half * heading[:, 1:].transpose(1, 0, 2)
    step_design[:, rows[1:], :, rows[:-1]] = half * heading[:, 1:-1].transpose(1, 0, 2)
    design = np.cumsum(step_design, axis=1).reshape(batch, 2 * horizon, horizon)
    target = (poses[..., :2] - (half * v0)[:, None, None] * heading[:, None, 0]).reshape(batch, 2 * horizon)
    second = _difference_matrix(horizon + 1, 2)  # second differences of (v_0..v_T) = accel changes * dt
    penalty = reg * dt**2 * (second.T @ second)  # (T+1, T+1)
    normal = np.einsum("bri,brj->bij", design, design) + penalty[None, 1:, 1:]
    rhs = np.einsum("bri,br->bi", design, target) - penalty[None, 1:, 0] * v0[:, None]
    speed = np.concatenate([v0[:, None], np.linalg.solve(normal, rhs[..., None])[..., 0]], axis=1)  # (B, T+1)
    accel = np.diff(speed, axis=1) / dt

    # Curvature: yaw_k = sum_{j<k} c_j s_j with step lengths s_j = dt (v_j + v_{j+1}) / 2.
    dist = half * (speed[:, :-1] + speed[:, 1:])  # (B, T)
    lower = np.tril(np.ones((horizon, horizon)))
    design_k = lower[None] * dist[:, None, :]  # (B, T, T)
    scale = np.maximum(np.mean(np.abs(dist), axis=1), 0.1)  # [m]
    first = _difference_matrix(horizon, 1)
    normal_k = np.einsum("bri,brj->bij", design_k, design_k) + reg * scale[:, None, None] ** 2 * (first.T @ first)
    normal_k[:, rows, rows] += 1e-12
    curvature = np.linalg.solve(normal_k, np.einsum("bri,br->bi", design_k, yaw[:, 1:])[..., None])[..., 0]
    return accel, curvature
