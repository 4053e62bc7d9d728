"""Decision latency of the VLA policy on one CPU thread, split by stage, against what the FLOPs allow.

    python benchmarks/policy_latency.py                        # default config, random init, table
    python benchmarks/policy_latency.py --json                 # {"params", "ms_p50_reasoning", ...}
    python benchmarks/policy_latency.py --checkpoint checkpoints/small --repeats 50

Three modes, each over `--repeats` decisions with `--samples` trajectories (default 6, the policy default):
reasoning "always" (the reasoning is cut at `--reasoning-tokens`, 25, which a randomly initialised model
always reaches), "never", and "auto" on a mixed suite. Without a checkpoint the auto suite is synthetic:
routine moments (steady speed, "continue straight") and keyframes (braking, "turn left in 30 m") in the
ratio `--keyframe-fraction`, and the gate is first fitted for a few steps on such samples; the table says
how often it reasoned and how often it agreed with the labels. Also rows with 1 sample, and (the reference,
side by side in the same run) "always f32" / "never f32": the same weights with float32 matrix products where
the config's `prefill_dtype` / `integrate_dtype` run bfloat16 ones on this CPU.

Stages: preprocess (resize, tokenise), vision (encoders + embedding), prefill (backbone over the prompt),
generation (reasoning decode), expert (flow integration + action integration). p50/p90/best are wall clock
(what a car sees); "cpu" is the thread's CPU time, which leaves out time spent waiting for a core when other
processes share the machine. Bounds: the matrix-multiply rate is measured here at each stage's shapes; the
FLOPs of a decision are counted by torch.utils.flop_counter (convolutions and matrix products) plus
attention from the shapes; decoding is also bound by reading the weights (bytes of the decode copies /
measured copy bandwidth). The JSON numbers are wall-clock medians with `--samples` trajectories.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from cordillera.model import CordilleraVLA, ModelConfig, Sample, VLAPolicy, train_tokenizer
from cordillera.model.expert import LOW_PRECISION_MIN_ROWS
from cordillera.world.types import Observation

ROUTINE_TEXT = "continue straight"
KEYFRAME_TEXT = "turn left in 30 m"


def synthetic_observation(rng: np.random.Generator, config: ModelConfig, keyframe: bool) -> Observation:
    """Renderer-sized frames (4 x 128 x 256 per camera) of noise; history/route/navigation per kind."""
    speed = 12.0 if not keyframe else 6.0
    decel = 0.0 if not keyframe else -3.0
    t = np.arange(-15, 1) * 0.1
    x = speed * t + 0.5 * decel * t * t
    history = np.column_stack([x, np.zeros(16), np.zeros(16)])
    route = np.column_stack([np.arange(1, 21) * 2.0, np.zeros(20)])
    cameras = {name: rng.integers(0, 256, (config.rig.num_frames, 128, 256, 3), dtype=np.uint8)
               for name in config.rig.cameras}
    return Observation(t=3.0, ego_history=history, speed=speed, acceleration=decel, yaw_rate=0.0,
                       route_waypoints=route, navigation=KEYFRAME_TEXT if keyframe else ROUTINE_TEXT, cameras=cameras)


def synthetic_corpus() -> list[str]:
    """Driving-style sentences so the BPE has a realistic vocabulary size (only the size matters here)."""
    objects = ["pedestrian", "cyclist", "lead vehicle", "truck", "bus", "parked car", "traffic light", "stop sign",
               "construction cone", "oncoming car", "crosswalk", "merging vehicle"]
    actions = ["Yield to the", "Stop for the", "Keep distance to the", "Nudge left around the", "Slow down for the",
               "Change lanes to the left to pass the", "Wait for the", "Resume speed after the"]
    places = ["ahead", "on the right", "at the intersection", "in the adjacent lane", "crossing from the left"]
    nav = [f"turn {d} in {m} m" for d in ("left", "right") for m in range(10, 200, 10)] + [ROUTINE_TEXT]
    return [f"{a} {o} {p}" for a in actions for o in objects for p in places] + nav


def fit_gate(model: CordilleraVLA, rng: np.random.Generator, steps: int) -> None:
    """A few optimiser steps on the gate loss only, on synthetic routine/keyframe samples."""
    samples = []
    for i in range(8):
        obs = synthetic_observation(rng, model.config, keyframe=i % 2 == 1)
        future = np.column_stack([obs.speed * 0.1 * np.arange(1, 65), np.zeros(64), np.zeros(64)])
        samples.append(replace(Sample.from_observation(obs), future=future, keyframe=i % 2 == 1))
    batch = model.processor.collate(samples, targets=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(steps):
        loss = model.loss(batch)["gate"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


def run(setups: dict[tuple[str, int], tuple[VLAPolicy, list[Observation]]], repeats: int) -> dict:
    """Decisions round-robin over the setups (mode, K) -> (policy, observations), so that every setup sees
    the same share of whatever else runs on the machine. Returns per setup one record per decision."""
    records: dict[tuple[str, int], list[dict]] = {key: [] for key in setups}
    for policy, observations in setups.values():
        policy.reset()
        policy.plan(observations[0])  # warm-up: first-call allocations
        policy.reset()
    for i in range(repeats):
        for key, (policy, observations) in setups.items():
            obs = observations[i % len(observations)]
            start, cpu = time.perf_counter(), time.thread_time()
            plan = policy.plan(obs)
            total, cpu = time.perf_counter() - start, time.thread_time() - cpu
            records[key].append({**plan.reasoning.timings, "total": total, "cpu": cpu, "tokens": plan.reasoning.tokens,
                                 "reasoned": plan.reasoning.reasoned, "gate": plan.reasoning.gate_probability})
    return records


def float32_variant(model: CordilleraVLA) -> CordilleraVLA | None:
    """The same weights with float32 inference products (saved and loaded with the config's prefill_dtype and
    integrate_dtype set to "float32"), or None when the model's products are float32 already."""
    if model.backbone.prefill_dtype == torch.float32 and model.expert.integrate_dtype == torch.float32:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = model.save_pretrained(Path(tmp) / "model")
        doc = json.loads((path / "config.json").read_text())
        doc["model"]["backbone"]["prefill_dtype"] = doc["model"]["expert"]["integrate_dtype"] = "float32"
        (path / "config.json").write_text(json.dumps(doc))
        return CordilleraVLA.from_pretrained(path).eval()


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def matmul_rate(shapes: list[tuple[int, int, int]], repeats: int = 30, dtype: torch.dtype = torch.float32) -> float:
    """FLOP/s of matrix products (m, k) @ (k, n) in `dtype` on this thread, median over repeats, summed shapes."""
    mats = [(torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)) for m, k, n in shapes]
    flops = sum(2 * m * k * n for m, k, n in shapes)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for a, b in mats:
            a @ b
        times.append(time.perf_counter() - start)
    return flops / statistics.median(times)


