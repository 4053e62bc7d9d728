"""Joint against detached expert training: the same run with the flow loss's gradient reaching the backbone
(joint) or stopped at its KV cache (detached, Alpamayo's stage-2 setting), compared on validation.

    python benchmarks/train_stages.py --steps 300                               # synthetic samples
    python benchmarks/train_stages.py --data runs/data/train --steps 300 --json

Both runs use the recipe's model (or `--tiny`: ModelConfig.tiny(), 0.15 M parameters) and optimiser (`--config`, default configs/train/vla-small.yaml) with one
stage of `--steps` steps that sums text + gate + flow; only `detach_prefix` differs. Each run goes through
`cordillera.train.train` into `--out/<variant>` and is validated at the end on the val split (first
`--val` samples; synthetic: held-out samples): losses with fixed noise, open-loop minADE of 6 samples in
"never" mode (the expert alone, so the comparison is not about the reasoning text). Wall clock per step is
reported too (the machine may be shared: compare within one run of this script).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_throughput import ROOT, synthetic_samples  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs/train/vla-small.yaml"))
    parser.add_argument("--data", default=None)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=None, help="batch size (default: the recipe's)")
    parser.add_argument("--train-samples", type=int, default=512, help="synthetic training samples")
    parser.add_argument("--val", type=int, default=64)
    parser.add_argument("--out", default="runs/bench/train_stages")
    parser.add_argument("--variants", nargs="+", default=["joint", "detached"])
    parser.add_argument("--tiny", action="store_true", help="ModelConfig.tiny() instead of the recipe's model")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from cordillera.train import StageConfig, load_train_config, train

    base = load_train_config(args.config)
    if args.tiny:
        from cordillera.model import ModelConfig

        base = replace(base, model=ModelConfig.tiny(), data=replace(base.data, tokenizer_min_frequency=1))
    if args.data:
        from cordillera.data import DrivingDataset

        train_set, val_set = DrivingDataset(args.data, "train"), DrivingDataset(args.data, "val")
    else:
        train_set = synthetic_samples(base.model, args.train_samples, seed=0)
        val_set = synthetic_samples(base.model, args.val, seed=1)
    rows = []
    for variant in args.variants:
        config = replace(
            base, stages=(StageConfig(variant, args.steps, detach_prefix=variant == "detached"),),
            data=replace(base.data, batch_size=args.batch or base.data.batch_size),
            optim=replace(base.optim, warmup_steps=min(base.optim.warmup_steps, args.steps // 10)),
            validation=replace(base.validation, every_steps=args.steps, max_samples=args.val, mode="never"),
            checkpoint=replace(base.checkpoint, every_steps=args.steps), log_every=max(1, args.steps // 20))
        out = Path(args.out) / variant
        shutil.rmtree(out, ignore_errors=True)
        result = train(config, train_set, val_set, out, progress=not args.json)
        lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
        last_train = [r for r in lines if r["split"] == "train"][-1]
        val = result.validation
        rows.append({"variant": variant, "steps": args.steps, "s_per_step": result.wall_s / args.steps,
                     "train_flow": last_train["loss/flow"], "train_text": last_train["loss/text"],
                     **{k: val[k] for k in ("loss/flow", "loss/text", "loss/gate", "min_ade", "min_ade@1.0s",
                                            "min_ade@3.0s")}})
    if args.json:
        print(json.dumps({"threads": torch.get_num_threads(), "data": args.data or "synthetic", "rows": rows}))
        return 0
    print(f"data: {args.data or 'synthetic'}, {args.steps} steps, {torch.get_num_threads()} threads")
    print(f"{'variant':>9} {'s/step':>7} {'val flow':>9} {'val text':>9} {'minADE':>8} {'@1s':>6} {'@3s':>6}")
    for r in rows:
        print(f"{r['variant']:>9} {r['s_per_step']:7.2f} {r['loss/flow']:9.4f} {r['loss/text']:9.4f} "
              f"{r['min_ade']:8.3f} {r['min_ade@1.0s']:6.3f} {r['min_ade@3.0s']:6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
