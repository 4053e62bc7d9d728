"""`cordillera rl`: GRPO post-training of an SFT checkpoint on simulated moments of a scenario suite.

    cordillera rl --checkpoint checkpoints/small --suite train --out runs/rl/small
    cordillera rl --checkpoint checkpoints/small --suite train --out runs/rl/small \
        --config configs/rl/grpo-small.yaml --steps 50
    cordillera rl --checkpoint checkpoints/small --suite train --out runs/rl/small --resume

A bad checkpoint, an unknown config field or suite, or a run directory of another run is reported on one
line (exit code 2) before the first step.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

from cordillera.errors import UsageError

__all__ = ["register"]


def register(sub) -> None:
    p = sub.add_parser("rl", help="RL post-training (GRPO, reasoning and expert) from an SFT checkpoint; resumable")
    p.add_argument("--checkpoint", required=True, help="SFT checkpoint directory (save_pretrained layout)")
    p.add_argument("--suite", default=None, help="scenario suite the prompts come from (default: the config's, train)")
    p.add_argument("--out", required=True, help="run directory (metrics.jsonl, checkpoints, final model)")
    p.add_argument("--config", default=None, help="RL config (YAML or JSON); defaults for every missing field")
    p.add_argument("--steps", type=int, default=None, help="optimiser steps (overrides the config)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its newest checkpoint")
    p.add_argument("--stop-at", type=int, default=None, metavar="STEP",
                   help="end after STEP steps with a checkpoint (continue later with --resume)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (metrics still go to metrics.jsonl)")
    p.set_defaults(func=_rl)


def _rl(args: argparse.Namespace) -> int:
    from cordillera.train.rl import RLError, rl
    from cordillera.train.rl_config import RLConfig, RLConfigError, load_rl_config

    try:
        config = load_rl_config(args.config) if args.config else RLConfig()
        if args.suite is not None:
            config = dataclasses.replace(config, prompts=dataclasses.replace(config.prompts, suite=args.suite))
        if args.steps is not None:
            config = dataclasses.replace(config, steps=args.steps)
    except RLConfigError as exc:
        raise UsageError(str(exc)) from None
    try:
        result = rl(config, args.checkpoint, args.out, resume=args.resume, progress=not args.no_progress,
                    stop_at_step=args.stop_at)
    except RLError as exc:
        raise UsageError(str(exc)) from None
    last = {k: v for k, v in result.last.items() if k.startswith("reward/") or k in ("step", "gated_fraction")}
    print(json.dumps({"out": str(result.out), "final": str(result.final) if result.final else None,
                      "step": result.step, "wall_s": round(result.wall_s, 1), "last": last}))
    return 0
