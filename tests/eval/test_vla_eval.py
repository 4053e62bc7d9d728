"""`vla:PATH` through the harness with a tiny random checkpoint: the only policy here that writes reasoning."""

from dataclasses import replace

import pytest

from cordillera.eval.runner import EvalConfig, read_results, run_eval

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from cordillera.model import CordilleraVLA, ModelConfig, train_tokenizer

    config = ModelConfig.tiny()
    config = replace(config, prompt=replace(config.prompt, reasoning="always"))  # reason at every plan
    corpus = ["Yield to the pedestrian crossing ahead", "Keep lane and keep speed", "Nudge left around the truck",
              "turn left in 40 m", "follow the road"] * 3
    torch.manual_seed(0)
    model = CordilleraVLA(config, train_tokenizer(corpus, config.backbone.vocab_size, config.rig.camera_vocabulary))
    path = tmp_path_factory.mktemp("vla") / "tiny"
    model.eval().save_pretrained(path)
    return path


def test_vla_checkpoint_is_evaluated_with_reasoning(checkpoint, tmp_path):
    result = run_eval(EvalConfig(policy=f"vla:{checkpoint}", suite="lane_follow_straight:20000", out=str(tmp_path / "v"),
                                 duration_s=1.0, policy_hz=2.0, success_videos=1))
    (record,) = read_results(tmp_path / "v" / "results.jsonl")
    assert record["policy"] == f"vla:{checkpoint}" and record["status"] == "ok", record["error"]
    assert 0.0 <= record["reasoning_action_consistency"] <= 1.0
    assert result.summary["reasoning_action_consistency"] == record["reasoning_action_consistency"]
    assert "video" in result.videos["lane_follow_straight:20000"]


def test_reasoning_mode_overrides_the_checkpoints_and_is_part_of_the_run(checkpoint, tmp_path):
    from cordillera.eval.runner import EvalError
    from cordillera.eval.specs import parse_policy_id

    assert parse_policy_id(f"vla:{checkpoint}", reasoning="never").build().reasoning == "never"
    assert parse_policy_id(f"vla:{checkpoint}").build().reasoning == "always"  # the checkpoint's own mode
    config = EvalConfig(policy=f"vla:{checkpoint}", suite="lane_follow_straight:20000", out=str(tmp_path / "v"),
                        duration_s=1.0, policy_hz=2.0, reasoning="never", videos=False)
    result = run_eval(config)
    (record,) = read_results(tmp_path / "v" / "results.jsonl")
    assert record["status"] == "ok", record["error"]
    assert record["reasoning_action_consistency"] is None and record["key_moment"] is None  # nothing written
    assert result.summary["reasoning_action_consistency"] is None
    with pytest.raises(EvalError, match="reasoning 'never' \\(now 'always'\\)"):
        run_eval(replace(config, reasoning="always"))  # a resume must not mix two modes in one directory


def test_inference_precision_is_part_of_the_run(checkpoint, tmp_path):
    """A VLA's plans depend on its product precision (bfloat16 where the CPU has bf16 dot products): the run
    records it, and a resume on a machine (or with a config) that resolves it differently is refused."""
    import json

    from cordillera.eval.runner import EvalError
    from cordillera.model import CordilleraVLA

    expected = CordilleraVLA.from_pretrained(checkpoint).inference_precision
    config = EvalConfig(policy=f"vla:{checkpoint}", suite="lane_follow_straight:20000", out=str(tmp_path / "v"),
                        duration_s=1.0, policy_hz=2.0, videos=False)
    run_eval(config)
    run = json.loads((tmp_path / "v" / "config.json").read_text())
    assert run["inference_precision"] == expected and expected.count("/") == 1
    rule = run_eval(replace(config, policy="rule-based", out=str(tmp_path / "r")))
    assert json.loads((rule.out / "config.json").read_text())["inference_precision"] is None
    run["inference_precision"] = "float32 / float32" if expected != "float32 / float32" else "bfloat16 / bfloat16"
    (tmp_path / "v" / "config.json").write_text(json.dumps(run))
    with pytest.raises(EvalError, match="inference_precision"):
        run_eval(config)


def test_samples_override_the_policys_and_are_part_of_the_run(checkpoint, tmp_path):
    import json

    from cordillera.eval.runner import EvalError
    from cordillera.eval.specs import PolicyIdError, parse_policy_id

    assert parse_policy_id(f"vla:{checkpoint}", samples=1).build().num_samples == 1
    assert parse_policy_id(f"vla:{checkpoint}").build().num_samples == 6  # the policy's default
    for bad in (0, True, 1.5):
        with pytest.raises(PolicyIdError, match="samples must be a positive integer"):
            parse_policy_id(f"vla:{checkpoint}", samples=bad)
    config = EvalConfig(policy=f"vla:{checkpoint}", suite="lane_follow_straight:20000", out=str(tmp_path / "v"),
                        duration_s=1.0, policy_hz=2.0, samples=1, videos=False)
    run_eval(config)
    assert json.loads((tmp_path / "v" / "config.json").read_text())["samples"] == 1
    with pytest.raises(EvalError, match="samples 1 \\(now 6\\)"):
        run_eval(replace(config, samples=6))  # one directory, one sample count
