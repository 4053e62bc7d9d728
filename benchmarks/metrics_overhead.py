"""What the metrics cost next to the rollout they score: rollout wall time vs `compute_all` time per scenario.

    python benchmarks/metrics_overhead.py                       # table over the built-in scenarios (CPU, ~1 min)
    python benchmarks/metrics_overhead.py --scenarios straight intersection --policy constant_velocity
    python benchmarks/metrics_overhead.py --json                # one JSON object

Each scenario runs once untimed first (numba compiles the traffic kernels), then --rollouts times timed. For
each timed rollout, "metrics" is the first `compute_all` on its final state: the map is new to the metrics then
(every rollout builds its own RoadMap), so lane polygons, the drivable area and the junction union are built
inside the timing, as a harness would pay them. Both columns are the best over the timed rollouts (the
machine's other load only ever adds time). "warm" is the best of --repeats further calls on the last rollout,
with the map caches filled. The target is metrics < 10 % of the rollout.
"""

from __future__ import annotations

import argparse
import json
import time

from cordillera.eval.metrics import compute_all
from cordillera.policies import make_policy
from cordillera.scenarios.builtin import BUILTIN, builtin_scenario
from cordillera.world.rollout import rollout


def measure(name: str, policy: str, seed: int, rollouts: int, repeats: int) -> dict:
    scenario = builtin_scenario(name)
    rollout(scenario, make_policy(policy), seed=seed, duration_s=1.0)  # compile and warm the kernels
    rollout_s = metrics_s = float("inf")
    for _ in range(rollouts):
        start = time.perf_counter()
        final = rollout(scenario, make_policy(policy), seed=seed)
        rollout_s = min(rollout_s, time.perf_counter() - start)
        start = time.perf_counter()
        metrics = compute_all(final)
        metrics_s = min(metrics_s, time.perf_counter() - start)
    warm = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        compute_all(final)
        warm = min(warm, time.perf_counter() - start)
    return {
        "scenario": name,
        "steps": metrics["steps"],
        "agents": final.agents.n,
        "rollout_s": round(rollout_s, 4),
        "metrics_s": round(metrics_s, 4),
        "warm_metrics_s": round(warm, 4),
        "overhead_pct": round(100.0 * metrics_s / rollout_s, 2),
        "epdms": round(metrics["epdms"], 4),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", default=list(BUILTIN), choices=sorted(BUILTIN))
    parser.add_argument("--policy", default="lane_follower")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rollouts", type=int, default=2, help="timed rollouts per scenario; the best is reported")
    parser.add_argument("--repeats", type=int, default=3, help="warm compute_all calls; the best is reported")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)

    rows = [measure(name, args.policy, args.seed, args.rollouts, args.repeats) for name in args.scenarios]
    total_rollout = sum(r["rollout_s"] for r in rows)
    total_metrics = sum(r["metrics_s"] for r in rows)
    report = {"policy": args.policy, "seed": args.seed, "rollouts": args.rollouts, "rows": rows,
              "total_overhead_pct": round(100.0 * total_metrics / total_rollout, 2)}
    if args.json:
        print(json.dumps(report))
        return

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"compute_all vs rollout ({args.policy}, seed {args.seed}); target: metrics < 10 % of rollout")
    for col in ("scenario", "steps", "agents", "rollout (s)", "metrics (s)", "warm (s)", "overhead", "EPDMS"):
        table.add_column(col, justify="left" if col == "scenario" else "right")
    for r in rows:
        table.add_row(r["scenario"], str(r["steps"]), str(r["agents"]), f"{r['rollout_s']:.3f}",
                      f"{r['metrics_s']:.3f}", f"{r['warm_metrics_s']:.3f}", f"{r['overhead_pct']:.1f} %",
                      f"{r['epdms']:.3f}")
    table.add_row("total", "", "", f"{total_rollout:.3f}", f"{total_metrics:.3f}", "",
                  f"{report['total_overhead_pct']:.1f} %", "")
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
