"""Rewards of RL post-training (issue 8): pure functions of a completion (reasoning text + 64-pose plan), the
simulated future of its plan and the teacher's privileged labels.

    >>> from cordillera.train.rewards import RewardConfig, simulate_plan, score_completion
    >>> log = simulate_plan(state, poses, horizon_s=4.0)          # fork the WorldState, track the plan
    >>> reward = score_completion(text, poses, log, context, RewardConfig())
    >>> reward.total, reward.components                           # float, {"safety": ..., "imitation": ...}

Components, each in [0, 1] (1 = best), weighted by `RewardConfig` and averaged over the components that
apply to a prompt (grounding needs the teacher's critical objects):
- safety: the plan executed in the simulator for `horizon_s` from the prompt's state (the privileged future:
  the same traffic, signals and scripted events), scored with the evaluation's functions: NC
  (`collisions.no_at_fault_collisions`), DAC (`pdm.drivable_area_compliance`), TTC (`pdm.time_to_collision`).
  safety = NC * DAC * (1 - ttc_weight (1 - TTC)).
- progress: NAVSIM's EP (`pdm.ego_progress`) of the executed plan against the teacher plan's gated progress
  over the same fork.
- comfort: fraction of executed steps inside the nuPlan bounds (`comfort.history_comfort`); a per-step
  fraction rather than Alpamayo's all-steps binary, so a single bad step does not erase the gradient.
- imitation: 1 - ADE / imitation_gate_m to the teacher's plan (ADE: mean XY error over the 64 poses).
- consistency: `eval.metrics.reasoning.consistency` of the decision the text states (`parse_decision`) and the
  meta-action of the plan (`classify_meta_action` against the start lane's centreline, `lane_reference`).
- grounding: F1 of the object kinds the text names against the kinds of the teacher's critical components
  (`eval.metrics.reasoning.grounding`): naming what did not cause the decision lowers precision, missing the
  cause lowers recall.
Gates (Alpamayo's RL reward gates on ADE < 3 m): an at-fault collision, leaving the drivable area or an ADE
above `imitation_gate_m` makes the total the floor reward, whatever the other components say.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from cordillera.eval.metrics.collisions import at_fault_collisions, no_at_fault_collisions
from cordillera.eval.metrics.comfort import history_comfort
from cordillera.eval.metrics.config import MetricsConfig
from cordillera.eval.metrics.pdm import drivable_area_compliance, ego_progress, route_progress_m, time_to_collision
from cordillera.eval.metrics.reasoning import Grounding, classify_meta_action, consistency, grounding
from cordillera.eval.metrics.rollout_log import RolloutLog
from cordillera.geometry import Polyline, from_frame
from cordillera.model.config import ConfigError
from cordillera.model.reasoning import parse_decision

__all__ = ["COMPONENTS", "RewardConfig", "Reward", "SafetyScore", "simulate_plan", "safety_reward",
           "progress_reward", "comfort_reward", "ade", "imitation_reward", "consistency_reward", "object_mentions",
           "grounding_reward", "combine", "score_completion", "PromptContext"]

COMPONENTS = ("safety", "progress", "comfort", "imitation", "consistency", "grounding")


@dataclass(frozen=True)
class RewardConfig:
    safety: float = 1.0  # weight of each component in the mean
    progress: float = 0.5
    comfort: float = 0.25
    imitation: float = 0.5
    consistency: float = 0.5
    grounding: float = 0.25
    floor: float = -1.0  # total of a gated completion (Alpamayo: -1)
    imitation_gate_m: float = 3.0  # [m] ADE above this -> floor (Alpamayo's gate); also the imitation scale
    horizon_s: float = 4.0  # [s] how long the plan is executed for safety, progress and comfort (NAVSIM: 4 s)
    ttc_weight: float = 0.5  # share of the safety reward lost when the TTC check fails
    gate_on_collision: bool = True  # an at-fault collision (NC < 1) gives the floor
    gate_on_offroad: bool = True  # any ego corner off the drivable area gives the floor
    gate_on_imitation: bool = True  # ADE above imitation_gate_m gives the floor
    lane_reference_m: float = 80.0  # [m] length of the start lane's centreline the meta-action is measured on

    def __post_init__(self) -> None:
        for name in COMPONENTS:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"RewardConfig.{name} must be a weight >= 0, got {value!r}")
        if sum(getattr(self, name) for name in COMPONENTS) <= 0:
            raise ConfigError("RewardConfig: at least one reward weight must be > 0")
        for name in ("imitation_gate_m", "horizon_s", "lane_reference_m"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise ConfigError(f"RewardConfig.{name} must be > 0, got {value!r}")
        if not (isinstance(self.floor, (int, float)) and math.isfinite(self.floor) and self.floor <= 0):
            raise ConfigError(f"RewardConfig.floor must be a number <= 0, got {self.floor!r}")
        if not (isinstance(self.ttc_weight, (int, float)) and 0.0 <= self.ttc_weight <= 1.0):
            raise ConfigError(f"RewardConfig.ttc_weight must be in [0, 1], got {self.ttc_weight!r}")
        for name in ("gate_on_collision", "gate_on_offroad", "gate_on_imitation"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"RewardConfig.{name} must be true or false")


@dataclass(frozen=True)
class PromptContext:
    """What the rewards of one prompt compare against (privileged; never shown to the model).

    teacher_poses: (64, 3) the teacher's plan, ego frame; teacher_log: its execution (for the progress
    normaliser); ego_pose: (3,) world pose of the ego at the prompt [x, y, yaw]; lane: the start lane's
    centreline ahead (world frame) or None; critical: descriptions of the teacher's critical objects (None
    when unknown: grounding is then not scored).
    """

    teacher_poses: np.ndarray
    teacher_log: RolloutLog | None
    ego_pose: np.ndarray
    lane: Polyline | None = None
    critical: frozenset | None = None


@dataclass(frozen=True)
class SafetyScore:
    nc: float
    dac: float
    ttc: float
    value: float


@dataclass(frozen=True)
class Reward:
    total: float
    components: dict = field(default_factory=dict)  # name -> value in [0, 1] (None: not scored)
    gated: str | None = None  # "collision" | "offroad" | "imitation" when the floor applied
    details: dict = field(default_factory=dict)  # nc, dac, ttc, ade_m, progress_m, ...


def simulate_plan(state, poses: np.ndarray, horizon_s: float) -> RolloutLog:
    """Execute `poses` (64, 3), ego frame at `state`, in a fork of the WorldState for horizon_s: the plan
    tracker and vehicle model drive the ego, the world's traffic, signals and events run on. Returns the log
    from the fork's start (its first step is the prompt's state). `state` is not changed."""
    from cordillera.world import sim
    from cordillera.world.types import Plan

    start = len(state.log) - 1
    steps = max(1, int(round(horizon_s / state.world.config.dt)))
    fork = sim.step(state, Plan(poses))
    for _ in range(steps - 1):
        fork = sim.step(fork, None)
    world = fork.world
    return RolloutLog.from_steps(fork.log[start:], world.road, world.route, fork.agents.type, world.config.vehicle,
                                 world.scenario, fork.agents.names)


def _lowest(values, default: float = 1.0) -> float:
    kept = values.values[values.valid]
    return float(kept.min()) if len(kept) else default


def safety_reward(log: RolloutLog, cfg: RewardConfig, metrics: MetricsConfig | None = None) -> SafetyScore:
    """NC, DAC and TTC of an executed plan (eval metric functions) and safety = NC DAC (1 - w (1 - TTC))."""
    pdm = (metrics or MetricsConfig()).pdm
    faults = at_fault_collisions(log, pdm)
    nc = _lowest(no_at_fault_collisions(log, pdm, faults))
    dac = _lowest(drivable_area_compliance(log))
    ttc = _lowest(time_to_collision(log, pdm))
    return SafetyScore(nc, dac, ttc, nc * dac * (1.0 - cfg.ttc_weight * (1.0 - ttc)))


def progress_reward(log: RolloutLog, reference_progress_m: float, metrics: MetricsConfig | None = None) -> float:
    """NAVSIM EP of the executed plan against the reference's gated route progress [m]."""
    return ego_progress(route_progress_m(log), 1.0, reference_progress_m, (metrics or MetricsConfig()).pdm)


