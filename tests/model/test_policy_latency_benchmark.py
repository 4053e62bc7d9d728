"""Smoke run of benchmarks/policy_latency.py on the tiny config: it runs and prints the promised JSON."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "policy_latency.py"


def test_json_output(capsys):
    spec = importlib.util.spec_from_file_location("policy_latency", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--config", "tiny", "--repeats", "1", "--gate-steps", "1", "--samples", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result) == {"params", "ms_p50_reasoning", "ms_p50_no_reasoning", "ms_p50_auto"}
    assert result["params"] > 0 and all(result[k] > 0 for k in result)
