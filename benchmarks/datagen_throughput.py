"""Data factory throughput: generation samples/s per core, bytes per sample, load speed, and the projected
time for a 50,000-sample dataset on 2 cores against the issue's 1-hour target.

    .venv/bin/python benchmarks/datagen_throughput.py                         # 4 episodes x 8 s, ~4-8 min
    .venv/bin/python benchmarks/datagen_throughput.py --episodes 12 --duration 10 --routine-rate 0.3

Generation runs in this process (one core). The reference in the same run is the plain closed-loop rollout of
the same scenarios with the `teacher` policy and nothing recorded (run before and after generation, the faster
one counts, because the load of a shared machine drifts): the difference is what recording costs
(keyframe detection, CoC labelling with counterfactual attribution, QA, rendering, encoding, writing). Load
speed is DrivingDataset.__getitem__ over every sample in a shuffled order (frames decoded, arrays built), cold
(first pass: checksums verified) and warm. Wall-clock numbers vary between runs on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from cordillera.data import DrivingDataset
from cordillera.teacher.datagen import DatagenConfig, episode_jobs, generate

TARGET_SAMPLES = 50_000
TARGET_CORES = 2
TARGET_S = 3600.0


def reference_rollouts(config: DatagenConfig) -> float:
    """Seconds to roll out the same episodes with the teacher policy, without perturbations or recording."""
    from cordillera.policies import make_policy
    from cordillera.scenarios.families import sample_family
    from cordillera.world import sim
    from cordillera.world.rollout import rollout

    start = time.perf_counter()
    for job in episode_jobs(config, "", ""):
        rollout(sample_family(job.family, job.seed), make_policy("teacher"), seed=job.seed,
                config=sim.SimConfig(duration_s=config.duration_s))
    return time.perf_counter() - start


def load_speed(root: Path) -> tuple[float, float]:
    ds = DrivingDataset(root, split="all")
    order = np.random.default_rng(0).permutation(len(ds))
    rates = []
    for _ in range(2):
        start = time.perf_counter()
        for i in order:
            ds[int(i)]
        rates.append(len(ds) / (time.perf_counter() - start))
    return rates[0], rates[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--duration", type=float, default=8.0, help="simulated seconds per episode")
    parser.add_argument("--routine-rate", type=float, default=0.1)
    parser.add_argument("--suite", default="train")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="a new dataset directory to keep (default: a temporary one)")
    args = parser.parse_args()
    config = DatagenConfig(suite=args.suite, episodes=args.episodes, seed=args.seed,
                           routine_rate=args.routine_rate, duration_s=args.duration)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out) if args.out else Path(tmp) / "bench"
        # warm-up: numba kernels and renderer caches compile on first use; not timed
        warm = DatagenConfig(suite=args.suite, episodes=1, seed=args.seed + 1000, duration_s=2.0)
        generate(warm, Path(tmp) / "warm")
        ref_before = reference_rollouts(config)  # before and after: the machine's load drifts
        start = time.perf_counter()
        info = generate(config, root)
        gen_s = time.perf_counter() - start
        ref_after = reference_rollouts(config)
        ref_s = min(ref_before, ref_after)
        timing = [json.loads(line) for line in (root / "meta" / "timing.jsonl").read_text().splitlines()]
        stages = {k: sum(t[k] for t in timing) for k in timing[0] if k.endswith("_s") and k != "total_s"}
        drive_s = stages["drive_s"]
        label_s = sum(stages.values()) - drive_s
        steps = sum(t["steps"] for t in timing)
        data_bytes = sum(p.stat().st_size for p in (root / "data").glob("*.parquet"))
        cold, warm = load_speed(root)
    n = info["samples"]
    per_core = n / gen_s
    projected = TARGET_SAMPLES / (per_core * TARGET_CORES)
    rows = [
        ("episodes x simulated s", f"{info['episodes']} x {args.duration:g} s ({steps} teacher steps)"),
        ("samples (keyframes)", f"{n} ({info['keyframes']}), routine rate {args.routine_rate:g}"),
        ("reference: plain teacher rollouts", f"{ref_s:.1f} s ({ref_s / steps * 1e3:.0f} ms per step; "
                                              f"{ref_before:.1f} s before, {ref_after:.1f} s after)"),
        ("generation wall (1 core)", f"{gen_s:.1f} s = drive {drive_s:.1f} s + record {label_s:.1f} s "
                                     f"({gen_s / ref_s:.2f}x the reference)"),
        ("recording per sample", ", ".join(f"{k[:-2]} {v / max(n, 1) * 1e3:.0f} ms" for k, v in stages.items()
                                           if k != "drive_s")),
        ("generation samples/s per core", f"{per_core:.2f}"),
        ("dataset bytes per sample", f"{data_bytes / max(n, 1) / 1024:.1f} KiB ({data_bytes / 2**20:.1f} MiB total)"),
        ("load samples/s (DrivingDataset)", f"{cold:.0f} cold, {warm:.0f} warm (1 process)"),
        (f"projected {TARGET_SAMPLES} samples, {TARGET_CORES} cores", f"{projected / 3600:.2f} h "
                                                                    f"(target {TARGET_S / 3600:.0f} h: "
                                                                    f"{'met' if projected <= TARGET_S else 'missed'})"),
        (f"projected dataset size", f"{data_bytes / max(n, 1) * TARGET_SAMPLES / 2**30:.2f} GiB"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
