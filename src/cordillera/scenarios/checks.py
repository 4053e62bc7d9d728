"""Does a sampled scenario do what its family says? Events fire, the hazard is visible (or hidden) to the
front camera as promised, and the scenario is solvable: a stopping or evading plan clears it.

    >>> from cordillera.scenarios.checks import check_sample
    >>> report = check_sample(get_family("stalled_vehicle"), seed=0)
    >>> report.problems                          # [] when the sample keeps its family's promises

`check_sample` runs the rule-based lane follower once (it drives the scenario; its outcome is reported,
not judged, unless the family's solution is "baseline"), then, for "brake" and "evade" families, a
hand-written plan driven by `ScriptedDriver`: cruise and brake hard once the hazard is in sight and headed
into the ego's path, or shift laterally around the hazard along the route (a nudge, a lane change, pulling
over).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from cordillera import constants as C
from cordillera.geometry import Polyline, box_corners, smoothstep, speed_cap_at, speed_profile, to_frame
from cordillera.policies import make_policy
from cordillera.policies.base import Policy
from cordillera.scenarios.families.base import Evade, Family
from cordillera.scenarios.visibility import step_visibility
from cordillera.world import sim
from cordillera.world.rollout import offroad_steps, rollout, summarize
from cordillera.world.types import Plan

__all__ = ["ScriptedDriver", "run_policy", "evading_path", "brake_on_conflict", "SampleReport",
           "check_visibility", "check_sample"]

BRAKE_DECEL = 6.0  # [m/s^2] hard but not full braking of the scripted stopping plan
SIGHT_HORIZON_S = 4.0  # [s] the stopping plan reacts to a visible hazard within this many seconds of travel
SIGHT_MARGIN_M = 10.0  # [m] ... plus this distance
PREDICT_S = 3.0  # [s] how far ahead the hazard's motion is extrapolated
CURVE_ACCEL = 2.0  # [m/s^2] lateral acceleration the scripted plans allow in bends (and braking before them)
PATH_END_M = 6.0  # [m] the scripted plans stop their rear axle this short of the end of their path (bumper + 2 m)
REACTION_S = 0.3  # [s] from seeing the hazard to braking


class ScriptedDriver(Policy):
    """Drives a fixed world-frame path with a simple speed rule; privileged (reads the world state).

    path: (P, 2) world frame [m]. Cruises at `speed_mps` (accelerating at most 2 m/s^2, slowing for bends to
    2 m/s^2 lateral acceleration); brakes at `decel` to a stop once `brake_if(state)` has held (latched,
    after `reaction_s`), and stops smoothly at path coordinate `stop_at_s` [m] when given, and before the
    path ends.
    """

    name = "scripted"
    privileged = True

    def __init__(self, path: np.ndarray, speed_mps: float, decel: float = BRAKE_DECEL, brake_if=None,
                 stop_at_s: float | None = None, reaction_s: float = REACTION_S) -> None:
        self.path = Polyline(path)
        self.caps = speed_profile(self.path.points, CURVE_ACCEL, CURVE_ACCEL)
        self.speed = speed_mps
        self.decel = decel
        self.brake_if = brake_if
        self.stop_at_s = min(stop_at_s if stop_at_s is not None else np.inf, self.path.length - PATH_END_M)
        self.reaction_s = reaction_s
        self.brake_from: float | None = None

    def reset(self, info: dict | None = None) -> None:
        self.brake_from = None

    def plan(self, obs) -> Plan:
        state = obs.state
        ego = state.ego
        if self.brake_from is None and self.brake_if is not None and self.brake_if(state):
            self.brake_from = state.t + self.reaction_s
        s0 = float(self.path.project(ego.pose[None, :2])[0][0])
        v, s = ego.v, 0.0
        travelled = np.empty(C.PLAN_STEPS)
        for k in range(C.PLAN_STEPS):
            t = state.t + k * C.DT
            target = min(self.speed, float(speed_cap_at(self.path.s, self.caps, s0 + s, CURVE_ACCEL)))
            if self.brake_from is not None and t >= self.brake_from:
                target = 0.0
            target = min(target, math.sqrt(2.0 * CURVE_ACCEL * max(self.stop_at_s - s0 - s, 0.0)))
            acc = float(np.clip((target - v) / C.DT, -self.decel, 2.0))
            v_new = max(v + acc * C.DT, 0.0)
            s += 0.5 * (v + v_new) * C.DT
            v = v_new
            travelled[k] = s
        xy, _ = self.path.interpolate(s0 + travelled)
        yaw = self.path.tangent_heading(s0 + travelled)
        return Plan(to_frame(np.concatenate([xy, yaw[:, None]], axis=-1), ego.pose))


def run_policy(scenario, policy, seed: int | None = None) -> tuple[sim.WorldState, list[float | None]]:
    """Closed-loop rollout of `policy`; returns the final state and when each event fired [s] (None: never)."""
    times: list[float | None] = [None] * len(scenario.events)

    def on_step(state):
        for k, fired in enumerate(state.fired):
            if fired and times[k] is None:
                times[k] = round(state.t - state.world.config.dt, 6)  # triggers read the state a step earlier

    return rollout(scenario, policy, seed, on_step=on_step), times


def _agent_index(state, agent: str) -> int:
    return state.agents.names.index(agent)


def brake_on_conflict(hazard: str, horizon_s: float = SIGHT_HORIZON_S, margin_m: float = SIGHT_MARGIN_M,
                      predict_s: float = PREDICT_S):
    """A `brake_if` rule: the hazard is visible to the front camera and, moving on at its current velocity
    (from its last logged displacement, so a reversing car counts too), overlaps the ego's route corridor
    within `predict_s`, somewhere ahead within horizon_s of travel (+ margin)."""

    def rule(state) -> bool:
        k = _agent_index(state, hazard)
        step = state.log[-1]
        seen, _ = step_visibility(step, state.agents.height, k)
        if seen <= 0.0:
            return False
        now = step.agents[k, :2]
        before = state.log[-2].agents[k, :2] if len(state.log) > 1 else now
        velocity = (now - before) / state.world.config.dt
        taus = np.arange(0.0, predict_s + 1e-9, 0.25)
        future = now[None] + taus[:, None] * velocity[None]
        route = state.world.route.path
        s_h, d_h, _ = route.project(future)
        s_ego = float(route.project(state.ego.pose[None, :2])[0][0])
        a, params = state.agents, state.world.config.vehicle
        reach = params.width_m / 2.0 + max(a.length[k], a.width[k]) / 2.0 + 0.3  # lateral: touching + 0.3 m
        front = params.length_m - params.rear_overhang_m  # s_ego is the rear axle's
        ahead = (s_h > s_ego) & (s_h - s_ego < front + state.ego.v * horizon_s + margin_m)
        return bool(np.any(ahead & (np.abs(d_h) < reach)))

    return rule


def evading_path(state, evade: Evade, hazards: tuple[str, ...]) -> tuple[np.ndarray, float, float | None]:
    """The route shifted sideways around the hazards: ((P, 2) world path, cruise speed, stop point or None).

    The shift ramps in over max(20 m, 2 s of travel) ending shortly before the first hazard (or starts
    at once when `evade.from_start`), and ramps out after the last hazard unless `evade.hold`.
    """
    if not hazards:
        raise ValueError("evading_path: name at least one hazard to evade")
    route = state.world.route.path
    params = state.world.config.vehicle
    speed = evade.speed_mps if evade.speed_mps is not None else max(state.ego.v, 3.0)
    s_ego = float(route.project(state.ego.pose[None, :2])[0][0])
    corners = []
    for name in hazards:
        k = _agent_index(state, name)
        a = state.agents
        corners.append(box_corners(a.x[k], a.y[k], a.yaw[k], a.length[k], a.width[k]))
    s_h, d_h, _ = route.project(np.concatenate(corners))
    half = params.width_m / 2.0 + evade.margin_m
    if evade.shift_m is not None:
        shift = evade.shift_m if evade.side == "left" else -evade.shift_m
    else:
        shift = float(d_h.max()) + half if evade.side == "left" else float(d_h.min()) - half
    ramp = max(20.0, 2.0 * speed)
    front = params.length_m - params.rear_overhang_m  # rear axle to front bumper
    start = s_ego + 2.0 if evade.from_start else float(s_h.min()) - front - 3.0 - ramp
    back = float(s_h.max()) + params.rear_overhang_m + 3.0
    s = np.arange(max(s_ego - 5.0, 0.0), route.length, 1.0)
    weight = smoothstep((s - start) / ramp)
    if not evade.hold:
        weight = weight * (1.0 - smoothstep((s - back) / ramp))
    xy, _ = route.interpolate(s)
    heading = route.tangent_heading(s)
    normal = np.stack([-np.sin(heading), np.cos(heading)], -1)
    stop = start + ramp + 10.0 - s[0] if evade.stop else None  # on the returned path's own arc length
    return xy + normal * (shift * weight)[:, None], speed, stop


@dataclass
class SampleReport:
    """What `check_sample` found for one (family, seed)."""

    family: str
    seed: int
    scenario: object  # the sampled Scenario
    baseline: dict  # summarize() of the lane follower's rollout
    fired_at: list  # per event: when it fired under the baseline [s] or None
    visibility: dict = field(default_factory=dict)  # primary hazard: first_visible_s, in_view_at_start, ...
    solution: dict | None = None  # summarize() of the scripted plan's rollout, for brake / evade families
    problems: list[str] = field(default_factory=list)
    rollout: object = field(default=None, repr=False)  # the lane follower's final WorldState
    solution_rollout: object = field(default=None, repr=False)  # the scripted plan's final WorldState


def check_visibility(final, family: Family) -> tuple[dict, list[str]]:
    """Whether the primary hazard keeps the family's visibility promise over a rollout."""
    if family.visibility is None:
        return {}, []
    k = _agent_index(final, family.hazards[0])
    heights = final.agents.height
    rows = [step_visibility(step, heights, k) for step in final.log]
    seen = np.array([r[0] for r in rows])
    view = np.array([r[1] for r in rows])
    first = int(np.argmax(seen > 0)) if (seen > 0).any() else None
    info = {"first_visible_s": None if first is None else final.log[first].t,
            "visible_at_start": bool(seen[0] > 0), "in_view_at_start": bool(view[0])}
    problems = []
    promise = family.visibility
    if promise == "visible" and first is None:
        problems.append("hazard never visible to the front camera")
    if promise == "occluded":
        if not view[0] or seen[0] > 0:
            problems.append(f"hazard not occluded at the start (in view {bool(view[0])}, visible {seen[0]:.2f})")
        if first is None:
            problems.append("occluded hazard never becomes visible")
    if promise == "rear" and view[0]:
        problems.append("hazard already in the front camera's view at the start")
    return info, problems


