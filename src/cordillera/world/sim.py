"""The functional simulator core: `reset(scenario, seed)`, `step(state, plan)`, `observe(state, sensors)`.

A WorldState is a value: stepping returns a new state and never changes the old one, so a rollout can be
continued from any moment, forked into counterfactuals, or saved and loaded (`world.state_io`).

    >>> from cordillera.world import sim
    >>> state = sim.reset(scenario, seed=0)
    >>> state = sim.step(state, plan)            # plan: Plan (ego frame) or None to keep the last one
    >>> obs = sim.observe(state, sensors=("bev",))
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field, fields
from typing import NamedTuple

import numpy as np

from cordillera import constants as C
from cordillera.geometry import from_frame, to_frame
from cordillera.world.agents import Agents, PathTable
from cordillera.world.controller import TrackerConfig, track
from cordillera.world.dynamics import EgoState, VehicleParams, forward, rear_axle_to_center
from cordillera.world.events import apply_action, triggered
from cordillera.world.kernels import log_arrays
from cordillera.world.roads import RoadMap, build_map
from cordillera.world.roads.map import MapError, SignalState
from cordillera.world.roads.routes import (
    Route,
    navigation_text,
    plan_route,
    route_from_lanes,
    route_from_pose,
    route_waypoints,
)
from cordillera.world.spawn import default_route, explicit_route, spawn_agents
from cordillera.world.traffic import TrafficConfig, TrafficContext, build_context, step_traffic
from cordillera.world.types import Observation, Plan, PrivilegedObservation

__all__ = ["SimConfig", "World", "WorldState", "LogStep", "reset", "step", "observe", "ego_route_position"]


@dataclass(frozen=True)
class SimConfig:
    dt: float = C.DT  # simulation step [s]
    duration_s: float | None = None  # rollout length [s]; None: the scenario's success.time_s
    vehicle: VehicleParams = field(default_factory=VehicleParams)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    traffic: TrafficConfig = field(default_factory=TrafficConfig)
    traffic_seed: int | None = None  # None: derived from the scenario seed
    appearance_seed: int | None = None  # None: derived from the scenario seed

    def __post_init__(self) -> None:
        if not (np.isfinite(self.dt) and 0.0 < self.dt <= 1.0):
            raise ValueError(f"SimConfig.dt: must be in (0, 1] s, got {self.dt}")
        if self.duration_s is not None and not (np.isfinite(self.duration_s) and self.duration_s > 0):
            raise ValueError(f"SimConfig.duration_s: must be > 0, got {self.duration_s}")


@dataclass(frozen=True, eq=False)
class World:
    """The static part of a rollout, shared by every state (and fork) of it."""

    scenario: object  # scenarios.schema.Scenario
    road: RoadMap
    route: Route
    context: TrafficContext
    config: SimConfig
    seed: int
    seeds: dict  # traffic / appearance seeds actually used

    @property
    def duration_s(self) -> float:
        return self.config.duration_s or self.scenario.success.time_s


class LogStep(NamedTuple):
    """What the metrics need from one simulation step (world frame, SI)."""

    t: float
    ego: np.ndarray  # (7,) rear axle x, y, yaw, v, a, steer, yaw_rate
    ego_center: np.ndarray  # (3,) bounding-box centre x, y, yaw
    agents: np.ndarray  # (N, 7) x, y, yaw, v, a, length, width
    active: np.ndarray  # (N,) bool
    flags: np.ndarray  # (N,) int32
    signals: np.ndarray  # (S,) int8 SignalState
    plan: np.ndarray | None  # (64, 3) the plan being tracked, world frame, or None
    plan_t0: float  # when that plan was made [s]
    collisions: tuple[int, ...]  # indices of agents overlapping the ego box
    reasoning: object = None  # the plan's reasoning, on the step where a new plan arrived
    samples: np.ndarray | None = None  # (K, 64, 3) the plan's sampled alternatives, world frame, same step


@dataclass(frozen=True, eq=False)
class WorldState:
    world: World
    t: float
    step: int
    ego: EgoState
    agents: Agents
    paths: PathTable
    routes: tuple[tuple[int, ...], ...]
    fired: tuple[bool, ...]
    plan: np.ndarray | None  # (64, 3) world frame
    plan_t0: float
    log: tuple[LogStep, ...]

    @property
    def done(self) -> bool:
        return self.t >= self.world.duration_s - 1e-9

    @property
    def road(self) -> RoadMap:
        return self.world.road


_STATE_FIELDS = tuple(f.name for f in fields(WorldState))


def _new_state(*values) -> WorldState:
    """WorldState(*values) without the frozen dataclass __init__ (one object.__setattr__ per field): the
    simulator makes one state per step, and this is the same object (WorldState has no __post_init__)
    at a third of the cost."""
    state = object.__new__(WorldState)
    state.__dict__.update(zip(_STATE_FIELDS, values))
    return state


def _seeds(seed: int, config: SimConfig) -> dict:
    children = np.random.SeedSequence(seed).spawn(2)
    derived = [int(c.generate_state(1)[0]) for c in children]
    return {
        "traffic": config.traffic_seed if config.traffic_seed is not None else derived[0],
        "appearance": config.appearance_seed if config.appearance_seed is not None else derived[1],
    }


def _ego_route(scenario, road: RoadMap, start: int) -> Route:
    spec = scenario.ego
    if spec.route is not None:
        lanes = explicit_route(road, tuple(road.lane_id(x) for x in spec.route), "ego.route")
        if lanes[0] != start:
            raise ValueError("ego.route: must start with the ego's lane")
        return route_from_lanes(road, lanes)
    if spec.goal_lane is not None:
        return plan_route(road, start, road.lane_id(spec.goal_lane))
    return route_from_lanes(road, default_route(road, start))


def _check_events(scenario, road: RoadMap, spawned) -> None:
    """Reject events that could never be carried out, naming the event (rather than failing mid-rollout)."""
    names = {name: i for i, name in enumerate(spawned.agents.names)}
    for k, ev in enumerate(scenario.events):
        i = names[ev.agent]
        path = spawned.agents.path[i]
        route = spawned.routes[path] if path >= 0 else ()
        kind = ev.action.kind
        where = f"events[{k}].action"
        if kind in ("cut_in", "lane_change"):
            side = "left_neighbor" if ev.action.direction == "left" else "right_neighbor"
            if not any(getattr(road.lanes[la], side) is not None for la in route):
                raise ValueError(f"{where}: agent {ev.agent!r} has no {ev.action.direction} neighbour lane on its route")
        elif kind in ("start_walking", "dart_out") and path < 0:
            raise ValueError(f"{where}: agent {ev.agent!r} needs a behavior.path to walk")
        elif kind == "pull_out" and not route:
            raise ValueError(f"{where}: agent {ev.agent!r} must be placed on a lane to pull out")


def reset(scenario, seed: int | None = None, config: SimConfig | None = None) -> WorldState:
    """Build the initial WorldState of `scenario`. seed None: the scenario's own seed."""
    config = config or SimConfig()
    seed = scenario.seed if seed is None else int(seed)
    seeds = _seeds(seed, config)
    road = build_map(scenario.map.builder, dict(scenario.map.params))
    try:
        lane = road.lane_id(scenario.ego.lane)
    except MapError as exc:
        raise MapError(f"ego.lane: {exc}") from None
    if scenario.ego.s > road.lanes[lane].length:
        raise ValueError(f"ego.s: {scenario.ego.s} is beyond the end of lane {scenario.ego.lane!r}")
    route = _ego_route(scenario, road, lane)
    (center,), (yaw,) = road.pose_at(lane, [scenario.ego.s], [scenario.ego.d])
    params = config.vehicle
    rear = center - params.rear_axle_to_center_m * np.array([np.cos(yaw), np.sin(yaw)])
    ego = EgoState(float(rear[0]), float(rear[1]), float(yaw), float(scenario.ego.speed))
    spawned = spawn_agents(scenario, road, np.random.default_rng(seeds["traffic"]), center, route.lanes)
    _check_events(scenario, road, spawned)
    context = build_context(road, spawned.walk_paths, spawned.replay, spawned.replay_dt, config.traffic)
    world = World(scenario, road, route, context, config, seed, seeds)
    state = WorldState(world, 0.0, 0, ego, spawned.agents, spawned.paths, spawned.routes,
                       tuple(False for _ in scenario.events), None, 0.0, ())
    object.__setattr__(state, "log", (_log_step(state),))  # the new state is not shared yet
    return state


