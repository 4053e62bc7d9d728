"""RL post-training of the reasoning VLA with GRPO, the flow-matching expert included (issue 8).

    cordillera rl --checkpoint checkpoints/small --suite train --out runs/rl/small [--config configs/rl/grpo-small.yaml]
    cordillera rl --checkpoint checkpoints/small --suite train --out runs/rl/small --resume

    >>> from cordillera.train.rl import rl
    >>> from cordillera.train.rl_config import RLConfig
    >>> result = rl(RLConfig(steps=2), "checkpoints/small", "runs/rl/tiny")
    >>> CordilleraVLA.from_pretrained(result.final)

One step: for each of `prompts_per_step` prompts (rl_prompts.py: a simulated moment of a `--suite` scenario and
the teacher's labels) sample G completions (rl_policy.sample_group: reasoning + one SDE trajectory each),
execute every plan in a fork of the world and score it (rewards.py), normalise the rewards within the group,
and take an AdamW step on the clipped GRPO objective of the reasoning tokens and of the expert's SDE chain
(+ optional KL to the SFT model). The SFT checkpoint is never modified.

A run directory holds
    run.json                  the RLConfig and the starting checkpoint (path and sha256 of its weights);
                              --resume refuses a directory whose run.json differs
    metrics.jsonl             one line per step ("split": "train"): rewards (total and per component),
                              advantages, losses, clip fractions, KL, time split (prompt, sample, reward,
                              update); with eval_prompts, "split": "eval" lines: the rewards on held-out
                              prompts of eval_suite at step 0, every eval_every steps and at the end
    checkpoints/step-NNNNNNN/ save_pretrained layout + rl_config.json + trainer/ (train/state.py: AdamW in
                              safetensors, the rest JSON; no pickle)
    final/                    the post-trained model, same checkpoint format as SFT

Exactness: prompts, reasoning tokens and SDE noise of step s come from (seed, s), so a run resumed from a
checkpoint reaches the same weights as one that never stopped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cordillera.train.data import seed_everything_from
from cordillera.train.logbook import MetricsLog
from cordillera.train.rewards import COMPONENTS, score_completion, simulate_plan
from cordillera.train.rl_closed_loop import run_episodes
from cordillera.train.rl_config import RLConfig
from cordillera.train.rl_policy import group_advantages, grpo_loss, sample_group
from cordillera.train.rl_prompts import Prompt, make_prompt
from cordillera.train.state import (StateError, first_difference, load_training_state, save_step_checkpoint,
                                    step_checkpoints)

__all__ = ["rl", "RLError", "RLResult", "PromptSource", "rl_step", "RUN_FORMAT"]

RUN_FORMAT = 1
RUN, METRICS, FINAL = "run.json", "metrics.jsonl", "final"
POOL = 1 << 31  # the "step" a pool prompt is drawn with (no real step reaches it)
EVAL = POOL + 1  # the "step" of the held-out prompts and of their sampling noise


class RLError(ValueError):
    """The run cannot start or continue: a bad checkpoint, a directory of another run, nothing to resume."""


@dataclass(frozen=True)
class RLResult:
    out: Path
    final: Path | None
    step: int
    last: dict  # the last metrics line
    wall_s: float


class PromptSource:
    """Prompts of a run: draw `index` of step `step`; with a pool, one of `pool_size` prompts built lazily
    (each once) from (seed, POOL, i), so steps reuse the expensive simulation of a moment."""

    def __init__(self, config: RLConfig, sensors: tuple):
        self.config = config
        self.sensors = sensors
        self.pool: dict[int, Prompt] = {}

    def get(self, step: int, index: int) -> Prompt:
        cfg = self.config
        if cfg.pool_size == 0:
            return make_prompt(cfg.prompts, cfg.rewards, self.sensors, cfg.seed, step, index)
        slot = int(np.random.default_rng([cfg.seed, step, index, 1]).integers(cfg.pool_size))
        if slot not in self.pool:
            self.pool[slot] = make_prompt(cfg.prompts, cfg.rewards, self.sensors, cfg.seed, POOL, slot)
        return self.pool[slot]


def evaluate(model, prompts: list[Prompt], config: RLConfig, step: int) -> dict:
    """Rewards of G completions on each held-out prompt, sampled with fixed noise (seed, EVAL, i): the same
    draws at every evaluation, so the numbers move only with the weights. Does not touch the run's RNG."""
    start = time.perf_counter()
    totals, gated, parts = [], 0, {c: [] for c in COMPONENTS}
    for i, prompt in enumerate(prompts):
        group = sample_group(model, prompt.sample, config.grpo.group_size, config.grpo,
                             seed_everything_from(config.seed, EVAL, i))
        for text, poses in zip(group.texts, group.poses):
            reward = score_completion(text, poses, simulate_plan(prompt.state, poses, config.rewards.horizon_s),
                                      prompt.context, config.rewards)
            totals.append(reward.total)
            gated += reward.gated is not None
            for name, value in reward.components.items():
                if value is not None:
                    parts[name].append(value)
    return {"step": step, "split": "eval", "suite": config.eval_suite, "prompts": len(prompts),
            "reward/mean": float(np.mean(totals)), "gated_fraction": gated / len(totals),
            **{f"reward/{k}": float(np.mean(v)) for k, v in parts.items() if v}, "eval_s": time.perf_counter() - start}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()



