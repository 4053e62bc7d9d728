"""`cordillera datagen` and `cordillera data stats|show`: thin verbs over teacher.datagen and data.inspect.

    cordillera datagen --suite train --episodes 600 --out runs/data/train --workers 2
    cordillera data stats runs/data/train            # table + runs/data/train/plots/*.png
    cordillera data show runs/data/train --index 12  # record + runs/data/train/show/sample-000012.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cordillera.argtypes import at_least, image_size, positive, within
from cordillera.errors import UsageError

__all__ = ["register"]


def _datagen(args: argparse.Namespace) -> int:
    from cordillera.cli import _progress_bar
    from cordillera.data.format import DatasetError
    from cordillera.eval.executor import ExecutorError
    from cordillera.scenarios.schema import ScenarioError
    from cordillera.teacher.datagen import DatagenConfig, generate
    from cordillera.teacher.perturb import PerturbConfig

    try:
        config = DatagenConfig(suite=args.suite, episodes=args.episodes, seed=args.seed,
                               perturb=PerturbConfig(late_brake_probability=args.late_brake),
                               routine_rate=args.routine_rate, duration_s=args.duration, workers=args.workers,
                               executor=args.executor, val_fraction=args.val_fraction,
                               image_height=args.image_size[0], image_width=args.image_size[1], frames=args.frames,
                               student=args.student, student_hz=args.student_hz)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        with _progress_bar() as progress:
            info = generate(config, args.out, progress)
    except (DatasetError, ScenarioError, ExecutorError) as exc:
        raise UsageError(str(exc)) from None
    summary = {k: info[k] for k in ("episodes", "samples", "keyframes", "splits")} | {"out": str(args.out)}
    print(json.dumps(summary) if args.json else
          f"{summary['samples']} samples ({summary['keyframes']} keyframes) from {summary['episodes']} episodes "
          f"in {args.out}; splits {summary['splits']}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from cordillera.data.format import DatasetError
    from cordillera.data.inspect import dataset_stats, plot_stats

    try:
        stats = dataset_stats(args.dir)
    except DatasetError as exc:
        raise UsageError(str(exc)) from None
    plots_dir = Path(args.plots) if args.plots else Path(args.dir) / "plots"
    plots = plot_stats(stats, plots_dir)
    stats.pop("_arrays")
    stats["plots"] = [str(p) for p in plots]
    if args.json:
        print(json.dumps(stats))
        return 0
    share = lambda v: "-" if v is None else f"{v:.1%}"  # noqa: E731
    print(f"{stats['path']}: {stats['samples']} samples, {stats['episodes']} episodes, splits {stats['splits']}; "
          f"keyframes {share(stats['keyframe_share'])}, with reasoning {share(stats['reasoning_share'])}, "
          f"perturbed {share(stats['perturbed_share'])}")
    print(f"\n{'decision':<34}{'samples':>9}{'keyframes':>11}")
    for label, count in stats["decisions"].items():
        print(f"{label:<34}{count:>9}{stats['keyframe_decisions'].get(label, 0):>11}")
    print(f"\n{'family':<34}{'episodes':>9}{'samples':>11}")
    for family, row in stats["families"].items():
        print(f"{family:<34}{row['episodes']:>9}{row['samples']:>11}")
    for name, unit in (("speed_mps", "m/s"), ("curvature_per_m", "1/m")):
        row = stats[name]
        if row:
            cells = "  ".join(f"{k} {v:.4g}" for k, v in row.items())
            print(f"\n{name} [{unit}]: {cells}")
    print(f"\nplots: {', '.join(stats['plots'])}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from cordillera.data.format import DatasetError
    from cordillera.data.inspect import show_sample

    out = Path(args.png) if args.png else Path(args.dir) / "show" / f"sample-{args.index:06d}.png"
    try:
        record = show_sample(args.dir, args.index, out, split=args.split)
    except DatasetError as exc:
        raise UsageError(str(exc)) from None
    except IndexError as exc:
        raise UsageError(str(exc)) from None
    record["png"] = str(out)
    if args.json:
        print(json.dumps(record))
        return 0
    for key in ("episode", "family", "seed", "split", "step", "t", "speed", "acceleration", "navigation",
                "decision", "keyframe", "proposal", "reasoning", "perturbation", "qa", "coc", "png"):
        print(f"{key:>14}: {json.dumps(record[key]) if isinstance(record[key], (dict, list)) else record[key]}")
    return 0


def _data(args: argparse.Namespace) -> int:
    return {"stats": _stats, "show": _show}[args.action](args)








def add_export_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of `cordillera data export-pai-av` and `python -m cordillera.data.pai_av write`."""
    p.add_argument("--scenario", action="append", required=True, help="FAMILY:SEED (repeatable)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--duration", type=float, default=20.0, help="clip length [s] (PhysicalAI-AV clips: 20)")
    p.add_argument("--driver", choices=("teacher", "lane_follower"), default="teacher",
                   help="who drives: the teacher (with CoC events) or the rule-based lane follower")