def _box_of(state: WorldState) -> np.ndarray:
    p = state.world.config.vehicle
    e = state.ego
    off = p.rear_axle_to_center_m
    return np.array([e.x + off * math.cos(e.yaw), e.y + off * math.sin(e.yaw), e.yaw, e.v, p.length_m, p.width_m])


# The ego box of the state logged last: `step` logs the state it returns, and the next `step` needs the
# same box for its traffic. A weak reference, so that the cache never keeps a state alive (and a dead
# one never matches); one tuple, replaced in one assignment, so threads at worst miss it.
_logged_box: tuple = (lambda: None, None)


def _ego_box(state: WorldState) -> np.ndarray:
    """(6,) [x, y, yaw, v, length, width] of the ego's bounding box (centre pose)."""
    ref, box = _logged_box
    return box if ref() is state else _box_of(state)


_NO_SIGNALS = np.zeros(0, dtype=np.int8)
_NO_SIGNALS.flags.writeable = False


def _signals(state: WorldState) -> np.ndarray:
    road = state.road
    if not road.signals:
        return _NO_SIGNALS  # shared by every record of a map without signals
    if state.world.scenario.signals_dark:
        return np.full(len(road.signals), int(SignalState.DARK), dtype=np.int8)
    return np.array([int(s.state_at(state.t)) for s in road.signals], dtype=np.int8)