def _optimizer(model, config: RLConfig) -> torch.optim.AdamW:
    opt = config.optim
    return torch.optim.AdamW([{"params": list(model.parameters()), "weight_decay": opt.weight_decay}], lr=opt.lr,
                             betas=(opt.beta1, opt.beta2), eps=opt.eps, foreach=False)






def load_checkpoint(path: str | Path):
    """CordilleraVLA.from_pretrained with every failure as RLError (a clear line before any step)."""
    from cordillera.model.checkpoint import CheckpointError
    from cordillera.model.config import ConfigError
    from cordillera.model.tokenizer import TokenizerError
    from cordillera.model.vla import CordilleraVLA

    try:
        return CordilleraVLA.from_pretrained(path)
    except (CheckpointError, ConfigError, TokenizerError, OSError) as exc:
        raise RLError(f"--checkpoint {path}: {exc}") from None


def rl_step(model, optimizer, reference, prompts: list[Prompt], config: RLConfig, step: int) -> dict:
    """One GRPO step over `prompts` (optimiser steps: updates_per_batch). Returns the metrics line."""
    grpo, rewards_cfg = config.grpo, config.rewards
    generator = seed_everything_from(config.seed, step)
    timing = {"sample_s": 0.0, "reward_s": 0.0, "update_s": 0.0}
    units = []  # (group, advantages (group size,), weight): what the loss is summed over
    advantages, totals, parts, gated, lengths, texts = [], [], {c: [] for c in COMPONENTS}, 0, [], []
    for prompt in prompts:
        start = time.perf_counter()
        if config.closed_loop.enabled:
            episodes = run_episodes(model, prompt, grpo, rewards_cfg, config.closed_loop, generator)
            rewards = [e.reward for e in episodes]
            adv = group_advantages([r.total for r in rewards], grpo.advantage_eps)
            for episode, a in zip(episodes, adv):
                units += [(d, np.array([a]), 1.0 / (len(episode.decisions) * len(episodes))) for d in episode.decisions]
                lengths += [len(d.token_ids[0]) for d in episode.decisions]
            texts.append(episodes[0].decisions[0].texts[0])
            timing["sample_s"] += time.perf_counter() - start  # the episodes: sampling and simulation together
        else:
            group = sample_group(model, prompt.sample, grpo.group_size, grpo, generator)
            timing["sample_s"] += time.perf_counter() - start
            start = time.perf_counter()
            rewards = [score_completion(text, poses, simulate_plan(prompt.state, poses, rewards_cfg.horizon_s),
                                        prompt.context, rewards_cfg) for text, poses in zip(group.texts, group.poses)]
            timing["reward_s"] += time.perf_counter() - start
            adv = group_advantages([r.total for r in rewards], grpo.advantage_eps)
            units.append((group, adv, 1.0))
            lengths += [len(t) for t in group.token_ids]
            texts.append(group.texts[0])
        for reward in rewards:
            gated += reward.gated is not None
            for name, value in reward.components.items():
                if value is not None:
                    parts[name].append(value)
        advantages.append(adv)
        totals.extend(r.total for r in rewards)

    start = time.perf_counter()
    model.train()
    sums: dict[str, float] = {}
    for _ in range(config.updates_per_batch):
        optimizer.zero_grad(set_to_none=True)
        for group, adv, weight in units:
            losses = grpo_loss(model, group, adv, grpo, reference)
            (losses["total"] * weight / len(prompts)).backward()
            for name, value in losses.items():
                share = weight / (len(prompts) * config.updates_per_batch)
                sums[name] = sums.get(name, 0.0) + float(value.detach()) * share
        # the expert's Gaussian log-densities scale with 1 / sigma^2: clipped on their own, they would
        # otherwise take the whole gradient norm budget from the language path
        expert = list(model.expert.parameters())
        ids = {id(p) for p in expert}
        rest = [p for p in model.parameters() if id(p) not in ids]
        norms = [float(torch.nn.utils.clip_grad_norm_(params, config.optim.grad_clip)) for params in (rest, expert)]
        grad_norm = math.hypot(*norms)
        if not math.isfinite(grad_norm):
            raise RLError(f"step {step + 1}: the gradient is not finite; lower optim.lr")
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    timing["update_s"] = time.perf_counter() - start

    adv_all = np.concatenate(advantages)
    line = {"step": step + 1, "split": "train", "prompts": len(prompts), "completions": len(totals),
            "reward/mean": float(np.mean(totals)), "reward/std": float(np.std(totals)),
            "reward/min": float(np.min(totals)), "reward/max": float(np.max(totals)),
            "gated_fraction": gated / len(totals), "advantage/abs_mean": float(np.abs(adv_all).mean()),
            "reasoning_tokens": float(np.mean(lengths)), "grad_norm": grad_norm, "grad_norm/expert": norms[1],
            **{f"reward/{k}": float(np.mean(v)) for k, v in parts.items() if v},
            **{f"loss/{k}": v for k, v in sums.items()}, **timing,
            "example": {"family": prompts[0].family, "t": prompts[0].t, "text": texts[0]}}
    return line


