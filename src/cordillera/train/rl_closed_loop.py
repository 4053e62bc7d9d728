"""Closed-loop GRPO episodes: the VLA drives a fork of the prompt's world for a few seconds, replanning with
sampled completions, and the whole rollout is scored.

    >>> episodes = run_episodes(model, prompt, RLConfig(closed_loop=ClosedLoopConfig(enabled=True)), generator)
    >>> [e.reward.total for e in episodes], len(episodes[0].decisions)

Each of the G episodes starts at the prompt's moment; every 1 / replan_hz seconds the model samples one
completion (reasoning + SDE trajectory, `rl_policy.sample_group` with one member) from the observation, and
the controller tracks it until the next one. The episode's log from the moment is scored like an open-loop
completion (`rewards.py`): safety, progress against the teacher's plan executed as long, comfort, and the mean
consistency / grounding of the episode's decisions; collisions and leaving the road gate to the floor. Every
decision of an episode shares the episode's group-normalised advantage, so the policy gradient credits the
whole sequence of decisions with the outcome of the rollout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cordillera.model.config import ConfigError
from cordillera.train.rewards import (Reward, RewardConfig, combine, comfort_reward, consistency_reward,
                                      grounding_reward, progress_reward, safety_reward, simulate_plan)
from cordillera.train.rl_policy import GRPOConfig, Group, sample_group

__all__ = ["ClosedLoopConfig", "Episode", "run_episodes", "episode_reward"]


@dataclass(frozen=True)
class ClosedLoopConfig:
    enabled: bool = False  # True: every prompt is scored by G closed-loop episodes instead of G open-loop plans
    duration_s: float = 4.0  # [s] simulated from the prompt's moment
    replan_hz: float = 1.0  # [Hz] how often the model samples a new completion

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ConfigError("ClosedLoopConfig.enabled must be true or false")
        for name in ("duration_s", "replan_hz"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                    and value > 0):
                raise ConfigError(f"ClosedLoopConfig.{name} must be a number > 0, got {value!r}")


@dataclass
class Episode:
    decisions: list[Group]  # one single-member group per replanning step
    reward: Reward


def episode_reward(log, texts: list[str | None], plans: list[np.ndarray], poses: list[np.ndarray], context,
                   reference_progress_m: float, cfg: RewardConfig) -> Reward:
    """Reward of a closed-loop episode: log from the moment; texts / plans (ego frame) / poses (world pose of the
    ego when each plan was made) of its decisions."""
    safety = safety_reward(log, cfg)
    agree = [consistency_reward(t, p, pose, context.lane) for t, p, pose in zip(texts, plans, poses) if t is not None]
    written = [t for t in texts if t is not None]  # decisions whose gate stayed shut state nothing
    components = {
        "safety": safety.value,
        "progress": progress_reward(log, reference_progress_m),
        "comfort": comfort_reward(log),
        "consistency": float(np.mean(agree)) if agree else None,
        "grounding": None if context.critical is None or not written
        else float(np.mean([grounding_reward(t, context.critical).f1 for t in written])),
    }
    gated = "collision" if cfg.gate_on_collision and safety.nc < 1.0 else \
        "offroad" if cfg.gate_on_offroad and safety.dac < 1.0 else None
    return Reward(combine(components, cfg, gated), components, gated,
                  {"nc": safety.nc, "dac": safety.dac, "ttc": safety.ttc, "decisions": len(texts)})


def run_episodes(model, prompt, grpo: GRPOConfig, rewards: RewardConfig, closed: ClosedLoopConfig,
                 generator) -> list[Episode]:
    """G = grpo.group_size closed-loop episodes from `prompt` (see the module docstring)."""
    from cordillera.eval.metrics.pdm import route_progress_m
    from cordillera.eval.metrics.rollout_log import RolloutLog
    from cordillera.model.policy import model_rig
    from cordillera.model.processor import Sample
    from cordillera.world import sim
    from cordillera.world.types import Plan

    start_state = prompt.state
    dt = start_state.world.config.dt
    steps = max(1, int(round(closed.duration_s / dt)))
    every = max(1, int(round(1.0 / (closed.replan_hz * dt))))
    sensors = (model_rig(model.config.rig),)  # the frames the policy reads
    teacher = simulate_plan(start_state, prompt.context.teacher_poses, closed.duration_s)
    t_safety = safety_reward(teacher, rewards)
    reference = route_progress_m(teacher) * t_safety.nc * t_safety.dac
    start = len(start_state.log) - 1
    episodes = []
    for _ in range(grpo.group_size):
        state, decisions, texts, plans, poses = start_state, [], [], [], []
        for k in range(steps):
            plan = None
            if k % every == 0:
                sample = Sample.from_observation(sim.observe(state, sensors))
                group = sample_group(model, sample, 1, grpo, generator)
                decisions.append(group)
                texts.append(group.texts[0])
                plans.append(group.poses[0])
                poses.append(np.asarray(state.ego.pose, dtype=np.float64))
                plan = Plan(group.poses[0], reasoning=group.texts[0])
            state = sim.step(state, plan)
        world = state.world
        log = RolloutLog.from_steps(state.log[start:], world.road, world.route, state.agents.type,
                                    world.config.vehicle, world.scenario, state.agents.names)
        episodes.append(Episode(decisions, episode_reward(log, texts, plans, poses, prompt.context, reference,
                                                          rewards)))
    return episodes