def _log_step(state: WorldState) -> LogStep:
    """The log record of a state. Agent arrays are stored by reference: states never mutate them."""
    a = state.agents
    e = state.ego
    p = state.world.config.vehicle
    global _logged_box
    box = _box_of(state)
    _logged_box = (weakref.ref(state), box)  # (ego_center is a view of it: neither is ever modified)
    # the (N, 7) agent table and the collision test in one compiled call (was np.stack + box_hits)
    table, hits = log_arrays(box, a.active, a.x, a.y, a.yaw, a.v, a.a, a.length, a.width)
    return LogStep(
        t=state.t,
        ego=np.array([e.x, e.y, e.yaw, e.v, e.a, e.steer, e.v * math.tan(e.steer) / p.wheelbase_m]),
        ego_center=box[:3],
        agents=table,
        active=a.active,
        flags=a.flags,
        signals=_signals(state),
        plan=state.plan,
        plan_t0=state.plan_t0,
        collisions=tuple(hits.tolist()) if a.n else (),
    )


def _hold_plan(ego: EgoState) -> np.ndarray:
    """World-frame plan used before the first plan arrives: keep speed and heading."""
    poses = Plan.from_speed_profile(np.full(C.PLAN_STEPS, ego.v)).poses
    return from_frame(poses, ego.pose)