def copy_bandwidth(megabytes: float = 16.0) -> float:
    """Bytes/s of a large tensor copy (read + write)."""
    a = torch.randn(int(megabytes * 1e6 / 4))
    b = torch.empty_like(a)
    times = []
    for _ in range(10):
        start = time.perf_counter()
        b.copy_(a)
        times.append(time.perf_counter() - start)
    return 2 * a.numel() * 4 / statistics.median(times)


def attention_flops(config: ModelConfig, prompt: int, reasoning: int, samples: int) -> dict[str, float]:
    """FLOPs of the attention score and value products (not counted by the flop counter's CPU path)."""
    bb, ex = config.backbone, config.expert
    layers = bb.num_layers
    prefill = 4 * bb.num_heads * bb.head_dim * layers * prompt * (prompt + 1) / 2  # causal
    decode = sum(4 * bb.num_heads * bb.head_dim * layers * (prompt + i) for i in range(reasoning + 2))
    keys = prompt + reasoning + (3 if reasoning else 1) + config.action.horizon
    expert = 4 * ex.num_heads * bb.head_dim * layers * config.action.horizon * keys * samples * ex.euler_steps
    return {"prefill": prefill, "generation": decode, "expert": expert}


def stage_flops(policy: VLAPolicy, obs: Observation, mode: str) -> tuple[dict[str, float], dict[str, float]]:
    """Matrix-product FLOPs per stage, by running the stages of `generate` under the counter, and the
    attention FLOPs of the stages that have attention (counted from the shapes)."""
    model = policy.model
    batch = model.processor.collate([Sample.from_observation(obs)])
    out = {}
    with FlopCounterMode(display=False) as counter:
        model.embed(batch)
    out["vision"] = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter:
        gen = model.generate(batch, mode=mode, num_samples=policy.num_samples, generator=torch.Generator().manual_seed(0),
                             max_reasoning_tokens=policy.max_reasoning_tokens)
    total = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter:
        model.generate(batch, mode=mode, num_samples=policy.num_samples, generator=torch.Generator().manual_seed(0),
                       max_reasoning_tokens=policy.max_reasoning_tokens, euler_steps=1)
    one_step = counter.get_total_flops()
    steps = model.config.expert.euler_steps
    per_step = (total - one_step) / max(steps - 1, 1)
    out["expert"] = per_step * steps
    prompt = int(batch.input_ids.shape[1]) + 1
    d, bb = model.config.backbone.hidden_size, model.backbone
    layer_params = sum(p.numel() for p in bb.model.layers.parameters() if p.dim() == 2)
    out["prefill"] = 2 * prompt * layer_params + 2 * 2 * d * bb.lm_head.weight.shape[0]
    out["generation"] = max(total - out["vision"] - out["expert"] - out["prefill"], 0.0)
    return out, attention_flops(model.config, prompt, gen.reasoning_tokens[0], policy.num_samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="a saved model; default: a config, random init")
    parser.add_argument("--config", choices=("default", "tiny"), default="default",
                        help="config of the random-init model (tiny: the 2-layer test model, a smoke run)")
    parser.add_argument("--repeats", type=int, default=20, help="decisions per mode (at least the 20 of the auto suite)")
    parser.add_argument("--samples", type=int, default=6, help="trajectory samples per decision")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reasoning-tokens", type=int, default=25)
    parser.add_argument("--keyframe-fraction", type=float, default=0.3)
    parser.add_argument("--gate-steps", type=int, default=30, help="gate fitting steps (random init only)")
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)

    if args.checkpoint:
        model = CordilleraVLA.from_pretrained(args.checkpoint)
    else:
        config = ModelConfig() if args.config == "default" else ModelConfig.tiny()
        model = CordilleraVLA(config, train_tokenizer(synthetic_corpus(), config.backbone.vocab_size,
                                                      config.rig.camera_vocabulary))
        fit_gate(model, rng, args.gate_steps)
    model.eval()
    config = model.config
    routine = [synthetic_observation(rng, config, keyframe=False) for _ in range(4)]
    suite_size = 20
    keyframes = int(round(args.keyframe_fraction * suite_size))
    suite = [synthetic_observation(rng, config, keyframe=i < keyframes) for i in range(suite_size)]
    labels = [i < keyframes for i in range(suite_size)]
    order = rng.permutation(suite_size)
    suite, labels = [suite[i] for i in order], [labels[i] for i in order]

    def policy(mode: str, samples: int) -> VLAPolicy:
        return VLAPolicy(model=model, reasoning=mode, num_samples=samples, seed=0,
                         max_reasoning_tokens=args.reasoning_tokens)

    setups = {}
    for samples in dict.fromkeys([args.samples] if args.json else [args.samples, 1]):
        for mode in ("always", "never", "auto"):
            setups[(mode, samples)] = (policy(mode, samples), suite if mode == "auto" else routine)
    reference = None if args.json else float32_variant(model)
    if reference is not None:  # the same weights with float32 products, side by side in the same run
        for mode in ("always", "never"):
            setups[(f"{mode} f32", args.samples)] = (
                VLAPolicy(model=reference, reasoning=mode, num_samples=args.samples, seed=0,
                          max_reasoning_tokens=args.reasoning_tokens), routine)
    rows = run(setups, max(args.repeats, suite_size))
    result = {"params": model.num_parameters,
              "ms_p50_reasoning": 1000 * percentile([r["total"] for r in rows[("always", args.samples)]], 50),
              "ms_p50_no_reasoning": 1000 * percentile([r["total"] for r in rows[("never", args.samples)]], 50),
              "ms_p50_auto": 1000 * percentile([r["total"] for r in rows[("auto", args.samples)]], 50)}
    if args.json:
        print(json.dumps(result))
        return 0

    from rich.console import Console
    from rich.table import Table

    console = Console(width=150)
    stages = ["preprocess", "vision", "prefill", "generation", "expert"]
    load = os.getloadavg()[0]
    table = Table(title=f"decision latency (ms, wall clock), {args.threads} thread(s); stages are medians; load average "
                        f"{load:.1f} on {os.cpu_count()} cores; best = least disturbed run; cpu = this thread's CPU "
                        "time (excludes waiting for a core)")
    for column in ["mode", "K", "p50", "p90", "best", "cpu p50", *stages, "tokens", "reasoned"]:
        table.add_column(column, justify="right")
    for (mode, samples), records in rows.items():
        reasoned = np.mean([r["reasoned"] for r in records])
        table.add_row(mode, str(samples), f"{1000 * percentile([r['total'] for r in records], 50):.1f}",
                      f"{1000 * percentile([r['total'] for r in records], 90):.1f}",
                      f"{1000 * min(r['total'] for r in records):.1f}",
                      f"{1000 * percentile([r['cpu'] for r in records], 50):.1f}",
                      *[f"{1000 * percentile([r[s] for r in records], 50):.1f}" for s in stages],
                      f"{np.mean([r['tokens'] for r in records]):.0f}", f"{100 * reasoned:.0f}%")
    console.print(table)
    if reference is not None:
        def p50(key: tuple[str, int]) -> float:
            return percentile([r["total"] for r in rows[key]], 50)
        ratios = ", ".join(f"{mode} {p50((mode, args.samples)) / p50((f'{mode} f32', args.samples)):.2f}"
                           for mode in ("always", "never"))
        console.print("f32 rows: the same weights with float32 products (config prefill_dtype and integrate_dtype "
                      f"'float32'); p50 ratio default / f32: {ratios}")

    auto_records = rows[("auto", args.samples)][: suite_size]
    agree = np.mean([r["reasoned"] == label for r, label in zip(auto_records, labels)])
    console.print(f"auto suite: {keyframes}/{suite_size} keyframes (synthetic unless --checkpoint), reasoned on "
                  f"{100 * np.mean([r['reasoned'] for r in auto_records]):.0f}%, agreement with labels "
                  f"{100 * agree:.0f}%")

    # bounds
    bb, ex = config.backbone, config.expert
    prompt = int(model.processor.collate([Sample.from_observation(routine[0])]).input_ids.shape[1]) + 1
    # each stage's products in the precision it runs them in (config prefill_dtype / integrate_dtype, by rows)
    prefill_dtype = model.backbone.fuse().pick(prompt)[0][0][1].dtype
    expert_rows = 64 * args.samples
    expert_dtype = model.expert.integrate_dtype if expert_rows >= LOW_PRECISION_MIN_ROWS else torch.float32
    prompt_shapes = [(prompt, bb.hidden_size, bb.intermediate_size), (prompt, bb.intermediate_size, bb.hidden_size)]
    rates = {
        "vision": matmul_rate([(4096, 288, 64), (1024, 576, 128)]),
        "prefill": matmul_rate(prompt_shapes, dtype=prefill_dtype),
        "generation": matmul_rate([(1, bb.hidden_size, bb.intermediate_size), (1, bb.intermediate_size, bb.hidden_size)], 200),
        "expert": matmul_rate([(expert_rows, ex.hidden_size, ex.intermediate_size),
                               (expert_rows, ex.intermediate_size, ex.hidden_size)], dtype=expert_dtype),
    }
    # attention runs in float32 (SDPA): its FLOPs at the float32 rate of the stage's shapes
    attention_rates = {
        "prefill": rates["prefill"] if prefill_dtype == torch.float32 else matmul_rate(prompt_shapes),
        "generation": rates["generation"],
        "expert": rates["expert"] if expert_dtype == torch.float32 else matmul_rate(
            [(expert_rows, ex.hidden_size, ex.intermediate_size), (expert_rows, ex.intermediate_size, ex.hidden_size)]),
    }
    bandwidth = copy_bandwidth()
    element = torch.empty(0, dtype=getattr(torch, bb.decode_dtype)).element_size()  # decode reads these copies
    weight_bytes = element * (sum(p.numel() for p in model.backbone.model.layers.parameters() if p.dim() == 2) +
                              model.backbone.lm_head.weight.numel())
    table = Table(title=f"bounds per decision (K={args.samples}): FLOPs / matmul rate measured here in the stage's "
                        f"precision (products: prefill {str(prefill_dtype)[6:]}, expert {str(expert_dtype)[6:]}; "
                        f"attention float32); decoding also by weight bytes / copy bandwidth ({bandwidth / 1e9:.1f} GB/s)")
    for column in ["mode", "stage", "GFLOP", "products GFLOP/s", "bound ms", "measured ms", "measured / bound"]:
        table.add_column(column, justify="right")
    for mode in ("always", "never"):
        products, attention = stage_flops(policy(mode, args.samples), routine[0], mode)
        flops = {stage: products[stage] + attention.get(stage, 0.0) for stage in products}
        records = rows[(mode, args.samples)]
        tokens = int(np.mean([r["tokens"] for r in records]))
        totals = [0.0, 0.0, 0.0]  # GFLOP, bound ms, measured ms
        for stage in ("vision", "prefill", "generation", "expert"):
            measured = 1000 * percentile([r[stage] for r in records], 50)
            bound = 1000 * (products[stage] / rates[stage] +
                            attention.get(stage, 0.0) / attention_rates.get(stage, rates[stage]))
            if stage == "generation" and tokens:
                bound = max(bound, 1000 * (tokens + 2) * weight_bytes / bandwidth)
            if stage == "generation" and not tokens:
                continue
            totals = [totals[0] + flops[stage] / 1e9, totals[1] + bound, totals[2] + measured]
            table.add_row(mode, stage, f"{flops[stage] / 1e9:.3f}", f"{rates[stage] / 1e9:.1f}", f"{bound:.1f}",
                          f"{measured:.1f}", f"{measured / bound:.1f}" if bound > 0 else "-")
        table.add_row(mode, "decision", f"{totals[0]:.3f}", "", f"{totals[1]:.1f}", f"{totals[2]:.1f}",
                      f"{totals[2] / totals[1]:.1f}", end_section=True)
    console.print(table)

    # own decode loop against transformers' forward with its cache (per generated token)
    console.print(decode_comparison(model, routine[0]))
    console.print(writing_comparison(model, routine[0], args.reasoning_tokens))
    console.print(f"parameters: {model.num_parameters:,}  (backbone {sum(p.numel() for p in model.backbone.parameters()):,},"
                  f" expert {sum(p.numel() for p in model.expert.parameters()):,}, vision "
                  f"{sum(p.numel() for p in model.vision.parameters()):,}); prompt {prompt} tokens")
    console.print(json.dumps(result))
    return 0


