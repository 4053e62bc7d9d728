"""`cordillera explain`: the reasoning and the plan of a VLA checkpoint at one moment of a scenario.

    cordillera explain --checkpoint checkpoints/cordillera-vla-small --scenario occluded_pedestrian:3 --t 3.0

Prints the reasoning (text, parsed decision, gate probability), the plan's shape and the stage timings,
and writes a picture of the cameras with the plan and its samples drawn on the ground; `--ask QUESTION`
(repeatable) has the model answer scene questions about the same moment (`model.qa`); a model with a
perception head also prints (and puts in --json as "perception") what the head makes of it. The scene up to t is
driven by `--driver` (default: the VLA itself). Heavy imports (torch) happen inside the handler.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cordillera.argtypes import at_least, within
from cordillera.constants import REASONING_MODES
from cordillera.errors import UsageError

__all__ = ["register", "DEFAULT_CHECKPOINT", "resolve_checkpoint"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")  # what --out may be (cv2 picks the encoder from the suffix)
DEFAULT_CHECKPOINT = "checkpoints/cordillera-vla-small"  # the shipped checkpoint (cordillera.drive uses it too)


def resolve_checkpoint(path: str) -> Path:
    """`path` as given; the shipped default is also found from the source tree when run outside the repo root."""
    given = Path(path)
    if path == DEFAULT_CHECKPOINT and not given.is_dir():
        in_tree = Path(__file__).resolve().parents[2] / DEFAULT_CHECKPOINT
        if in_tree.is_dir():
            return in_tree
    return given


def _explain(args: argparse.Namespace) -> int:
    from cordillera.policies import UnknownPolicyError, make_policy
    from cordillera.scenarios.builtin import resolve_scenario

    checkpoint = resolve_checkpoint(args.checkpoint)
    if not checkpoint.is_dir():
        raise UsageError(f"checkpoint directory {str(checkpoint)!r} does not exist")
    try:
        scenario = resolve_scenario(args.scenario)
    except (ValueError, OSError) as exc:
        raise UsageError(str(exc)) from None
    from cordillera.model.checkpoint import CheckpointError
    from cordillera.model.policy import VLAPolicy, explain_scenario

    try:
        policy = VLAPolicy(checkpoint, reasoning=args.reasoning, num_samples=args.samples, seed=args.policy_seed)
    except (CheckpointError, ValueError, OSError) as exc:
        raise UsageError(f"checkpoint {str(checkpoint)!r}: {exc}") from None
    driver = None
    if args.driver != "vla":
        try:
            driver = make_policy(args.driver)
        except (UnknownPolicyError, TypeError) as exc:
            raise UsageError(str(exc)) from None
    seed = scenario.seed if args.seed is None else args.seed
    if args.out and Path(args.out).suffix.lower() not in IMAGE_SUFFIXES:
        raise UsageError(f"--out {args.out}: the picture's file name must end in one of {', '.join(IMAGE_SUFFIXES)}")
    if args.t > scenario.success.time_s:
        raise UsageError(f"--t {args.t:g} s is past the end of scenario {scenario.name!r} "
                         f"({scenario.success.time_s:g} s)")
    result = explain_scenario(policy, scenario, seed=seed, t=args.t, driver=driver)
    answers = []
    if args.ask:
        from cordillera.model.processor import Sample
        from cordillera.model.qa import answer

        try:
            answers = answer(policy.model, Sample.from_observation(result.observation), args.ask)
        except ValueError as exc:
            raise UsageError(f"--ask: {exc}") from None
    perceived = None
    if policy.model.perception is not None:  # what the perception head makes of the same moment
        import torch

        from cordillera.model.processor import Sample
        from cordillera.model.perception import describe

        model = policy.model
        batch = model.processor.collate([Sample.from_observation(result.observation)])
        with torch.no_grad():
            perceived = describe(model.perceive(batch, model.embed(batch)))[0]
    out = Path(args.out) if args.out else Path("out") / f"explain-{scenario.name.replace(':', '-')}-t{args.t:g}.png"
    image = result.save_image(out)
    if args.json:
        reasoning = result.plan.reasoning
        print(json.dumps({
            "scenario": scenario.name, "seed": seed, "t": args.t, "reasoning": reasoning.text,
            "reasoned": reasoning.reasoned, "decision": reasoning.decision,
            "gate_probability": reasoning.gate_probability, "timings_s": reasoning.timings,
            "plan": result.plan.poses.tolist(), "image": str(image),
            "answers": [{"question": q, "answer": a} for q, a in zip(args.ask, answers)],
            "perception": perceived,
        }))
    else:
        print(f"scenario {scenario.name} (seed {seed})")
        print(result.text)
        for question, reply in zip(args.ask, answers):
            print(f"Q: {question}\nA: {reply}")
        if perceived is not None:
            p = perceived
            print(f"perceived: vehicle ahead {p['vehicle_ahead']:.2f} at {p['vehicle_distance_m']:.0f} m (stopped "
                  f"{p['vehicle_stopped']:.2f}); crossing {p['crossing']:.2f}; signal {p['signal']} "
                  f"({p['signal_probability']:.2f}); control {p['control']} ({p['control_probability']:.2f})")
        print(f"image: {image}")
    return 0


def register(sub) -> None:
    """Add `explain` to the `cordillera` subcommands."""
    p = sub.add_parser("explain", help="the VLA's reasoning and plan at one moment, with a camera picture")
    p.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT,
                   help=f"checkpoint directory (default: the shipped {DEFAULT_CHECKPOINT})")
    p.add_argument("--scenario", required=True, help="a scenario YAML file, a built-in name, or FAMILY:SEED")
    p.add_argument("--t", type=within(0.0, 1e6), default=3.0, help="the moment to explain [s] (default 3.0)")
    p.add_argument("--seed", type=int, default=None, help="rollout seed (default: the scenario's)")
    p.add_argument("--driver", default="vla", help="who drives up to t: vla (default) or a policy name "
                                                   "(lane_follower, teacher, ...)")
    p.add_argument("--reasoning", choices=REASONING_MODES, default="always",
                   help="reasoning mode for the explained plan (default always)")
    p.add_argument("--samples", type=at_least(1), default=6, help="trajectory samples drawn (default 6)")
    p.add_argument("--policy-seed", type=int, default=0, help="sampling seed of the VLA (default 0)")
    p.add_argument("--out", default=None, help="where to write the picture (default out/explain-...png)")
    p.add_argument("--ask", action="append", default=[], metavar="QUESTION",
                   help="a question about the scene for the model to answer (repeatable; models trained with "
                        "data.qa_pairs > 0), e.g. 'What is the vehicle ahead doing?'")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_explain)
