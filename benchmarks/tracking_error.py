"""Tracking error of the plan tracker on the four benchmark maneuvers, and its cost per call.

    python benchmarks/tracking_error.py                    # table (CPU, a few seconds)
    python benchmarks/tracking_error.py --json             # one JSON object
    python benchmarks/tracking_error.py --replan-every 5   # plans 0.5 s old before the next one

Each maneuver is run closed loop for 8 s with `forward` and `track` (dt = 0.1 s); every `--replan-every`
steps the plan is the next 6.4 s of the reference (world frame). Errors
are against the reference path (lateral, heading) and the reference timing (speed). The time per `track`
call is the best of several repeats over the inputs recorded in the closed loop.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np

from cordillera import constants as C
from cordillera.world.controller import (
    TrackerConfig,
    track,
    tracking_errors,
    tracking_maneuvers,
)
from cordillera.world.dynamics import EgoState, VehicleParams, forward


def run_maneuver(
    reference: np.ndarray,
    speeds: np.ndarray,
    params: VehicleParams,
    config: TrackerConfig,
    steps: int,
    replan_every: int,
    repeats: int,
) -> dict[str, float]:
    """Closed loop on one reference; returns error statistics and microseconds per `track` call."""
    state = EgoState(x=0.0, y=0.0, yaw=float(reference[0, 2]), v=float(speeds[0]))
    calls, states = [], [state.as_array()]
    for n in range(steps):
        if n % replan_every == 0:
            plan, plan_t0 = reference[n + 1 : n + 1 + C.PLAN_STEPS], n * C.DT
        call = (state, plan, plan_t0, n * C.DT, params, config, C.DT)
        accel, rate = track(*call)
        calls.append(call)
        state = forward(state, accel, rate, params, C.DT)
        states.append(state.as_array())
    errors = tracking_errors(np.stack(states), reference, speeds)

    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for call in calls:
            track(*call)
        best = min(best, (time.perf_counter() - start) / len(calls))
    return {
        "lateral_mean_m": float(np.mean(np.abs(errors["lateral"]))),
        "lateral_max_m": float(np.max(np.abs(errors["lateral"]))),
        "heading_mean_rad": float(np.mean(np.abs(errors["heading"]))),
        "heading_max_rad": float(np.max(np.abs(errors["heading"]))),
        "speed_mean_m_s": float(np.mean(np.abs(errors["speed"]))),
        "speed_max_m_s": float(np.max(np.abs(errors["speed"]))),
        "us_per_track_call": best * 1e6,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--replan-every", type=int, default=1, help="steps between plans (1 = 10 Hz)")
    parser.add_argument("--steps", type=int, default=80, help="closed-loop steps of 0.1 s")
    parser.add_argument("--repeats", type=int, default=20, help="timing repeats (best is kept)")
    args = parser.parse_args(argv)

    params, config = VehicleParams(), TrackerConfig()
    results = {
        name: run_maneuver(reference, speeds, params, config, args.steps, args.replan_every, args.repeats)
        for name, (reference, speeds) in tracking_maneuvers(args.steps).items()
    }
    report = {
        "dt_s": C.DT,
        "steps": args.steps,
        "replan_every": args.replan_every,
        "vehicle": dataclasses.asdict(params),
        "tracker": dataclasses.asdict(config),
        "maneuvers": results,
    }
    if args.json:
        print(json.dumps(report))
        return report

    from rich.console import Console
    from rich.table import Table

    title = f"Plan tracking, {args.steps * C.DT:.0f} s closed loop, replan every {args.replan_every} step(s)"
    table = Table(title=title)
    columns = [
        ("maneuver", None),
        ("lat mean (m)", "lateral_mean_m"),
        ("lat max (m)", "lateral_max_m"),
        ("head mean (rad)", "heading_mean_rad"),
        ("head max (rad)", "heading_max_rad"),
        ("speed mean (m/s)", "speed_mean_m_s"),
        ("speed max (m/s)", "speed_max_m_s"),
        ("us / track", "us_per_track_call"),
    ]
    for title, key in columns:
        table.add_column(title, justify="left" if key is None else "right")
    for name, row in results.items():
        cells = [f"{row[key]:.1f}" if key == "us_per_track_call" else f"{row[key]:.4f}" for _, key in columns[1:]]
        table.add_row(name, *cells)
    Console(width=120).print(table)
    return report


if __name__ == "__main__":
    main()