def decode_comparison(model: CordilleraVLA, obs: Observation, tokens: int = 25, repeats: int = 5) -> str:
    """ms per generated token: `Backbone.decode` with float32 and with float16 single-row weights, against
    the `transformers` model's forward with its DynamicCache, after the same prompt."""
    from transformers import DynamicCache

    batch = model.processor.collate([Sample.from_observation(obs)])
    bb = model.backbone
    results: dict[str, list[float]] = {"own loop, float32": [], "own loop, float16": [], "transformers forward": []}
    with torch.inference_mode():
        embeds = model.embed(batch)
        token = bb.embed(torch.tensor([[model.processor.ids["cot_start"]]]))
        valid = torch.ones((1, 1), dtype=torch.bool)
        weights = {"own loop, float32": bb.fuse(torch.float32), "own loop, float16": bb.fuse(torch.float16)}
        for _ in range(repeats):
            for name, w in weights.items():
                _, cache = bb(embeds, batch.attention_mask, batch.position_ids)
                cache.reserve(tokens)
                start = time.perf_counter()
                for _ in range(tokens):
                    bb.decode(token, cache, valid, w)
                results[name].append((time.perf_counter() - start) / tokens)
            hf_cache = DynamicCache(config=bb.hf_config)
            bb.model(inputs_embeds=embeds, cache=hf_cache, use_cache=True)
            length = embeds.shape[1]
            start = time.perf_counter()
            for i in range(tokens):
                bb.model(inputs_embeds=token, cache=hf_cache, use_cache=True, position_ids=torch.tensor([[length + i]]))
            results["transformers forward"].append((time.perf_counter() - start) / tokens)
    return "decode step (ms per token, median): " + ", ".join(
        f"{name} {1000 * statistics.median(v):.2f}" for name, v in results.items())


