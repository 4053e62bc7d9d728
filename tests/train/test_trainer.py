"""The training loop on a tiny real model: it learns, it resumes bit-exactly, its checkpoints load, and it
refuses directories of other runs."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from cordillera.model import CordilleraVLA, ModelConfig, train_tokenizer
from cordillera.model.config import PerceptionConfig
from cordillera.train import StageConfig, TrainError, learning_rate, train
from cordillera.train.config import OptimConfig
from cordillera.train.trainer import Objective, _validate

from .conftest import make_samples, tiny_train_config


def _weights(path) -> dict[str, torch.Tensor]:
    return load_file(str(path / "model.safetensors"))


def _metrics(out) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_tiny_model_overfits_a_handful_of_samples(tmp_path):
    samples = make_samples(8, seed=3)
    config = tiny_train_config(40, data=replace(tiny_train_config().data, batch_size=8),
                               optim=OptimConfig(lr=5e-3, warmup_steps=5, min_lr_ratio=0.2))
    result = train(config, samples, samples[:4], tmp_path / "run", progress=False)
    train_lines = [r for r in _metrics(tmp_path / "run") if r["split"] == "train"]
    first, last = train_lines[0], train_lines[-1]
    assert last["step"] == 40
    assert last["loss/text"] < 0.25 * first["loss/text"]  # the reasoning texts and navigation are memorised
    assert last["loss/gate"] < 0.1 * first["loss/gate"]
    assert last["loss/flow"] < 0.6 * first["loss/flow"]
    val = result.validation
    assert val["split"] == "val" and val["samples"] == 4 and np.isfinite(val["min_ade"])
    assert val["speed_error@2s"] >= 0 and "braking_response" not in val  # no val sample brakes hard
    assert (tmp_path / "run" / "curves.png").stat().st_size > 10_000


def test_resume_after_interruption_is_bit_identical(tmp_path, samples, val_samples):
    # with the perception head and image augmentation on, so their draws are covered by the resume too
    model = replace(ModelConfig.tiny(), perception=PerceptionConfig(enabled=True, queries=2, hidden_size=16))
    config = tiny_train_config(6, model=model, data=replace(tiny_train_config().data, augment=True))
    facts = np.array([1.0, 12.0, 0.0, 0.0, np.nan, 0.0, 0.0], dtype=np.float32)
    samples = [replace(s, facts=facts) for s in samples]
    whole = train(config, samples, val_samples, tmp_path / "whole", progress=False)
    cut = train(config, samples, val_samples, tmp_path / "cut", progress=False, stop_at_step=4)
    assert cut.final is None and cut.step == 4
    # the step-4 checkpoint is newest; lines written after it (none here) would be dropped on resume
    resumed = train(config, samples, val_samples, tmp_path / "cut", resume=True, progress=False)
    assert resumed.step == 6
    a, b = _weights(whole.final), _weights(resumed.final)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    state_a = load_file(str(tmp_path / "whole" / "checkpoints" / "step-0000006" / "trainer" / "optimizer.safetensors"))
    state_b = load_file(str(tmp_path / "cut" / "checkpoints" / "step-0000006" / "trainer" / "optimizer.safetensors"))
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a if k != "rng.torch")
    steps = [r["step"] for r in _metrics(tmp_path / "cut") if r["split"] == "train"]
    assert steps == [1, 2, 3, 4, 5, 6]  # one line per step, none repeated across the restart
    losses = [[r["loss/total"] for r in _metrics(out) if r["split"] == "train"] for out in (tmp_path / "whole",
                                                                                            tmp_path / "cut")]
    assert losses[0] == losses[1]


def test_checkpoint_loads_and_drives(tmp_path, samples, val_samples):
    result = train(tiny_train_config(3), samples, val_samples, tmp_path / "run", progress=False)
    files = sorted(p.name for p in (tmp_path / "run" / "checkpoints" / "step-0000003").rglob("*") if p.is_file())
    assert files == ["config.json", "model.safetensors", "optimizer.safetensors", "prompt.json", "rig.json",
                     "state.json", "stats.json", "tokenizer.json", "train_config.json"]  # nothing pickled
    model = CordilleraVLA.from_pretrained(result.final)
    assert json.loads((result.final / "train_config.json").read_text())["stages"][0]["steps"] == 3
    # the action statistics come from the training data, the tokenizer from its texts
    assert model.stats.std[0] != pytest.approx(0.681043)
    assert model.tokenizer.encode("pedestrian") != []
    out = model.generate(model.processor.collate(val_samples[:2]), mode="auto", num_samples=2,
                         generator=torch.Generator().manual_seed(0))
    assert out.poses.shape == (2, 2, 64, 3) and np.all(np.isfinite(out.poses))


def test_detached_stage_leaves_the_backbone_alone(tmp_path, samples):
    stages = (StageConfig("language", 2, losses=("text", "gate")),
              StageConfig("expert", 2, losses=("flow",), detach_prefix=True, lr=1e-2))
    config = tiny_train_config(4, stages=stages)
    config = replace(config, checkpoint=replace(config.checkpoint, every_steps=2))
    train(config, samples, None, tmp_path / "run", progress=False)
    before = _weights(tmp_path / "run" / "checkpoints" / "step-0000002")
    after = _weights(tmp_path / "run" / "final")
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(("expert.", "expert_inputs.")) for k in changed)
    stage_of = {r["step"]: r["stage"] for r in _metrics(tmp_path / "run") if r["split"] == "train"}
    assert stage_of == {1: "language", 2: "language", 3: "expert", 4: "expert"}


def test_learning_rate_warms_up_then_decays_per_stage():
    config = tiny_train_config(stages=(StageConfig("a", 10), StageConfig("b", 5, lr=1e-4)),
                               optim=OptimConfig(lr=1e-3, warmup_steps=3, min_lr_ratio=0.1))
    rates = [learning_rate(config, s) for s in range(15)]
    assert rates[:3] == pytest.approx([2.5e-4, 5e-4, 7.5e-4])
    assert rates[3] == pytest.approx(1e-3)  # peak right after warmup
    assert all(x >= y for x, y in zip(rates[3:10], rates[4:10]))
    assert rates[9] == pytest.approx(1e-4)  # the floor: min_lr_ratio x peak, at the stage's last step
    assert rates[10] == pytest.approx(2.5e-5)  # stage b warms up again to its own peak
    assert rates[14] == pytest.approx(1e-5)
    with pytest.raises(IndexError):
        learning_rate(config, 15)


def test_mismatched_or_missing_runs_are_refused_before_any_step(tmp_path, samples, val_samples):
    out = tmp_path / "run"
    train(tiny_train_config(3), samples, val_samples, out, progress=False)
    steps = []
    with pytest.raises(TrainError, match="already holds a training run"):
        train(tiny_train_config(3), samples, val_samples, out, progress=False)
    with pytest.raises(TrainError, match=r"different run: train_config\.optim\.lr"):
        train(tiny_train_config(3, optim=OptimConfig(lr=1e-2, warmup_steps=2)), samples, val_samples, out,
              resume=True, progress=False, on_step=lambda s, _: steps.append(s))
    with pytest.raises(TrainError, match=r"different run: data\.train"):
        train(tiny_train_config(3), make_samples(16, seed=9), val_samples, out, resume=True, progress=False,
              on_step=lambda s, _: steps.append(s))
    with pytest.raises(TrainError, match="no run.json"):
        train(tiny_train_config(3), samples, val_samples, tmp_path / "empty", resume=True, progress=False)
    assert steps == []


def test_too_few_samples_is_a_clear_error(tmp_path, samples):
    from cordillera.train import DataError

    with pytest.raises(DataError, match="3 samples; one step needs batch_size x processes = 4 x 1"):
        train(tiny_train_config(3), samples[:3], None, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_closed_loop_validation_of_a_checkpoint(tmp_path, samples, val_samples):
    from cordillera.train.config import ValidationConfig

    config = tiny_train_config(2, validation=ValidationConfig(
        every_steps=2, max_samples=2, trajectories=2, mode="never", closed_loop_suite="stalled_vehicle:0",
        closed_loop_duration_s=1.5))
    config = replace(config, checkpoint=replace(config.checkpoint, every_steps=2))
    train(config, samples, val_samples, tmp_path / "run", progress=False)
    closed = [r for r in _metrics(tmp_path / "run") if r["split"] == "closed_loop"]
    assert len(closed) == 1 and closed[0]["step"] == 2 and closed[0]["suite"] == "stalled_vehicle:0"
    assert 0.0 <= closed[0]["epdms"] <= 1.0
    summary = json.loads((tmp_path / "run" / "eval" / "step-0000002" / "summary.json").read_text())
    assert summary["policy"].startswith("vla:")


def test_oversampling_repeats_moving_off_speeding_up_and_hard_braking(samples):
    from dataclasses import replace as change

    import numpy as np

    from cordillera.train.data import oversampling

    t = 0.1 * np.arange(1, 65)
    moving_off = np.column_stack([0.5 * 1.0 * t * t, 0 * t, 0 * t])  # from standstill at 1 m/s^2: 2 m after 2 s
    standing = np.zeros((64, 3))
    cruising = np.column_stack([8.0 * t, 0 * t, 0 * t])
    speeding = np.column_stack([8.0 * t + 0.5 * t * t, 0 * t, 0 * t])  # +1 m/s/s: 10 m/s after 2 s
    base = samples[0]
    braking = np.column_stack([np.minimum(8.0 * t - 1.5 * t * t, 8.0 * 8.0 / 6.0), 0 * t, 0 * t])  # -3 m/s^2
    gently = np.column_stack([8.0 * t - 0.5 * t * t, 0 * t, 0 * t])  # -1 m/s^2: 6 m/s after 2 s, not hard
    cases = [change(base, speed=0.0, future=moving_off), change(base, speed=0.0, future=standing),
             change(base, speed=8.0, future=cruising), change(base, speed=8.0, future=speeding),
             change(base, speed=8.0, future=braking), change(base, speed=8.0, future=gently)]
    assert oversampling(cases, 1, 1) is None and oversampling(cases, 1, 1, 1) is None
    assert oversampling(cases, 4, 2).tolist() == [0, 0, 0, 0, 1, 2, 3, 3, 4, 5]
    assert oversampling(cases, 1, 1, 3).tolist() == [0, 1, 2, 3, 4, 4, 4, 5]  # 8 -> ~2 m/s in 2 s: hard


def test_acceleration_input_off_zeroes_it_in_the_ego_state(samples):
    from dataclasses import replace as change

    from cordillera.model import ModelConfig
    from cordillera.model.action_space import ActionStats
    from cordillera.model.processor import Processor
    from cordillera.model.tokenizer import train_tokenizer

    tiny = ModelConfig.tiny()
    off = change(tiny, prompt=change(tiny.prompt, acceleration_input=False))
    tokenizer = train_tokenizer(["continue straight", "turn left in 40 m"], tiny.backbone.vocab_size,
                                tiny.rig.camera_vocabulary, 1)
    sample = change(samples[0], acceleration=2.0)
    on_state = Processor(tiny, tokenizer, ActionStats()).collate([sample]).ego_state
    off_state = Processor(off, tokenizer, ActionStats()).collate([sample]).ego_state
    assert on_state[0, 1] != 0 and off_state[0, 1] == 0 and off_state[0, 0] == on_state[0, 0]


def test_statistics_of_unclipped_targets_are_refused(samples):
    from cordillera.model.action_space import ActionStats
    from cordillera.train.data import DataError, action_stats

    class Old(list):
        stats = ActionStats(mean=(-0.14, 0.006), std=(2.08, 0.43))  # train-v1 before clipping

    class New(list):
        stats = ActionStats(mean=(-0.12, -0.003), std=(0.93, 0.046))

    with pytest.raises(DataError, match="curvature std of 0.43"):
        action_stats(Old(samples))
    assert action_stats(New(samples)).std == (0.93, 0.046)


def test_qa_pairs_keep_a_fixed_subset_per_sample_and_reach_the_tokenizer(samples):
    from dataclasses import replace as change

    from cordillera.train.data import SampleView, text_corpus

    pairs = tuple((f"question {k}?", f"answer number {k}") for k in range(5))
    rich = [change(sample, qa=pairs) for sample in samples[:6]]
    assert all(view.qa == () for view in SampleView(rich))  # off by default
    view = SampleView(rich, qa_pairs=2)
    kept = [view[i].qa for i in range(len(rich))]
    assert all(len(qa) == 2 and set(qa) <= set(pairs) for qa in kept)
    assert kept == [view[i].qa for i in range(len(rich))]  # the same subset every time it is read
    assert len(set(kept)) > 1  # and not the same subset for every sample
    repeated = SampleView(rich, qa_pairs=2, index=np.array([3, 3, 0]))
    assert repeated[0].qa == repeated[1].qa == kept[3] and repeated[2].qa == kept[0]
    assert "answer number 4" not in text_corpus(rich)
    assert "answer number 4" in text_corpus(rich, qa=True) and "question 0?" in text_corpus(rich, qa=True)


def test_augmentation_changes_the_images_only_and_repeats_for_a_seed(samples):
    from cordillera.train.augment import photometric

    images = torch.from_numpy(np.stack([f[-1] for s in samples[:3] for f in s.cameras.values()])).permute(0, 3, 1, 2)
    a = photometric(images, torch.Generator().manual_seed(1))
    assert a.dtype == torch.uint8 and a.shape == images.shape and not torch.equal(a, images)
    assert torch.equal(a, photometric(images, torch.Generator().manual_seed(1)))
    assert not torch.equal(a, photometric(images, torch.Generator().manual_seed(2)))
    # photometric only: a dark square on a bright field stays where it was
    field = torch.full((1, 3, 32, 64), 200, dtype=torch.uint8)
    field[..., 8:16, 20:30] = 30
    out = photometric(field, torch.Generator().manual_seed(0)).float().mean(1)[0]
    assert out[8:16, 20:30].mean() < 0.5 * out[20:, :].mean()
    with pytest.raises(ValueError, match="uint8"):
        photometric(images.float(), torch.Generator())


def test_init_fine_tunes_from_a_checkpoint_keeping_its_vocabulary_and_statistics(tmp_path, samples, val_samples):
    from cordillera.model.checkpoint import weights_digest

    base = train(tiny_train_config(3), samples, val_samples, tmp_path / "base", progress=False).final
    other = make_samples(16, seed=7)  # other texts and futures: a fresh run would get another tokenizer and stats
    steps_seen = []
    tuned = train(tiny_train_config(2, optim=OptimConfig(lr=1e-9, warmup_steps=1)), other, val_samples,
                  tmp_path / "tuned", progress=False, init=base, on_step=lambda s, _: steps_seen.append(s)).final
    assert steps_seen == [1, 2]
    start, end = CordilleraVLA.from_pretrained(base), CordilleraVLA.from_pretrained(tuned)
    assert (tuned / "tokenizer.json").read_text() == (base / "tokenizer.json").read_text()
    assert end.stats == start.stats
    a, b = _weights(base), _weights(tuned)
    assert set(a) == set(b)
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5  # started from the checkpoint (lr ~ 0)
    identity = json.loads((tmp_path / "tuned" / "run.json").read_text())
    assert identity["init"] == {"checkpoint": str(base), "weights_sha256": weights_digest(base)}
    # a fresh run on the same data starts elsewhere
    fresh = _weights(train(tiny_train_config(2), other, val_samples, tmp_path / "fresh", progress=False).final)
    assert max(float((a[k] - fresh[k]).abs().max()) for k in a) > 1e-2


def test_init_from_a_checkpoint_of_another_model_is_refused_before_any_step(tmp_path, samples, val_samples):
    base = train(tiny_train_config(3), samples, val_samples, tmp_path / "base", progress=False).final
    config = tiny_train_config(2)
    wider = replace(config, model=replace(config.model, expert=replace(config.model.expert,
                                                                 hidden_size=2 * config.model.expert.hidden_size)))
    steps = []
    with pytest.raises(TrainError, match=r"--init .*model config differs.*expert\.hidden_size"):
        train(wider, samples, val_samples, tmp_path / "wider", progress=False, init=base,
              on_step=lambda s, _: steps.append(s))
    with pytest.raises(TrainError, match="--init: checkpoint directory not found"):
        train(config, samples, val_samples, tmp_path / "missing", progress=False, init=tmp_path / "nowhere")
    assert steps == []


def test_true_facts_teach_the_expert_to_read_the_perception_inputs(tmp_path):
    """Futures that depend only on a fact the images do not show (a stopped car ahead: brake; none: keep the
    speed): trained with true facts, the expert's flow loss is lower with the right facts than the wrong ones."""
    config = tiny_train_config(60, optim=OptimConfig(lr=3e-3, warmup_steps=5))
    model_config = replace(config.model, perception=PerceptionConfig(enabled=True, queries=2, hidden_size=16,
                                                                     to_expert=True))
    stages = (replace(config.stages[0], true_facts=1.0),)
    config = replace(config, model=model_config, stages=stages, data=replace(config.data, qa_pairs=1))
    stopped = (("What is the vehicle ahead doing?", "The car 8 m ahead in our lane is stopped (0.0 m/s)."),)
    clear = (("What is the vehicle ahead doing?", "There is no vehicle ahead in our lane."),)
    t = 0.1 * np.arange(1, 65)

    def scene(sample, lead: bool):
        v = sample.speed
        s = np.minimum(v * t - 0.5 * 6.0 * t * t, v * v / 12.0) if lead else v * t  # 6 m/s^2 to a stop
        s = np.where(t < v / 6.0, s, v * v / 12.0) if lead else s
        future = np.column_stack([s, np.zeros(64), np.zeros(64)])
        return replace(sample, future=future, route_waypoints=np.column_stack([2.0 * np.arange(1, 21), np.zeros(20)]),
                       qa=stopped if lead else clear, reasoning=None)

    base = make_samples(32, seed=3, config=model_config)
    samples = [scene(s, i % 2 == 0) for i, s in enumerate(base)]
    result = train(config, samples, None, tmp_path / "run", progress=False)
    model = CordilleraVLA.from_pretrained(result.final)
    probe = [scene(s, i % 2 == 0) for i, s in enumerate(make_samples(8, seed=4, config=model_config))]
    flipped = [replace(p, qa=clear if p.qa == stopped else stopped) for p in probe]
    everyone = torch.ones(len(probe), dtype=torch.bool)

    def flow(samples) -> float:
        batch = model.processor.collate(samples, targets=True)
        batch = replace(batch, actions=model.processor.collate(probe, targets=True).actions)  # the true futures
        with torch.no_grad():
            return float(model.loss(batch, torch.Generator().manual_seed(0), flow_samples=8,
                                    true_facts=everyone)["flow"])

    assert flow(probe) < 0.7 * flow(flipped)


