"""Can a vision encoder variant learn what is ahead? Trains encoder + perception head alone on a dataset.

    python benchmarks/perception_probe.py --data runs/data/train-v2                      # the variants below
    python benchmarks/perception_probe.py --data D --variants avg-2x4 avgmax-2x4 --steps 400 --json
    python benchmarks/perception_probe.py --data D --checkpoint RUN/final   # a trained model's head on val
    python benchmarks/perception_probe.py --data D --variants avg-2x4 --augment --dense   # + the dense target

Each variant is the model's `VisionEncoder` (default stem, d = 256) with the token pooling named
(`avg-2x4`: the default, 8 tokens per image; `avgmax-2x4`: average and max pooling side by side; `avg-4x8`
and `avgmax-4x8`: 32 tokens, no pooling at 64x128) and the auxiliary `PerceptionHead`, trained from scratch with AdamW for `--steps`
steps of `--batch` samples on the newest frame of every camera of the train split (at the dataset's
resolution: `cordillera datagen --image-size 128x256` makes a high-resolution one), then scored on val
samples: lead-vehicle presence (accuracy and AUROC; near_lead_auroc: leads within 30 m against a clear
lane), its distance (mean absolute error where one is there),
whether it stands still, crossing presence, signal and traffic-control class, each beside the prior
(always the most common answer of the train split; distance: the train median); train_*: the same on 640
of the training samples (how well it fits, against how well it generalises). Same seed, same samples
and same batches for every variant, so the rows compare encoders and nothing else. Not a closed-loop
number: it says which encoder is worth a full training run (docs/architecture.md, "Perception head").
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from cordillera.data import DrivingDataset
from cordillera.model.config import PerceptionConfig, RigConfig, VisionConfig
from cordillera.model.dense import NUM_CLASSES as DENSE_CLASSES
from cordillera.model.dense import dense_accuracy, dense_loss, depth_classes
from cordillera.model.encoders import VisionEncoder
from cordillera.model.perception import DISTANCE_SCALE_M, PerceptionHead, perception_loss
from cordillera.teacher.qa import scene_facts
from cordillera.train.augment import photometric

NEAR_M = 30.0  # [m] "near lead": the vehicles a planner must brake for soon

VARIANTS = {"avg-2x4": VisionConfig(), "avgmax-2x4": VisionConfig(pool="avg+max"),
            "avg-4x8": VisionConfig(token_grid=(4, 8)), "avgmax-4x8": VisionConfig(pool="avg+max", token_grid=(4, 8))}


def load(dataset: DrivingDataset, count: int, rng: np.random.Generator,
         grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N, C, 3, H, W) uint8 newest frames of `count` random samples, their (N, 7) facts and (N, C, gh, gw)
    dense classes (model/dense.py; -1 where the dataset has no render codes)."""
    picks = np.sort(rng.choice(len(dataset), size=min(count, len(dataset)), replace=False))
    images, facts, dense = [], [], []
    for i in picks:
        sample = dataset[int(i)]
        images.append(np.stack([frames[-1] for frames in sample.cameras.values()]))
        facts.append(scene_facts(sample.qa).vector())
        dense.append(np.stack([depth_classes(sample.depth[name], grid) if sample.depth else np.full(grid, -1)
                               for name in sample.cameras]))
    return (torch.from_numpy(np.stack(images)).permute(0, 1, 4, 2, 3).contiguous(), torch.from_numpy(np.stack(facts)),
            torch.from_numpy(np.stack(dense)).long())


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(greater + 0.5 * ties)


