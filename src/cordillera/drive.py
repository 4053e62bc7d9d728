"""`cordillera drive`: the main job. The shipped VLA drives a demonstration suite closed loop.

    cordillera drive                                   # the shipped checkpoint on the demo suite
    cordillera drive --checkpoint runs/train/small/checkpoint --out runs/drive/mine

For each scenario it prints the outcome, the key metrics and the reasoning the model wrote at the
scenario's most important moment (`eval.episode.key_moment`), and it writes the evaluation's HTML report
with videos into --out. It is `cordillera eval --policy vla:CHECKPOINT --suite DEMO_SUITE` with a shorter
printout, so the directory resumes and compares (`cordillera eval compare`) like any evaluation.
"""

from __future__ import annotations

import argparse
import os
import textwrap

from cordillera.argtypes import at_least, within
from cordillera.constants import REASONING_MODES
from cordillera.errors import UsageError
from cordillera.explain import DEFAULT_CHECKPOINT, resolve_checkpoint

__all__ = ["DEMO_SUITE", "DEFAULT_CHECKPOINT", "register", "format_record"]

# a dozen scenarios across nominal and long-tail families, from the held-out test / longtail-holdout seeds
DEMO_SUITE = ",".join([
    "lane_follow_curved:20000", "red_light_stop:20000", "unprotected_left:20000", "right_turn_crosswalk:20000",
    "onramp_merge:20000", "stop_sign_t_junction:20000", "occluded_pedestrian:20000", "lead_emergency_brake:20000",
    "stalled_vehicle:20000", "emergency_vehicle_behind:20000", "dark_signal:20000", "school_bus_stopped:30000",
])


def format_record(record: dict, width: int = 100) -> str:
    """A few lines about one scenario's result: outcome, key metrics, the reasoning at the key moment."""
    m = record.get("metrics") or {}
    if record["status"] != "ok":
        outcome = f"ERROR  {record['failure']}"
    else:
        outcome = "ok     " if record["success"] else f"FAILED {record['failure']}"
    lines = [f"{record['scenario']:<32} {outcome}"]
    if m:
        lines.append(f"    EPDMS {m['epdms']:.3f}  at-fault collision {'yes' if not m['pdm.nc'] else 'no'}  "
                     f"off-road {'yes' if not m['pdm.dac'] else 'no'}  progress {m['pdm.progress_m']:.0f} m  "
                     f"comfort {m['pdm.ec']:.2f}")
    moment = record.get("key_moment")
    if moment:
        said = textwrap.shorten(moment["text"], width - 20)
        lines.append(f"    t={moment['t']:4.1f}s  \"{said}\"  ({moment['why']})")
    elif record["status"] == "ok":
        lines.append("    (no reasoning written)")
    return "\n".join(lines)


def _drive(args: argparse.Namespace) -> int:
    from cordillera.cli import _progress_bar
    from cordillera.eval.executor import ExecutorError
    from cordillera.eval.runner import EvalConfig, EvalError, run_eval
    from cordillera.eval.specs import PolicyIdError, SuiteError

    checkpoint = resolve_checkpoint(args.checkpoint)
    if not (checkpoint / "config.json").is_file():
        raise UsageError(f"no checkpoint at {str(checkpoint)!r} (a directory with config.json and "
                         "model.safetensors); the shipped one is checkpoints/cordillera-vla-small")
    config = EvalConfig(policy=f"vla:{checkpoint}", suite=args.suite, out=args.out, workers=args.workers,
                        policy_hz=args.policy_hz, reasoning=args.reasoning, samples=args.samples,
                        videos=not args.no_videos, duration_s=args.duration)
    try:
        with _progress_bar() as progress:
            result = run_eval(config, progress)
    except (PolicyIdError, SuiteError, EvalError, ExecutorError) as exc:
        raise UsageError(str(exc)) from None
    from cordillera.eval.runner import RESULTS, read_results

    records = read_results(result.out / RESULTS)
    for record in records:
        print(format_record(record))
    s = result.summary
    consistency = s["reasoning_action_consistency"]
    consistency = "n/a (no reasoning written)" if consistency is None else f"{consistency:.2f}"
    print(f"\n{s['n_scenarios']} scenarios: EPDMS {s['epdms']:.3f}, success {100 * s['success_rate']:.0f} %, "
          f"at-fault collisions {100 * s['at_fault_collision_rate']:.0f} %, "
          f"reasoning-action consistency {consistency}  ({result.wall_s:.0f} s wall)")
    print(f"report: {result.out / 'report.html'}")
    return 0


def register(sub) -> None:
    """Add `drive` to the `cordillera` subcommands."""
    p = sub.add_parser("drive", help="the main job: the shipped VLA drives a demo suite; outcomes, reasoning, "
                                     "HTML report with videos")
    p.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help=f"checkpoint directory (default "
                                                                    f"{DEFAULT_CHECKPOINT})")
    p.add_argument("--suite", default=DEMO_SUITE, help="suite name or FAMILY:SEED,... (default: the 12-scenario "
                                                       "demo suite)")
    p.add_argument("--out", default="runs/drive", help="output directory; rerunning into it resumes "
                                                       "(default runs/drive)")
    p.add_argument("--workers", type=at_least(1), default=os.cpu_count() or 1, help="worker processes")
    p.add_argument("--policy-hz", type=within(0.0, 10.0, low_open=True), default=2.0,
                   help="how often the VLA replans [Hz] (default 2, as its evaluations)")
    p.add_argument("--reasoning", choices=REASONING_MODES, default="always",
                   help="write the reasoning at every decision (default), never, or when the model's gate says")
    p.add_argument("--samples", type=at_least(1), default=None,
                   help="trajectory samples per decision (default 6; the noise-free one is driven, so 1 drives "
                        "the same plan faster)")
    p.add_argument("--duration", type=float, default=None, help="simulated seconds per scenario (default: each "
                                                                "scenario's own)")
    p.add_argument("--no-videos", action="store_true", help="skip the videos in the report")
    p.set_defaults(func=_drive)
