"""`cordillera <verb>`: thin entry points over the library.

    cordillera sim highway --seed 0 --policy lane_follower --video out/highway.mp4 --json

Bad input (unknown scenario or policy, malformed files, invalid values) prints one clear line to stderr
and exits with code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main"]


class UsageError(Exception):
    """Input the user can fix; reported on one line with exit code 2."""


def _sim(args: argparse.Namespace) -> int:
    from cordillera.policies import UnknownPolicyError, make_policy
    from cordillera.scenarios.builtin import resolve_scenario
    from cordillera.world import sim
    from cordillera.world.rollout import summarize, timed_rollout

    try:
        scenario = resolve_scenario(args.scenario)
        policy = make_policy(args.policy)
    except (UnknownPolicyError, ValueError, OSError) as exc:
        raise UsageError(str(exc)) from None
    config = sim.SimConfig(duration_s=args.duration) if args.duration else sim.SimConfig()
    try:
        final, wall = timed_rollout(scenario, policy, seed=args.seed, config=config, policy_hz=args.policy_hz)
    except ValueError as exc:  # map or scenario values the builders reject
        raise UsageError(str(exc)) from None
    summary = summarize(final, wall)
    if args.video:
        from cordillera.world.render.video import render_rollout_video

        summary["video"] = str(render_rollout_video(final, Path(args.video)))
    if args.save_state:
        from cordillera.world.state_io import save_state

        summary["state"] = str(save_state(final, Path(args.save_state)))
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key:>28}: {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cordillera", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("sim", help="run one closed-loop rollout and print a summary")
    p.add_argument("scenario", help="a scenario YAML file, a built-in scenario name, or FAMILY:SEED")
    p.add_argument("--seed", type=int, default=None, help="rollout seed (default: the scenario's seed)")
    p.add_argument("--policy", default="lane_follower", help="policy name (see `cordillera policies`)")
    p.add_argument("--policy-hz", type=float, default=10.0, help="how often the policy replans [Hz]")
    p.add_argument("--duration", type=float, default=None, help="simulated seconds (default: the scenario's)")
    p.add_argument("--video", default=None, help="write a bird's-eye mp4 of the rollout here")
    p.add_argument("--save-state", default=None, help="save the final WorldState (.npz) here")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_sim)
    p = sub.add_parser("policies", help="list the registered policies")
    p.set_defaults(func=lambda a: print("\n".join(__import__("cordillera.policies", fromlist=["x"]).policy_names())) or 0)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"cordillera {args.verb}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
