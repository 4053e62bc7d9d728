"""Summaries from hand-made records: every number below is checked by hand."""

import pytest

from cordillera.eval.aggregate import HEADLINE_KEYS, item_values, summarize_group, summarize_records


def _record(index, family, *, success=True, at_fault=False, offroad=False, contact=False, epdms=1.0, km=0.1,
            incidents=0, category="vru", status="ok", consistency=None):
    metrics = {
        "epdms": epdms, "scenario.at_fault_collision": at_fault, "scenario.offroad": offroad,
        "carla.collisions_pedestrian": 0, "carla.collisions_vehicle": int(contact), "carla.collisions_static": 0,
        "alpasim.close_encounter": contact, "carla.route_completion": 80.0, "carla.driving_score": 60.0,
        "alpasim.scene_score": 0.5, "alpasim.distance_m": km * 1000.0, "alpasim.incidents": incidents,
        "alpasim.incidents_at_fault": int(at_fault or offroad),
    }
    return {"index": index, "scenario": f"{family}:{index}", "family": family, "seed": index, "status": status,
            "success": success and status == "ok", "metrics": metrics if status == "ok" else None,
            "tags": {"category": category, "longtail": True, "expected_decision": "stop", "time_of_day": "day",
                     "weather": "clear"},
            "reasoning_action_consistency": consistency, "min_ade": None, "code_version": "0.1.0",
            "timing": {"rollout_s": 1.0, "reference_s": 1.0, "metrics_s": 0.1, "total_s": 2.1}}


RECORDS = [
    _record(0, "a", km=0.2),
    _record(1, "a", success=False, at_fault=True, contact=True, epdms=0.0, km=0.05, incidents=1),
    _record(2, "b", km=0.15, category="obstacle", consistency=1.0),
    _record(3, "b", status="error", category="obstacle"),
]


def test_item_values_of_a_crash_score_zero_and_have_no_events():
    values = item_values(RECORDS[3])
    assert values["epdms"] == values["success_rate"] == values["driving_score"] == 0.0
    assert values["at_fault_collision_rate"] is None and values["collision_free_rate"] is None
    assert item_values(RECORDS[1])["collision_free_rate"] == 0.0


def test_group_numbers():
    g = summarize_group(RECORDS)
    assert (g["n_scenarios"], g["n_errors"]) == (4, 1)
    assert g["epdms"] == pytest.approx((1.0 + 0.0 + 1.0 + 0.0) / 4)
    assert g["success_rate"] == pytest.approx(2 / 4)
    assert g["at_fault_collision_rate"] == pytest.approx(1 / 3)  # the crash has no collision outcome
    assert g["collision_free_rate"] == pytest.approx(2 / 3)
    assert g["route_completion"] == pytest.approx(3 * 80.0 / 4)
    assert g["km_driven"] == pytest.approx(0.4) and g["incidents"] == 1 and g["incidents_at_fault"] == 1
    assert g["km_per_incident"] == pytest.approx(0.4)  # 0.4 km / max(1, 1)
    assert g["reasoning_action_consistency"] == 1.0  # only the record that reasoned counts
    assert g["min_ade"] is None and g["ci95"]["min_ade"] is None
    lo, hi = g["ci95"]["at_fault_collision_rate"]
    assert 0.0 < lo < 1 / 3 < hi < 1.0


def test_km_per_incident_without_incidents_is_the_distance():
    g = summarize_group([RECORDS[0], RECORDS[2]])
    assert g["incidents"] == 0 and g["km_per_incident"] == pytest.approx(0.35)


def test_summary_document():
    s = summarize_records(RECORDS[::-1], "custom", "h" * 64, "rule-based")
    assert list(s)[:4] == ["suite", "suite_hash", "policy", "n_scenarios"]
    assert set(HEADLINE_KEYS) <= set(s)
    assert list(s["families"]) == ["a", "b"]  # suite order, whatever the record order
    assert s["families"]["a"]["success_rate"] == 0.5 and s["families"]["b"]["n_errors"] == 1
    assert s["tags"]["category"]["obstacle"]["n_scenarios"] == 2
    assert list(s["tags"]["longtail"]) == ["true"]
    assert s["ci_method"]["rates"] == "Wilson score interval"
    assert s["timing"]["metrics_share"] == pytest.approx(0.4 / 8.0)
    assert s == summarize_records(RECORDS, "custom", "h" * 64, "rule-based")  # seeded: reproducible
