"""Training throughput on this CPU: optimiser steps per second by precision, and DataLoader samples per second.

    python benchmarks/train_throughput.py                                    # configs/train/vla-small.yaml, synthetic
    python benchmarks/train_throughput.py --data runs/data/train --workers 0 1 2
    python benchmarks/train_throughput.py --precisions float32 bfloat16 --steps 10 --json

Steps: the recipe's model and batch size, random initialisation, AdamW, one step = collate-free forward +
backward + clip + update on a batch collated once (so it is the compute alone); each precision first runs 2
warm-up steps, then `--steps` timed ones; "loss gap" is |loss(bf16) - loss(fp32)| on the same weights and
noise. Loader: a DataLoader with the trainer's sampler and collate (PNG/zstd decode, resize, tokenise) over
`--data` (or synthetic samples at the rig's size), for `--batches` batches per worker count, with nothing
else running: what the loader can feed. Wall clock; the machine may be shared, so compare rows of one run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


REASONING = ("Yield to the pedestrian crossing ahead", "Stop for the red light at the intersection",
             "Nudge left around the parked truck", "Keep distance to the slowing lead vehicle")
NAVIGATION = ("turn left in 40 m", "continue straight", "turn right in 20 m", "keep right at the fork")


def synthetic_samples(config, count: int, seed: int = 0):
    """Constant-acceleration arcs whose speed, acceleration and curvature the prompt shows (ego state,
    history, route), random frames at the rig's size; every other sample reasons."""
    from cordillera.model import Sample

    rig = config.rig
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        speed, accel, curvature = rng.uniform(2, 12), rng.uniform(-1, 1), rng.uniform(-0.02, 0.02)
        t = 0.1 * np.arange(1, 65)
        s = np.maximum(speed * t + 0.5 * accel * t * t, 0.0)
        yaw = curvature * s
        future = np.column_stack([np.sin(yaw) / curvature, (1 - np.cos(yaw)) / curvature, yaw])
        history = np.column_stack([speed * 0.1 * np.arange(-15, 1), np.zeros(16), np.zeros(16)])
        r = 2.0 * np.arange(1, 21)
        route = np.column_stack([r, 0.5 * curvature * r * r])
        cams = {n: rng.integers(0, 256, (rig.num_frames, rig.image_height, rig.image_width, 3), dtype=np.uint8)
                for n in rig.cameras}
        text = REASONING[i % 4] if i % 2 == 0 else None
        out.append(Sample(cams, history, float(speed), route, NAVIGATION[i % 4], acceleration=float(accel),
                          future=future, reasoning=text))
    return out


def step_rates(config, samples, precisions, steps: int) -> list[dict]:
    from cordillera.model import CordilleraVLA, train_tokenizer
    from cordillera.train.data import action_stats, text_corpus
    from cordillera.train.trainer import Objective, _optimizer

    tokenizer = train_tokenizer(text_corpus(samples), config.model.backbone.vocab_size,
                                config.model.rig.camera_vocabulary, 1)
    rows, losses = [], {}
    for precision in precisions:
        torch.manual_seed(0)
        model = CordilleraVLA(config.model, tokenizer, action_stats(samples)).train()
        optimizer = _optimizer(model, config)
        objective = Objective(model)
        batch = model.processor.collate(samples[: config.data.batch_size], targets=True)
        dtype = getattr(torch, precision)
        with torch.no_grad(), torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
            losses[precision] = float(objective(batch, torch.Generator().manual_seed(0), ("text", "gate", "flow"),
                                                False, 1)["total"])
        times, cpu = [], []
        for k in range(steps + 2):
            start, start_cpu = time.perf_counter(), time.process_time()
            with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
                out = objective(batch, torch.Generator().manual_seed(k), ("text", "gate", "flow"), False, 1)
            out["total"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if k >= 2:
                times.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
        median = float(np.median(times))
        rows.append({"precision": precision, "batch": config.data.batch_size, "s_per_step": median,
                     "steps_per_s": 1.0 / median, "samples_per_s": config.data.batch_size / median,
                     "cpu_s_per_step": float(np.median(cpu)), "params": model.num_parameters})
    if "float32" in losses:
        for row in rows:
            row["loss_gap"] = abs(losses[row["precision"]] - losses["float32"])
    return rows


def loader_rates(config, dataset, workers_list, batches: int) -> list[dict]:
    from cordillera.model import train_tokenizer
    from cordillera.model.processor import Processor
    from cordillera.train.data import SampleView, StepBatchSampler, action_stats, make_loader, text_corpus

    tokenizer = train_tokenizer(text_corpus(dataset), config.model.backbone.vocab_size,
                                config.model.rig.camera_vocabulary, 1)
    processor = Processor(config.model, tokenizer, action_stats(dataset))
    rows = []
    for workers in workers_list:
        sampler = StepBatchSampler(len(dataset), config.data.batch_size, 0, 0, batches)
        loader = make_loader(SampleView(dataset), sampler, processor, workers, config.data.prefetch)
        start = time.perf_counter()
        count = sum(b.size for b in loader)
        wall = time.perf_counter() - start  # includes starting the workers, as a run does once
        rows.append({"workers": workers, "batches": batches, "samples_per_s": count / wall})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs/train/vla-small.yaml"))
    parser.add_argument("--data", default=None, help="a dataset directory (default: synthetic samples)")
    parser.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--steps", type=int, default=8, help="timed steps per precision (0: loader only)")
    parser.add_argument("--workers", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from cordillera.train import load_train_config

    if args.threads:
        torch.set_num_threads(args.threads)
    config = load_train_config(args.config)
    if args.data:
        from cordillera.data import DrivingDataset

        dataset = DrivingDataset(args.data, "train")
    else:
        dataset = synthetic_samples(config.model, max(64, config.data.batch_size * args.batches))
    samples = [dataset[i] for i in range(config.data.batch_size)]
    result = {"threads": torch.get_num_threads(), "config": args.config, "data": args.data or "synthetic",
              "steps": step_rates(config, samples, args.precisions, args.steps) if args.steps else [],
              "loader": loader_rates(config, dataset, args.workers, args.batches)}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"batch {config.data.batch_size}, {result['threads']} torch threads, data: {result['data']}")
    if result["steps"]:
        print(f"model {result['steps'][0]['params'] / 1e6:.2f} M parameters")
        print(f"{'precision':>10} {'s/step':>8} {'cpu s':>8} {'samples/s':>10} {'loss gap':>9}")
    for r in result["steps"]:
        print(f"{r['precision']:>10} {r['s_per_step']:8.3f} {r['cpu_s_per_step']:8.3f} {r['samples_per_s']:10.1f} "
              f"{r.get('loss_gap', float('nan')):9.4f}")
    print(f"{'workers':>10} {'samples/s':>10}")
    for r in result["loader"]:
        print(f"{r['workers']:>10} {r['samples_per_s']:10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