def check_sample(family: Family, seed: int) -> SampleReport:
    """Sample `family` at `seed`, drive it with the lane follower and check the family's promises."""
    scenario = family.sample(seed)
    final, fired_at = run_policy(scenario, make_policy("lane_follower"))
    report = SampleReport(family.name, seed, scenario, summarize(final), fired_at, rollout=final)
    for k, t in enumerate(fired_at):
        if t is None:
            ev = scenario.events[k]
            report.problems.append(f"events[{k}] ({ev.action.kind} on {ev.agent}) never fired")
    report.visibility, problems = check_visibility(final, family)
    report.problems += problems
    if family.solution == "baseline":
        if report.baseline["outcome"] == "collision":  # offroad is reported in the summary, not blamed on the family
            report.problems.append(f"lane follower collides: {report.baseline['first_collision']}")
    else:
        _solve(report, family)
    report.problems += [problem for check in family.expect if (problem := check(report)) is not None]
    return report


def _solve(report: SampleReport, family: Family) -> None:
    """Drive the family's hand-written stopping or evading plan; record its outcome and any problem."""
    scenario = report.scenario
    start = sim.reset(scenario)
    if family.solution == "brake":
        route = start.world.route.path
        s_ego = float(route.project(start.ego.pose[None, :2])[0][0])
        path = route.interpolate(np.arange(max(s_ego - 5.0, 0.0), route.length, 1.0))[0]
        driver = ScriptedDriver(path, max(start.ego.v, 3.0), brake_if=brake_on_conflict(family.hazards[0]))
    else:
        evade = family.evade
        if evade.side is None:
            decision = scenario.tags.expected_decision
            evade = replace(evade, side="right" if decision in ("lane_change_right", "pull_over") else "left")
        path, speed, stop = evading_path(start, evade, family.hazards)
        driver = ScriptedDriver(path, speed, stop_at_s=stop)
    solved, _ = run_policy(scenario, driver)
    report.solution, report.solution_rollout = summarize(solved), solved
    if report.solution["outcome"] == "collision":
        report.problems.append(f"{family.solution} plan collides: {report.solution['first_collision']}")
    if offroad_steps(solved).any():
        report.problems.append(f"{family.solution} plan leaves the road")
