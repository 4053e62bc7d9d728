"""Map construction time: every procedural map builder with its default parameters, against one simulator step.

    python benchmarks/map_construction.py            # a table
    python benchmarks/map_construction.py --json     # {"maps": {name: ms}, "cached_ms", "sim_step_ms", "worst_ratio"}

`build_map` caches maps by (name, parameters), so an episode reset usually pays a lookup; a builder runs once
per new parameter set and should cost no more than a few simulator steps of the episode it starts. Each builder
runs `--repeats` times after a warm-up (imports, caches) and the best time is reported beside the median time
of one 10 Hz step of a busy scenario measured in the same run (the reference): the ratio, not the absolute
time, is what to compare across machines. (This replaced a unit test that asserted an absolute build time,
which a shared, noisy machine cannot promise.)
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from cordillera.scenarios.families import sample_family
from cordillera.world import sim
from cordillera.world.roads import BUILDERS, build_map
from cordillera.world.types import Plan


def _best(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def sim_step_ms(steps: int = 30) -> float:
    """Median wall time of one simulator step of a signalised intersection with traffic [ms]."""
    state = sim.reset(sample_family("signalized_straight", 0), 0)
    keep = Plan(np.column_stack([np.linspace(1.0, 64.0, 64), np.zeros(64), np.zeros(64)]))
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        state = sim.step(state, keep)
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed builds per map (best is reported)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    # the builders themselves: build_map caches built maps, so timing it would time a dictionary lookup
    maps = {name: 1e3 * _best(lambda name=name: BUILDERS[name](None), args.repeats) for name in sorted(BUILDERS)}
    cached = 1e3 * _best(lambda: build_map("intersection"), args.repeats)
    step = sim_step_ms()
    worst = max(maps.values()) / step
    if args.json:
        print(json.dumps({"maps": {k: round(v, 3) for k, v in maps.items()}, "cached_ms": round(cached, 4),
                          "sim_step_ms": round(step, 3), "worst_ratio": round(worst, 2)}))
        return 0
    print(f"{'map':<24}{'build [ms]':>12}{'x sim step':>12}")
    for name, ms in maps.items():
        print(f"{name:<24}{ms:>12.2f}{ms / step:>12.2f}")
    print(f"{'(cached build_map)':<24}{cached:>12.3f}{cached / step:>12.3f}")
    print(f"{'(one sim step)':<24}{step:>12.2f}{1.0:>12.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
