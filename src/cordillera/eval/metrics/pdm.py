"""NAVSIM v2 extended PDM score (EPDMS) over an executed closed-loop rollout.

    >>> from cordillera.eval.metrics.pdm import epdms
    >>> result = epdms(log, reference_progress_m=85.0)
    >>> result.score, result.nc, result.ep

score = NC * DAC * DDC * TLC * (5 EP + 5 TTC + 2 LK + 2 HC + 2 EC) / 16 (weights in PDMConfig). NAVSIM scores
a 4 s simulated proposal; here every metric runs over the whole driven log, on the same definitions:

- NC, DAC: collisions.no_at_fault_collisions; any ego corner off the drivable area.
- DDC: distance the box centre moves while inside an oncoming lane, summed over a 1 s window; max window
  < 2 m -> 1, < 6 m -> 0.5, else 0. "Oncoming" is a lane whose direction opposes the ego's (NAVSIM tests "not in
  an on-route lane", which also fires off-route in the ego's own direction; our lanes carry their direction).
  Steps on which the ego passes a standing obstruction of its route lane (`passing_obstruction`) add nothing.
- TLC: 0 once the front bumper crosses a signalised stop line of the route while its signal is red.
- EP: route progress of the box centre, times the multiplicative gates, over the best of itself and the
  reference planner's gated progress; 1 if that best is under 5 m (0 then if a gate is 0).
- TTC: at each step the ego box is moved ahead at constant speed and heading by 0, 0.3, 0.6, 0.9 s and
  tested against the logged agents at those times (NAVSIM's non-reactive future); a hit with an agent ahead
  (< 30 deg), or not behind (> 150 deg) while straddling lanes, off-road or in a junction, sets TTC to 0.
  Steps without a full second of log after them are not tested (NAVSIM tests up to horizon - 0.9 s).
- LK: |lateral offset| of the box centre from the centreline of the lane it is in; 0 when above 0.5 m for 2 s
  of consecutive tested steps. Steps in a junction or straddling two lanes (a lane change) are skipped: they
  neither count nor reset the run, as NAVSIM skips intersection steps. Steps passing a standing obstruction are
  skipped too.
- HC, EC: comfort.py.

Passing a standing obstruction (ours). NAVSIM v2 drops a DDC or LK penalty when the human driver's log incurs
it too, which is how crossing the centre line to pass a double-parked car goes unpunished there. Our scenarios
have no human log, so the legal exception is stated directly: crossing into the oncoming lane, or leaving the
lane centre, to pass a stationary obstruction that blocks the ego's lane is allowed. NC and TTC still judge
whether the way was clear. See `passing_obstruction` for the exact test.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from cordillera.eval.metrics.collisions import AtFaultCollision, at_fault_collisions, bearing, no_at_fault_collisions
from cordillera.eval.metrics.comfort import extended_comfort, extended_comfort_score, history_comfort, \
    history_comfort_score
from cordillera.eval.metrics.config import MetricsConfig, PDMConfig
from cordillera.eval.metrics.rollout_log import RolloutLog, StepValues
from cordillera.geometry import box_corners, boxes_overlap
from cordillera.world.agents import STATIC_TYPES, Flag
from cordillera.world.roads.map import Control, SignalState

__all__ = ["PDMResult", "drivable_area_compliance", "standing_obstructions", "passing_obstruction",
           "oncoming_progress", "driving_direction_score", "red_light_crossings", "traffic_light_compliance",
           "route_progress_m", "fallback_reference_progress_m", "ego_progress", "time_to_collision",
           "lane_deviation", "lane_keeping_score", "epdms"]


@dataclass(frozen=True)
class PDMResult:
    nc: float
    dac: float
    ddc: float
    tlc: float
    ep: float
    ttc: float
    lk: float
    hc: float
    ec: float
    progress_m: float  # route progress of the box centre [m]
    reference_progress_m: float  # the normaliser EP used [m]
    score: float  # EPDMS in [0, 1]

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _min_valid(step: StepValues, default: float = 1.0) -> float:
    values = step.values[step.valid]
    return float(values.min()) if len(values) else default


def drivable_area_compliance(log: RolloutLog) -> StepValues:
    """DAC per step: 0 where an ego corner is off the drivable area, else 1 (scenario DAC = min)."""
    return StepValues((~log.offroad).astype(np.float64), np.ones(log.steps, dtype=bool))


def standing_obstructions(agents: np.ndarray, active: np.ndarray, flags: np.ndarray, agent_types: np.ndarray,
                          cfg: PDMConfig | None = None) -> np.ndarray:
    """(T, N) bool: agents that are standing obstructions at each step (agents (T, N, 7), active and flags (T, N),
    agent_types (N,), as in RolloutLog): active, slower than `obstruction_speed_mps`, and either a static kind
    (cone, barrier, debris, parked or stalled vehicle) or showing hazard lights (a double-parked truck), but not
    a school bus (passing a loading one is forbidden: rules.stopped_for_school_bus). A car waiting in a queue or
    at a light has neither."""
    cfg = cfg or PDMConfig()
    static = np.isin(np.asarray(agent_types, dtype=np.int64), [int(t) for t in STATIC_TYPES])
    kind = static[None, :] | ((flags & int(Flag.HAZARD)) != 0)
    kind &= (flags & int(Flag.SCHOOL_BUS)) == 0
    return active & kind & (np.abs(agents[..., 3]) < cfg.obstruction_speed_mps)


def passing_obstruction(log: RolloutLog, cfg: PDMConfig | None = None) -> np.ndarray:
    """(T,) bool: the ego is passing a standing obstruction that blocks its route lane; DDC and LK skip these steps.

    At step k some agent is one of the `standing_obstructions` (so overtaking a queue through the oncoming lane
    is still charged) and blocks the route lane: its box reaches `obstruction_intrusion_m` into the band of half
    the route lane's width either side of the route path. It is being passed from when its rearmost point is
    `obstruction_ahead_m` ahead of the ego's front bumper until its frontmost point is `obstruction_behind_m`
    behind the ego's rear bumper (arc lengths along the route path): room to pull out and to pull back in.
    """
    cfg = cfg or PDMConfig()
    out = np.zeros(log.steps, dtype=bool)
    if log.n_agents == 0:
        return out
    steps, agents = np.nonzero(standing_obstructions(log.agents, log.active, log.flags, log.agent_types, cfg))
    if not len(steps):
        return out
    s_rear, s_front, d_right, d_left, width = log.agent_route_extent(steps, agents)
    reach = width / 2.0 - cfg.obstruction_intrusion_m
    blocks = (d_right < reach) & (d_left > -reach)
    ego_front = log.route_s_front[steps]
    ego_rear = log.route_s_center[steps] - log.vehicle.length_m / 2.0
    near = (s_rear - ego_front <= cfg.obstruction_ahead_m) & (ego_rear - s_front <= cfg.obstruction_behind_m)
    out[steps[blocks & near]] = True
    return out


def oncoming_progress(log: RolloutLog, cfg: PDMConfig | None = None, passing: np.ndarray | None = None
                      ) -> StepValues:
    """Distance the box centre moved inside oncoming lanes over the window ending at each step [m], not counting
    steps passing a standing obstruction (`passing`, by default `passing_obstruction(log, cfg)`)."""
    cfg = cfg or PDMConfig()
    passing = passing_obstruction(log, cfg) if passing is None else passing
    per_step = np.where(log.oncoming & ~passing, log.step_distance, 0.0)
    horizon = int(round(cfg.driving_direction_horizon_s / log.dt))
    cum = np.concatenate([[0.0], np.cumsum(per_step)])
    idx = np.arange(log.steps)
    window = cum[idx + 1] - cum[np.maximum(idx - horizon, 0)]  # steps max(0, k - horizon) .. k, as NAVSIM
    return StepValues(window, np.ones(log.steps, dtype=bool))


def driving_direction_score(step: StepValues, cfg: PDMConfig | None = None) -> float:
    """DDC from the windowed oncoming progress: 1 below 2 m, 0.5 below 6 m, else 0."""
    cfg = cfg or PDMConfig()
    worst = float(step.values[step.valid].max()) if step.valid.any() else 0.0
    if worst < cfg.driving_direction_compliance_m:
        return 1.0
    return 0.5 if worst < cfg.driving_direction_violation_m else 0.0


def red_light_crossings(log: RolloutLog) -> list[tuple[int, object]]:
    """(step, StopLine) where the front bumper crosses a signalised stop line of the route against red."""
    out = []
    for k, sl in log.stop_line_crossings:
        if sl.control == Control.SIGNAL and sl.signal is not None and log.signals.shape[1] > sl.signal:
            if int(log.signals[k, sl.signal]) == int(SignalState.RED):
                out.append((k, sl))
    return out


def traffic_light_compliance(log: RolloutLog) -> StepValues:
    """TLC per step: 0 at a step where the ego runs a red light, else 1 (scenario TLC = min)."""
    values = np.ones(log.steps)
    for k, _ in red_light_crossings(log):
        values[k] = 0.0
    return StepValues(values, np.ones(log.steps, dtype=bool))


def route_progress_m(log: RolloutLog) -> float:
    """Progress of the box centre along the route path from the first to the last step, clipped at 0 [m]."""
    s = log.route_s_center
    return float(max(s[-1] - s[0], 0.0))


def fallback_reference_progress_m(log: RolloutLog) -> float:
    """What EP normalises by when no reference planner ran: the route distance ahead of the start that driving at
    each lane's speed limit for the logged time would cover (capped at the route's end) [m].

    An upper bound on a reference planner's progress, so EP is conservative (traffic, lights and curves all
    slow a real planner) until the harness passes a reference rollout's progress. A rollout stopped early
    (stop_on_collision) gets a shorter bound; its NC of 0 already zeroes the score.
    """
    route, road = log.route, log.road
    duration = float(log.t[-1] - log.t[0])
    s0 = float(np.clip(log.route_s_center[0], 0.0, route.length))
    bounds = np.concatenate([route.lane_offsets, [route.length]])
    time_left, s = duration, s0
    for k, lane_id in enumerate(route.lanes):
        start, end = max(bounds[k], s0), bounds[k + 1]
        if end <= start or time_left <= 0:
            continue
        limit = road.lanes[lane_id].speed_limit
        step = min(end - start, limit * time_left)
        s, time_left = start + step, time_left - step / limit
    return float(max(s - s0, 0.0))


def ego_progress(progress_m: float, gates: float, reference_progress_m: float, cfg: PDMConfig | None = None) -> float:
    """EP: gated own progress over the best gated progress of itself and the reference (NAVSIM aggregation)."""
    cfg = cfg or PDMConfig()
    own = max(progress_m, 0.0) * gates
    best = max(own, reference_progress_m)
    if best > cfg.progress_min_m:
        return float(own / best)
    return 1.0 if gates > 0 else 0.0


def time_to_collision(log: RolloutLog, cfg: PDMConfig | None = None) -> StepValues:
    """TTC per step: 0 where a constant-velocity projection within the horizon hits an agent at fault, else 1."""
    cfg = cfg or PDMConfig()
    dt = log.dt
    stride = max(1, int(round(cfg.ttc_step_s / dt)))
    offsets = np.arange(0, int(round(cfg.ttc_horizon_s / dt)), stride)  # [0, 3, 6, 9] steps at 0.1 s
    last = log.steps - 1 - int(offsets.max())
    values = np.ones(log.steps)
    valid = np.zeros(log.steps, dtype=bool)
    if last < 0:
        return StepValues(values, valid)
    valid[: last + 1] = True
    if log.n_agents == 0:
        return StepValues(values, valid)
    steps = np.arange(last + 1)
    yaw = log.ego[steps, 2]
    heading = np.stack([np.cos(yaw), np.sin(yaw)], -1)  # (S, 2)
    shift = (log.speed[steps] * dt)[:, None, None] * offsets[None, :, None] * heading[:, None, :]  # (S, F, 2)
    centres = log.ego_center[steps, None, :2] + shift
    future = steps[:, None] + offsets[None, :]  # (S, F) log index of each projection time
    boxes = log.agents[future]  # (S, F, N, 7)
    reach = (boxes[..., 5] + boxes[..., 6] + log.vehicle.length_m + log.vehicle.width_m) / 2.0
    near = (log.active[future] & (np.abs(boxes[..., 0] - centres[..., None, 0]) < reach)
            & (np.abs(boxes[..., 1] - centres[..., None, 1]) < reach))
    cand = np.argwhere(near)  # (K, 3) rows (step, offset, agent) in time-then-offset order, like NAVSIM's loop
    if not len(cand):
        return StepValues(values, valid)
    s_idx, f_idx, n_idx = cand.T
    ego_c = log.corners[s_idx] + shift[s_idx, f_idx][:, None, :]
    b = boxes[s_idx, f_idx, n_idx]
    hit = boxes_overlap(ego_c, box_corners(b[:, 0], b[:, 1], b[:, 2], b[:, 5], b[:, 6]))
    if not hit.any():
        return StepValues(values, valid)
    s_idx, n_idx, b = s_idx[hit], n_idx[hit], b[hit]
    angles = bearing(log.ego[s_idx, :3], b[:, :2])
    ahead = angles < math.radians(cfg.ahead_angle_deg)
    behind = angles > math.radians(cfg.behind_angle_deg)
    exposed = log.multiple_lanes | log.offroad | log.rear_axle_in_junction
    ignored = set(log.collisions[0])
    for j, (k, i) in enumerate(zip(s_idx.tolist(), n_idx.tolist())):
        if i in ignored or log.speed[k] < cfg.ttc_stopped_speed_mps:
            continue
        if ahead[j] or (exposed[k] and not behind[j]):
            values[k] = 0.0
        else:
            ignored.add(i)
    return StepValues(values, valid)


def lane_deviation(log: RolloutLog, cfg: PDMConfig | None = None, passing: np.ndarray | None = None) -> StepValues:
    """|lateral offset| of the box centre from its own-direction lane's centreline [m] (inf outside every
    own-direction lane: more than half a lane width off); invalid in junctions, while straddling two lanes and
    while passing a standing obstruction (`passing`, by default `passing_obstruction(log, cfg)`)."""
    passing = passing_obstruction(log, cfg) if passing is None else passing
    valid = ~(log.center_in_junction | log.multiple_lanes | passing)
    return StepValues(log.lane_deviation.copy(), valid)


def lane_keeping_score(step: StepValues, dt: float, cfg: PDMConfig | None = None) -> float:
    """LK: 0 if the deviation exceeds the limit on `window` seconds of consecutive valid steps, else 1."""
    cfg = cfg or PDMConfig()
    need = int(math.ceil(cfg.lane_keeping_window_s / dt - 1e-9))
    run = 0
    for value, ok in zip(step.values, step.valid):
        if not ok:
            continue
        run = run + 1 if value > cfg.lane_keeping_deviation_m else 0
        if run >= need:
            return 0.0
    return 1.0


def epdms(log: RolloutLog, reference_progress_m: float | None = None, config: MetricsConfig | None = None,
          faults: list[AtFaultCollision] | None = None) -> PDMResult:
    """All EPDMS sub-scores and the score. reference_progress_m: the best gated route progress a reference
    planner made on the same scenario [m]; None falls back to `fallback_reference_progress_m`."""
    config = config or MetricsConfig()
    cfg = config.pdm
    faults = at_fault_collisions(log, cfg) if faults is None else faults
    nc = _min_valid(no_at_fault_collisions(log, cfg, faults))
    dac = _min_valid(drivable_area_compliance(log))
    passing = passing_obstruction(log, cfg)
    ddc = driving_direction_score(oncoming_progress(log, cfg, passing), cfg)
    tlc = _min_valid(traffic_light_compliance(log))
    gates = nc * dac * ddc * tlc
    progress = route_progress_m(log)
    reference = fallback_reference_progress_m(log) if reference_progress_m is None else float(reference_progress_m)
    ep = ego_progress(progress, gates, reference, cfg)
    ttc = _min_valid(time_to_collision(log, cfg))
    lk = lane_keeping_score(lane_deviation(log, cfg, passing), log.dt, cfg)
    hc = history_comfort_score(history_comfort(log, config.comfort))
    ec = extended_comfort_score(extended_comfort(log, config.extended_comfort))
    weighted = (cfg.progress_weight * ep + cfg.ttc_weight * ttc + cfg.lane_keeping_weight * lk
                + cfg.history_comfort_weight * hc + cfg.extended_comfort_weight * ec) / cfg.weight_sum
    return PDMResult(nc, dac, ddc, tlc, ep, ttc, lk, hc, ec, progress, reference, gates * weighted)
