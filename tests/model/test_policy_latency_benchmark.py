"""Smoke runs of benchmarks/policy_latency.py on the tiny config: the promised JSON, and the table with its
float32 reference rows."""

from __future__ import annotations

import json

import torch

from cordillera.model.weight_copies import low_precision_dtype


def test_json_output(capsys, load_benchmark):
    assert load_benchmark("policy_latency").main(["--config", "tiny", "--repeats", "1", "--gate-steps", "1", "--samples", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result) == {"params", "ms_p50_reasoning", "ms_p50_no_reasoning", "ms_p50_auto"}
    assert result["params"] > 0 and all(result[k] > 0 for k in result)


def test_table_with_the_float32_reference_rows(capsys, load_benchmark):
    """The table run (tiny config): a float32 variant of the same weights loads and plans beside it when this
    CPU runs bfloat16 products; the JSON line still closes the output."""
    benchmark = load_benchmark("policy_latency")
    assert benchmark.main(["--config", "tiny", "--repeats", "1", "--gate-steps", "1", "--samples", "2"]) == 0
    out = capsys.readouterr().out
    assert "decision latency" in out and "bounds per decision" in out
    assert set(json.loads(out.strip().splitlines()[-1])) == {"params", "ms_p50_reasoning", "ms_p50_no_reasoning",
                                                               "ms_p50_auto"}
    assert ("f32 rows" in out) == (low_precision_dtype("auto") == torch.bfloat16)