def _progress(enabled: bool, total: int, done: int):
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    bar = Progress(TextColumn("[bold]rl[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("reward {task.fields[r]}"),
                   TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), disable=not enabled)
    return bar, bar.add_task("rl", total=total, completed=done, r="-")


def rl(config: RLConfig, checkpoint: str | Path, out: str | Path, resume: bool = False, progress: bool = True,
       stop_at_step: int | None = None) -> RLResult:
    """GRPO from the SFT `checkpoint` into the run directory `out` (module docstring). stop_at_step: end after
    that many steps with a checkpoint (continue with resume=True)."""
    from cordillera.model.policy import model_rig
    from cordillera.scenarios.schema import ScenarioError
    from cordillera.scenarios.suites import get_suite

    start_time = time.perf_counter()
    out, checkpoint = Path(out), Path(checkpoint)
    if stop_at_step is not None and not 0 < stop_at_step <= config.steps:
        raise RLError(f"stop_at_step must be in 1..{config.steps}, got {stop_at_step}")
    try:
        get_suite(config.prompts.suite)
        if config.eval_prompts:
            get_suite(config.eval_suite)
    except ScenarioError as exc:
        raise RLError(str(exc)) from None
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    model = load_checkpoint(checkpoint)
    identity = json.loads(json.dumps({"format": RUN_FORMAT, "rl_config": config.to_dict(),
                                      "checkpoint": str(checkpoint.resolve()),
                                      "checkpoint_sha256": _sha256(checkpoint / "model.safetensors")}))
    run_path = out / RUN
    resume_from = None
    if resume:
        if not run_path.is_file():
            raise RLError(f"--resume: {out} has no {RUN}; there is no run to resume there")
        stored = json.loads(run_path.read_text())
        diff = first_difference(stored, identity)
        if diff:
            raise RLError(f"--resume: {out} is a different run: {diff}")
        found = step_checkpoints(out)
        resume_from = found[-1] if found else None
    else:
        if run_path.exists():
            raise RLError(f"{out} already holds an RL run; pass --resume to continue it or choose another --out")
        out.mkdir(parents=True, exist_ok=True)
        run_path.write_text(json.dumps(identity, indent=2) + "\n")

    reference = None
    if config.grpo.kl_beta > 0:
        reference = load_checkpoint(checkpoint).eval()
        reference.requires_grad_(False)
    optimizer = _optimizer(model, config)
    step = 0
    if resume_from is not None:
        model.load_state_dict(load_checkpoint(resume_from).state_dict())
        try:
            step = int(load_training_state(resume_from, optimizer)["step"])
        except StateError as exc:
            raise RLError(str(exc)) from None
    log = MetricsLog(out / METRICS, resume_step=step if resume else None)
    source = PromptSource(config, (model_rig(model.config.rig),))  # the frames the policy reads
    end = stop_at_step or config.steps
    line: dict = {}
    held_out: list[Prompt] = []

    def maybe_evaluate(done: int) -> None:
        if not config.eval_prompts or (done % config.eval_every and done not in (0, end)):
            return
        if not held_out:
            prompts_cfg = dataclasses.replace(config.prompts, suite=config.eval_suite)
            held_out.extend(make_prompt(prompts_cfg, config.rewards, source.sensors, config.seed, EVAL, i)
                            for i in range(config.eval_prompts))
        log.write(evaluate(model, held_out, config, done))

    bar, task = _progress(progress, config.steps, step)
    with bar:
        if step == 0:
            maybe_evaluate(0)
        while step < end:
            begin = time.perf_counter()
            prompts = [source.get(step, i) for i in range(config.prompts_per_step)]
            prompt_s = time.perf_counter() - begin
            line = rl_step(model, optimizer, reference, prompts, config, step)
            step += 1
            line["prompt_s"] = prompt_s
            line["wall_s"] = time.perf_counter() - start_time
            if step % config.log_every == 0 or step == end:
                log.write(line)
            bar.update(task, completed=step, r=f"{line['reward/mean']:+.3f}")
            maybe_evaluate(step)
            if step % config.checkpoint_every == 0 or step == end:
                save_step_checkpoint(out, step, model, optimizer, "rl_config.json", config.to_dict(), identity, config.keep)
    final = None
    if step == config.steps:
        final = out / FINAL
        shutil.rmtree(final, ignore_errors=True)
        model.save_pretrained(final)
        (final / "rl_config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    return RLResult(out, final, step, line, time.perf_counter() - start_time)