def step(state: WorldState, plan: Plan | np.ndarray | None = None) -> WorldState:
    """Advance the world by one simulation step.

    plan: a Plan (or (64, 3) array) in the ego frame at this state's time, or None to keep tracking the
    last plan (policies may run slower than the simulation).
    """
    world = state.world
    cfg = world.config
    dt = cfg.dt
    reasoning = samples = None
    if plan is not None:
        plan = plan if isinstance(plan, Plan) else Plan(plan)
        plan_world, plan_t0 = from_frame(plan.poses, state.ego.pose), state.t
        reasoning = plan.reasoning
        samples = None if plan.samples is None else from_frame(plan.samples, state.ego.pose)
    elif state.plan is not None:
        plan_world, plan_t0 = state.plan, state.plan_t0
    else:
        plan_world, plan_t0 = _hold_plan(state.ego), state.t

    # ego: track the plan, integrate the vehicle model
    accel_cmd, steer_rate_cmd = track(state.ego, plan_world, plan_t0, state.t, cfg.vehicle, cfg.tracker, dt,
                                      validate=False)  # checked by Plan when it arrived
    ego = forward(state.ego, accel_cmd, steer_rate_cmd, cfg.vehicle, dt)

    # scripted events (triggers read the state at the start of the step)
    agents, paths, routes, fired = state.agents, state.paths, state.routes, list(state.fired)
    pending = [k for k, f in enumerate(fired) if not f]
    if pending:
        names = {name: i for i, name in enumerate(agents.names)}
        ego_c = rear_axle_to_center(state.ego.pose, cfg.vehicle)
        arrays = None
        for k in pending:
            ev = world.scenario.events[k]
            idx = names[ev.agent]
            if triggered(ev.trigger, state.t, agents, idx, ego_c[:2], state.ego.v):
                arrays = arrays if arrays is not None else agents.copy_arrays()
                paths, routes = apply_action(world.road, ev.action, arrays, paths, routes, idx)
                fired[k] = True
        if arrays is not None:
            agents = Agents(names=agents.names, **arrays)

    agents, paths, routes = step_traffic(agents, paths, routes, world.context, _ego_box(state), state.t, dt,
                                         state.step, world.scenario.signals_dark)
    new = _new_state(world, round(state.t + dt, 9), state.step + 1, ego, agents, paths, routes, tuple(fired),
                     plan_world, plan_t0, state.log)
    record = _log_step(new)
    if reasoning is not None or samples is not None:
        record = record._replace(reasoning=reasoning, samples=samples)
    object.__setattr__(new, "log", state.log + (record,))  # the new state is not shared yet
    return new


def ego_route_position(state: WorldState) -> float:
    """Arc length of the ego's rear axle along its route [m]."""
    s, _, _ = state.world.route.path.project(state.ego.pose[None, :2])
    return float(s[0])


def _history(state: WorldState) -> np.ndarray:
    """(16, 3) ego poses at t-1.5 s .. t in the ego frame at t (backfilled at constant speed at the start)."""
    n = C.HISTORY_STEPS
    stride = max(1, int(round(C.DT / state.world.config.dt)))
    logged = [s.ego[:3] for s in state.log[::-1][: (n - 1) * stride + 1 : stride]][::-1]
    poses = np.array(logged)
    missing = n - len(poses)
    if missing > 0:
        first = poses[0]
        v0 = state.log[0].ego[3]
        back = np.arange(missing, 0, -1) * C.DT * v0
        pad = np.stack([first[0] - back * np.cos(first[2]), first[1] - back * np.sin(first[2]),
                        np.full(missing, first[2])], -1)
        poses = np.concatenate([pad, poses])
    return to_frame(poses, state.ego.pose)


def observe(state: WorldState, sensors=(), privileged: bool = False) -> Observation:
    """What a policy sees at this state.

    sensors: what the policy declared: "bev", camera names ("camera_front_wide_120fov", ...) and/or a
        render.rig.CameraRig; cameras give the last rig.frames frames of each camera (render.camera).
    privileged: return a PrivilegedObservation carrying the full state (teachers and metrics only).
    """
    route = state.world.route
    e = state.ego
    s_on, d_on, _ = route.path.project(e.pose[None, :2])
    s = float(s_on[0])  # ego_route_position
    local = route_from_pose(state.road, route, e.pose, (s, float(d_on[0])))
    bev = None
    if "bev" in sensors:
        from cordillera.world.render.bev import render_bev_observation

        bev = render_bev_observation(state)
    cameras, camera_timestamps = {}, {}
    if any(not isinstance(x, str) or x.startswith("camera_") for x in sensors):
        from cordillera.world.render.camera import observe_cameras, rig_for_sensors

        cameras, camera_timestamps = observe_cameras(state, rig_for_sensors(sensors))
    fields_ = dict(
        t=state.t,
        ego_history=_history(state),
        speed=e.v,
        acceleration=e.a,
        yaw_rate=float(state.log[-1].ego[6]),
        route_waypoints=route_waypoints(local, e.pose, C.ROUTE_WAYPOINTS, C.ROUTE_SPACING_M,
                                        s if local is route else None),
        navigation=navigation_text(state.road, route, s),
        cameras=cameras,
        camera_timestamps=camera_timestamps,
        bev=bev,
    )
    if privileged:
        return PrivilegedObservation(**fields_, state=state)
    return Observation(**fields_)
