"""RL (GRPO) throughput on this CPU: prompts per second by model size and group size, the time split of a step,
and the SFT step time of the same model measured in the same run.

    python benchmarks/rl_throughput.py --threads 1                        # tiny + default model, G = 4 and 8
    python benchmarks/rl_throughput.py --sizes default --groups 8 --steps 5 --json
    python benchmarks/rl_throughput.py --driver teacher --critical         # prompts from the teacher (slower)

One RL step = 1 prompt: sample G completions (reasoning + SDE trajectory), execute each plan in a fork of the
world for the reward horizon and score it, one AdamW update on the GRPO loss (reasoning tokens + expert chain).
Prompts come from a pool built before timing (a simulated moment of a train-suite scenario); "prompt s" is the
cost of building one, paid once per pool entry in a run (`pool_size`). Models are randomly initialised from the
tokenizer below, so the reasoning runs to the length limit: the sampling time is an upper bound. SFT step: the
trainer's forward + backward + AdamW on a batch of G synthetic samples (`CordilleraVLA.loss`, all terms).
Wall clock; the machine may be shared, so compare rows of one run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from train_throughput import NAVIGATION, REASONING, synthetic_samples  # noqa: E402


def build_model(size: str):
    from cordillera.model import CordilleraVLA, ModelConfig, train_tokenizer

    config = ModelConfig.tiny() if size == "tiny" else ModelConfig()
    corpus = list(REASONING) * 4 + list(NAVIGATION) * 4
    tokenizer = train_tokenizer(corpus, config.backbone.vocab_size, config.rig.camera_vocabulary, 1)
    torch.manual_seed(0)
    return CordilleraVLA(config, tokenizer)


def sft_step_s(model, group: int, steps: int) -> float:
    samples = synthetic_samples(model.config, group)
    batch = model.processor.collate(samples, targets=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    times = []
    for k in range(steps + 1):
        start = time.perf_counter()
        loss = model.loss(batch, torch.Generator().manual_seed(k))["total"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return float(np.median(times[1:]))


def rl_rates(size: str, group: int, steps: int, driver: str, critical: bool) -> dict:
    import dataclasses

    from cordillera.model.policy import model_rig
    from cordillera.train.rl import PromptSource, _optimizer, rl_step
    from cordillera.train.rl_config import RLConfig
    from cordillera.train.rl_policy import GRPOConfig
    from cordillera.train.rl_prompts import PromptSourceConfig

    config = RLConfig(steps=steps + 1, prompts_per_step=1, pool_size=steps + 1, grpo=GRPOConfig(group_size=group),
                      prompts=PromptSourceConfig(driver=driver, critical_objects=critical))
    model = build_model(size)
    source = PromptSource(config, (model_rig(model.config.rig),))
    start = time.perf_counter()
    prompts = [source.get(k, 0) for k in range(steps + 1)]
    prompt_s = (time.perf_counter() - start) / len(source.pool)
    optimizer = _optimizer(model, config)
    lines = []
    for k, prompt in enumerate(prompts):
        start = time.perf_counter()
        line = rl_step(model, optimizer, None, [prompt], dataclasses.replace(config), k)
        line["step_s"] = time.perf_counter() - start
        lines.append(line)
    timed = lines[1:]  # the first step warms up
    split = {k: float(np.mean([x[k] for x in timed])) for k in ("sample_s", "reward_s", "update_s", "step_s")}
    sft = sft_step_s(build_model(size), group, max(3, steps))
    return {"size": size, "params_M": round(model.num_parameters / 1e6, 2), "group": group, "steps": len(timed),
            "prompts_per_s": 1.0 / split["step_s"], "prompts_per_s_with_prompt": 1.0 / (split["step_s"] + prompt_s),
            **split, "prompt_s": prompt_s, "reasoning_tokens": float(np.mean([x["reasoning_tokens"] for x in timed])),
            "sft_step_s": sft, "rl_over_sft": split["step_s"] / sft}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["tiny", "default"], choices=["tiny", "default"])
    parser.add_argument("--groups", nargs="+", type=int, default=[4, 8])
    parser.add_argument("--steps", type=int, default=3, help="timed RL steps per row (after one warm-up step)")
    parser.add_argument("--driver", default="lane_follower", choices=["lane_follower", "teacher"])
    parser.add_argument("--critical", action="store_true", help="label critical objects (teacher attribution)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [rl_rates(size, group, args.steps, args.driver, args.critical)
            for size in args.sizes for group in args.groups]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"threads {torch.get_num_threads()}, driver {args.driver}, critical objects {args.critical}")
    print(f"{'model':>8} {'params':>7} {'G':>3} {'prompts/s':>9} {'+prompt':>8} {'sample s':>9} {'reward s':>9} "
          f"{'update s':>9} {'prompt s':>9} {'tokens':>6} {'SFT step s':>10} {'RL/SFT':>7}")
    for r in rows:
        print(f"{r['size']:>8} {r['params_M']:>6.2f}M {r['group']:>3} {r['prompts_per_s']:>9.3f} "
              f"{r['prompts_per_s_with_prompt']:>8.3f} {r['sample_s']:>9.2f} {r['reward_s']:>9.2f} "
              f"{r['update_s']:>9.2f} {r['prompt_s']:>9.2f} {r['reasoning_tokens']:>6.1f} {r['sft_step_s']:>10.3f} "
              f"{r['rl_over_sft']:>7.1f}")


if __name__ == "__main__":
    main()
