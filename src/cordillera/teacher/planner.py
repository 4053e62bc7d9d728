"""The privileged teacher planner (PDM-Closed style, extended for the long tail) and the `teacher` policy.

    cordillera eval --policy teacher --suite stalled_vehicle:3 --no-videos     # closed loop, CPU
    >>> from cordillera.teacher.planner import TeacherPlanner
    >>> result = TeacherPlanner().decide(state)                  # state: world.sim.WorldState
    >>> result.decision.short(), result.poses.shape              # {'longitudinal': ..., 'lateral': ...}, (64, 3)
    >>> TeacherPlanner().decide(state, Counterfactual(removed_agents=frozenset({2})))   # the labeler's "what if"

One decision:
1. forecast.py: fork the world and step it over the horizon (scripted intents exact), the counterfactual
   applied to the fork.
2. rules.py: stop walls from the rules of the road along the route (signals, stop signs, right of way,
   crosswalks, merge gaps, school bus, route end), minus what the counterfactual ignores.
3. proposals.py: the route centreline x IDM target speeds, plus a comfortable stop; when that best proposal
   scores below `accept_score`, also in-lane nudges, the neighbour lanes (lane change), the oncoming lane
   (out-of-lane nudge to pass) and, with an emergency vehicle near, a pull-over.
4. scoring.py: every proposal is executed by the plan tracker and vehicle model and scored with the eval
   metric functions (EPDMS x rule gates). The best (first on ties: centre before lateral, faster before
   slower) becomes the Plan; the decision and its constraints are read off what bound that proposal.

The planner keeps no state between calls: `decide` is a pure function of (state, counterfactual), so the
labeler may call it in any order. Caches hold only map geometry (keyed by the immutable route).
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field

import numpy as np

from cordillera import constants as C
from cordillera.eval.metrics.config import MetricsConfig
from cordillera.geometry import speed_profile, to_frame, wrap_angle
from cordillera.policies.base import Policy, register_policy
from cordillera.policies.baselines import lane_entries
from cordillera.teacher.decisions import Constraint, Counterfactual, Decision, Lateral, Longitudinal, PlanResult
from cordillera.teacher.forecast import apply_counterfactual, forecast
from cordillera.teacher.proposals import PathSpec, Proposal, Scene, propose, stop_proposal
from cordillera.teacher.rules import route_walls
from cordillera.teacher.scoring import score, simulate
from cordillera.world.agents import VRU_TYPES, Flag
from cordillera.world.roads.routes import route_offsets
from cordillera.world.types import Observation, Plan, PrivilegedObservation

__all__ = ["PlannerConfig", "TeacherPlanner", "TeacherPolicy"]

_VRU = frozenset(int(t) for t in VRU_TYPES)
_STOP_KINDS = {"signal", "stop_line", "school_bus", "route_end"}


@dataclass(frozen=True)
class PlannerConfig:
    forecast_horizon_s: float = 4.0  # [s] world fork and proposal scoring horizon (NAVSIM scores 4 s)
    speed_factors: tuple[float, ...] = (1.0, 0.7, 0.4)  # IDM target speed as a fraction of the allowed speed
    lateral_speed_factors: tuple[float, ...] = (1.0, 0.6)  # the same for lateral alternatives (fewer: cost)
    nudge_offsets_m: tuple[float, ...] = (0.5, 0.9)  # [m] in-lane nudges, each side
    accept_score: float = 0.97  # lateral proposals are tried when the best centreline proposal scores below
    blocked_speed_mps: float = 0.5  # [m/s] ... or when the centreline's leader is slower than this (standing)
    stop_decel: float = 2.5  # [m/s^2] the comfortable stop proposal
    hard_stop_decel: float = 6.0  # [m/s^2] the emergency stop proposal
    time_headway_s: float = 1.5  # IDM [s]
    min_gap_m: float = 3.0  # IDM jam distance [m]; walls are offset by it so the ego stands stop_margin_m short
    pass_room_m: float = 5.0  # [m] more, behind a standing obstruction (pdm.standing_obstructions): room to pull out
    return_margin_m: float = 2.0  # [m] a pass through the oncoming lane heads back once the rear bumper is this far
    # past the obstruction, so the manoeuvre stays inside the metric's passing window (pdm.passing_obstruction)
    max_accel: float = 1.5  # IDM [m/s^2]
    comfort_decel: float = 2.5  # IDM b [m/s^2]; also the yellow-light stopping test
    max_decel: float = 7.0  # [m/s^2] strongest planned braking (the vehicle allows 8)
    lateral_accel: float = 2.0  # [m/s^2] comfortable lateral acceleration that caps speed in curves
    lateral_margin_m: float = 0.35  # [m] clearance to agents beside the corridor
    occupancy_lookahead_s: float = 1.0  # [s] an agent entering the corridor this soon already counts as there
    min_transition_m: float = 12.0  # [m] shortest lateral blend to a new offset
    transition_time_s: float = 2.5  # [s] lateral blend length at speed
    stop_margin_m: float = 1.5  # [m] where the front bumper stands before a stop line or wall
    stop_hold_s: float = 1.0  # [s] full stop that serves a stop sign
    rule_horizon_m: float = 60.0  # [m] rules (stop lines, yields, school buses) looked at this far ahead
    merge_gap_s: float = 1.5  # [s] time gap wanted to a vehicle closing up from behind when merging
    school_bus_gap_m: float = 6.0  # [m] stop this far behind a loading school bus
    emergency_range_m: float = 80.0  # [m] an emergency vehicle this close adds the pull-over proposal
    scene_radius_m: float = 150.0  # [m] agents farther than this from the ego are not projected on the route
    binding_accel_mps2: float = 0.3  # [m/s^2] an obstacle binds when it lowers the IDM acceleration this much
    binding_horizon_s: float = 3.0  # [s] ... within this time
    metrics: MetricsConfig = field(default_factory=MetricsConfig)

    @property
    def forecast_steps(self) -> int:
        return int(round(self.forecast_horizon_s / C.DT))


_CAPS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_OFFSETS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class TeacherPlanner:
    """Privileged planner; see the module docstring. Stateless: one instance may serve many rollouts."""

    def __init__(self, config: PlannerConfig | None = None) -> None:
        self.config = config or PlannerConfig()

    def decide(self, state, counterfactual: Counterfactual | None = None) -> PlanResult:
        start = time.perf_counter()
        cfg = self.config
        cf = counterfactual or Counterfactual()
        world = state.world
        route = world.route
        params = world.config.vehicle
        fc = forecast(state, cf, cfg.forecast_steps)
        seen = apply_counterfactual(state, cf)
        offsets = _route_offsets(world.road, route)
        scene0 = Scene.build(seen, fc, [], cfg, _caps(route, cfg))
        walls = route_walls(seen, fc, cf, cfg, scene0.s_ego, offsets, lane_entries(seen))
        scene = Scene(**{**scene0.__dict__, "walls": walls})

        centre = PathSpec(0.0)
        props = propose(scene, route, [centre], cfg.speed_factors, cfg, params)
        props.append(stop_proposal(scene, route, centre, cfg.stop_decel, cfg, "stop"))
        props.append(stop_proposal(scene, route, centre, cfg.hard_stop_decel, cfg, "hard_stop"))
        logs = simulate(state, fc, [p.poses for p in props])
        # a blocked centreline looks sideways whatever it scores, so its centreline-only scores are not needed
        # (scoring is pure: skipping them changes nothing but the time)
        blocked = self._blocked(fc, scene, props[0])
        scored = None if blocked else score(logs, cfg.metrics)
        if blocked or max(s for s, _ in scored) < cfg.accept_score:
            specs = self._lateral_specs(seen, fc, scene, props[0])
            if specs:
                extra = propose(scene, route, [s for s in specs if s.kind == "lane"], cfg.lateral_speed_factors, cfg,
                                params)
                extra += [stop_proposal(scene, route, s, cfg.stop_decel, cfg, f"pull_over/off{s.offset:+.1f}")
                          for s in specs if s.kind == "pull_over"]
                props += extra
                logs += simulate(state, fc, [p.poses for p in extra])
                scored = score(logs, cfg.metrics)
        if scored is None:
            scored = score(logs, cfg.metrics)
        values = np.array([s for s, _ in scored])
        best = int(np.argmax(values))  # first of the best: the proposal order is the tie-break
        chosen = props[best]
        decision, constraints = self._label(seen, fc, scene, chosen, props[0])
        ego_poses = to_frame(chosen.poses, state.ego.pose)
        return PlanResult(ego_poses, chosen.poses, chosen.name, decision, constraints,
                          {p.name: float(v) for p, v in zip(props, values)}, scored[best][1],
                          time.perf_counter() - start, len(props))

    # ---- lateral alternatives ----------------------------------------------------------------------
    def _blocked(self, fc, scene, centre: Proposal) -> bool:
        """The centreline is held up by a standing obstacle (stalled car, double-parked truck, debris): it slows
        the ego down, or keeps a stopped ego from getting going. Look sideways even though waiting behind it
        scores well (progress is normalised among the proposals)."""
        b = centre.binding
        if b is None or b.kind != "agent":
            return False
        cfg = self.config
        standing = abs(fc.agents[0, b.agent, 3]) < cfg.blocked_speed_mps
        held = float(np.min(centre.speeds)) < scene.v0 - 1.0 or float(np.max(centre.speeds)) < cfg.blocked_speed_mps
        return bool(standing and held)

    def _lateral_specs(self, state, fc, scene, centre: Proposal) -> list[PathSpec]:
        road = state.road
        route = state.world.route
        cfg = self.config
        params = state.world.config.vehicle
        k = route.lane_index_at(scene.s_ego)
        lane = road.lanes[route.lanes[k]]
        width = lane.width
        specs = [PathSpec(side * off) for off in cfg.nudge_offsets_m for side in (1.0, -1.0)
                 if off < width / 2.0]
        if lane.left_neighbor is not None:
            specs.append(PathSpec(road.lanes[lane.left_neighbor].width / 2.0 + width / 2.0, lane_change=1))
        elif lane.left_opposite is not None:
            b = centre.binding
            back = np.inf  # borrow the oncoming lane only to get past a standing obstruction, then head back
            if b is not None and b.kind == "agent" and scene.room[0, b.agent] > 0.0:
                back = float(scene.agent_s[0, b.agent] + scene.half_s[0, b.agent]) + params.rear_overhang_m \
                    + cfg.return_margin_m
            specs.append(PathSpec(road.lanes[lane.left_opposite].width / 2.0 + width / 2.0, return_s=back))
        if lane.right_neighbor is not None and road.lanes[lane.right_neighbor].kind != "parking":  # no lane to drive
            specs.append(PathSpec(-(road.lanes[lane.right_neighbor].width / 2.0 + width / 2.0), lane_change=-1))
        if self._emergency_near(state, fc) is not None:
            right = -(road.lanes[lane.right_neighbor].width / 2.0 + width / 2.0) if lane.right_neighbor is not None \
                else -(width / 2.0 - state.world.config.vehicle.width_m / 2.0 - 0.1)
            specs.append(PathSpec(right, kind="pull_over"))
        return specs

    def _emergency_near(self, state, fc) -> int | None:
        ev = np.flatnonzero(fc.active[0] & ((fc.flags[0] & int(Flag.EMERGENCY)) != 0))
        if not len(ev):
            return None
        dist = np.hypot(fc.agents[0, ev, 0] - state.ego.x, fc.agents[0, ev, 1] - state.ego.y)
        j = int(np.argmin(dist))
        return int(ev[j]) if dist[j] < self.config.emergency_range_m else None

    # ---- the decision ------------------------------------------------------------------------------
    def _agent_constraint(self, state, fc, scene, i: int, kind: str = "agent") -> Constraint:
        params = state.world.config.vehicle
        front = scene.s_ego + params.length_m - params.rear_overhang_m
        s = scene.agent_s[0, i]
        dist = float(s - scene.half_s[0, i] - front) if np.isfinite(s) else None
        return Constraint(kind, agent=int(i), distance_m=dist)

    def _agent_decision(self, state, fc, scene, i: int) -> Longitudinal:
        a = fc.agents[0, i]
        if int(state.agents.type[i]) in _VRU or (int(fc.flags[0, i]) & int(Flag.EMERGENCY)):
            return Longitudinal.YIELD
        heading = state.world.route.path.heading_at(scene.agent_s[0, i]) if np.isfinite(scene.agent_s[0, i]) else a[2]
        rel = abs(float(wrap_angle(a[2] - heading)))
        if rel > np.pi / 4 and abs(a[3]) > 0.5:
            return Longitudinal.YIELD  # crossing or oncoming
        return Longitudinal.LEAD_FOLLOWING

    def _longitudinal(self, state, fc, scene, binding: Constraint | None
                      ) -> tuple[Longitudinal | None, Constraint | None]:
        if binding is None:
            return None, None
        if binding.kind == "agent":
            return self._agent_decision(state, fc, scene, binding.agent), \
                self._agent_constraint(state, fc, scene, binding.agent)
        if binding.kind in _STOP_KINDS:
            return Longitudinal.STOP, binding
        if binding.kind == "merge":
            return Longitudinal.GAP_SEARCH, binding
        return Longitudinal.YIELD, binding

    def _route_lateral(self, state, scene, chosen: Proposal) -> Lateral:
        """Lateral decision of a centreline proposal: what the route itself does over the planned stretch."""
        road, route = state.road, state.world.route
        reach = scene.s_ego + max(float(np.sum(chosen.speeds)) * C.DT, 10.0) + 10.0
        k0 = route.lane_index_at(scene.s_ego)
        k1 = route.lane_index_at(reach)
        for k in range(k0, k1 + 1):
            lane = road.lanes[route.lanes[k]]
            if k + 1 < len(route.lanes) and route.lanes[k + 1] not in lane.successors and k + 1 <= k1 + 1:
                if route.lane_end_on_path(k) < reach:
                    return Lateral.LANE_CHANGE_LEFT if lane.left_neighbor == route.lanes[k + 1] \
                        else Lateral.LANE_CHANGE_RIGHT
            if lane.turn == "left":
                return Lateral.TURN_LEFT
            if lane.turn == "right":
                return Lateral.TURN_RIGHT
            if lane.kind == "ramp" and k + 1 < len(route.lanes):
                return Lateral.MERGE
        return Lateral.LANE_KEEPING

    def _label(self, state, fc, scene, chosen: Proposal, centre: Proposal) -> tuple[Decision, tuple[Constraint, ...]]:
        params = state.world.config.vehicle
        constraints: list[Constraint] = []
        spec = chosen.path
        # lateral
        if spec.kind == "pull_over":
            lateral = Lateral.PULL_OVER
        elif spec.lane_change:
            lateral = Lateral.LANE_CHANGE_LEFT if spec.lane_change > 0 else Lateral.LANE_CHANGE_RIGHT
        elif spec.offset != 0.0:
            lane = state.road.lanes[state.world.route.lanes[state.world.route.lane_index_at(scene.s_ego)]]
            in_lane = abs(spec.offset) <= lane.width / 2.0 - params.width_m / 2.0 + 0.25
            left = spec.offset > 0
            lateral = (Lateral.IN_LANE_NUDGE_LEFT if left else Lateral.IN_LANE_NUDGE_RIGHT) if in_lane \
                else (Lateral.OUT_OF_LANE_NUDGE_LEFT if left else Lateral.OUT_OF_LANE_NUDGE_RIGHT)
        else:
            lateral = self._route_lateral(state, scene, chosen)
        # longitudinal
        if spec.kind == "pull_over":
            ev = self._emergency_near(state, fc)
            longitudinal = Longitudinal.YIELD
            if ev is not None:
                constraints.append(self._agent_constraint(state, fc, scene, ev, "emergency_vehicle"))
        elif chosen.speed_factor == 0.0:  # a stop proposal won: stop for what blocks the centreline
            longitudinal, c = self._longitudinal(state, fc, scene, centre.binding)
            longitudinal = longitudinal or Longitudinal.STOP
            if c is not None:
                constraints.append(c)
        else:
            longitudinal, c = self._longitudinal(state, fc, scene, chosen.binding)
            if c is not None:
                constraints.append(c)
            if spec.offset != 0.0 and centre.binding is not None and centre.binding.kind == "agent":
                blocked = self._agent_constraint(state, fc, scene, centre.binding.agent, "lane_blocked")
                constraints.append(blocked)
                if longitudinal is None and chosen.speeds[-1] >= scene.v0 - 0.5:
                    longitudinal = Longitudinal.PASSING
            ev = self._emergency_near(state, fc) if spec.offset != 0.0 else None
            if ev is not None and longitudinal in (None, Longitudinal.SET_SPEED, Longitudinal.PASSING):
                longitudinal = Longitudinal.YIELD  # moving aside for the emergency vehicle is yielding to it
                constraints.append(self._agent_constraint(state, fc, scene, ev, "emergency_vehicle"))
            if longitudinal is None:
                k = state.world.route.lane_index_at(scene.s_ego)
                limit = scene.limits[k]
                if chosen.capped:
                    longitudinal = Longitudinal.SPEED_ADAPTATION
                    constraints.append(Constraint("curve"))
                elif chosen.speed_factor < 1.0 or float(np.min(chosen.speeds)) < min(scene.v0, limit) - 1.0:
                    longitudinal = Longitudinal.SPEED_ADAPTATION
                    constraints.append(Constraint("speed_limit" if scene.v0 > limit + 0.5 else "lane_blocked"))
                else:
                    longitudinal = Longitudinal.SET_SPEED
        return Decision(longitudinal, lateral), tuple(constraints)


def _caps(route, cfg: PlannerConfig) -> np.ndarray:
    key = (cfg.lateral_accel, cfg.comfort_decel)
    table = _CAPS.setdefault(route, {})
    if key not in table:
        table[key] = speed_profile(route.path.points, cfg.lateral_accel, cfg.comfort_decel)
    return table[key]


def _route_offsets(road, route) -> np.ndarray:
    out = _OFFSETS.get(route)
    if out is None:
        out = route_offsets(road, route)
        _OFFSETS[route] = out
    return out


@register_policy
class TeacherPolicy(Policy):
    """The privileged teacher as a policy: plan = the planner's choice, reasoning = its decision (short names)."""

    name = "teacher"
    privileged = True

    def __init__(self, config: PlannerConfig | None = None, **overrides) -> None:
        base = config or PlannerConfig()
        self.planner = TeacherPlanner(PlannerConfig(**{**base.__dict__, **overrides}) if overrides else base)
        self.last: PlanResult | None = None

    def plan(self, obs: Observation) -> Plan:
        if not isinstance(obs, PrivilegedObservation):
            raise TypeError("teacher is privileged: give it a PrivilegedObservation")
        self.last = self.planner.decide(obs.state)
        return Plan(self.last.poses, reasoning=self.last.decision.short())
