"""Every published threshold, weight and penalty the metrics use, in frozen configs with units and sources.

    >>> from cordillera.eval.metrics.config import MetricsConfig
    >>> cfg = MetricsConfig()
    >>> cfg.pdm.ttc_horizon_s, cfg.comfort.max_lon_accel
    (1.0, 2.4)

Sources (facts, re-implemented in our own code):
- NAVSIM v2 `PDMScorerConfig` (navsim/planning/simulation/planner/pdm_planner/scoring/pdm_scorer.py) and
  `pdm_comfort_metrics.py`; nuPlan's collision classification (collision_utils / idm utils).
- AlpaSim eval (src/eval: scorers/collision.py, offroad.py, aggregation/scene_score.py, processing.py).
- CARLA leaderboard `statistics_manager.py` PENALTY_VALUE_DICT and scenario_runner atomic criteria.
- Alpamayo-R1 metrics (src/alpamayo_r1/metrics) and the CoC autolabeler meta-action classification thresholds.
Values marked "ours" are Cordillera choices where no published definition exists; the why is next to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cordillera.world.agents import AgentType

__all__ = [
    "PDMConfig",
    "ComfortConfig",
    "ExtendedComfortConfig",
    "AlpaSimConfig",
    "CarlaConfig",
    "RuleConfig",
    "MetaActionConfig",
    "MetricsConfig",
    "VEHICLE_TYPES",
    "VRU_TYPES",
    "STATIC_OBJECT_TYPES",
]

# nuPlan splits tracks into agents (vehicle, pedestrian, bicycle) and static objects (cone, barrier, generic
# object); a parked or stalled car is still a VEHICLE track there, so it scores like any vehicle.
VEHICLE_TYPES = (AgentType.CAR, AgentType.TRUCK, AgentType.BUS, AgentType.MOTORCYCLE, AgentType.PARKED_CAR,
                 AgentType.STALLED_VEHICLE)
VRU_TYPES = (AgentType.PEDESTRIAN, AgentType.CYCLIST, AgentType.ANIMAL)
STATIC_OBJECT_TYPES = (AgentType.CONE, AgentType.BARRIER, AgentType.DEBRIS)


@dataclass(frozen=True)
class PDMConfig:
    """NAVSIM v2 extended PDM score (EPDMS): weights and thresholds of `PDMScorerConfig`."""

    progress_weight: float = 5.0  # NAVSIM v2 PDMScorerConfig
    ttc_weight: float = 5.0  # NAVSIM v2 PDMScorerConfig
    lane_keeping_weight: float = 2.0  # NAVSIM v2 PDMScorerConfig
    history_comfort_weight: float = 2.0  # NAVSIM v2 PDMScorerConfig
    extended_comfort_weight: float = 2.0  # NAVSIM v2 two_frame_extended_comfort_weight

    driving_direction_horizon_s: float = 1.0  # [s] NAVSIM (nuPlan) driving direction window
    driving_direction_compliance_m: float = 2.0  # [m] oncoming progress below this in the window -> DDC 1
    driving_direction_violation_m: float = 6.0  # [m] below this -> DDC 0.5, otherwise 0
    # Passing a standing obstruction (ours, see pdm.passing_obstruction): NAVSIM drops a DDC / LK penalty the
    # human log also incurs (crossing the centre line to pass a double-parked car); our scenarios have no human
    # log, so the legal exception is stated directly.
    obstruction_speed_mps: float = 0.5  # [m/s] an obstruction slower than this is standing
    obstruction_intrusion_m: float = 0.1  # [m] ... and blocks the route lane when it reaches this far into it
    obstruction_ahead_m: float = 25.0  # [m] passing starts when its rear is this close ahead of the front bumper
    obstruction_behind_m: float = 15.0  # [m] ... and ends when its front is this far behind the rear bumper
    ttc_stopped_speed_mps: float = 5e-3  # [m/s] NAVSIM stopped_speed_threshold: no TTC check below it
    ttc_horizon_s: float = 1.0  # [s] NAVSIM future_collision_horizon_window
    ttc_step_s: float = 0.3  # [s] NAVSIM projects at 0, 0.3, 0.6, 0.9 s (arange(0, 10, 3) at 0.1 s)
    progress_min_m: float = 5.0  # [m] NAVSIM progress_distance_threshold: best progress below it -> EP 1
    lane_keeping_deviation_m: float = 0.5  # [m] NAVSIM lane_keeping_deviation_limit (from Hydra-MDP++)
    lane_keeping_window_s: float = 2.0  # [s] NAVSIM lane_keeping_horizon_window: continuous deviation to fail
    collision_stopped_speed_mps: float = 5e-2  # [m/s] nuPlan get_collision_type: ego/track counts as stopped
    ahead_angle_deg: float = 30.0  # [deg] nuPlan is_agent_ahead: bearing from the ego heading below this
    behind_angle_deg: float = 150.0  # [deg] nuPlan is_agent_behind: bearing above this
    static_collision_score: float = 0.5  # NAVSIM NC for an at-fault hit on a static object (0 for agents)

    @property
    def weight_sum(self) -> float:
        return (self.progress_weight + self.ttc_weight + self.lane_keeping_weight + self.history_comfort_weight
                + self.extended_comfort_weight)


@dataclass(frozen=True)
class ComfortConfig:
    """nuPlan comfort bounds as used by NAVSIM's history comfort (pdm_comfort_metrics.py).

    Bounds are open intervals (a value on the bound fails), as in nuPlan's `_within_bound`.
    Signals are smoothed and differentiated with Savitzky-Golay filters of the windows below (NAVSIM's, except
    the acceleration window: NAVSIM's 8 is even, and scipy then evaluates the interior half a step late while
    the ends are not shifted, which puts a kink into a linear ramp; 7 is the nearest odd window).
    """

    min_lon_accel: float = -4.05  # [m/s^2]
    max_lon_accel: float = 2.40  # [m/s^2]
    max_abs_lat_accel: float = 4.89  # [m/s^2]
    max_abs_jerk: float = 8.37  # [m/s^3] jerk of the acceleration magnitude
    max_abs_lon_jerk: float = 4.13  # [m/s^3]
    max_abs_yaw_accel: float = 1.93  # [rad/s^2]
    max_abs_yaw_rate: float = 0.95  # [rad/s]
    accel_window: int = 7  # samples; NAVSIM _extract_ego_acceleration uses 8 (poly order 2), see above
    jerk_window: int = 15  # samples; NAVSIM _extract_ego_jerk (poly order 2)
    yaw_window: int = 5  # samples; NAVSIM _approximate_derivatives default, used for yaw rate and yaw accel
    yaw_accel_poly: int = 3  # NAVSIM _compute_yaw_accel


@dataclass(frozen=True)
class ExtendedComfortConfig:
    """NAVSIM v2 two-frame extended comfort: RMS of the differences between consecutive plans on their overlap."""

    max_rms_accel: float = 0.7  # [m/s^2] acceleration magnitude
    max_rms_jerk: float = 0.5  # [m/s^3] jerk magnitude
    max_rms_yaw_rate: float = 0.1  # [rad/s]
    max_rms_yaw_accel: float = 0.1  # [rad/s^2]
    accel_window: int = 7  # samples; same filters as history comfort (NAVSIM extract_features; 8 there)
    jerk_window: int = 15  # samples
    yaw_window: int = 5  # samples; yaw acceleration uses poly order 2 here (NAVSIM extract_features)
    min_overlap: int = 4  # poses; ours: fewer shared poses cannot give a second derivative worth comparing


@dataclass(frozen=True)
class AlpaSimConfig:
    """AlpaSim eval: scene score and incident rules (aggregation/scene_score.py, processing.py)."""

    progress_for_full_score: float = 0.8  # scene score = min(progress / 0.8, 1)
    min_reference_travel_m: float = 5.0  # [m] reference travel below this -> progress score 1


@dataclass(frozen=True)
class CarlaConfig:
    """CARLA leaderboard driving score: statistics_manager.py PENALTY_VALUE_DICT (multiplied per infraction)."""

    collision_pedestrian: float = 0.50
    collision_vehicle: float = 0.60
    collision_static: float = 0.65
    red_light: float = 0.70
    stop_sign: float = 0.80
    scenario_timeout: float = 0.70
    yield_emergency_vehicle: float = 0.70
    min_speed: float = 0.70  # leaderboard 2.0 lists it, but since 2024-08 it no longer lowers the score
    apply_min_speed: bool = False  # kept off, as on the leaderboard
    stop_speed_mps: float = 0.1  # [m/s] scenario_runner RunningStopTest SPEED_THRESHOLD
    stop_zone_m: float = 4.0  # [m] RunningStopTest PROXIMITY_THRESHOLD: where the stop must happen


@dataclass(frozen=True)
class RuleConfig:
    """Long-tail rule checks (ours: no published benchmark defines these; values follow traffic law practice)."""

    school_bus_stopped_mps: float = 0.1  # [m/s] a school bus slower than this is loading (no stop-arm flag)
    school_bus_lateral_m: float = 12.0  # [m] ego this close beside the bus's axis counts as on its road
    school_bus_range_m: float = 50.0  # [m] a loading bus this close makes the rule apply
    emergency_range_m: float = 60.0  # [m] an emergency vehicle (sirens) this close and closing in is yielded to
    emergency_path_half_width_m: float = 2.5  # [m] ego within this of the EV's heading line blocks its path
    emergency_reaction_s: float = 4.0  # [s] time to get out of the path or slow down
    emergency_yield_speed_mps: float = 3.0  # [m/s] speed that counts as having slowed down for it
    crosswalk_users: tuple[AgentType, ...] = VRU_TYPES  # who occupies a crosswalk
    crosswalk_range_m: float = 30.0  # [m] an occupied crosswalk this close to the ego makes the rule apply


@dataclass(frozen=True)
class MetaActionConfig:
    """Meta-action classification of a trajectory (CoC autolabeler thresholds, dataset_and_coc.md §2.2)."""

    stop_speed_mps: float = 0.12  # [m/s] Stop: mean speed below this
    gentle_accel: float = 0.15  # [m/s^2] |mean accel| at or above this is a speed change
    strong_accel: float = 1.4  # [m/s^2] at or above this it is strong (strong deceleration -> yield)
    min_speed_change_mps: float = 0.8  # [m/s] and |delta v| at least this
    turn_rate_rad_per_m: float = 0.05  # [rad/m] "sharp steer": heading change per metre ...
    turn_heading_rad: float = 0.2  # [rad] ... and total heading change, both needed for a turn
    lane_change_offset_m: float = 1.0  # [m] lateral offset for a lane change
    nudge_offset_m: float = 0.3  # [m] ours: peak lateral offset of a nudge (autolabeler value unpublished)
    stop_window_s: float = 0.5  # [s] ours: the final stretch whose mean speed decides "stop"
    # the 10 Hz detector (eval.metrics.meta_actions); the whole-trajectory rules above apply per segment
    min_segment_s: float = 0.8  # [s] autolabeler: shorter segments merge into a neighbour (8 ticks)
    smoothing_s: float = 0.5  # [s] ours: centred moving average of speed, heading rate and offset
    steer_rate_rad_per_m: float = 0.0015  # [rad/m] autolabeler: steering at or above this heading rate ...
    steer_heading_rad: float = 0.015  # [rad] ... and a segment heading change at least this
    steer_min_speed_mps: float = 0.5  # [m/s] ours: below this, heading per metre is noise: go straight
    lateral_rate_mps: float = 0.1  # [m/s] ours: lateral speed off the lane reference that starts a shift


@dataclass(frozen=True)
class MetricsConfig:
    pdm: PDMConfig = field(default_factory=PDMConfig)
    comfort: ComfortConfig = field(default_factory=ComfortConfig)
    extended_comfort: ExtendedComfortConfig = field(default_factory=ExtendedComfortConfig)
    alpasim: AlpaSimConfig = field(default_factory=AlpaSimConfig)
    carla: CarlaConfig = field(default_factory=CarlaConfig)
    rules: RuleConfig = field(default_factory=RuleConfig)
    meta_action: MetaActionConfig = field(default_factory=MetaActionConfig)
    goal_slack_m: float = 5.0  # [m] reach_goal tolerance beyond goal_distance_m, as world.rollout.summarize
