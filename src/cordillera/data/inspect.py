"""Looking at a dataset: summary statistics with plots (`cordillera data stats`) and one sample as a picture
(`cordillera data show`).

    >>> from cordillera.data.inspect import dataset_stats, plot_stats, show_sample
    >>> stats = dataset_stats("runs/data/train")          # every shard verified first
    >>> plot_stats(stats, "runs/data/train/plots")        # decisions.png, families.png, distributions.png
    >>> record = show_sample("runs/data/train", 12, "sample.png")
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from cordillera.data.format import SHAPES

__all__ = ["dataset_stats", "plot_stats", "show_sample", "decision_label"]

_COLUMNS = ["family", "split", "keyframe", "decision_longitudinal", "decision_lateral", "speed", "actions",
            "perturbation", "reasoning"]


def decision_label(longitudinal: str | None, lateral: str | None) -> str:
    """"Yield + Keep lane", "Stop", "routine" (both None): short names."""
    from cordillera.teacher.decisions import Decision

    short = Decision.from_dict({"longitudinal": longitudinal, "lateral": lateral}).short()
    parts = [p for p in (short["longitudinal"], short["lateral"]) if p]
    return " + ".join(parts) if parts else "routine"


def _percentiles(values: np.ndarray) -> dict:
    if values.size == 0:
        return {}
    qs = (0, 5, 25, 50, 75, 95, 100)
    return {f"p{q:02d}": float(v) for q, v in zip(qs, np.percentile(values, qs))} | {"mean": float(values.mean())}


def dataset_stats(path: str | Path) -> dict:
    """Counts and distributions over every sample: decisions (all and keyframes), families (samples and
    episodes), splits, keyframe and perturbed shares, speed [m/s] and plan curvature [1/m] percentiles, and
    the raw speed / curvature arrays under "_arrays" for plotting."""
    from cordillera.data.reader import DatasetReader

    reader = DatasetReader(path)
    reader.verify()
    decisions, key_decisions, families, splits = Counter(), Counter(), Counter(), Counter()
    episodes_per_family = Counter(ep["family"] for ep in reader.episodes)
    speeds, curvatures = [], []
    keyframes = perturbed = texts = 0
    for ep in reader.episodes:
        table = pq.read_table(reader.root / ep["shard"], columns=_COLUMNS).to_pydict()
        for k in range(len(table["family"])):
            label = decision_label(table["decision_longitudinal"][k], table["decision_lateral"][k])
            decisions[label] += 1
            if table["keyframe"][k]:
                keyframes += 1
                key_decisions[label] += 1
            families[table["family"][k]] += 1
            splits[table["split"][k]] += 1
            perturbed += table["perturbation"][k] is not None
            texts += table["reasoning"][k] is not None
            speeds.append(table["speed"][k])
            curvatures.append(np.asarray(table["actions"][k]).reshape(SHAPES["actions"])[:, 1])
    n = len(reader)
    speed = np.asarray(speeds, dtype=np.float64)
    curvature = np.concatenate(curvatures) if curvatures else np.zeros(0)
    return {
        "path": str(reader.root), "samples": n, "episodes": len(reader.episodes), "splits": dict(splits),
        "keyframe_share": keyframes / n if n else None, "perturbed_share": perturbed / n if n else None,
        "reasoning_share": texts / n if n else None,
        "decisions": dict(decisions.most_common()), "keyframe_decisions": dict(key_decisions.most_common()),
        "families": {f: {"samples": families[f], "episodes": episodes_per_family[f]}
                     for f in sorted(episodes_per_family)},
        "speed_mps": _percentiles(speed), "curvature_per_m": _percentiles(curvature),
        "_arrays": {"speed": speed, "curvature": curvature},
    }


def plot_stats(stats: dict, out: str | Path) -> list[Path]:
    """decisions.png, families.png and distributions.png (speed and curvature histograms) under `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []

    def bars(counts: dict, title: str, name: str) -> None:
        labels = list(counts) or ["(none)"]
        values = [counts[k] for k in counts] or [0]
        fig, ax = plt.subplots(figsize=(8, max(2.5, 0.28 * len(labels) + 1)))
        ax.barh(labels[::-1], values[::-1], color="#4c72b0")
        ax.set_title(title)
        ax.set_xlabel("samples")
        fig.tight_layout()
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        paths.append(out / name)

    bars(stats["decisions"], f"decisions ({stats['samples']} samples)", "decisions.png")
    bars({f: v["samples"] for f, v in stats["families"].items()}, "samples per scenario family", "families.png")
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
    a.hist(stats["_arrays"]["speed"], bins=30, color="#55a868")
    a.set_xlabel("speed at t0 [m/s]")
    b.hist(stats["_arrays"]["curvature"], bins=60, color="#c44e52", log=True)
    b.set_xlabel("plan curvature [1/m] (all 64 steps)")
    fig.tight_layout()
    fig.savefig(out / "distributions.png", dpi=100)
    plt.close(fig)
    paths.append(out / "distributions.png")
    return paths


def show_sample(path: str | Path, index: int, out: str | Path, split: str = "all") -> dict:
    """Write a PNG of sample `index` of `split` (the rig's cameras, newest frame on top and the 4 frames of
    the front camera below; the plan, history and route from above; the decision and reasoning) and return
    its record (arrays as lists)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cordillera.data.reader import DrivingDataset

    ds = DrivingDataset(path, split=split)
    sample, record = ds[index], ds.record(index)
    names = list(sample.cameras)
    fig = plt.figure(figsize=(12, 7.5))
    grid = fig.add_gridspec(3, len(names), height_ratios=[1, 1, 2.2])
    for c, name in enumerate(names):
        ax = fig.add_subplot(grid[0, c])
        ax.imshow(sample.cameras[name][-1])
        ax.set_title(name.removeprefix("camera_"), fontsize=8)
        ax.axis("off")
    front = sample.cameras.get("camera_front_wide_120fov", sample.cameras[names[0]])
    for k in range(min(len(front), len(names))):
        ax = fig.add_subplot(grid[1, k])
        ax.imshow(front[k])
        ax.set_title(f"front t0-{0.1 * (len(front) - 1 - k):.1f} s", fontsize=8)
        ax.axis("off")
    ax = fig.add_subplot(grid[2, : max(1, len(names) // 2)])
    route, hist, fut = sample.route_waypoints, sample.ego_history, sample.future
    ax.plot(-route[:, 1], route[:, 0], ".", color="0.6", label="route")
    ax.plot(-hist[:, 1], hist[:, 0], "-", color="#4c72b0", label="history")
    ax.plot(-fut[:, 1], fut[:, 0], "-", color="#c44e52", lw=2, label="teacher plan")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("right [m]")
    ax.set_ylabel("forward [m]")
    ax.legend(fontsize=8, loc="lower right")
    text = fig.add_subplot(grid[2, max(1, len(names) // 2):])
    text.axis("off")
    lines = [f"{record['episode']}  t={record['t']:.1f} s  split={record['split']}",
             f"speed {record['speed']:.1f} m/s   accel {record['acceleration']:+.2f} m/s^2",
             f"decision: {decision_label(record['decision']['longitudinal'], record['decision']['lateral'])}"
             f"   keyframe: {record['keyframe']}",
             f"nav: {record['navigation']}",
             f"perturbation: {json.dumps(record['perturbation']) if record['perturbation'] else 'none'}",
             "", "reasoning:", _wrap(record["reasoning"] or "(routine moment: no reasoning)")]
    text.text(0.0, 1.0, "\n".join(lines), va="top", family="monospace", fontsize=8)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in record.items()}


def _wrap(text: str, width: int = 60) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join(lines + [line])
