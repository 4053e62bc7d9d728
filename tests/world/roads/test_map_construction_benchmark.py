"""benchmarks/map_construction.py runs and reports every builder beside its reference (no timing asserted)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from cordillera.world.roads import BUILDERS

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "map_construction.py"


def _module():
    spec = importlib.util.spec_from_file_location("map_construction", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_reports_every_builder_and_the_reference(capsys):
    assert _module().main(["--repeats", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["maps"]) == set(BUILDERS)
    assert all(v > 0 for v in report["maps"].values()) and report["sim_step_ms"] > 0
    worst = max(report["maps"].values()) / report["sim_step_ms"]
    assert abs(report["worst_ratio"] - worst) <= 0.01 * worst + 0.01  # (rounded values)
    assert _module().main(["--repeats", "1"]) == 0
    table = capsys.readouterr().out
    assert all(name in table for name in BUILDERS) and "(one sim step)" in table