def _untrained_model(config, samples) -> CordilleraVLA:
    """A randomly initialised model of `config` with a tokenizer fitted to the samples' texts."""
    texts = [s.reasoning or "" for s in samples] + [s.navigation for s in samples]
    torch.manual_seed(0)
    return CordilleraVLA(config.model, train_tokenizer(texts, config.model.backbone.vocab_size,
                                                       config.model.rig.camera_vocabulary))


def test_the_objective_adds_the_speed_term_with_its_weight():
    samples = make_samples(4, seed=5)
    model = _untrained_model(tiny_train_config(1), samples)
    batch = model.processor.collate(samples, targets=True)
    losses = {k: v.detach() for k, v in model.loss(batch, torch.Generator().manual_seed(1)).items()}
    assert float(losses["speed"]) > 0
    assert float(losses["total"]) == pytest.approx(sum(float(losses[k]) for k in ("text", "gate", "flow", "perception")))
    with torch.no_grad():
        weighted = Objective(model)(batch, torch.Generator().manual_seed(1), ("flow", "speed"), False, 1, 0.25)
        plain = Objective(model)(batch, torch.Generator().manual_seed(1), ("flow",), False, 1, 0.25)
    assert float(weighted["total"]) == pytest.approx(float(losses["flow"]) + 0.25 * float(losses["speed"]), rel=1e-5)
    assert float(weighted["speed"]) == pytest.approx(float(losses["speed"]), rel=1e-5)  # logged unweighted
    assert float(plain["total"]) == pytest.approx(float(losses["flow"]), rel=1e-5)


def test_validation_reports_the_braking_response_of_hard_braking_samples():
    config = tiny_train_config(1)
    t = 0.1 * np.arange(1, 65)
    stop = np.column_stack([np.minimum(12.0 * t - 1.5 * t * t, 24.0), np.zeros(64), np.zeros(64)])  # 3 m/s^2
    samples = [replace(s, speed=12.0, future=stop if i < 2 else s.future) for i, s in enumerate(make_samples(4))]
    val = _validate(_untrained_model(config, samples), config, samples, step=0)
    # an untrained expert plans about constant speed: it reproduces little of the 6.15 m/s slowdown
    assert np.isfinite(val["braking_response"]) and val["braking_response"] < 0.5
    assert val["speed_error@2s"] > 0