def _export_pai_av(args: argparse.Namespace) -> int:
    from cordillera.data.pai_av import PaiAvError
    from cordillera.data.pai_av_write import run_export

    try:
        return run_export(args)
    except PaiAvError as exc:
        raise UsageError(str(exc)) from None


def register(sub) -> None:
    p = sub.add_parser("datagen", help="generate a dataset with the teacher (resumable)")
    p.add_argument("--suite", default="train", help="scenario suite to sample (default: train)")
    p.add_argument("--episodes", type=at_least(1), required=True, help="number of episodes")
    p.add_argument("--out", required=True, help="dataset directory (created; rerun the same command to resume)")
    p.add_argument("--workers", type=at_least(1), default=1, help="parallel episodes (default 1)")
    p.add_argument("--executor", choices=("local", "ray"), default="local", help="where episodes run")
    p.add_argument("--seed", type=at_least(0), default=0, help="orders the suite, seeds the noise")
    p.add_argument("--routine-rate", type=within(0.0, 1.0), default=0.1,
                   help="probability that a routine 10 Hz step is recorded (default 0.1, ~1 sample/s)")
    p.add_argument("--duration", type=positive, default=None,
                   help="simulated seconds per episode (default: the scenario's own length)")
    p.add_argument("--val-fraction", type=within(0.0, 1.0), default=0.1,
                   help="share of scenarios (family, seed) in the val split (default 0.1)")
    p.add_argument("--image-size", type=image_size, default=(64, 128), metavar="HxW",
                   help="rendered frame size, height x width (default 64x128, the model rig's)")
    p.add_argument("--frames", type=at_least(1), default=4, help="frames per camera, 0.1 s apart (default 4)")
    p.add_argument("--late-brake", type=within(0.0, 1.0), default=0.0, metavar="P",
                   help="probability that the ego keeps its speed for 0.5-1.5 s when the teacher starts to brake "
                        "(late-braking recoveries; default 0)")
    p.add_argument("--student", default=None, metavar="CHECKPOINT",
                   help="DAgger: this VLA checkpoint drives and the teacher labels the states it reaches")
    p.add_argument("--student-hz", type=positive, default=2.0,
                   help="how often the student replans [Hz] (default 2, as `cordillera eval --policy-hz 2`)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_datagen)

    p = sub.add_parser("data", help="inspect a dataset: stats, show")
    actions = p.add_subparsers(dest="action", required=True)
    s = actions.add_parser("stats", help="decision histogram, family coverage, speed and curvature; plots")
    s.add_argument("dir", help="dataset directory")
    s.add_argument("--plots", default=None, help="where to write the PNG plots (default: DIR/plots)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_data)
    s = actions.add_parser("show", help="one sample: its record and a PNG of cameras, plan and reasoning")
    s.add_argument("dir", help="dataset directory")
    s.add_argument("--index", type=at_least(0), required=True, help="sample index within --split")
    s.add_argument("--split", choices=("all", "train", "val"), default="all")
    s.add_argument("--png", default=None, help="output image (default: DIR/show/sample-NNNNNN.png)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_data)
    s = actions.add_parser("export-pai-av", help="simulate scenarios and write them as PhysicalAI-AV clips")
    add_export_arguments(s)
    s.set_defaults(func=_export_pai_av)