def evaluate(outputs: np.ndarray, facts: np.ndarray, train_facts: np.ndarray) -> dict[str, float]:
    """Scores of head outputs (N, 14) against facts (N, 7), and the priors from the train facts."""
    out: dict[str, float] = {}
    for name, column, logit in (("lead", 0, 0), ("lead_stopped", 2, 2), ("crossing", 3, 3)):
        rows = ~np.isnan(facts[:, column])
        labels = facts[rows, column]
        prior = float(np.nanmean(train_facts[:, column]) >= 0.5)
        out[f"{name}_acc"] = float(((outputs[rows, logit] > 0) == labels).mean())
        out[f"{name}_prior"] = float((labels == prior).mean())
        out[f"{name}_auroc"] = auroc(outputs[rows, logit], labels)
    near = (facts[:, 0] == 0) | (facts[:, 1] <= NEAR_M)  # a lead within NEAR_M against a clear lane
    out["near_lead_auroc"] = auroc(outputs[near, 0], facts[near, 0])
    rows = ~np.isnan(facts[:, 1])
    out["lead_distance_mae_m"] = float(np.abs(outputs[rows, 1] * DISTANCE_SCALE_M - facts[rows, 1]).mean())
    out["lead_distance_prior_m"] = float(np.abs(np.nanmedian(train_facts[:, 1]) - facts[rows, 1]).mean())
    for name, column, lo, hi in (("signal", 5, 5, 10), ("control", 6, 10, 14)):
        rows = ~np.isnan(facts[:, column])
        labels = facts[rows, column].astype(int)
        known = train_facts[~np.isnan(train_facts[:, column]), column].astype(int)
        prior = int(np.bincount(known).argmax())
        out[f"{name}_acc"] = float((outputs[rows, lo:hi].argmax(1) == labels).mean())
        out[f"{name}_prior"] = float((labels == prior).mean())
    return out


def train_variant(vision: VisionConfig, images: torch.Tensor, facts: torch.Tensor, val_images: torch.Tensor,
                  steps: int, batch: int, seed: int, augment: bool = False,
                  dense: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Train encoder + head; with `dense` (N, C, gh, gw) classes the encoder's dense head and its loss too."""
    torch.manual_seed(seed)
    cameras = images.shape[1]
    rig = RigConfig(num_frames=1)
    encoder = VisionEncoder(vision, rig, 256, DENSE_CLASSES if dense is not None else 0)
    head = PerceptionHead(PerceptionConfig(enabled=True), 256)
    params = list(encoder.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    camera_ids = torch.arange(cameras)
    order = np.random.default_rng(seed)
    noise = torch.Generator().manual_seed(seed)

    def forward(x: torch.Tensor, with_dense: bool = False):
        n = x.shape[0]
        tokens = encoder(x.flatten(0, 1), camera_ids.repeat(n), torch.zeros(n * cameras, dtype=torch.long),
                         dense=with_dense)
        tokens, logits = tokens if with_dense else (tokens, None)
        tokens = tokens.reshape(n, -1, tokens.shape[-1])
        out = head(tokens, torch.ones(tokens.shape[:2], dtype=torch.bool))
        return (out, logits) if with_dense else out

    start = time.perf_counter()
    for step in range(steps):
        idx = torch.from_numpy(order.choice(len(images), size=batch, replace=False))
        for group in opt.param_groups:
            group["lr"] = 1e-3 * min(1.0, (step + 1) / 50) * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * step / steps)))
        x = images[idx]
        if augment:
            x = photometric(x.flatten(0, 1), noise).reshape(x.shape)
        if dense is not None:
            out, logits = forward(x, with_dense=True)
            loss = perception_loss(out, facts[idx])["perception"] + dense_loss(logits, dense[idx].flatten(0, 1))
        else:
            loss = perception_loss(forward(x), facts[idx])["perception"]
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        outputs = torch.cat([forward(val_images[i: i + 64]) for i in range(0, len(val_images), 64)])
        seen = torch.cat([forward(images[i: i + 64]) for i in range(0, min(len(images), 640), 64)])
    return outputs.numpy(), seen.numpy(), seconds


