"""`cordillera <verb>`: thin entry points over the library.

    cordillera sim highway --seed 0 --policy lane_follower --video out/highway.mp4 --json
    cordillera scenarios list --suite test --json
    cordillera eval --policy rule-based --suite test --workers 2 --out runs/eval/rule-based-test
    cordillera eval compare runs/eval/constant-velocity-test runs/eval/rule-based-test

Bad input (unknown scenario or policy, malformed files, invalid values) prints one clear line to stderr
and exits with code 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from cordillera.argtypes import at_least, positive
from cordillera.constants import REASONING_MODES
from cordillera.errors import UsageError

_seed = at_least(0)
_workers = at_least(1)
_positive = positive

__all__ = ["main"]


def _sim(args: argparse.Namespace) -> int:
    if args.cameras and not args.video:
        raise UsageError("--cameras needs --video (the camera images go into the video)")
    from cordillera.policies import UnknownPolicyError, make_policy
    from cordillera.scenarios.builtin import resolve_scenario
    from cordillera.world import sim
    from cordillera.world.rollout import summarize, timed_rollout

    try:
        scenario = resolve_scenario(args.scenario)
        try:
            policy = make_policy(args.policy, **({"checkpoint": args.checkpoint} if args.checkpoint else {}))
        except TypeError:
            raise UsageError(f"policy {args.policy!r} takes no --checkpoint") from None
        config = sim.SimConfig(duration_s=args.duration)
        # reset once up front: map parameters, lane names and placements the builders reject (MapError,
        # ScenarioError, other ValueErrors) are the user's to fix; errors later in the rollout are bugs
        state = sim.reset(scenario, args.seed, config)
    except (UnknownPolicyError, ValueError, OSError) as exc:
        raise UsageError(str(exc)) from None
    policy.reset({"scenario": scenario.name, "seed": state.world.seed})
    final, wall = timed_rollout(scenario, policy, policy_hz=args.policy_hz, state=state)
    summary = summarize(final, wall)
    if args.video:
        from cordillera.world.render.video import render_rollout_video

        from cordillera.world.render.rig import default_rig

        rig = default_rig() if args.cameras else None
        summary["video"] = str(render_rollout_video(final, Path(args.video), cameras=rig))
    if args.save_state:
        from cordillera.world.state_io import save_state

        summary["state"] = str(save_state(final, Path(args.save_state)))
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key:>28}: {value}")
    return 0


def _policies(args: argparse.Namespace) -> int:
    from cordillera.policies import policy_names

    print("\n".join(policy_names()))
    return 0


def _scenarios_list(args: argparse.Namespace) -> int:
    from cordillera.scenarios.library import family_listing
    from cordillera.scenarios.schema import ScenarioError
    from cordillera.scenarios.suites import get_suite

    if args.suite is not None:
        try:
            suite = get_suite(args.suite)
        except ScenarioError as exc:
            raise UsageError(str(exc)) from None
        if args.json:
            print(json.dumps(suite.to_json()))
        else:
            print(f"suite {suite.name}: {len(suite)} scenarios, hash {suite.hash}")
            print("\n".join(f"{family}:{seed}" for family, seed in suite.items))
        return 0
    listing = family_listing()
    if args.json:
        print(json.dumps(listing))
    else:
        for item in listing:
            tags = item["tags"]
            kind = "long tail" if item["longtail"] else "nominal"
            split = ", held out" if tags["holdout"] else ""
            print(f"{item['name']:28} {kind:9} {tags['category']:18} {'/'.join(tags['decisions'])}{split}")
    return 0


def _scenarios_show(args: argparse.Namespace) -> int:
    from cordillera.policies import UnknownPolicyError, make_policy
    from cordillera.scenarios.families import get_family
    from cordillera.scenarios.library import show_sample

    try:
        get_family(args.family).sample(args.seed)  # unknown family, or a seed the schema rejects
        make_policy(args.policy)
    except (UnknownPolicyError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    try:
        summary = show_sample(args.family, args.seed, args.policy, args.video, cameras=not args.no_cameras)
    except OSError as exc:  # the video could not be written where asked
        raise UsageError(f"cannot write {args.video}: {exc.strerror or exc}") from None
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key:>28}: {value}")
    return 0


def _scenarios_export(args: argparse.Namespace) -> int:
    from cordillera.scenarios.library import export_yaml, write_whole

    try:
        text = export_yaml(args.family, args.seed)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        write_whole(args.output, lambda tmp: tmp.write_text(text))
    except OSError as exc:
        raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    return 0


@contextmanager
def _progress_bar():
    """A (phase, done, total) callback drawing one rich progress bar per phase with its ETA, on stderr."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    bars = Progress(TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("ETA"), TimeRemainingColumn(), console=Console(stderr=True))
    tasks: dict[str, object] = {}

    def update(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            if total == 0:
                return
            tasks[phase] = bars.add_task(phase, total=total, completed=done)
        bars.update(tasks[phase], completed=done, total=total)

    with bars:
        yield update


_EVAL_ROWS = (("epdms", "{:.3f}"), ("success_rate", "{:.3f}"), ("collision_free_rate", "{:.3f}"),
              ("at_fault_collision_rate", "{:.3f}"), ("offroad_rate", "{:.3f}"), ("close_encounter_rate", "{:.3f}"),
              ("route_completion", "{:.1f}"), ("driving_score", "{:.1f}"), ("alpasim_scene_score", "{:.3f}"),
              ("km_per_incident", "{:.2f}"), ("reasoning_action_consistency", "{:.3f}"), ("min_ade", "{:.3f}"))


def _eval(args: argparse.Namespace) -> int:
    if args.action == "compare":
        return _eval_compare(args)
    missing = [flag for flag in ("policy", "suite", "out") if getattr(args, flag) is None]
    if missing:
        raise UsageError(f"{', '.join('--' + m for m in missing)} required (or: cordillera eval compare DIR_A DIR_B)")
    from cordillera.eval.executor import ExecutorError
    from cordillera.eval.runner import EvalConfig, EvalError, run_eval
    from cordillera.eval.specs import PolicyIdError, SuiteError

    config = EvalConfig(policy=args.policy, suite=args.suite, out=args.out, workers=args.workers,
                        executor=args.executor, duration_s=args.duration, policy_hz=args.policy_hz,
                        reasoning=args.reasoning, samples=args.samples, videos=not args.no_videos,
                        max_failure_videos=args.max_failure_videos)
    try:
        with _progress_bar() as progress:
            result = run_eval(config, progress)
    except (PolicyIdError, SuiteError, EvalError, ExecutorError) as exc:
        raise UsageError(str(exc)) from None
    summary = result.summary
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{summary['policy']} on {summary['suite']} ({summary['n_scenarios']} scenarios, {summary['n_errors']} "
          f"crashed): {result.ran} run, {result.skipped} already done, {result.wall_s:.1f} s wall")
    for key, fmt in _EVAL_ROWS:
        value = summary[key]
        ci = summary["ci95"].get(key)
        shown = "-" if value is None else fmt.format(value)
        interval = f"  [{fmt.format(ci[0])}, {fmt.format(ci[1])}]" if ci and value is not None else ""
        print(f"{key:>30}: {shown}{interval}")
    print(f"{'incidents':>30}: {summary['incidents']} in {summary['km_driven']:.2f} km")
    print(f"{'report':>30}: {result.out / 'report.html'}")
    return 0


def _eval_compare(args: argparse.Namespace) -> int:
    from cordillera.eval.compare import compare_runs
    from cordillera.eval.runner import EvalError

    try:
        table = compare_runs(args.dir_a, args.dir_b)
    except EvalError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(table))
        return 0
    keys = ("success_rate", "epdms", "at_fault_collision_rate", "driving_score")
    a, b = table["a"], table["b"]
    print(f"B - A: A = {a['policy']} ({a['dir']}), B = {b['policy']} ({b['dir']}); "
          f"{table['overall']['n_pairs']} paired scenarios; * p < {table['alpha']}")
    print(f"{'family':<28}{'n':>4}" + "".join(f"{k:>27}" for k in keys))
    for name, row in [("overall", table["overall"]), *table["families"].items()]:
        cells = []
        for k in keys:
            d = row[k]
            if d is None:
                cells.append("-")
                continue
            p = f"{d['p_value']:.3f}" if d["p_value"] >= 0.001 else "<0.001"
            cells.append(f"{d['delta'] + 0.0:+.3f} (p {p}){'*' if d['significant'] else ' '}")
        print(f"{name:<28}{row['n_pairs']:>4}" + "".join(f"{c:>27}" for c in cells))
    return 0








