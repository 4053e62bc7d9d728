"""Does a checkpoint's plan change speed when its label does? The speed change 2 s ahead, plan against label.

    .venv/bin/python benchmarks/speed_response.py --checkpoint runs/train/vla-small-v11/final --data runs/data/train-v3
    .venv/bin/python benchmarks/speed_response.py --checkpoint C --data D --split train --samples 480 --json

Evenly spaced samples of the split (up to `--samples`) are planned without reasoning (K trajectories, the
expert's noise scaled by `--noise-scale`: 0 is the flow's deterministic path) and the change of speed 2 s ahead
(`eval.metrics.open_loop.speeds_ahead`, the mean over the K plans) is set against the label's. Grouped by the
label's change (hard braking < -3 m/s, braking, steady, speeding up, hard speeding up): the mean label, the mean
plan and the response, plan / label (1 = the plans reproduce the change, 0 = they keep the speed); overall the
correlation, the least-squares slope of plan on label and the mean absolute error. A planner whose
longitudinal output has collapsed to "keep the speed" has a hard-braking response near 0 while its ADE looks
fine (docs/architecture.md, "A speed-profile loss"). Evaluating a split the model trained on tells underfitting
from poor generalisation.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from cordillera.data.reader import DrivingDataset
from cordillera.eval.metrics.open_loop import speeds_ahead
from cordillera.model.vla import CordilleraVLA

BINS = (("hard braking", -np.inf, -3.0), ("braking", -3.0, -1.0), ("steady", -1.0, 1.0),
        ("speeding up", 1.0, 3.0), ("hard speeding up", 3.0, np.inf))  # label change 2 s ahead [m/s]


def response_table(label: np.ndarray, plan: np.ndarray) -> dict:
    """Per BINS group of the label's speed change (n, label and plan means, response = plan / label mean, NaN
    where the label's mean change is under 0.5 m/s, as for the steady group) and
    overall correlation, slope of plan on label and mean absolute error. label, plan: (N,) [m/s]."""
    label, plan = np.asarray(label, dtype=np.float64), np.asarray(plan, dtype=np.float64)
    groups = {}
    for name, low, high in BINS:
        where = (label >= low) & (label < high)
        if where.any():
            mean_label, mean_plan = float(label[where].mean()), float(plan[where].mean())
            groups[name] = {"n": int(where.sum()), "label": mean_label, "plan": mean_plan,
                            "response": mean_plan / mean_label if abs(mean_label) >= 0.5 else float("nan")}
    varies = label.size > 1 and label.std() > 0 and plan.std() > 0
    return {"n": int(label.size), "groups": groups,
            "correlation": float(np.corrcoef(label, plan)[0, 1]) if varies else float("nan"),
            "slope": float(np.polyfit(label, plan, 1)[0]) if label.size > 1 and label.std() > 0 else float("nan"),
            "mae": float(np.abs(label - plan).mean()) if label.size else float("nan")}


def measure(model: CordilleraVLA, data: DrivingDataset, samples: int, trajectories: int, noise_scale: float,
            batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(label, plan) speed changes 2 s ahead [m/s] over `samples` evenly spaced samples of `data`."""
    indices = np.unique(np.linspace(0, len(data) - 1, min(samples, len(data))).astype(int))
    labels, plans = [], []
    for start in range(0, len(indices), batch_size):
        chunk = [data[int(i)] for i in indices[start: start + batch_size]]
        out = model.generate(model.processor.collate(chunk), mode="never", num_samples=trajectories,
                             generator=torch.Generator().manual_seed(start), noise_scale=noise_scale)
        truth = np.stack([s.future[:, :2] for s in chunk])
        plan, label = speeds_ahead(np.asarray(out.poses)[..., :2], truth, 2.0, model.config.action.dt)
        speed = np.array([s.speed for s in chunk])
        labels.append(label - speed)
        plans.append(plan - speed)
    return np.concatenate(labels), np.concatenate(plans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="val", choices=("train", "val", "all"))
    parser.add_argument("--samples", type=int, default=240)
    parser.add_argument("--trajectories", type=int, default=1, help="plans per sample (the mean is compared)")
    parser.add_argument("--noise-scale", type=float, default=0.0, help="0: the flow's deterministic path")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.samples < 2 or args.trajectories < 1 or args.noise_scale < 0:
        parser.error("--samples >= 2, --trajectories >= 1 and --noise-scale >= 0")
    torch.set_num_threads(2)
    model = CordilleraVLA.from_pretrained(args.checkpoint).eval()
    label, plan = measure(model, DrivingDataset(args.data, split=args.split), args.samples, args.trajectories,
                          args.noise_scale)
    report = response_table(label, plan)
    if args.json:
        print(json.dumps(report))
        return
    table = Table(title=f"speed change 2 s ahead, {args.checkpoint} on {args.data} "
                        f"({args.split}, {report['n']} samples)")
    for column in ("label change", "n", "label [m/s]", "plan [m/s]", "response"):
        table.add_column(column, justify="left" if column == "label change" else "right")
    for name, row in report["groups"].items():
        response = "-" if np.isnan(row["response"]) else f"{row['response']:.2f}"
        table.add_row(name, str(row["n"]), f"{row['label']:+.2f}", f"{row['plan']:+.2f}", response)
    console = Console()
    console.print(table)
    console.print(f"correlation {report['correlation']:.3f}, slope {report['slope']:.3f}, "
                  f"mean absolute error {report['mae']:.2f} m/s")


if __name__ == "__main__":
    main()