def score_checkpoint(path: str, data: str, count: int, every: int) -> dict[str, float]:
    """The perception head of a trained checkpoint on every `every`-th val sample (its full prompt: all its
    cameras and frames, as in training), with the train split's priors beside it."""
    from cordillera.model import CordilleraVLA

    model = CordilleraVLA.from_pretrained(path).eval()
    if model.perception is None:
        raise SystemExit(f"{path}: the model has no perception head (model.perception.enabled is false)")
    train, val = DrivingDataset(data, "train"), DrivingDataset(data, "val")
    train_facts = np.stack([scene_facts(train.record(i)["qa"]).vector() for i in range(len(train))])
    picks = list(range(0, len(val), every))[:count]
    outputs, facts, logits, dense = [], [], [], []
    with_dense = model.vision.dense is not None
    with torch.no_grad():
        for start in range(0, len(picks), 16):
            samples = [val[i] for i in picks[start: start + 16]]
            batch = model.processor.collate(samples, targets=with_dense)
            image_mask = batch.input_ids == model.processor.ids["image_pad"]
            embeds, cells = model.embed_with_dense(batch, dense=with_dense)
            outputs.append(model.perception(embeds, image_mask))
            facts += [scene_facts(s.qa).vector() for s in samples]
            if with_dense and batch.depth is not None:
                logits.append(cells)
                dense.append(batch.depth)
    row = {"samples": len(picks), **evaluate(torch.cat(outputs).numpy(), np.stack(facts), train_facts)}
    if logits:  # the dense head's cells on the same samples (model/dense.py)
        cells = dense_accuracy(torch.cat(logits), torch.cat(dense))
        row |= {"dense_accuracy": cells["accuracy"], "dense_near_recall": cells["near_recall"]}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--train-samples", type=int, default=3000)
    parser.add_argument("--val-samples", type=int, default=600)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--augment", action="store_true", help="photometric augmentation (train/augment.py)")
    parser.add_argument("--dense", action="store_true",
                        help="also train the dense object-distance head on the dataset's render codes (model/dense.py)")
    parser.add_argument("--checkpoint", help="score this trained model's perception head instead of training")
    parser.add_argument("--every", type=int, default=3, help="with --checkpoint: every k-th val sample")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.checkpoint:
        row = score_checkpoint(args.checkpoint, args.data, args.val_samples, args.every)
        print(json.dumps(row) if args.json else "\n".join(f"{k}: {v:.3f}" for k, v in row.items()))
        return
    train_set = DrivingDataset(args.data, "train")
    height, width = train_set.frame_shape[1:3]
    rows = {}
    for name in args.variants:
        vision = VARIANTS[name]
        grid = (-(-height // vision.stride), -(-width // vision.stride))
        rng = np.random.default_rng(args.seed)  # the same samples for every variant
        images, facts, dense = load(train_set, args.train_samples, rng, grid)
        val_images, val_facts, _ = load(DrivingDataset(args.data, "val"), args.val_samples, rng, grid)
        if args.dense and not bool((dense >= 0).any()):
            raise SystemExit(f"{args.data}: no render codes to train the dense head on (regenerate with datagen)")
        outputs, seen, seconds = train_variant(vision, images, facts, val_images, args.steps, args.batch,
                                               args.seed, args.augment, dense if args.dense else None)
        fit = evaluate(seen, facts[: len(seen)].numpy(), facts.numpy())  # on training samples: fit, not skill
        rows[name] = {"train_s": round(seconds, 1), **evaluate(outputs, val_facts.numpy(), facts.numpy()),
                      "train_lead_auroc": fit["lead_auroc"], "train_near_lead_auroc": fit["near_lead_auroc"]}
    if args.json:
        print(json.dumps(rows))
        return
    keys = list(next(iter(rows.values())))
    print(f"{len(images)} train / {len(val_images)} val samples, {args.steps} steps of {args.batch}, one thread")
    print("| metric | " + " | ".join(rows) + " |")
    print("|---|" + "---|" * len(rows))
    for key in keys:
        print(f"| {key} | " + " | ".join(f"{rows[n][key]:.3f}" for n in rows) + " |")


if __name__ == "__main__":
    main()
