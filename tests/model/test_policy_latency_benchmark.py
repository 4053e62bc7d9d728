"""Smoke run of benchmarks/policy_latency.py on the tiny config: it runs and prints the promised JSON."""

from __future__ import annotations

import json


def test_json_output(capsys, load_benchmark):
    assert load_benchmark("policy_latency").main(["--config", "tiny", "--repeats", "1", "--gate-steps", "1", "--samples", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result) == {"params", "ms_p50_reasoning", "ms_p50_no_reasoning", "ms_p50_auto"}
    assert result["params"] > 0 and all(result[k] > 0 for k in result)