def comfort_reward(log: RolloutLog, metrics: MetricsConfig | None = None) -> float:
    """Fraction of the executed steps inside every nuPlan comfort bound."""
    step = history_comfort(log, (metrics or MetricsConfig()).comfort)
    kept = step.values[step.valid]
    return float(kept.mean()) if len(kept) else 1.0


def ade(poses: np.ndarray, target: np.ndarray) -> float:
    """Mean XY distance between two plans (T, >= 2) [m]."""
    return float(np.mean(np.hypot(*(np.asarray(poses)[:, :2] - np.asarray(target)[:, :2]).T)))


def imitation_reward(poses: np.ndarray, target: np.ndarray, cfg: RewardConfig) -> tuple[float, float]:
    """(ADE [m], reward): 1 - ADE / imitation_gate_m, 0 beyond the gate (where `combine` floors the total)."""
    error = ade(poses, target)
    return error, max(0.0, 1.0 - error / cfg.imitation_gate_m)


def consistency_reward(text: str | None, poses: np.ndarray, ego_pose: np.ndarray, lane: Polyline | None) -> float:
    """1.0 when the decision the text states allows the plan's meta-action, else 0.0 (nothing stated: 0).

    poses: (64, 3) ego frame; ego_pose: (3,) world pose at the prompt; lane: the start lane's centreline
    (world frame) that lateral offsets are measured from, or None for the start heading line.
    """
    decision = parse_decision(text)
    world = from_frame(np.vstack([np.zeros((1, 3)), np.asarray(poses, dtype=np.float64)]), np.asarray(ego_pose))
    return consistency(decision, classify_meta_action(world, reference=lane))


