"""Supervised training of the reasoning VLA: stages of cross-entropy and flow matching, resumable exactly.

    cordillera train --config configs/train/vla-small.yaml --data data/teacher-v1 --out runs/train/small
    cordillera train --config configs/train/vla-small.yaml --data data/teacher-v1 --out runs/train/small --resume
    torchrun --nproc_per_node 2 -m cordillera train --config ... --data ... --out ...      # DDP (gloo on CPU)

    >>> from cordillera.train import TrainConfig, train
    >>> result = train(TrainConfig(...), train_samples, val_samples, out="runs/train/tiny")
    >>> CordilleraVLA.from_pretrained(result.final)

A run directory holds
    run.json            what the run is: the TrainConfig, the data fingerprints, the world size. --resume
                        refuses a directory whose run.json differs (naming the first differing field)
    tokenizer.json      BPE trained on the training split's texts when the run starts
    metrics.jsonl       training / validation / closed-loop lines (logbook.py); curves.png drawn from it
    checkpoints/step-NNNNNNN/   save_pretrained layout + train_config.json + trainer/ (state.py); the
                        last `checkpoint.keep` are kept
    final/              the trained model (save_pretrained layout + train_config.json)
    eval/step-NNNNNNN/  closed-loop evaluation of a checkpoint when validation.closed_loop_suite is set

Exactness: the batch of step s, the learning rate and the flow noise are functions of (seed, s, rank), the
weights and AdamW moments are saved bit for bit, so a run resumed from step k reaches the same weights as a
run that never stopped (tests/train/test_trainer.py checks it).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from cordillera.model.action_space import ActionStats
from cordillera.model.checkpoint import CheckpointError, load_pretrained, weights_digest
from cordillera.model.processor import Sample
from cordillera.model.tokenizer import TextTokenizer, train_tokenizer
from cordillera.model.vla import CordilleraVLA
from cordillera.train import distributed
from cordillera.train.augment import photometric
from cordillera.train.config import DEFAULT_LOSSES, TrainConfig
from cordillera.train.data import (BRAKING, DataError, SampleView, StepBatchSampler, action_stats, data_fingerprint,
                                   make_loader, oversampling, seed_everything_from, text_corpus)
from cordillera.train.logbook import MetricsLog, plot_curves
from cordillera.train.state import (StateError, first_difference, load_training_state, save_step_checkpoint,
                                    step_checkpoints)

__all__ = ["train", "TrainResult", "TrainError", "learning_rate", "RUN_FORMAT"]

RUN_FORMAT = 1
AUGMENT_STREAM = 7  # seed part of the augmentation generator (rank, step, 7), apart from the flow noise (rank, step)
FACTS_STREAM = 11  # seed part of the true-facts draws (StageConfig.true_facts), apart from the other two
RUN, TOKENIZER, METRICS, CURVES, FINAL = "run.json", "tokenizer.json", "metrics.jsonl", "curves.png", "final"


class TrainError(ValueError):
    """The run cannot start or continue: a directory of another run, no checkpoint to resume, bad data."""


@dataclass(frozen=True)
class TrainResult:
    out: Path
    final: Path | None  # the trained model (None when the run stopped early at stop_at_step)
    step: int  # optimiser steps done
    validation: dict  # the last validation record ({} when there was none)
    wall_s: float
    rank: int = 0  # this process's rank under torchrun (0 alone)


def learning_rate(config: TrainConfig, step: int) -> float:
    """Learning rate of optimiser step `step` (0-based): per stage, linear warmup then cosine decay."""
    stage, i = config.stage_at(step)
    peak = stage.lr if stage.lr is not None else config.optim.lr
    warmup = min(config.optim.warmup_steps, stage.steps - 1)
    if i < warmup:
        return peak * (i + 1) / (warmup + 1)
    progress = (i - warmup) / max(1, stage.steps - 1 - warmup)
    floor = config.optim.min_lr_ratio
    return peak * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress)))


class Objective(nn.Module):
    """The weighted loss of a stage as a module's forward, so DistributedDataParallel can wrap it. Only the
    stage's terms enter `total`; the others are returned detached for the log."""

    def __init__(self, model: CordilleraVLA):
        super().__init__()
        self.model = model

    def forward(self, batch, generator: torch.Generator, terms: tuple[str, ...], detach_prefix: bool,
                flow_samples: int, speed_weight: float,
                true_facts: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        losses = self.model.loss(batch, generator, detach_prefix=detach_prefix, flow_samples=flow_samples,
                                 true_facts=true_facts)
        out = {name: value.detach() for name, value in losses.items() if name != "total"}
        out["total"] = sum(losses[name] * (speed_weight if name == "speed" else 1.0) for name in terms)
        return out


def _optimizer(model: CordilleraVLA, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay only on the weights of linear and convolution layers."""
    decay_ids = {id(m.weight) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))}
    params = list(model.parameters())
    decay = [p for p in params if id(p) in decay_ids]
    other = [p for p in params if id(p) not in decay_ids]
    opt = config.optim
    return torch.optim.AdamW([{"params": decay, "weight_decay": opt.weight_decay},
                              {"params": other, "weight_decay": 0.0}],
                             lr=opt.lr, betas=(opt.beta1, opt.beta2), eps=opt.eps, foreach=False)





def _prepare_directory(out: Path, identity: dict, resume: bool, context: distributed.Context) -> Path | None:
    """Check (resume) or claim (fresh run) the run directory; the checkpoint to resume from, if any."""
    run_path = out / RUN
    if not resume:
        if run_path.exists():
            raise TrainError(f"{out} already holds a training run; pass --resume to continue it or choose "
                             "another --out")
        context.barrier()  # every rank has looked before rank 0 writes
        if context.is_main:
            out.mkdir(parents=True, exist_ok=True)
            run_path.write_text(json.dumps(identity, indent=2) + "\n")
        return None
    if not run_path.is_file():
        raise TrainError(f"--resume: {out} has no {RUN}; there is no run to resume there")
    try:
        stored = json.loads(run_path.read_text())
    except json.JSONDecodeError as exc:
        raise TrainError(f"{run_path}: not valid JSON ({exc})") from None
    diff = first_difference(stored, identity)
    if diff:
        raise TrainError(f"--resume: {out} is a different run: {diff}")
    found = step_checkpoints(out)
    return found[-1] if found else None


def _validate(model: CordilleraVLA, config: TrainConfig, samples: Sequence[Sample], step: int) -> dict:
    """Validation losses (fixed noise), open-loop minADE of K trajectories over the first val samples, the mean
    absolute error of their mean speed 2 s ahead, and (when some val samples brake hard) the braking response:
    the share of those samples' slowdown 2 s ahead that the plans reproduce."""
    from cordillera.eval.metrics.open_loop import min_ade, speeds_ahead

    val = config.validation
    count = min(len(samples), val.max_samples)
    sums: dict[str, float] = {}
    braking = [0.0, 0.0]  # slowdown 2 s ahead of the plans and of the labels, over hard-braking samples [m/s]
    batch_size = config.data.batch_size
    model.eval()
    dtype = torch.bfloat16 if config.precision == "bfloat16" else torch.float32
    for k, start in enumerate(range(0, count, batch_size)):
        chunk = [samples[i] for i in range(start, min(count, start + batch_size))]
        with torch.no_grad(), torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
            losses = model.loss(model.processor.collate(chunk, targets=True), seed_everything_from(config.seed, -1, k))
        for name, value in losses.items():
            sums[f"loss/{name}"] = sums.get(f"loss/{name}", 0.0) + float(value) * len(chunk)
        out = model.generate(model.processor.collate(chunk), mode=val.mode, num_samples=val.trajectories,
                             generator=seed_everything_from(config.seed, -2, k))
        truth = np.stack([s.future[:, :2] for s in chunk])
        for name, values in min_ade(out.poses[..., :2], truth).items():
            sums[name] = sums.get(name, 0.0) + float(values.sum())
        sums["reasoning_rate"] = sums.get("reasoning_rate", 0.0) + sum(r is not None for r in out.reasoning)
        predicted, label = speeds_ahead(out.poses[..., :2], truth, seconds=2.0, dt=config.model.action.dt)
        sums["speed_error@2s"] = sums.get("speed_error@2s", 0.0) + float(np.abs(predicted - label).sum())
        start = np.array([s.speed for s in chunk])
        hard = label < start - BRAKING  # the oversampling's "braking hard"
        braking[0] += float((start - predicted)[hard].sum())
        braking[1] += float((start - label)[hard].sum())
    model.train()
    record = {"step": step, "split": "val", "samples": count, **{k: v / max(count, 1) for k, v in sums.items()}}
    if braking[1] > 0:  # the share of the hard-braking samples' slowdown the plans reproduce (1 = all of it)
        record["braking_response"] = braking[0] / braking[1]
    return record


def _closed_loop(checkpoint: Path, out: Path, config: TrainConfig, step: int) -> dict:
    from cordillera.eval.runner import EvalConfig, run_eval

    val = config.validation
    result = run_eval(EvalConfig(policy=f"vla:{checkpoint}", suite=val.closed_loop_suite,
                                 out=str(out / "eval" / checkpoint.name), workers=val.closed_loop_workers,
                                 duration_s=val.closed_loop_duration_s, videos=False))
    summary = result.summary
    keys = ("epdms", "collision_free_rate", "offroad_rate", "success_rate", "route_completion")
    return {"step": step, "split": "closed_loop", "suite": val.closed_loop_suite,
            **{k: summary[k] for k in keys if isinstance(summary.get(k), (int, float))}}




def _progress(enabled: bool, total: int, done: int):
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    bar = Progress(TextColumn("[bold]train[/] {task.fields[stage]}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(), TextColumn("ETA"),
                   TimeRemainingColumn(), disable=not enabled, transient=False)
    task = bar.add_task("train", total=total, completed=done, stage="", loss="-")
    return bar, task


def train(config: TrainConfig, train_samples: Sequence[Sample], val_samples: Sequence[Sample] | None,
          out: str | Path, resume: bool = False, progress: bool = True, stop_at_step: int | None = None,
          on_step: Callable[[int, dict], None] | None = None, init: str | Path | None = None) -> TrainResult:
    """Train `config` on the samples into the run directory `out` (see the module docstring).

    resume: continue the run in `out` from its newest checkpoint (TrainError when `out` holds another run).
    stop_at_step: end after this many optimiser steps with a checkpoint (a time-boxed session; --resume
    continues). on_step(step, losses) is called after every optimiser step on rank 0.
    init: a checkpoint to start from (fine-tuning): its weights, tokenizer and action statistics replace the
    fresh ones; its model config must equal `config.model` (TrainError naming the first difference).
    """
    start_time = time.perf_counter()
    context = distributed.start()
    try:
        return _train(config, train_samples, val_samples, Path(out), resume, progress, stop_at_step, on_step,
                      context, start_time, init)
    finally:
        distributed.stop(context)


def _initial(init: str | Path, config: TrainConfig):
    """The checkpoint a fine-tuning run starts from, checked against the training config."""
    try:
        model = load_pretrained(init)
    except CheckpointError as exc:
        raise TrainError(f"--init: {exc}") from None
    diff = first_difference(model.config.to_dict(), config.model.to_dict())
    if diff:
        diff = diff.replace("in the run", "in the checkpoint")
        raise TrainError(f"--init {init}: its model config differs from the training config's: {diff}")
    return model


def _train(config, train_samples, val_samples, out: Path, resume, progress, stop_at_step, on_step,
           context: distributed.Context, start_time: float, init: str | Path | None = None) -> TrainResult:
    if len(train_samples) < config.data.batch_size * context.world_size:
        raise DataError(f"the training split has {len(train_samples)} samples; one step needs batch_size x "
                        f"processes = {config.data.batch_size} x {context.world_size}")
    for split in (train_samples, val_samples):  # a DrivingDataset checks every shard's checksum now, not mid-run
        verify = getattr(getattr(split, "reader", None), "verify", None)
        if callable(verify):
            verify()
    total = config.total_steps
    if stop_at_step is not None and not 0 < stop_at_step <= total:
        raise TrainError(f"stop_at_step must be in 1..{total}, got {stop_at_step}")
    identity = {"format": RUN_FORMAT, "train_config": config.to_dict(), "world_size": context.world_size,
                "data": {"train": data_fingerprint(train_samples),
                         "val": data_fingerprint(val_samples) if val_samples else None}}
    initial = _initial(init, config) if init is not None else None
    if init is not None:  # (absent otherwise: the identity of runs made before fine-tuning existed)
        identity["init"] = {"checkpoint": str(init), "weights_sha256": weights_digest(init)}
    identity = json.loads(json.dumps(identity))  # tuples as lists: compared with run.json as read back
    checkpoint = _prepare_directory(out, identity, resume, context)
    context.barrier()

    # tokenizer: trained once by rank 0 on the training texts, read back by every rank (and on resume)
    tokenizer_path = out / TOKENIZER
    cameras = config.model.rig.camera_vocabulary
    if not tokenizer_path.is_file() and context.is_main and initial is not None:
        initial.tokenizer.save(tokenizer_path)  # fine-tuning keeps the checkpoint's vocabulary
    elif not tokenizer_path.is_file() and context.is_main:
        corpus = text_corpus(train_samples, config.data.reasoning, config.data.qa_pairs > 0)
        if not corpus:
            raise DataError("the training split has no text (navigation or reasoning) to train the tokenizer on")
        train_tokenizer(corpus, config.model.backbone.vocab_size, cameras,
                        config.data.tokenizer_min_frequency).save(tokenizer_path)
    context.barrier()
    tokenizer = TextTokenizer.load(tokenizer_path, cameras)
    stats: ActionStats = initial.stats if initial is not None else action_stats(train_samples, config.model.action)

    torch.manual_seed(config.seed)
    model = CordilleraVLA(config.model, tokenizer, stats)
    if initial is not None:
        model.load_state_dict(initial.state_dict())
        del initial
    optimizer = _optimizer(model, config)
    step = 0
    if checkpoint is not None:
        saved = load_pretrained(checkpoint)
        model.load_state_dict(saved.state_dict())
        try:
            state = load_training_state(checkpoint, optimizer)
        except StateError as exc:
            raise TrainError(str(exc)) from None
        step = int(state["step"])  # (a run that died before its first checkpoint starts over at 0)
    first_step = step
    model.train()
    objective = Objective(model)
    if context.distributed:
        from torch.nn.parallel import DistributedDataParallel

        # a stage without some loss term, or with a detached cache, leaves parameters without a gradient
        # ("perception" only counts when the model has the head or the dense vision head)
        heads = model.perception is not None or model.vision.dense is not None
        terms = set(DEFAULT_LOSSES) - (set() if heads else {"perception"})  # "speed" trains what "flow" does
        partial = any(not terms <= set(s.losses) or s.detach_prefix for s in config.stages)
        objective = DistributedDataParallel(objective, find_unused_parameters=partial)

    log = MetricsLog(out / METRICS, resume_step=step if resume else None) if context.is_main else None
    index = oversampling(train_samples, config.data.repeat_moving_off, config.data.repeat_speeding_up,
                         config.data.repeat_braking)
    train_view = SampleView(train_samples, config.data.reasoning, index, config.data.qa_pairs)
    val_view = SampleView(val_samples, config.data.reasoning, qa_pairs=config.data.qa_pairs) if val_samples else None
    end = stop_at_step or total
    sampler = StepBatchSampler(len(train_view), config.data.batch_size, config.seed, step, end,
                               context.rank, context.world_size)
    loader = make_loader(train_view, sampler, model.processor, config.data.workers, config.data.prefetch)
    dtype = torch.bfloat16 if config.precision == "bfloat16" else torch.float32
    params = [p for p in model.parameters()]
    window: dict[str, float] = {}
    window_steps, window_start, wait = 0, time.perf_counter(), 0.0
    validation: dict = {}
    bar, task = _progress(progress and context.is_main, total, step)

    def checkpoint_now(done: int) -> Path | None:
        path = None
        if context.is_main:
            path = save_step_checkpoint(out, done, model, optimizer, "train_config.json", config.to_dict(), identity,
                                        config.checkpoint.keep)
        context.barrier()
        return path

    with bar:
        fetch_start = time.perf_counter()
        for batch in loader:
            wait += time.perf_counter() - fetch_start
            stage, _ = config.stage_at(step)
            lr = learning_rate(config, step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            if config.data.augment:  # its own stream, so the flow noise is the same with and without
                batch = replace(batch, images=photometric(batch.images, seed_everything_from(config.seed, context.rank,
                                                                                             step, AUGMENT_STREAM)))
            forced = None
            if stage.true_facts > 0:  # its own stream too: the flow noise does not depend on it
                draws = torch.rand(batch.size, generator=seed_everything_from(config.seed, context.rank, step,
                                                                              FACTS_STREAM))
                forced = draws < stage.true_facts
            with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
                losses = objective(batch, seed_everything_from(config.seed, context.rank, step), stage.losses,
                                   stage.detach_prefix, stage.flow_samples, stage.speed_weight, forced)
            losses["total"].backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(params, config.optim.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            values = {name: float(v.detach()) for name, v in losses.items()}
            if not math.isfinite(values["total"]):
                raise TrainError(f"step {step}: the loss is not finite ({values}); lower the learning rate")
            for name, value in values.items():
                window[f"loss/{name}"] = window.get(f"loss/{name}", 0.0) + value
            window["grad_norm"] = window.get("grad_norm", 0.0) + float(grad_norm)
            window_steps += 1
            if on_step is not None and context.is_main:
                on_step(step, values)
            bar.update(task, completed=step, stage=stage.name, loss=f"{values['total']:.3f}")

            if step % config.log_every == 0 or step == end:
                elapsed = time.perf_counter() - window_start
                if log is not None:
                    log.write({"step": step, "split": "train", "stage": stage.name, "lr": lr,
                               **{k: v / window_steps for k, v in window.items()},
                               "samples_per_s": window_steps * config.data.batch_size * context.world_size / elapsed,
                               "data_wait_fraction": wait / elapsed, "wall_s": time.perf_counter() - start_time})
                window, window_steps, window_start, wait = {}, 0, time.perf_counter(), 0.0
            if step % config.validation.every_steps == 0 or step == total:
                same, digests = distributed.replicas_identical(context, model)
                if not same:
                    raise TrainError(f"step {step}: DDP replicas diverged (parameter digests {digests})")
                if context.is_main and val_view is not None and len(val_view):
                    validation = _validate(model, config, val_view, step)
                    validation["replica_digests"] = digests
                    log.write(validation)
                    plot_curves(log.read(), out / CURVES)
                context.barrier()
                window_start = time.perf_counter()
            if step % config.checkpoint.every_steps == 0 or step == end:
                path = checkpoint_now(step)
                if context.is_main and config.validation.closed_loop_suite:
                    log.write(_closed_loop(path, out, config, step))
                context.barrier()
                window_start = time.perf_counter()
            fetch_start = time.perf_counter()

    final = None
    if step == total:
        final = out / FINAL
        if context.is_main and (step != first_step or not (final / "model.safetensors").is_file()):
            shutil.rmtree(final, ignore_errors=True)
            model.save_pretrained(final)
            (final / "train_config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
            plot_curves(log.read(), out / CURVES)
        context.barrier()
    return TrainResult(out, final, step, validation, time.perf_counter() - start_time, context.rank)
