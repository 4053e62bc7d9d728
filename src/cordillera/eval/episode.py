"""One scenario of an evaluation: the closed-loop rollout, the reference rollout, the metrics and, for a
failure, its reason. `run_episode` is what the executor's workers run.

    >>> from cordillera.eval.episode import EpisodeTask, run_episode
    >>> from cordillera.eval.specs import parse_policy_id
    >>> record = run_episode(EpisodeTask(0, "stalled_vehicle", 20000, parse_policy_id("constant-velocity")))
    >>> record["success"], record["failure"], record["metrics"]["epdms"]

The reference is the rule-based lane follower on the same (scenario, seed): its gated progress normalises
ego progress (EP), AlpaSim progress and CARLA route completion. For the rule-based policy at its own rate
the rollout is its own reference. A policy (or reference, or metric) that raises does not stop the
evaluation: the record gets status "error", the stage, the exception and its traceback, and counts as a
failure. Wall-clock timings live under "timing" only, so everything else in a record is reproducible.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from cordillera import constants as C
from cordillera.eval.specs import POLICY_IDS, REFERENCE_POLICY, PolicySpec

__all__ = ["EpisodeTask", "run_episode", "replay", "failure_reason", "reasoning_consistency", "key_moment",
           "RULE_FAILURES", "WORKER_MODULES"]

# what a worker needs, imported once by the local pool's forkserver (see executor.py)
WORKER_MODULES = ("cordillera.world.rollout", "cordillera.policies", "cordillera.scenarios.families",
                  "cordillera.eval.metrics", "cordillera.world.render")

# what a broken rule (metrics "rules.*" == 0.0) reads as in a failure reason
RULE_FAILURES = {
    "rules.school_bus": "drove up alongside a loading school bus",
    "rules.emergency_vehicle": "did not yield to the emergency vehicle",
    "rules.crosswalk": "entered a crosswalk while someone was on it",
}
LOOKAHEAD_MARGIN_M = 10.0  # [m] the lane reference for classifying a plan extends this far past the plan's length


@dataclass(frozen=True)
class EpisodeTask:
    """One (family, seed) item of a suite, with everything a worker needs to evaluate it."""

    index: int  # position in the suite (results are sorted by it)
    family: str
    seed: int
    policy: PolicySpec
    suite: str = ""
    suite_hash: str = ""
    code_version: str = ""
    duration_s: float | None = None  # simulated seconds; None: the scenario's own success.time_s
    policy_hz: float = 10.0  # how often the policy replans [Hz]

    @property
    def scenario_id(self) -> str:
        return f"{self.family}:{self.seed}"


def _sim_config(task: EpisodeTask):
    from cordillera.world.sim import SimConfig

    return SimConfig(duration_s=task.duration_s)


def replay(task: EpisodeTask, spec: PolicySpec | None = None, policy_hz: float | None = None):
    """Roll the task's scenario out with `spec` (default: the task's policy).

    Returns (final state, None), or (last state reached, exception) when the policy raised mid-rollout; the
    state is None when it raised before the first step.
    """
    from cordillera.scenarios.families import sample_family
    from cordillera.world.rollout import rollout

    scenario = sample_family(task.family, task.seed)
    last = []

    def keep(state) -> None:
        last[:] = [state]

    try:
        policy = (spec or task.policy).build()
        final = rollout(scenario, policy, seed=task.seed, config=_sim_config(task),
                        policy_hz=task.policy_hz if policy_hz is None else policy_hz, on_step=keep)
    except Exception as exc:  # noqa: BLE001  (a crashing policy is a result, not the end of the run)
        return (last[0] if last else None), exc
    return final, None


def _error(stage: str, exc: BaseException) -> dict:
    return {"stage": stage, "type": type(exc).__name__, "message": str(exc),
            "traceback": "".join(traceback.format_exception(exc))}


def _tags(scenario) -> dict:
    tags = scenario.tags
    return {"category": tags.category, "longtail": tags.longtail, "expected_decision": tags.expected_decision,
            "critical": list(tags.critical), "time_of_day": scenario.appearance.time_of_day,
            "weather": scenario.appearance.weather}


def failure_reason(metrics: dict, final) -> str | None:
    """Why a rollout failed (None when metrics say "scenario.success"): the at-fault collision with whom and
    when, going off-road and when, the rules broken, a goal not reached; joined with "; "."""
    if metrics["scenario.success"]:
        return None
    from cordillera.eval.metrics.collisions import at_fault_collisions
    from cordillera.eval.metrics.rollout_log import RolloutLog
    from cordillera.world.agents import AgentType

    log = RolloutLog.from_state(final)
    parts = []
    if metrics["scenario.at_fault_collision"]:
        first = at_fault_collisions(log)[0]
        kind = AgentType(int(final.agents.type[first.agent])).name.lower()
        parts.append(f"at-fault {first.kind.replace('_', ' ')} collision with {final.agents.names[first.agent]} "
                     f"({kind}) at {log.t[first.step]:.1f} s")
    if metrics["scenario.offroad"]:
        parts.append(f"off the drivable area at {log.t[int(np.argmax(log.offroad))]:.1f} s")
    for key, text in RULE_FAILURES.items():
        if metrics[key] == 0.0:
            parts.append(text)
    if not metrics["scenario.criteria_met"]:
        s, _, _ = log.route.path.project(log.ego[-1:, :2])
        parts.append(f"did not reach the goal ({log.route.length - float(s[0]):.0f} m of route left)")
    return "; ".join(parts) or "not successful"


def _decision(reasoning):
    """The decision a plan's reasoning states, in a form `metrics.reasoning.consistency` reads; None when
    the policy wrote no reasoning for this plan (e.g. a VLA whose gate skipped it)."""
    if getattr(reasoning, "reasoned", True) is False:
        return None
    if isinstance(reasoning, str):
        return reasoning
    if isinstance(reasoning, Mapping):
        return reasoning.get("decision", reasoning)
    decision = getattr(reasoning, "decision", None)
    return decision if decision is not None else getattr(reasoning, "text", None)


def reasoning_consistency(final) -> float | None:
    """Mean reasoning-action consistency over the plans that carried reasoning; None without any.

    Each plan (world frame in the log, preceded by the ego pose it was made at) is classified into
    meta-actions against the centreline of the lane it starts in, and scored 1 when the decision its
    reasoning states allows them (`eval.metrics.reasoning.consistency`).
    """
    from cordillera.eval.metrics.reasoning import classify_meta_action, consistency, lane_reference

    log = final.log
    scores = []
    for k in range(1, len(log)):
        step = log[k]
        if step.reasoning is None or step.plan is None:
            continue
        decision = _decision(step.reasoning)
        if decision is None:
            continue
        start = np.asarray(log[k - 1].ego[:3], dtype=np.float64)
        poses = np.vstack([start, step.plan])
        length = float(np.hypot(*np.diff(poses[:, :2], axis=0).T).sum()) + LOOKAHEAD_MARGIN_M
        try:
            reference = lane_reference(final.road, start, length, final.world.route)
        except ValueError:  # no lane near the ego (off the road): measure from its heading line
            reference = None
        scores.append(consistency(decision, classify_meta_action(poses, C.DT, reference)))
    return float(np.mean(scores)) if scores else None


def _text(reasoning) -> str | None:
    if reasoning is None or getattr(reasoning, "reasoned", True) is False:
        return None
    if isinstance(reasoning, str):
        return reasoning
    if isinstance(reasoning, Mapping):
        text = reasoning.get("text")
        if text:
            return str(text)
        decision = reasoning.get("decision", reasoning)
        return ", ".join(str(v) for v in decision.values() if v) if isinstance(decision, Mapping) else str(decision)
    return getattr(reasoning, "text", None) or None


def key_moment(final, critical: tuple[str, ...] | list[str] = ()) -> dict | None:
    """The reasoning a policy wrote at the most important moment of a rollout, or None when it wrote none.

    The moment is the closest approach (ego box centre to agent centre) to any of the scenario's critical
    agents (tags.critical) while they are active; without critical agents, the step of the strongest
    braking. The reasoning shown is the last one written at or before that moment (what the policy was
    acting on), else the first one written after it. Returns {"t", "text", "decision", "moment_t", "why"}.
    """
    log = final.log
    written = [k for k in range(len(log)) if _text(log[k].reasoning)]
    if not written:
        return None
    names = list(final.agents.names)
    index = [names.index(n) for n in critical if n in names]
    moment, why = 0, "start"
    if index:
        centre = np.array([s.ego_center[:2] for s in log])
        agents = np.array([s.agents[index, :2] for s in log])
        active = np.array([s.active[index] for s in log])
        dist = np.where(active, np.linalg.norm(agents - centre[:, None, :], axis=-1), np.inf).min(axis=1)
        if np.isfinite(dist).any():
            moment = int(np.argmin(dist))
            who = names[index[int(np.argmin(np.where(active[moment], np.linalg.norm(
                agents[moment] - centre[moment], axis=-1), np.inf)))]]
            why = f"closest to {who} ({dist[moment]:.1f} m)"
    if why == "start":
        accel = np.array([s.ego[4] for s in log])
        moment = int(np.argmin(accel))
        why = f"strongest braking ({accel[moment]:.1f} m/s^2)" if accel[moment] < 0 else "start"
    before = [k for k in written if k <= moment]
    k = before[-1] if before else written[0]
    # a plan is logged on the step after the observation it answered: report the observation's time
    return {"t": float(log[max(k - 1, 0)].t), "text": _text(log[k].reasoning), "decision": _decision(log[k].reasoning),
            "moment_t": float(log[moment].t), "why": why}


def run_episode(task: EpisodeTask) -> dict:
    """Evaluate one scenario; never raises for a policy, reference or metric error (see module docstring)."""
    from cordillera.eval.metrics import compute_all
    from cordillera.scenarios.families import sample_family

    start = time.perf_counter()
    record = {
        "index": task.index, "scenario": task.scenario_id, "family": task.family, "seed": task.seed,
        "suite": task.suite, "suite_hash": task.suite_hash, "policy": task.policy.id,
        "code_version": task.code_version, "duration_s": task.duration_s, "policy_hz": task.policy_hz,
        "tags": None, "status": "ok", "success": False, "failure": None, "metrics": None,
        "reasoning_action_consistency": None, "key_moment": None,
        "min_ade": None,  # closed loop has no logged future to compare plans with
        "error": None, "timing": {},
    }
    timing = record["timing"]

    def fail(stage: str, exc: BaseException) -> dict:
        record.update(status="error", error=_error(stage, exc), failure=f"{stage} raised {type(exc).__name__}: {exc}")
        timing["total_s"] = time.perf_counter() - start
        return record

    try:
        record["tags"] = _tags(sample_family(task.family, task.seed))
    except Exception as exc:  # noqa: BLE001
        return fail("scenario", exc)
    t0 = time.perf_counter()
    final, exc = replay(task)
    timing["rollout_s"] = time.perf_counter() - t0
    if exc is not None:
        return fail("policy", exc)
    reference_spec = PolicySpec(REFERENCE_POLICY, POLICY_IDS[REFERENCE_POLICY])
    own_reference = (task.policy.name, task.policy.kwargs, task.policy_hz) == (reference_spec.name, (), 10.0)
    t0 = time.perf_counter()
    if own_reference:
        reference = final
    else:
        reference, exc = replay(task, reference_spec, policy_hz=10.0)
        if exc is not None:
            return fail("reference", exc)
    timing["reference_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    try:
        metrics = compute_all(final, reference=reference)
        record["reasoning_action_consistency"] = reasoning_consistency(final)
        record["key_moment"] = key_moment(final, (record["tags"] or {}).get("critical", ()))
        record["failure"] = failure_reason(metrics, final)
    except Exception as exc:  # noqa: BLE001
        return fail("metrics", exc)
    timing["metrics_s"] = time.perf_counter() - t0
    record.update(metrics=metrics, success=bool(metrics["scenario.success"]))
    timing["total_s"] = time.perf_counter() - start
    return record
