"""Smoke runs of benchmarks/policy_latency.py on the tiny config: the promised JSON, and the table with its
float32 reference rows."""

from __future__ import annotations

import json

import numpy as np
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
    assert "one-sequence loop" in out and "batch loop" in out  # the reasoning loops side by side
    assert set(json.loads(out.strip().splitlines()[-1])) == {"params", "ms_p50_reasoning", "ms_p50_no_reasoning",
                                                               "ms_p50_auto"}
    assert ("f32 rows" in out) == (low_precision_dtype("auto") == torch.bfloat16)


def test_writing_comparison_runs_both_loops_on_the_same_tokens(load_benchmark, make_model, make_sample, monkeypatch):
    """Both loops write the same text for a seed (so the per-token times compare the same work)."""
    benchmark = load_benchmark("policy_latency")
    model = make_model()
    texts = {}
    for name in ("_write_one", "_write_reasoning"):
        original = getattr(model, name)

        def record(*args, name=name, original=original):
            result = original(*args)
            texts.setdefault(name, []).append(result if name == "_write_one" else result[0])
            return result
        monkeypatch.setattr(model, name, record)
    obs = benchmark.synthetic_observation(np.random.default_rng(0), model.config, keyframe=False)
    line = benchmark.writing_comparison(model, obs, limit=6, repeats=2)
    assert line.startswith("reasoning text") and "one-sequence loop" in line
    assert texts["_write_one"] == texts["_write_reasoning"] and len(texts["_write_one"]) == 2
