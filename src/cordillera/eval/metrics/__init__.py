"""Driving metrics: pure functions over a rollout log, and `compute_all` for one rollout's scenario-level numbers.

    >>> from cordillera.scenarios.builtin import builtin_scenario
    >>> from cordillera.policies import make_policy
    >>> from cordillera.world.rollout import rollout
    >>> from cordillera.eval.metrics import compute_all
    >>> final = rollout(builtin_scenario("straight"), make_policy("lane_follower"), seed=0, duration_s=5)
    >>> compute_all(final)["epdms"]

Modules: config (published thresholds, frozen), rollout_log (the log as arrays + shared map geometry),
collisions (sides, at-fault rules), pdm (NAVSIM v2 EPDMS), comfort (HC, EC), alpasim, carla, rules (school
bus, emergency vehicle, crosswalk, scenario success), open_loop (Alpamayo minADE & co), meta_actions (the
10 Hz meta-action detector), reasoning (meta-actions, reasoning-action consistency, grounding). Each per-step metric returns StepValues
(values, valid); the *_score functions turn them into scenario numbers.
"""

from __future__ import annotations

from cordillera.eval.metrics.alpasim import AlpaSimResult, alpasim_metrics, km_per_incident
from cordillera.eval.metrics.carla import CarlaResult, carla_metrics, route_target_m
from cordillera.eval.metrics.collisions import at_fault_collisions, contacts
from cordillera.eval.metrics.config import MetricsConfig
from cordillera.eval.metrics.open_loop import ade, corner_distance, fde, min_ade, min_fde
from cordillera.eval.metrics.pdm import PDMResult, epdms, route_progress_m
from cordillera.eval.metrics.reasoning import (
    MetaAction, classify_meta_action, consistency, expected_meta_actions, grounding, lane_reference,
)
from cordillera.eval.metrics.rollout_log import RolloutLog, StepValues
from cordillera.eval.metrics.rules import (
    crosswalk_respected, scenario_success, stopped_for_school_bus, yielded_to_emergency_vehicle,
)

__all__ = [
    "compute_all", "reference_progress_m", "RolloutLog", "StepValues", "MetricsConfig",
    "epdms", "PDMResult", "route_progress_m", "contacts", "at_fault_collisions",
    "alpasim_metrics", "AlpaSimResult", "km_per_incident", "carla_metrics", "CarlaResult", "route_target_m",
    "stopped_for_school_bus", "yielded_to_emergency_vehicle", "crosswalk_respected", "scenario_success",
    "min_ade", "ade", "fde", "min_fde", "corner_distance",
    "MetaAction", "classify_meta_action", "lane_reference", "expected_meta_actions", "consistency", "grounding",
]


def _as_log(rollout) -> RolloutLog:
    return rollout if isinstance(rollout, RolloutLog) else RolloutLog.from_state(rollout)


def reference_progress_m(reference, config: MetricsConfig | None = None) -> float:
    """A reference rollout's route progress times its multiplicative gates (NC, DAC, DDC, TLC), as NAVSIM
    weighs the best proposal's progress. reference: a final WorldState or a RolloutLog of the same scenario."""
    result = epdms(_as_log(reference), reference_progress_m=0.0, config=config)
    return result.progress_m * result.nc * result.dac * result.ddc * result.tlc


def compute_all(final_state, reference=None, config: MetricsConfig | None = None) -> dict:
    """Every scenario-level metric of one rollout as a flat, JSON-ready dict.

    final_state: the final WorldState of a rollout (or a RolloutLog).
    reference: how far a reference planner got on the same scenario, for EP, the AlpaSim progress and CARLA
    route completion: its final WorldState / RolloutLog, or its gated progress in metres. None: the distance
    driving at the speed limits would cover (pdm.fallback_reference_progress_m), reported in
    "pdm.reference_is_fallback".
    Keys: "epdms", "pdm.*", "alpasim.*", "carla.*" (percent, as the leaderboard), "rules.*" (None when a rule
    did not apply), "scenario.*", and "steps", "duration_s", "distance_m".
    """
    config = config or MetricsConfig()
    log = _as_log(final_state)
    if reference is None or isinstance(reference, (int, float)):
        ref = None if reference is None else float(reference)
    else:
        ref = reference_progress_m(reference, config)
    hits = contacts(log, config.pdm)
    faults = at_fault_collisions(log, config.pdm, hits)
    pdm = epdms(log, ref, config, faults)
    ref_m = pdm.reference_progress_m
    alp = alpasim_metrics(log, ref_m, config.alpasim, hits)
    bus = stopped_for_school_bus(log, config.rules)
    ev = yielded_to_emergency_vehicle(log, config.rules)
    crossing = crosswalk_respected(log, config.rules)
    carla = carla_metrics(log, route_target_m(log, ref_m, config.goal_slack_m), len(ev.violations), cfg=config.carla)
    outcome = scenario_success(log, faults, (bus, ev, crossing), config)

    out: dict = {"epdms": pdm.score}
    out.update({f"pdm.{k}": v for k, v in pdm.as_dict().items() if k != "score"})
    out["pdm.reference_is_fallback"] = ref is None
    out.update({f"alpasim.{k}": v for k, v in alp.as_dict().items()})
    out.update({f"carla.{k}": v for k, v in carla.as_dict().items()})
    out.update({"rules.school_bus": bus.value, "rules.emergency_vehicle": ev.value, "rules.crosswalk": crossing.value})
    out.update({f"scenario.{k}": v for k, v in vars(outcome).items()})
    out.update({"steps": log.steps, "duration_s": float(log.t[-1] - log.t[0]),
                "distance_m": float(log.step_distance.sum())})
    return out
