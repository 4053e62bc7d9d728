"""Cost of Chain-of-Causation labelling: planner calls and seconds per keyframe, routine moments, QA, keyframes.

    .venv/bin/python benchmarks/coc_labeling.py                               # 5 families x 80 steps, ~2-4 min
    .venv/bin/python benchmarks/coc_labeling.py --families red_light_stop stalled_vehicle --steps 60 --seed 3

Each family is driven closed loop by the teacher for `--steps` 10 Hz steps; keyframes are detected over the
rollout (`teacher.keyframes.keyframe_steps`) and every keyframe is labelled (`teacher.reasoning.label_moment`:
counterfactual attribution with the planner, then the sentence). The planner's own decision time in the same
run is the unit: attribution costs about (calls per keyframe) x (decision time). Wall-clock numbers vary on a
shared machine; calls per keyframe do not (same seeds, same calls).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from cordillera.scenarios.families import get_family
from cordillera.teacher.keyframes import keyframe_steps
from cordillera.teacher.planner import TeacherPlanner
from cordillera.teacher.qa import qa_pairs
from cordillera.teacher.reasoning import label_moment
from cordillera.world import sim
from cordillera.world.types import Plan

FAMILIES = ("red_light_stop", "lead_emergency_brake", "occluded_pedestrian", "stalled_vehicle", "right_turn_crosswalk")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--show-texts", action="store_true")
    args = parser.parse_args()
    planner = TeacherPlanner()
    table = Table(title="CoC labelling per family")
    for col in ("family", "keyframes", "calls / kf", "s / kf", "decide s", "routine ms", "QA ms", "keyframes ms"):
        table.add_column(col, justify="right")
    all_calls, all_label, all_decide = [], [], []
    for family in args.families:
        state = sim.reset(get_family(family).sample(args.seed), args.seed)
        states, results = [], []
        for _ in range(args.steps):
            result = planner.decide(state)
            states.append(state)
            results.append(result)
            state = sim.step(state, Plan(result.poses))
        decide = [r.planning_time_s for r in results]
        start = time.perf_counter()
        picks = keyframe_steps(states, results)
        kf_ms = (time.perf_counter() - start) * 1e3
        rng = np.random.default_rng(0)
        calls, label_s, qa_ms, previous = [], [], [], None
        for k in picks:
            start = time.perf_counter()
            coc = label_moment(states[k], results[k], planner, previous, rng, keyframe=True)
            label_s.append(time.perf_counter() - start)
            calls.append(coc.attribution_calls)
            previous = coc
            start = time.perf_counter()
            qa_pairs(states[k], rng)
            qa_ms.append((time.perf_counter() - start) * 1e3)
            if args.show_texts:
                print(f"{family} t={states[k].t:.1f}s {coc.text}  {sorted(coc.critical_ids())}")
        start = time.perf_counter()
        for k in range(0, len(states), 10):
            label_moment(states[k], results[k], planner, None, rng, keyframe=False)
        routine_ms = (time.perf_counter() - start) * 1e3 / len(range(0, len(states), 10))
        all_calls += calls
        all_label += label_s
        all_decide += decide
        table.add_row(family, str(len(picks)), f"{np.mean(calls):.1f}" if calls else "-",
                      f"{np.mean(label_s):.2f}" if label_s else "-", f"{np.mean(decide):.3f}", f"{routine_ms:.2f}",
                      f"{np.mean(qa_ms):.0f}" if qa_ms else "-", f"{kf_ms:.1f}")
    if all_calls:
        table.add_row("all", str(len(all_calls)), f"{np.mean(all_calls):.1f}", f"{np.mean(all_label):.2f}",
                      f"{np.mean(all_decide):.3f}", "", "", "")
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
