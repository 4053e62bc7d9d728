"""Planning time of the privileged teacher per decision, beside the rule-based LaneFollower on the same states.

    .venv/bin/python benchmarks/teacher_planner.py                          # 6 families x 100 steps, ~1-2 min
    .venv/bin/python benchmarks/teacher_planner.py --families stalled_vehicle onramp_merge --steps 60 --seed 3

Each family is driven closed loop by the teacher at 10 Hz for `--steps` steps. At every step the teacher's
`decide` and the LaneFollower's `plan` are timed on the same state (the observation is built outside the
timer), so the ratio compares the two planners under the same load; the teacher's CPU time (process time) is
less sensitive than wall time to other jobs on a shared machine. Proposals per decision: how many candidate
plans were simulated and scored (5 on the centreline; about 15 when lateral alternatives are tried). Wall-clock
numbers vary on a shared machine; proposal counts do not (same seeds, same calls).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from cordillera.policies import make_policy
from cordillera.scenarios.families import get_family
from cordillera.teacher.planner import TeacherPlanner
from cordillera.world import sim
from cordillera.world.types import Plan

FAMILIES = ("lane_follow_straight", "onramp_merge", "red_light_stop", "stalled_vehicle", "pedestrian_group_crosswalk",
            "wrong_way_driver")


def run_family(family: str, seed: int, steps: int) -> dict:
    planner = TeacherPlanner()
    follower = make_policy("lane_follower")
    state = sim.reset(get_family(family).sample(seed), seed)
    follower.reset({})
    teacher_s, teacher_cpu, follower_s, proposals = [], [], [], []
    for _ in range(steps):
        if state.done:
            break
        obs = sim.observe(state, (), privileged=True)
        t0 = time.perf_counter()
        follower.plan(obs)
        follower_s.append(time.perf_counter() - t0)
        t0, c0 = time.perf_counter(), time.process_time()
        result = planner.decide(state)
        teacher_s.append(time.perf_counter() - t0)
        teacher_cpu.append(time.process_time() - c0)
        proposals.append(result.n_proposals)
        state = sim.step(state, Plan(result.poses))
    t, f = np.array(teacher_s) * 1e3, np.array(follower_s) * 1e3
    return {"family": family, "decisions": len(t), "median": float(np.median(t)), "p90": float(np.percentile(t, 90)),
            "cpu": float(np.median(teacher_cpu) * 1e3),
            "proposals": float(np.mean(proposals)), "lf_median": float(np.median(f)),
            "ratio": float(np.median(t) / np.median(f))}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    run_family(args.families[0], args.seed, 2)  # compile the kernels outside the timings
    table = Table(title=f"teacher planner: time per decision (seed {args.seed}, {args.steps} steps at 10 Hz)")
    for col in ("family", "decisions", "teacher median [ms]", "teacher p90 [ms]", "teacher CPU median [ms]",
                "proposals / decision",
                "LaneFollower median [ms]", "ratio"):
        table.add_column(col, justify="left" if col == "family" else "right")
    rows = [run_family(f, args.seed, args.steps) for f in args.families]
    for r in rows:
        table.add_row(r["family"], str(r["decisions"]), f"{r['median']:.1f}", f"{r['p90']:.1f}", f"{r['cpu']:.1f}",
                      f"{r['proposals']:.1f}", f"{r['lf_median']:.2f}", f"{r['ratio']:.1f}x")
    table.add_row("all (median of medians)", str(sum(r["decisions"] for r in rows)),
                  f"{np.median([r['median'] for r in rows]):.1f}", f"{np.median([r['p90'] for r in rows]):.1f}",
                  f"{np.median([r['cpu'] for r in rows]):.1f}",
                  f"{np.mean([r['proposals'] for r in rows]):.1f}", f"{np.median([r['lf_median'] for r in rows]):.2f}",
                  f"{np.median([r['ratio'] for r in rows]):.1f}x")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
