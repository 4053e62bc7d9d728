"""RL prompts: moments of simulated driving on a scenario suite, with the teacher's privileged labels.

    >>> from cordillera.train.rl_prompts import PromptSourceConfig, make_prompt
    >>> prompt = make_prompt(PromptSourceConfig(suite="train"), RewardConfig(), sensors, seed=0, step=3, index=0)
    >>> prompt.sample          # what the model sees (cameras of its rig, history, route)
    >>> prompt.context         # what the rewards compare against (teacher plan, lane, critical objects)

A prompt is drawn from (seed, step, index) alone: a (family, seed) item of the suite, then a time in
[min_time_s, max_time_s] (kept `horizon_s` before the scenario's end); a privileged driver (the teacher when
it is registered, else the lane follower) drives the scenario up to that time at `driver_hz`. The driver's
plan at the moment is the imitation target; the teacher's counterfactual attribution
(`teacher.reasoning.label_moment`) names the critical objects when `critical_objects` is on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cordillera.model.config import ConfigError
from cordillera.train.rewards import PromptContext, RewardConfig, simulate_plan

__all__ = ["PromptSourceConfig", "Prompt", "make_prompt", "driver_name"]


@dataclass(frozen=True)
class PromptSourceConfig:
    suite: str = "train"  # scenario suite the moments come from (cordillera.scenarios.suites)
    driver: str = "teacher"  # privileged driver up to the moment; "teacher" falls back to "lane_follower"
    min_time_s: float = 1.0  # [s] earliest moment (the history needs a little driving)
    max_time_s: float = 8.0  # [s] latest moment (and at most horizon_s before the scenario's end)
    driver_hz: float = 2.0  # [Hz] how often the driver replans on the way to the moment
    critical_objects: bool = True  # label the teacher's critical objects (attribution: ~2 s per prompt)

    def __post_init__(self) -> None:
        if not isinstance(self.suite, str) or not self.suite:
            raise ConfigError(f"PromptSourceConfig.suite must be a suite name, got {self.suite!r}")
        if self.driver not in ("teacher", "lane_follower"):
            raise ConfigError(f"PromptSourceConfig.driver must be 'teacher' or 'lane_follower', got {self.driver!r}")
        for name in ("min_time_s", "max_time_s", "driver_hz"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                    and value >= 0):
                raise ConfigError(f"PromptSourceConfig.{name} must be a number >= 0, got {value!r}")
        if self.driver_hz <= 0 or self.max_time_s < self.min_time_s:
            raise ConfigError("PromptSourceConfig: driver_hz must be > 0 and max_time_s >= min_time_s")
        if not isinstance(self.critical_objects, bool):
            raise ConfigError("PromptSourceConfig.critical_objects must be true or false")


@dataclass
class Prompt:
    family: str
    scenario_seed: int
    t: float  # [s] the moment
    state: object  # world.sim.WorldState at the moment (privileged)
    sample: object  # model.processor.Sample built from the observation
    context: PromptContext
    teacher_text: str | None  # the teacher's CoC sentence at the moment, when labelled


def driver_name(requested: str) -> str:
    """The driver actually used: the teacher when its policy is registered, else the lane follower."""
    from cordillera.policies import UnknownPolicyError, make_policy

    if requested == "teacher":
        try:
            make_policy("teacher")
            return "teacher"
        except (UnknownPolicyError, ImportError):
            return "lane_follower"
    return requested


def make_prompt(config: PromptSourceConfig, rewards: RewardConfig, sensors: tuple, seed: int, step: int,
                index: int) -> Prompt:
    """The prompt `index` of RL step `step` of a run with `seed` (see the module docstring); sensors: what the
    model observes (`model.policy.model_rig`: its cameras at its own resolution, as the policy asks)."""
    from cordillera.eval.metrics.reasoning import lane_reference
    from cordillera.model.processor import Sample
    from cordillera.policies import make_policy
    from cordillera.scenarios.families import get_family
    from cordillera.scenarios.suites import get_suite
    from cordillera.world import sim
    from cordillera.world.rollout import rollout

    rng = np.random.default_rng([seed, step, index])
    suite = get_suite(config.suite)
    family, scenario_seed = suite.items[int(rng.integers(len(suite)))]
    scenario = get_family(family).sample(scenario_seed)
    state = sim.reset(scenario, scenario_seed)
    latest = min(config.max_time_s, state.world.duration_s - rewards.horizon_s)
    moment = round(float(rng.uniform(config.min_time_s, max(latest, config.min_time_s))), 1)
    driver = make_policy(driver_name(config.driver))
    driver.reset({"scenario": scenario.name, "seed": state.world.seed})
    if moment > 0:
        state = rollout(scenario, driver, policy_hz=config.driver_hz, duration_s=moment, state=state)

    teacher_text, critical = None, None
    if hasattr(driver, "planner"):  # the teacher: its decision, plan and (optionally) critical objects
        result = driver.planner.decide(state)
        teacher_poses = result.poses
        if config.critical_objects:
            from cordillera.teacher.reasoning import label_moment

            coc = label_moment(state, result, driver.planner, None, rng, keyframe=True)
            teacher_text = coc.text if coc.reasoned else None
            critical = frozenset(c.object_type or c.category for c in coc.components)
    else:
        teacher_poses = driver.plan(sim.observe(state, driver.sensors, privileged=driver.privileged)).poses
    teacher_poses = np.asarray(teacher_poses, dtype=np.float64)

    ego_pose = np.asarray(state.ego.pose, dtype=np.float64)
    length = float(np.hypot(*np.diff(teacher_poses[:, :2], axis=0).T).sum()) + rewards.lane_reference_m
    try:
        lane = lane_reference(state.road, ego_pose, length, state.world.route)
    except ValueError:  # no lane under the ego: meta-actions are measured from its heading line
        lane = None
    context = PromptContext(teacher_poses, simulate_plan(state, teacher_poses, rewards.horizon_s), ego_pose, lane,
                            critical)
    sample = Sample.from_observation(sim.observe(state, tuple(sensors)))
    return Prompt(family, int(scenario_seed), float(state.t), state, sample, context, teacher_text)