def writing_comparison(model: CordilleraVLA, obs: Observation, limit: int, repeats: int = 10) -> str:
    """ms per written token of a whole reasoning text (sampling, decode, bookkeeping): the one-sequence loop
    `generate` takes for a single prompt against the batch loop, the same seeds (so the same tokens) after the
    same prompt, interleaved."""
    batch = model.processor.collate([Sample.from_observation(obs)])
    bb, ids = model.backbone, model.processor.ids
    results: dict[str, list[float]] = {"one-sequence loop": [], "batch loop": []}
    active = torch.ones(1, dtype=torch.bool)
    with torch.inference_mode():
        embeds = model.embed(batch)
        embeds = torch.cat([embeds, bb.embed(torch.tensor([[ids["cot_start"]]]))], dim=1)
        mask = torch.cat([batch.attention_mask, batch.attention_mask.new_ones((1, 1))], dim=1)
        for i in range(repeats):
            for name in results:
                hidden, cache = bb.prefill(embeds, mask)
                cache.reserve(limit + 3)
                last, generator = hidden[:, -1].clone(), torch.Generator().manual_seed(i)
                start = time.perf_counter()
                if name == "one-sequence loop":
                    text = model._write_one(cache, last.clone(), last, 0.6, 0.98, generator, limit)
                else:
                    text = model._write_reasoning(cache, active, last.clone(), last, 0.6, 0.98, generator, limit)[0]
                results[name].append((time.perf_counter() - start) / (len(text) + 1))
    return "reasoning text (ms per written token, median): " + ", ".join(
        f"{name} {1000 * statistics.median(v):.2f}" for name, v in results.items())


if __name__ == "__main__":
    sys.exit(main())