# object kinds a reasoning text or a critical component can name: (canonical kind, pattern); longer phrases
# first, and a matched span is removed before the next pattern runs ("school bus" is not also a "bus")
_OBJECTS: tuple[tuple[str, str], ...] = (
    ("school bus", r"school bus"),
    ("emergency vehicle", r"emergency vehicle|ambulance|fire truck|police car"),
    ("pedestrian", r"pedestrians?|person on foot|people|persons?|child(ren)?|kids?|walkers?"),
    ("cyclist", r"cyclists?|bike riders?|bicycles?|bikes?"),
    ("motorcycle", r"motorcycles?|motorbikes?|scooters?"),
    ("truck", r"trucks?|lorr(y|ies)"),
    ("bus", r"bus(es)?"),
    ("animal", r"animals?|deer|dogs?"),
    ("debris", r"debris"),
    ("cone", r"(traffic )?cones?"),
    ("barrier", r"barriers?|barricades?"),
    ("signal", r"(traffic )?(signals?|lights?)"),
    ("stop sign", r"stop signs?"),
    ("yield sign", r"yield signs?"),
    ("car", r"cars?|vehicles?"),
)


def object_mentions(text: str | None) -> frozenset:
    """The object kinds a text names (canonical names of `_OBJECTS`)."""
    rest = (text or "").lower()
    found = set()
    for kind, pattern in _OBJECTS:
        regex = re.compile(rf"\b({pattern})\b")
        if regex.search(rest):
            found.add(kind)
            rest = regex.sub(" ", rest)
    return frozenset(found)


def critical_kinds(descriptions: Iterable[str]) -> frozenset:
    """Object kinds of critical-object descriptions ("parked car", "pedestrian", "signal", ...)."""
    out: set = set()
    for description in descriptions:
        out |= object_mentions(description)
    return frozenset(out)


def grounding_reward(text: str | None, critical: Iterable[str]) -> Grounding:
    """Precision / recall / F1 of the object kinds the text names against the critical objects' kinds."""
    return grounding(object_mentions(text), critical_kinds(critical))


def combine(components: dict, cfg: RewardConfig, gated: str | None) -> float:
    """Weighted mean of the scored components (None = not scored), or the floor when a gate fired."""
    if gated is not None:
        return float(cfg.floor)
    pairs = [(getattr(cfg, name), value) for name, value in components.items() if value is not None]
    weight = sum(w for w, _ in pairs)
    return float(sum(w * v for w, v in pairs) / weight) if weight > 0 else 0.0


def score_completion(text: str | None, poses: np.ndarray, log: RolloutLog, context: PromptContext,
                     cfg: RewardConfig, metrics: MetricsConfig | None = None) -> Reward:
    """Every component of one completion and the gated total. log: `simulate_plan` of `poses` from the prompt."""
    metrics = metrics or MetricsConfig()
    safety = safety_reward(log, cfg, metrics)
    reference = 0.0
    if context.teacher_log is not None:
        teacher = safety_reward(context.teacher_log, cfg, metrics)
        reference = route_progress_m(context.teacher_log) * teacher.nc * teacher.dac
    error, imitation = imitation_reward(poses, context.teacher_poses, cfg)
    components = {
        "safety": safety.value,
        "progress": progress_reward(log, reference, metrics),
        "comfort": comfort_reward(log, metrics),
        "imitation": imitation,
        # a completion that wrote no reasoning (its gate shut) states nothing to check: neither is scored
        "consistency": None if text is None else consistency_reward(text, poses, context.ego_pose, context.lane),
        "grounding": None if context.critical is None or text is None else grounding_reward(text, context.critical).f1,
    }
    gated = None
    if cfg.gate_on_collision and safety.nc < 1.0:
        gated = "collision"
    elif cfg.gate_on_offroad and safety.dac < 1.0:
        gated = "offroad"
    elif cfg.gate_on_imitation and error > cfg.imitation_gate_m:
        gated = "imitation"
    details = {"nc": safety.nc, "dac": safety.dac, "ttc": safety.ttc, "ade_m": error,
               "progress_m": route_progress_m(log), "reference_progress_m": reference}
    return Reward(combine(components, cfg, gated), components, gated, details)
