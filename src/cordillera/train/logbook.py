"""The run's metrics: one JSON object per line in RUN/metrics.jsonl, and PNG curves drawn from it.

    >>> log = MetricsLog("runs/train/small/metrics.jsonl", resume_step=1200)   # drops lines after step 1200
    >>> log.write({"step": 1210, "split": "train", "loss/total": 1.93, "lr": 9.8e-4})
    >>> plot_curves(log.read(), "runs/train/small/curves.png")

Each line has "step" (optimiser steps done) and "split": "train" (means over the last log_every steps),
"val" (validation losses and open-loop minADE) or "closed_loop" (suite summary of a checkpoint).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

__all__ = ["MetricsLog", "plot_curves"]


class MetricsLog:
    def __init__(self, path: str | Path, resume_step: int | None = None):
        self.path = Path(path)
        if resume_step is None:
            self.path.write_text("")
        else:  # lines written after the checkpoint we resume from describe steps that will be redone
            kept = [r for r in self.read() if r.get("step", 0) <= resume_step]
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
            os.replace(tmp, self.path)

    def write(self, record: dict) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()

    def read(self) -> list[dict]:
        """Records in file order; a trailing line cut off by a crash is ignored."""
        if not self.path.exists():
            return []
        out = []
        lines = self.path.read_text().splitlines()
        for k, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                if k != len(lines) - 1:
                    raise ValueError(f"{self.path}:{k + 1}: not a JSON line") from None
        return out


_PANELS = (  # (title, split, keys)
    ("training loss", "train", ("loss/total", "loss/text", "loss/gate", "loss/flow", "loss/perception",
                                "loss/speed")),
    ("validation loss", "val", ("loss/total", "loss/text", "loss/gate", "loss/flow", "loss/perception",
                                "loss/speed")),
    ("open loop (val): minADE [m], speed error 2 s ahead [m/s], braking response", "val",
     ("min_ade", "min_ade@1.0s", "min_ade@3.0s", "speed_error@2s", "braking_response")),
    ("learning rate", "train", ("lr",)),
)


def plot_curves(records: list[dict], path: str | Path) -> Path:
    """A 2 x 2 figure (training loss, validation loss, open-loop errors, learning rate) against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    for ax, (title, split, keys) in zip(axes.flat, _PANELS):
        rows = [r for r in records if r.get("split") == split]
        for key in keys:
            points = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float))
                      and math.isfinite(r[key])]
            if points:
                ax.plot(*zip(*points), label=key, marker="o" if split == "val" else None, markersize=3)
        ax.set_title(title)
        ax.set_xlabel("step")
        lines = ax.get_lines()
        if "loss" in title and lines and all(min(line.get_ydata()) > 0 for line in lines):
            ax.set_yscale("log")
        if ax.get_lines():
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, path)
    return path
