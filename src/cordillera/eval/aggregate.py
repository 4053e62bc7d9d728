"""From result records (one per scenario) to the suite summary: headline numbers with confidence intervals,
per family and per tag.

    >>> from cordillera.eval.aggregate import summarize_records, HEADLINE_KEYS
    >>> summary = summarize_records(records, suite="test", suite_hash="...", policy="rule-based")
    >>> summary["epdms"], summary["ci95"]["epdms"], summary["families"]["stalled_vehicle"]["success_rate"]

Headline keys (each a number, or null where it cannot be measured), per scenario then averaged:
- epdms, alpasim_scene_score: means in [0, 1]; route_completion, driving_score: CARLA means in percent.
- success_rate: the scenario's own criteria met with no at-fault collision, never off-road, rules kept.
- collision_free_rate: no contact with anyone during the rollout (CARLA collision onsets, fault aside).
- at_fault_collision_rate: nuPlan / NAVSIM at-fault rules; offroad_rate: an ego corner off the drivable area.
- close_encounter_rate: AlpaSim's close encounter (any overlap before the first incident).
- km_per_incident: km driven until each rollout's first incident (AlpaSim), summed, over max(1, incidents);
  `incidents` and `km_driven` give its parts, `km_per_at_fault_incident` the at-fault variant.
- min_ade: null (closed loop has no logged future); reasoning_action_consistency: mean over scenarios whose
  policy gave reasoning, null when none did.
A scenario whose policy (or reference, or metrics) raised counts as a failure and scores 0 on the scores and
success; it has no collision / off-road / encounter outcome, so the event rates leave it out (`n_errors`).
Intervals (`ci95`): Wilson for rates, seeded percentile bootstrap over scenarios for means and ratios.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from cordillera.eval.stats import StatsConfig, bootstrap_interval, wilson_interval

__all__ = ["HEADLINE_KEYS", "RATE_KEYS", "SCORE_KEYS", "TAG_GROUPS", "item_values", "summarize_group",
           "summarize_records"]

HEADLINE_KEYS = (
    "epdms", "collision_free_rate", "at_fault_collision_rate", "offroad_rate", "close_encounter_rate",
    "route_completion", "driving_score", "alpasim_scene_score", "km_per_incident", "success_rate", "min_ade",
    "reasoning_action_consistency",
)  # fmt: skip
RATE_KEYS = ("collision_free_rate", "at_fault_collision_rate", "offroad_rate", "close_encounter_rate", "success_rate")
SCORE_KEYS = ("epdms", "route_completion", "driving_score", "alpasim_scene_score", "reasoning_action_consistency")
TAG_GROUPS = ("category", "longtail", "expected_decision", "time_of_day", "weather")  # slices of the summary


def item_values(record: dict) -> dict[str, float | None]:
    """One scenario's contribution to each headline key (None: it does not count towards that key)."""
    m = record["metrics"]
    ok = record["status"] == "ok"
    if not ok:
        out = {k: None for k in RATE_KEYS}
        out.update({k: 0.0 for k in SCORE_KEYS}, success_rate=0.0)
    else:
        collisions = m["carla.collisions_pedestrian"] + m["carla.collisions_vehicle"] + m["carla.collisions_static"]
        out = {
            "epdms": m["epdms"],
            "collision_free_rate": float(collisions == 0),
            "at_fault_collision_rate": float(m["scenario.at_fault_collision"]),
            "offroad_rate": float(m["scenario.offroad"]),
            "close_encounter_rate": float(m["alpasim.close_encounter"]),
            "route_completion": m["carla.route_completion"],
            "driving_score": m["carla.driving_score"],
            "alpasim_scene_score": m["alpasim.scene_score"],
            "success_rate": float(record["success"]),
        }
    out["reasoning_action_consistency"] = record.get("reasoning_action_consistency")
    out["min_ade"] = record.get("min_ade")
    return out


def _km_ratio(rows: np.ndarray) -> np.ndarray:
    """(resamples, n, 2) rows [km, incidents] -> (resamples,) km per incident."""
    return rows[..., 0].sum(axis=-1) / np.maximum(1.0, rows[..., 1].sum(axis=-1))


