"""The whole model: generation modes, camera rigs, reproducibility, the expert conditioned on the reasoning,
discrete trajectory tokens, and overfitting a handful of samples."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
import torch

from cordillera.model.action_space import actions_to_trajectory
from cordillera.model.config import ActionConfig
from cordillera.model.expert import integrate


def generate(model, samples, seed=0, **kwargs):
    return model.generate(model.processor.collate(samples), generator=torch.Generator().manual_seed(seed), **kwargs)


@pytest.mark.parametrize("mode", ["always", "never", "auto"])
def test_generate_shapes(make_model, make_sample, mode):
    model = make_model()
    out = generate(model, [make_sample(0), make_sample(1)], mode=mode, num_samples=3, max_reasoning_tokens=6)
    assert out.poses.shape == (2, 3, 64, 3) and out.actions.shape == (2, 3, 64, 2)
    assert np.all(np.isfinite(out.poses)) and out.gate_probability.shape == (2,)
    assert set(out.timings) == {"vision", "prefill", "generation", "expert"}
    if mode == "always":
        assert all(isinstance(t, str) for t in out.reasoning) and all(0 < n <= 6 for n in out.reasoning_tokens)
    if mode == "never":
        assert out.reasoning == [None, None] and out.reasoning_tokens == [0, 0]
    if mode == "auto":
        expected = out.gate_probability >= model.config.prompt.gate_threshold
        assert [t is not None for t in out.reasoning] == expected.tolist()


@pytest.mark.parametrize("cameras", [1, 4, 7])
def test_rigs_with_1_4_7_cameras(make_model, make_sample, all_cameras, cameras):
    model = make_model()
    out = generate(model, [make_sample(cameras=all_cameras[:cameras])], mode="always", num_samples=2,
                   max_reasoning_tokens=4)
    assert out.poses.shape == (1, 2, 64, 3) and np.all(np.isfinite(out.poses))


@pytest.mark.parametrize("prefill_dtype", ["float32", "bfloat16"])
def test_mixed_rigs_in_one_batch_match_single_prompts(make_model, make_sample, all_cameras, tiny_config,
                                                      prefill_dtype):
    """Left padding and finished sequences are masked: a prompt's greedy reasoning and gate do not depend on
    what else is in the batch. With bfloat16 prompt products a batch (more rows) may take them where a
    prompt alone (fewer than WIDE_MIN_ROWS rows) does not: equal up to that rounding."""
    model = make_model(replace(tiny_config, backbone=replace(tiny_config.backbone, prefill_dtype=prefill_dtype)))
    samples = [make_sample(0, cameras=all_cameras[:1]), make_sample(1, cameras=all_cameras[:5])]
    together = generate(model, samples, mode="always", temperature=0.0, max_reasoning_tokens=5)
    for i, sample in enumerate(samples):
        alone = generate(model, [sample], mode="always", temperature=0.0, max_reasoning_tokens=5)
        np.testing.assert_allclose(alone.gate_probability[0], together.gate_probability[i],
                                   atol=1e-5 if prefill_dtype == "float32" else 2e-3)
        if prefill_dtype == "float32":
            assert alone.reasoning[0] == together.reasoning[i]


def test_reproducible_for_a_seed(make_model, make_sample):
    model = make_model()
    samples = [make_sample(0)]
    a = generate(model, samples, seed=7, mode="always", num_samples=2, max_reasoning_tokens=8)
    b = generate(model, samples, seed=7, mode="always", num_samples=2, max_reasoning_tokens=8)
    c = generate(model, samples, seed=8, mode="always", num_samples=2, max_reasoning_tokens=8)
    assert a.reasoning == b.reasoning
    np.testing.assert_array_equal(a.poses, b.poses)
    assert not np.array_equal(a.poses, c.poses)


def test_poses_integrate_actions_from_the_current_speed(make_model, make_sample):
    model = make_model()
    out = generate(model, [make_sample(speed=12.0)], mode="never", num_samples=2)
    np.testing.assert_allclose(out.poses[0], actions_to_trajectory(out.actions[0], 12.0), atol=1e-9)


def test_changing_the_reasoning_changes_the_trajectory(make_model, make_sample):
    model = make_model()
    torch.nn.init.normal_(model.expert.out_proj.weight, std=0.5)  # zero at init
    noise = torch.randn(1, 64, 2, generator=torch.Generator().manual_seed(0))
    results = []
    for text in ["Yield to the pedestrian crossing ahead", "Stop for the red light at the intersection"]:
        batch = model.processor.collate([make_sample(0, reasoning=text)], targets=True)
        with torch.no_grad():
            _, cache = model.teacher_forced(batch)
        results.append(integrate(model.expert, cache, model.backbone.rope, noise, steps=4))
    assert (results[0] - results[1]).abs().max() > 1e-3


def test_discrete_trajectory_tokens(make_model, make_sample, tiny_config):
    config = replace(tiny_config, action=ActionConfig(discrete_tokens=True, token_bins=32))
    model = make_model(config)
    assert model.backbone.lm_head.weight.shape[0] == config.backbone.vocab_size + 32
    batch = model.processor.collate([make_sample(0, reasoning="Stop for the red light")], targets=True)
    traj = batch.input_ids[0] >= config.backbone.vocab_size
    assert int(traj.sum()) == 128 and batch.labels[0, traj].ge(config.backbone.vocab_size).all()
    assert torch.isfinite(model.loss(batch)["total"])
    out = generate(model, [make_sample(0)], mode="always", num_samples=2, trajectory="tokens", max_reasoning_tokens=3)
    assert out.poses.shape == (1, 2, 64, 3)
    with pytest.raises(ValueError, match="discrete_tokens"):
        generate(make_model(), [make_sample(0)], trajectory="tokens")


def test_bad_arguments(make_model, make_sample):
    model = make_model()
    with pytest.raises(ValueError, match="mode"):
        generate(model, [make_sample(0)], mode="sometimes")
    with pytest.raises(ValueError, match="num_samples"):
        generate(model, [make_sample(0)], num_samples=0)
    with pytest.raises(ValueError, match="targets"):
        model.loss(model.processor.collate([make_sample(0)]))


def test_overfits_a_handful_of_samples(make_model, make_sample, all_cameras):
    """Two layers learn four moments: each reasoning text back exactly (greedy), the gate, and the
    trajectory to well under a metre of average error."""
    torch.manual_seed(0)
    model = make_model()
    texts = ["Yield to the pedestrian crossing ahead", "Stop for the red light at the intersection", None,
             "Nudge left around the parked truck"]
    samples = []
    for i, text in enumerate(texts):
        speed = 3.0 + 2.0 * i  # paths of 19 to 58 m
        actions = np.stack([np.full(64, [-0.6, 0.4, 0.0, -1.0][i]), np.full(64, [0.0, 0.01, -0.02, 0.005][i])], -1)
        samples.append(make_sample(i, cameras=all_cameras[:2], reasoning=text, speed=speed,
                                   future=actions_to_trajectory(actions, speed)))
    batch = model.processor.collate(samples, targets=True)
    steps = 160
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=5e-3, total_steps=steps, pct_start=0.15)
    generator = torch.Generator().manual_seed(0)
    model.train()
    start = time.perf_counter()
    for _ in range(steps):
        loss = model.loss(batch, generator, flow_samples=8)
        optimizer.zero_grad()
        loss["total"].backward()
        optimizer.step()
        schedule.step()
    model.eval()
    elapsed = time.perf_counter() - start
    out = generate(model, [replace(s, future=None, reasoning=None) for s in samples], mode="auto", num_samples=4,
                   temperature=0.0)
    assert out.reasoning == texts, f"after {elapsed:.0f} s: {out.reasoning}"
    truth = np.stack([s.future for s in samples])[:, None, :, :2]
    ade = np.linalg.norm(out.poses[..., :2] - truth, axis=-1).mean(axis=(1, 2))
    assert ade.max() < 1.0, f"ADE per sample {ade} m after {elapsed:.0f} s"


@pytest.mark.parametrize("mode", ["always", "auto"])
def test_one_prompt_writes_what_the_batch_loop_writes(make_model, make_sample, tiny_config, mode, monkeypatch):
    """A single prompt's reasoning takes the loop without per-sequence state (`_write_one`): same tokens, same
    random draws, same cache and so the same trajectories as the batch loop, whether the text ends by
    <|cot_end|> or at the length limit."""
    config = replace(tiny_config, prompt=replace(tiny_config.prompt, gate_threshold=0.0))  # auto reasons too
    model = make_model(config)
    logits = model.backbone.decode_logits
    cot_end = model.processor.ids["cot_end"]

    def likely_end(hidden, weights):  # <|cot_end|> likely enough that some texts end before the limit
        out = logits(hidden, weights)
        out[..., cot_end] += 2.0
        return out
    monkeypatch.setattr(model.backbone, "decode_logits", likely_end)
    fast = [generate(model, [make_sample(seed)], seed=seed, mode=mode, num_samples=2, temperature=1.0,
                     max_reasoning_tokens=12) for seed in range(6)]
    ends = {out.reasoning_tokens[0] < 12 for out in fast}

    def batch_loop(cache, start_hidden, last_hidden, temperature, top_p, generator, limit):
        return model._write_reasoning(cache, torch.ones(1, dtype=torch.bool), start_hidden, last_hidden,
                                      temperature, top_p, generator, limit)[0]
    monkeypatch.setattr(model, "_write_one", batch_loop)
    for seed, one in enumerate(fast):
        loop = generate(model, [make_sample(seed)], seed=seed, mode=mode, num_samples=2, temperature=1.0,
                        max_reasoning_tokens=12)
        assert one.reasoning == loop.reasoning and one.reasoning_tokens == loop.reasoning_tokens
        np.testing.assert_array_equal(one.poses, loop.poses)
    assert ends == {True, False}, "both endings covered"
