"""Compare two evaluation directories scenario by scenario: per-family deltas with significance (ablations).

    cordillera eval compare runs/eval/constant-velocity-test runs/eval/rule-based-test
    cordillera eval compare A B --json

    >>> from cordillera.eval.compare import compare_runs
    >>> table = compare_runs("runs/eval/a", "runs/eval/b")
    >>> table["overall"]["success_rate"]["delta"], table["families"]["stalled_vehicle"]["epdms"]["p_value"]

Only scenarios present in both runs are compared, as pairs (the same family and seed under both policies),
so the scenario's difficulty cancels out: delta = mean(B - A), a paired bootstrap 95% interval, and a
two-sided sign-flip permutation p-value (stats.paired_difference). A delta is marked significant at
p < ALPHA; with 3 seeds per family, per-family deltas rarely are: the smallest exact p-value of 3 pairs is
0.25. Pairs where either run has no value for a metric (an event rate of a crashed scenario) are left out of it.
"""

from __future__ import annotations

import json
from pathlib import Path

from cordillera.eval.aggregate import item_values
from cordillera.eval.runner import RESULTS, SUMMARY, EvalError, read_results
from cordillera.eval.stats import StatsConfig, paired_difference

__all__ = ["COMPARE_KEYS", "ALPHA", "compare_runs", "load_run"]

COMPARE_KEYS = ("epdms", "success_rate", "at_fault_collision_rate", "collision_free_rate", "offroad_rate",
                "route_completion", "driving_score", "alpasim_scene_score")
ALPHA = 0.05  # significance level of the per-metric test


def load_run(directory: str | Path) -> tuple[dict, list[dict]]:
    """(summary, records) of an evaluation directory; EvalError when it is not one."""
    directory = Path(directory)
    summary_path = directory / SUMMARY
    if not summary_path.is_file() or not (directory / RESULTS).is_file():
        raise EvalError(f"{directory} is not a finished evaluation directory (needs {SUMMARY} and {RESULTS})")
    return json.loads(summary_path.read_text()), read_results(directory / RESULTS)


def _deltas(pairs: list[tuple[dict, dict]], name: str, stats: StatsConfig) -> dict:
    out = {"n_pairs": len(pairs)}
    for key in COMPARE_KEYS:
        a, b = [], []
        for ra, rb in pairs:
            va, vb = item_values(ra)[key], item_values(rb)[key]
            if va is not None and vb is not None:
                a.append(va)
                b.append(vb)
        diff = paired_difference(a, b, stats.seed, f"{name}/{key}", stats.confidence, stats.resamples)
        if diff is None:
            out[key] = None
            continue
        out[key] = {"a": diff.mean_a, "b": diff.mean_b, "delta": diff.delta, "ci95": list(diff.ci),
                    "p_value": diff.p_value, "significant": diff.p_value < ALPHA, "n": diff.n}
    return out


def compare_runs(dir_a: str | Path, dir_b: str | Path, stats: StatsConfig = StatsConfig()) -> dict:
    """Paired deltas B - A overall and per family (families in A's order)."""
    summary_a, records_a = load_run(dir_a)
    summary_b, records_b = load_run(dir_b)
    by_b = {(r["family"], r["seed"]): r for r in records_b}
    pairs = [(r, by_b[(r["family"], r["seed"])]) for r in sorted(records_a, key=lambda r: r["index"])
             if (r["family"], r["seed"]) in by_b]
    if not pairs:
        raise EvalError(f"{dir_a} and {dir_b} have no scenario in common")
    families: dict[str, list] = {}
    for pair in pairs:
        families.setdefault(pair[0]["family"], []).append(pair)
    return {
        "a": {"dir": str(dir_a), "policy": summary_a["policy"], "suite": summary_a["suite"],
              "suite_hash": summary_a["suite_hash"], "n_scenarios": len(records_a)},
        "b": {"dir": str(dir_b), "policy": summary_b["policy"], "suite": summary_b["suite"],
              "suite_hash": summary_b["suite_hash"], "n_scenarios": len(records_b)},
        "same_suite": summary_a["suite_hash"] == summary_b["suite_hash"],
        "alpha": ALPHA,
        "test": "paired: sign-flip permutation p-value, bootstrap 95% CI of the mean difference B - A",
        "overall": _deltas(pairs, "overall", stats),
        "families": {fam: _deltas(ps, f"family/{fam}", stats) for fam, ps in families.items()},
    }
