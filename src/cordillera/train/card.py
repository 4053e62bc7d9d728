"""`cordillera card`: write a checkpoint's model card (README.md) from its run, data and evaluations.

    cordillera card --checkpoint checkpoints/cordillera-vla-small --run runs/train/vla-small \\
        --data runs/data/train-v1 --recipe configs/train/vla-small.yaml \\
        --eval test=runs/eval/vla-test --eval longtail-holdout=runs/eval/vla-longtail --eval demo=runs/drive \\
        --reference test=runs/eval/rule-based-test --reference longtail-holdout=runs/eval/rule-based-longtail-holdout

Every number in the card comes from a file: parameters and size from the checkpoint, steps and wall clock
from the run's metrics.jsonl, episodes and samples from the dataset's meta/info.json, the evaluation rows from
each evaluation's summary.json (copied into CHECKPOINT/eval/NAME.json so the card and its evidence travel
together), and the latency is measured here, on this machine, by planning on a real observation. Nothing in
the card is typed by hand, so rerunning the command after a new training or evaluation updates it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from cordillera.errors import UsageError

__all__ = ["register", "write_card", "eval_row", "EVAL_HEADER"]

EVAL_HEADER = ("| evaluation | policy | scenarios | policy Hz | reasoning | products | EPDMS | success % | "
               "at-fault collision % | off-road % | reasoning-action consistency |\n"
               "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def eval_row(name: str, summary: dict, policy_hz: float | None, reasoning: str | None = None,
             precision: str | None = None, ours: bool = True) -> str:
    """One table row of an evaluation summary (eval/runner.py's summary.json); reasoning: the VLA's reasoning
    mode of that run (its config.json; None = the checkpoint's own); precision: the VLA's inference product
    precision in that run (its config.json's inference_precision; None = not recorded); ours: an evaluation
    of the carded checkpoint (a reference VLA row names its checkpoint instead)."""
    consistency = summary.get("reasoning_action_consistency")
    vla = summary["policy"].startswith("vla:")
    policy = "this checkpoint" if vla and ours else f"`{summary['policy']}`" if vla else summary["policy"]
    mode = (reasoning or "checkpoint's") if vla else "-"
    return (f"| {name} | {policy} | {summary['n_scenarios']} | {'-' if policy_hz is None else f'{policy_hz:g}'} | "
            f"{mode} | {(precision or '-') if vla else '-'} | {summary['epdms']:.3f} | "
            f"{_pct(summary['success_rate'])} | "
            f"{_pct(summary['at_fault_collision_rate'])} | "
            f"{_pct(summary['offroad_rate'])} | {'-' if consistency is None else f'{consistency:.2f}'} |")


def _read_json(path: Path, what: str) -> dict:
    """data.format.read_json (a JSON object, errors naming the file) with the error as a UsageError."""
    from cordillera.data.format import DatasetError, read_json

    try:
        return read_json(path)
    except DatasetError as exc:
        raise UsageError(f"cannot read the {what}: {exc}") from None


def _evaluation(spec: str) -> tuple[str, dict, float | None, str | None, str | None]:
    """(name, summary, policy rate or None, reasoning mode or None, inference precision or None) of a NAME=DIR
    evaluation argument."""
    from cordillera.eval.runner import CONFIG, SUMMARY

    name, sep, directory = spec.partition("=")
    if not sep or not name or not directory:
        raise UsageError(f"an evaluation is NAME=DIR (e.g. test=runs/eval/vla-test), got {spec!r}")
    summary = _read_json(Path(directory) / SUMMARY, "evaluation summary")
    missing = [k for k in ("policy", "n_scenarios", "n_errors", "epdms", "success_rate", "at_fault_collision_rate",
                           "offroad_rate") if k not in summary]
    if missing:
        raise UsageError(f"{directory}/{SUMMARY} lacks {missing}: not a `cordillera eval` summary")
    config = Path(directory) / CONFIG
    run = _read_json(config, "evaluation config") if config.is_file() else {}
    return name, summary, run.get("policy_hz"), run.get("reasoning"), run.get("inference_precision")


def _metrics(run: Path) -> list[dict]:
    """Every line of a run's metrics.jsonl (a training or an RL run), errors naming the file."""
    try:
        with open(run / "metrics.jsonl") as fh:
            return [json.loads(line) for line in fh]
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {run}/metrics.jsonl: {exc}") from None


def _training(run: Path) -> dict:
    train = [record for record in _metrics(run) if record.get("split") == "train"]
    if not train:
        raise UsageError(f"{run}/metrics.jsonl has no training step")
    return train[-1]


def _post_training(rl_run: Path | None) -> str:
    """The card's GRPO paragraph from an RL run directory (run.json, metrics.jsonl), or "" without one."""
    if rl_run is None:
        return ""
    record = _read_json(rl_run / "run.json", "RL run record")
    config = record.get("rl_config")
    if not isinstance(config, dict) or "grpo" not in config:
        raise UsageError(f"{rl_run}/run.json has no rl_config: not a `cordillera rl` run")
    lines = _metrics(rl_run)
    train = [x for x in lines if x.get("split") == "train"]
    if not train:
        raise UsageError(f"{rl_run}/metrics.jsonl has no RL step")
    grpo, held = config["grpo"], [x for x in lines if x.get("split") == "eval"]
    where = ("closed-loop episodes" if config.get("closed_loop", {}).get("enabled")
             else "open-loop plans tracked in the simulator")
    text = (f"\n## Post-training (GRPO)\n`cordillera rl` from the SFT checkpoint above (`{rl_run}`): "
            f"{train[-1]['step']} steps of {config['prompts_per_step']} prompts x {grpo['group_size']} completions "
            f"({where}, reasoning `{grpo.get('reasoning', 'always')}`, learning rate {config['optim']['lr']:g}), "
            f"{train[-1]['wall_s'] / 60:.0f} min; the configuration is `rl_config.json` here.")
    if len(held) >= 2:
        first, last = held[0], held[-1]
        parts = [f"{k.removeprefix('reward/')} {first[k]:.2f} -> {last[k]:.2f}"
                 for k in ("reward/mean", "reward/safety", "reward/imitation", "reward/consistency")
                 if k in first and k in last]
        text += f" On {last['prompts']} held-out `{last['suite']}` moments (steps {first['step']} -> {last['step']}): "
        text += ", ".join(parts) + "."
    return text + "\n"


LATENCY_REPEATS = 12  # decisions timed per reasoning mode


def _latency(model) -> dict:
    """Median wall time [ms] of one decision (6 samples) of `model` on a real observation, without and with
    reasoning; the torch threads and the inference precision it ran with."""
    import torch

    from cordillera.model.policy import VLAPolicy
    from cordillera.scenarios.families import sample_family
    from cordillera.world import sim

    policy = VLAPolicy(model=model, num_samples=6)
    state = sim.reset(sample_family("lane_follow_straight", 20000), seed=20000)
    for _ in range(5):
        state = sim.step(state, None)
    obs = sim.observe(state, policy.sensors)
    out: dict = {"threads": float(torch.get_num_threads()), "precision": model.inference_precision}
    for mode in ("never", "always"):
        policy.reasoning = mode
        policy.plan(obs)  # warm-up
        times = []
        for _ in range(LATENCY_REPEATS):
            start = time.perf_counter()
            policy.plan(obs)
            times.append(time.perf_counter() - start)
        out[mode] = 1000 * statistics.median(times)
    return out


def _reproduce(script: Path | None, checkpoint: Path, recipe: Path, data: Path, run: Path) -> str:
    """The card's reproduce paragraph: the script's commands (copied beside the weights as reproduce.sh), or the
    one training command."""
    if script is None:
        return f"    cordillera train --config {recipe} --data {data} --out {run}"
    try:
        text = script.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read the reproduce script: {exc}") from None
    if script.resolve() != (checkpoint / "reproduce.sh").resolve():
        (checkpoint / "reproduce.sh").write_text(text)
    steps = "\n".join(f"    {line}" for line in text.splitlines() if line.strip() and not line.startswith("#!"))
    return f"The whole chain, from an empty `runs/` (`bash {checkpoint / 'reproduce.sh'}`):\n\n{steps}"


def write_card(checkpoint: Path, run: Path, data: Path, recipe: Path, evaluations: list[str],
               references: list[str], reproduce: Path | None = None, rl_run: Path | None = None) -> Path:
    """Write CHECKPOINT/README.md and CHECKPOINT/eval/NAME.json; returns the card's path."""
    from cordillera.model import CordilleraVLA

    model = CordilleraVLA.from_pretrained(checkpoint)
    size = sum(p.stat().st_size for p in checkpoint.iterdir() if p.is_file())  # eval/ is not the model
    train = _training(run)
    init = (_read_json(run / "run.json", "run record").get("init") or {}) if (run / "run.json").is_file() else {}
    start = f", fine-tuned from `{init['checkpoint']}`" if init.get("checkpoint") else ""
    commands = _reproduce(reproduce, checkpoint, recipe, data, run)
    post_training = _post_training(rl_run)
    info = _read_json(data / "meta" / "info.json", "dataset info")
    ours = [_evaluation(s) for s in evaluations]
    theirs = [_evaluation(s) for s in references]
    (checkpoint / "eval").mkdir(exist_ok=True)
    for name, summary, hz, mode, precision in ours:
        copied = {**summary, "policy_hz": hz, "reasoning": mode, "inference_precision": precision}
        (checkpoint / "eval" / f"{name}.json").write_text(json.dumps(copied, indent=2) + "\n")
    latency = _latency(model)
    rows = [eval_row(*evaluation) for evaluation in ours]
    rows += [eval_row(*evaluation, ours=False) for evaluation in theirs]
    cameras = ", ".join(c.removeprefix("camera_") for c in model.config.rig.cameras)
    rig = model.config.rig
    reasoning = {
        "auto": "its learned gate decides whether the moment calls for reasoning, the backbone writes a short "
                "Chain of Causation when it does",
        "always": "the backbone writes a short Chain of Causation at every decision (reasoning mode `always`; "
                  "its learned gate can decide instead with `auto`)",
        "never": "it writes no reasoning by default (reasoning mode `never`)",
    }[model.config.prompt.reasoning]
    card = f"""# cordillera-vla-small

A reasoning vision-language-action driving policy trained from scratch by Cordillera on 2 CPU cores: no
pretrained weights, no outside data. It reads {len(rig.cameras)} cameras ({rig.num_frames} frames each,
{rig.image_height} x {rig.image_width}), the ego history, speed and route; {reasoning}, and the flow-matching action
expert (which reads the backbone's cache and, directly, the route and ego state) turns that into a 6.4 s
trajectory (64 poses at 0.1 s). `VLAPolicy` draws 6 samples and drives the one integrated from zero noise.

| | |
| --- | --- |
| parameters | {model.num_parameters / 1e6:.2f} M |
| files | {size / 2**20:.1f} MB: `model.safetensors` (weights only, never pickle), config, tokenizer, rig, prompt, action stats |
| cameras | {cameras} |
| reasoning mode | `{model.config.prompt.reasoning}` |

## Data
`{data}`: {info.get('episodes')} episodes of the `{info.get('config', {}).get('suite')}` suite driven by the
privileged teacher, {info.get('samples', '?')} samples, {info.get('keyframes', '?')} of them keyframes with a
Chain-of-Causation label (dataset code version {info.get('code_version')}). Reproduce it with the
{"first command below" if reproduce else "command at the top of the recipe"}.

## Recipe
`{recipe}` (also `train_config.json` here): {train['step']} steps{start}, final training losses text
{train['loss/text']:.3f}, gate {train['loss/gate']:.3f}, flow {train['loss/flow']:.3f};
{train['wall_s'] / 60:.0f} min of wall clock ({train['samples_per_s']:.1f} samples/s).

{commands}
{post_training}
## Latency
Median of {LATENCY_REPEATS} decisions (6 trajectory samples) on one observation, measured by `cordillera card` on the
machine that wrote this card ({latency['threads']:.0f} torch threads; prompt / flow-integration products in
{latency['precision']}): {latency['never']:.0f} ms without reasoning, {latency['always']:.0f} ms writing the reasoning.
`python benchmarks/policy_latency.py` measures it on one thread, stage by stage.

## Evaluation
Closed loop in the Cordillera simulator (`cordillera eval --policy vla:{checkpoint} --suite SUITE`; the
demo row is `cordillera drive`). The reference rows are other policies on the same suites, for comparison.
"products" is the run's inference precision as configured on its machine (prompt pass / flow integration,
for products of 128 rows or more; the default `auto` takes bfloat16 where the CPU has bf16 dot products, else
float32): it moves a plan by centimetres, and some closed-loop rollouts by more.

{EVAL_HEADER}
""" + "\n".join(rows) + f"""

## Limitations
A {model.num_parameters / 1e6:.0f} M-parameter model trained on 2 CPU cores on one simulator's rendering: it has
seen only Cordillera's procedural roads and flat-shaded cameras, and its reasoning is as good as the teacher's
templated labels.
It is a research baseline for the loop, not a driving system.
"""
    path = checkpoint / "README.md"
    path.write_text(card)
    return path


def _card(args: argparse.Namespace) -> int:
    checkpoint = Path(args.checkpoint)
    if not (checkpoint / "config.json").is_file():
        raise UsageError(f"no checkpoint at {str(checkpoint)!r} (a directory with config.json)")
    path = write_card(checkpoint, Path(args.run), Path(args.data), Path(args.recipe), args.eval, args.reference,
                      None if args.reproduce is None else Path(args.reproduce),
                      None if args.rl is None else Path(args.rl))
    print(f"wrote {path}")
    return 0


def register(sub) -> None:
    """Add `card` to the `cordillera` subcommands."""
    p = sub.add_parser("card", help="write a checkpoint's model card from its run, data and evaluations")
    p.add_argument("--checkpoint", required=True, help="checkpoint directory (the card is its README.md)")
    p.add_argument("--run", required=True, help="the training run directory (metrics.jsonl)")
    p.add_argument("--data", required=True, help="the dataset it was trained on (meta/info.json)")
    p.add_argument("--recipe", required=True, help="the training config file")
    p.add_argument("--eval", action="append", default=[], metavar="NAME=DIR", help="an evaluation of this checkpoint")
    p.add_argument("--reference", action="append", default=[], metavar="NAME=DIR",
                   help="an evaluation of another policy on the same suite, for comparison")
    p.add_argument("--reproduce", default=None, metavar="SCRIPT",
                   help="a shell script of every command from data to these weights (copied beside them)")
    p.add_argument("--rl", default=None, metavar="RL_RUN", help="the `cordillera rl` run these weights come from, "
                                                               "when --run is the SFT run it started from")
    p.set_defaults(func=_card)