def summarize_group(records: list[dict], name: str = "all", stats: StatsConfig = StatsConfig()) -> dict:
    """Headline keys, counts and intervals of a group of records (the whole suite, a family, a tag value)."""
    values = [item_values(r) for r in records]
    ok = [r for r in records if r["status"] == "ok"]
    km = np.array([r["metrics"]["alpasim.distance_m"] / 1000.0 for r in ok])
    incidents = np.array([r["metrics"]["alpasim.incidents"] for r in ok], dtype=np.float64)
    at_fault = np.array([r["metrics"]["alpasim.incidents_at_fault"] for r in ok], dtype=np.float64)
    out: dict = {"n_scenarios": len(records), "n_errors": len(records) - len(ok)}
    ci: dict = {}
    for key in HEADLINE_KEYS:
        if key == "km_per_incident":
            out[key] = float(km.sum() / max(1.0, incidents.sum())) if len(ok) else None
            rows = np.stack([km, incidents], -1) if len(ok) else np.zeros((0, 2))
            ci[key] = bootstrap_interval(rows, stats.seed, f"{name}/{key}", stats.confidence, stats.resamples,
                                         statistic=_km_ratio)
            continue
        vals = [v[key] for v in values if v[key] is not None]
        out[key] = float(np.mean(vals)) if vals else None
        if key in RATE_KEYS:
            ci[key] = wilson_interval(int(round(sum(vals))), len(vals), stats.confidence)
        else:
            ci[key] = bootstrap_interval(vals, stats.seed, f"{name}/{key}", stats.confidence, stats.resamples)
    out["incidents"] = int(incidents.sum())
    out["incidents_at_fault"] = int(at_fault.sum())
    out["km_driven"] = float(km.sum())
    out["km_per_at_fault_incident"] = float(km.sum() / max(1.0, at_fault.sum())) if len(ok) else None
    out["ci95"] = {k: (list(v) if v is not None else None) for k, v in ci.items()}
    return out


def _tag_value(record: dict, group: str) -> str | None:
    tags = record.get("tags")
    if not tags or group not in tags:
        return None
    value = tags[group]
    return str(value).lower() if isinstance(value, bool) else str(value)


def _timing(records: Iterable[dict]) -> dict:
    totals = {"rollout_s": 0.0, "reference_s": 0.0, "metrics_s": 0.0, "total_s": 0.0}
    for r in records:
        for key in totals:
            totals[key] += float(r.get("timing", {}).get(key, 0.0))
    driving = totals["rollout_s"] + totals["reference_s"]
    totals["metrics_share"] = totals["metrics_s"] / driving if driving > 0 else None
    return totals


def summarize_records(records: list[dict], suite: str, suite_hash: str, policy: str,
                      stats: StatsConfig = StatsConfig(), reference_policy: str = "rule-based") -> dict:
    """The summary.json document: the stable top-level keys first, then `families` (suite order) and `tags`
    ({group: {value: same keys}}), the interval methods, code versions seen, and wall-clock `timing`
    (seconds summed over scenarios; the one part that differs between identical runs)."""
    records = sorted(records, key=lambda r: r["index"])
    out = {"suite": suite, "suite_hash": suite_hash, "policy": policy}
    out.update(summarize_group(records, "all", stats))
    families: dict[str, list[dict]] = {}
    for r in records:
        families.setdefault(r["family"], []).append(r)
    out["families"] = {fam: summarize_group(rs, f"family/{fam}", stats) for fam, rs in families.items()}
    tags: dict = {}
    for group in TAG_GROUPS:
        slices: dict[str, list[dict]] = {}
        for r in records:
            value = _tag_value(r, group)
            if value is not None:
                slices.setdefault(value, []).append(r)
        tags[group] = {v: summarize_group(slices[v], f"{group}/{v}", stats) for v in sorted(slices)}
    out["tags"] = tags
    out["ci_method"] = {
        "confidence": stats.confidence,
        "rates": "Wilson score interval",
        "means": f"percentile bootstrap over scenarios, {stats.resamples} resamples, seed {stats.seed}",
    }
    out["reference_policy"] = reference_policy
    out["code_versions"] = sorted({r.get("code_version", "") for r in records})
    out["timing"] = _timing(records)
    return out