# modules that add verbs of their own: register(subparsers) each; keep their top-level imports light
VERB_MODULES: tuple[str, ...] = ("cordillera.explain", "cordillera.drive", "cordillera.data.commands",
                                  "cordillera.train.commands", "cordillera.train.rl_commands", "cordillera.train.card")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cordillera", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("sim", help="run one closed-loop rollout and print a summary")
    p.add_argument("scenario", help="a scenario YAML file, a built-in scenario name, or FAMILY:SEED")
    p.add_argument("--seed", type=_seed, default=None, help="rollout seed (default: the scenario's seed)")
    p.add_argument("--policy", default="lane_follower", help="policy name (see `cordillera policies`)")
    p.add_argument("--policy-hz", type=_positive, default=10.0, help="how often the policy replans [Hz]")
    p.add_argument("--checkpoint", default=None, help="checkpoint directory for a learned policy (--policy vla)")
    p.add_argument("--duration", type=_positive, default=None, help="simulated seconds (default: the scenario's)")
    p.add_argument("--video", default=None, help="write a bird's-eye mp4 of the rollout here")
    p.add_argument("--cameras", action="store_true", help="with --video: the default camera rig beside the BEV")
    p.add_argument("--save-state", default=None, help="save the final WorldState (.npz) here")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_sim)
    p = sub.add_parser("policies", help="list the registered policies")
    p.set_defaults(func=_policies)
    p = sub.add_parser("scenarios", help="the scenario library: list families and suites, show or export a sample")
    actions = p.add_subparsers(dest="action", required=True)
    q = actions.add_parser("list", help="list the families, or the (family, seed) items of a suite")
    q.add_argument("--suite", default=None, help="train, val, test or longtail-holdout")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=_scenarios_list)
    q = actions.add_parser("show", help="drive one sample with a policy; optionally write a BEV + cameras video")
    q.add_argument("family", help="family name (see `cordillera scenarios list`)")
    q.add_argument("--seed", type=_seed, default=0, help="sample seed (default 0)")
    q.add_argument("--policy", default="lane_follower", help="policy name (see `cordillera policies`)")
    q.add_argument("--video", default=None, help="write an mp4 of the rollout here")
    q.add_argument("--no-cameras", action="store_true", help="BEV only in the video (faster)")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.set_defaults(func=_scenarios_show)
    q = actions.add_parser("export", help="print the YAML of one sample (or write it with --output)")
    q.add_argument("family", help="family name (see `cordillera scenarios list`)")
    q.add_argument("--seed", type=_seed, default=0, help="sample seed (default 0)")
    q.add_argument("--output", default=None, help="write the YAML here instead of to stdout")
    q.set_defaults(func=_scenarios_export)
    p = sub.add_parser("eval", help="closed-loop evaluation of a policy on a suite (report, summary, results); "
                                    "`eval compare A B` for per-family deltas")
    p.add_argument("--policy", default=None, help="constant-velocity, rule-based, teacher or vla:CHECKPOINT_DIR")
    p.add_argument("--suite", default=None, help="train, val, test, longtail-holdout, or FAMILY:SEED,FAMILY:SEED,...")
    p.add_argument("--out", default=None, help="output directory; rerunning into it resumes")
    p.add_argument("--workers", type=_workers, default=os.cpu_count() or 1,
                   help="worker processes (default: one per CPU; 1 runs in this process)")
    p.add_argument("--executor", choices=("local", "ray"), default="local", help="local process pool or Ray")
    p.add_argument("--duration", type=_positive, default=None, help="simulated seconds per scenario "
                                                                     "(default: each scenario's own)")
    p.add_argument("--policy-hz", type=_positive, default=10.0, help="how often the policy replans [Hz]")
    p.add_argument("--reasoning", choices=REASONING_MODES, default=None,
                   help="a vla: policy's reasoning mode (default: its checkpoint's, auto)")
    p.add_argument("--samples", type=at_least(1), default=None,
                   help="a vla: policy's trajectory samples per decision (default 6; it drives the noise-free "
                        "one, so 1 drives the same plan faster)")
    p.add_argument("--no-videos", action="store_true", help="skip the failure and success videos")
    p.add_argument("--max-failure-videos", type=_seed, default=None, help="video only the first N failures "
                                                                          "(default: all)")
    p.add_argument("--json", action="store_true", help="print summary.json to stdout")
    p.set_defaults(func=_eval, action=None)
    actions = p.add_subparsers(dest="action")
    q = actions.add_parser("compare", help="per-family deltas B - A with significance, paired by scenario")
    q.add_argument("dir_a", help="baseline evaluation directory (A)")
    q.add_argument("dir_b", help="evaluation directory to compare (B)")
    q.add_argument("--json", action="store_true", help="print the comparison as JSON")
    for name in VERB_MODULES:  # each adds its verbs with register(sub); heavy imports stay in the handlers
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        message = " ".join(str(exc).split())  # one line, whatever the library's message looked like
        print(f"cordillera {args.verb}: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`cordillera eval compare A B | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush cannot fail again
        return 141  # 128 + SIGPIPE, as a shell reports it


if __name__ == "__main__":
    sys.exit(main())
