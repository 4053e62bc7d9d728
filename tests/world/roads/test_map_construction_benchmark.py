"""benchmarks/map_construction.py runs and reports every builder beside its reference (no timing asserted)."""

from __future__ import annotations

import json

from cordillera.world.roads import BUILDERS


def test_benchmark_reports_every_builder_and_the_reference(capsys, load_benchmark):
    benchmark = load_benchmark("map_construction")
    assert benchmark.main(["--repeats", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["maps"]) == set(BUILDERS)
    assert all(v > 0 for v in report["maps"].values()) and report["sim_step_ms"] > 0
    worst = max(report["maps"].values()) / report["sim_step_ms"]
    assert abs(report["worst_ratio"] - worst) <= 0.01 * worst + 0.01  # (rounded values)
    assert benchmark.main(["--repeats", "1"]) == 0
    table = capsys.readouterr().out
    assert all(name in table for name in BUILDERS) and "(one sim step)" in table
