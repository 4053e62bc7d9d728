"""GRPO: advantages, the clipped objective, the expert's Gaussian chain, one update on a tiny model, resume, CLI."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from cordillera.cli import main
from cordillera.model import CordilleraVLA, ModelConfig, train_tokenizer
from cordillera.model.config import ConfigError
from cordillera.model.policy import model_rig
from cordillera.train.rewards import RewardConfig
from cordillera.train.rl import RLError, rl
from cordillera.train.rl_closed_loop import ClosedLoopConfig, run_episodes
from cordillera.train.rl_config import RLConfig, RLConfigError, RLOptimConfig, load_rl_config
from cordillera.train.rl_policy import (GRPOConfig, clipped_objective, expert_logprobs, gaussian_logprob,
                                        group_advantages, grpo_loss, sample_group, sde_sigmas, sde_step_mean,
                                        token_logprobs)
from cordillera.train.rl_prompts import PromptSourceConfig

from .conftest import NAVIGATION, REASONING, make_samples


@pytest.fixture(scope="module")
def tiny_model() -> CordilleraVLA:
    config = ModelConfig.tiny()
    tokenizer = train_tokenizer(REASONING * 3 + NAVIGATION * 3, config.backbone.vocab_size,
                                config.rig.camera_vocabulary)
    torch.manual_seed(0)
    return CordilleraVLA(config, tokenizer)


@pytest.fixture(scope="module")
def checkpoint(tiny_model, tmp_path_factory):
    return tiny_model.save_pretrained(tmp_path_factory.mktemp("rl") / "sft")


def small_config(steps: int = 2, **changes) -> RLConfig:
    """Lane-follower moments early in train-suite scenarios; no gates, so rewards differ within a group."""
    base = dict(
        steps=steps, prompts_per_step=1, pool_size=2, checkpoint_every=1, seed=3,
        grpo=GRPOConfig(group_size=3, max_reasoning_tokens=6, kl_beta=0.1),
        rewards=RewardConfig(gate_on_collision=False, gate_on_offroad=False, gate_on_imitation=False, horizon_s=2.0),
        prompts=PromptSourceConfig(driver="lane_follower", min_time_s=0.3, max_time_s=0.6, critical_objects=False),
        optim=RLOptimConfig(lr=1e-3))
    base.update(changes)
    return RLConfig(**base)


def test_group_advantages_by_hand():
    adv = group_advantages([1.0, 0.0, 0.0, -1.0], eps=0.0)
    np.testing.assert_allclose(adv, [math.sqrt(2), 0.0, 0.0, -math.sqrt(2)])  # mean 0, std sqrt(1/2)
    np.testing.assert_allclose(group_advantages([0.3, 0.3, 0.3]), 0.0)  # no signal in an equal group


def test_clipped_objective_gradient_sign_and_clip():
    logp = torch.zeros(4, requires_grad=True)
    old = torch.tensor([0.0, 0.0, math.log(2.0), -math.log(2.0)])  # ratios 1, 1, 0.5, 2
    adv = torch.tensor([1.0, -1.0, -1.0, 1.0])
    surrogate, clipped = clipped_objective(logp, old, adv, 0.2, 0.28)
    surrogate.sum().backward()
    assert logp.grad[0] > 0 and logp.grad[1] < 0  # ascend: raise good, lower bad completions
    assert logp.grad[2] == 0 and logp.grad[3] == 0  # outside the trust region: no push further
    assert clipped.tolist() == [False, False, True, True]
    # a ratio below 1 - clip_low with a positive advantage is not clipped: the loss still pulls it back
    logp2 = torch.zeros(1, requires_grad=True)
    surrogate, clipped = clipped_objective(logp2, torch.tensor([math.log(2.0)]), torch.tensor([1.0]), 0.2, 0.28)
    surrogate.sum().backward()
    assert logp2.grad[0] > 0 and not clipped[0]


def test_sde_step_mean_and_gaussian_logprob_by_hand():
    x = torch.ones(1, 1, 2)
    # t = 0.5, v = 2: score = -(1 - 0.5 * 2) / 0.5 = 0, mean = x + v dt = 1 + 2 * 0.5
    mean = sde_step_mean(x, torch.full((1, 1, 2), 2.0), torch.tensor([0.5]), torch.tensor([1.0]), 0.5)
    np.testing.assert_allclose(mean.numpy(), 2.0)
    # t = 0, v = 0, sigma = 1, dt = 1: score = -x, mean = x - x / 2
    mean = sde_step_mean(x, torch.zeros(1, 1, 2), torch.tensor([0.0]), torch.tensor([1.0]), 1.0)
    np.testing.assert_allclose(mean.numpy(), 0.5)
    # two dimensions, std 0.5, x - mean = (0.5, -1): -0.5 (1 + 4) - 2 log 0.5 - log 2 pi
    logp = gaussian_logprob(torch.tensor([[[1.0, -0.5]]]), torch.tensor([[[0.5, 0.5]]]), torch.tensor([0.5]))
    assert float(logp) == pytest.approx(-2.5 - 2 * math.log(0.5) - math.log(2 * math.pi))
    times, sigmas = sde_sigmas(4, 0.5)
    np.testing.assert_allclose(times.numpy(), [0, 0.25, 0.5, 0.75])
    np.testing.assert_allclose(sigmas.numpy(), 0.5 * np.sqrt([1, 0.75, 0.5, 0.25]), rtol=1e-6)


def test_expert_chain_is_a_gaussian_chain_one_step(tiny_model):
    sample = make_samples(1)[0]
    group = sample_group(tiny_model, sample, 2, GRPOConfig(group_size=2, euler_steps=1, max_reasoning_tokens=4),
                         torch.Generator().manual_seed(0))
    assert group.states.shape == (2, 2, 64, 2)
    with torch.no_grad():
        _, cache = token_logprobs(tiny_model, group.batch, group.prefix_length, 1.0)
        x0, x1 = group.states[:, 0], group.states[:, 1]
        velocity = tiny_model.expert(x0, torch.zeros(2), cache, tiny_model.backbone.rope)
        sigma = 0.5  # noise 0.5 * sqrt(1 - 0), dt = 1
        mean = x0 + (velocity - 0.5 * sigma ** 2 * x0)  # score at t = 0 is -x
        by_hand = torch.distributions.Normal(mean, sigma).log_prob(x1).flatten(1).sum(1)
        logp, _ = expert_logprobs(tiny_model, cache, group.states, group.times, group.sigmas)
    np.testing.assert_allclose(logp[:, 0].numpy(), by_hand.numpy(), rtol=1e-5)
    np.testing.assert_allclose(group.old_step_logprobs.numpy(), logp.numpy(), rtol=1e-5)  # ratio 1 at sampling


def _completion_logprobs(model, group) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        logp, cache = token_logprobs(model, group.batch, group.prefix_length, 1.0)
        steps, _ = expert_logprobs(model, cache, group.states, group.times, group.sigmas)
    return (logp * group.action_mask).sum(1), steps.sum(1)


def test_one_rl_step_raises_the_probability_of_the_better_completion(tiny_model):
    model = CordilleraVLA(tiny_model.config, tiny_model.tokenizer)
    model.load_state_dict(tiny_model.state_dict())
    config = GRPOConfig(group_size=4, max_reasoning_tokens=6)
    group = sample_group(model, make_samples(1)[0], 4, config, torch.Generator().manual_seed(1))
    advantages = group_advantages([1.0, 0.0, 0.0, 0.0])
    text_before, expert_before = _completion_logprobs(model, group)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)  # a small step: first order
    losses = grpo_loss(model, group, advantages, config)
    assert float(losses["clip_text"]) == 0.0 and float(losses["clip_expert"]) == 0.0  # on-policy: ratio 1
    losses["total"].backward()
    optimizer.step()
    text_after, expert_after = _completion_logprobs(model, group)
    assert text_after[0] > text_before[0]
    assert expert_after[0] > expert_before[0]
    assert (text_after[0] - text_before[0]) > (text_after[1:] - text_before[1:]).max()


def test_rl_run_resumes_to_the_same_weights(checkpoint, tmp_path):
    config = small_config(steps=2, eval_prompts=1, eval_every=1)
    whole = rl(config, checkpoint, tmp_path / "whole", progress=False)
    assert whole.final is not None and whole.step == 2
    records = [json.loads(x) for x in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    lines = [x for x in records if x["split"] == "train"]
    evals = [x for x in records if x["split"] == "eval"]
    assert [x["step"] for x in lines] == [1, 2] and [x["step"] for x in evals] == [0, 1, 2]
    assert evals[0]["suite"] == "val" and "reward/consistency" in evals[0]
    assert all(x["grad_norm"] > 0 and x["reward/std"] > 0 for x in lines)  # the weights really moved
    first = rl(config, checkpoint, tmp_path / "split", progress=False, stop_at_step=1)
    assert first.final is None and first.step == 1
    second = rl(config, checkpoint, tmp_path / "split", progress=False, resume=True)
    assert second.step == 2
    a = CordilleraVLA.from_pretrained(whole.final).state_dict()
    b = CordilleraVLA.from_pretrained(second.final).state_dict()
    sft = CordilleraVLA.from_pretrained(checkpoint).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    split = [json.loads(x) for x in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    same = [x for x in split if x["split"] == "eval"]
    assert [x["reward/mean"] for x in same] == [x["reward/mean"] for x in evals]  # fixed held-out noise
    assert any(not torch.equal(a[k], sft[k]) for k in a)
    with pytest.raises(RLError, match="already holds"):
        rl(config, checkpoint, tmp_path / "whole", progress=False)
    with pytest.raises(RLError, match=r"different run: rl_config.seed \(3 in the run, 4 now\)"):
        rl(small_config(steps=2, seed=4, eval_prompts=1, eval_every=1), checkpoint, tmp_path / "whole", progress=False,
           resume=True)


def test_cli_end_to_end_and_clear_errors(checkpoint, tmp_path, capsys):
    doc = small_config().to_dict()
    doc["steps"] = 5
    (tmp_path / "rl.json").write_text(json.dumps(doc))
    code = main(["rl", "--checkpoint", str(checkpoint), "--suite", "train", "--out", str(tmp_path / "run"),
                 "--config", str(tmp_path / "rl.json"), "--steps", "2", "--no-progress"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["step"] == 2 and "reward/mean" in summary["last"]
    CordilleraVLA.from_pretrained(summary["final"])
    assert json.loads((tmp_path / "run" / "run.json").read_text())["rl_config"]["steps"] == 2

    def error(argv) -> str:
        assert main(argv) == 2
        return capsys.readouterr().err

    (tmp_path / "bad.json").write_text(json.dumps({"grpo": {"group_sizes": 4}}))
    assert "group_sizes" in error(["rl", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "x"),
                                   "--config", str(tmp_path / "bad.json")])
    assert "checkpoint" in error(["rl", "--checkpoint", str(tmp_path / "missing"), "--out", str(tmp_path / "y")])
    assert "unknown suite" in error(["rl", "--checkpoint", str(checkpoint), "--suite", "nope",
                                     "--out", str(tmp_path / "z")])
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_rl_config_round_trip_and_unknown_keys(tmp_path):
    config = small_config()
    assert RLConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(RLConfigError, match="unknown key 'stpes'"):
        RLConfig.from_dict({"stpes": 3})
    with pytest.raises(RLConfigError, match="group_size"):
        RLConfig.from_dict({"grpo": {"group_size": 1}})
    (tmp_path / "c.yaml").write_text("rewards:\n  safety: 2.0\n")
    assert load_rl_config(tmp_path / "c.yaml").rewards.safety == 2.0


def test_closed_loop_episodes_replan_and_share_the_outcome(tiny_model, checkpoint, tmp_path):
    from cordillera.train.rl import PromptSource

    config = small_config(steps=1, closed_loop=ClosedLoopConfig(enabled=True, duration_s=2.0, replan_hz=1.0))
    prompt = PromptSource(config, (model_rig(tiny_model.config.rig),)).get(0, 0)
    episodes = run_episodes(tiny_model, prompt, config.grpo, config.rewards, config.closed_loop,
                            torch.Generator().manual_seed(0))
    assert len(episodes) == config.grpo.group_size
    assert all(len(e.decisions) == 2 for e in episodes)  # 2 s at 1 Hz
    assert all(e.reward.details["decisions"] == 2 for e in episodes)
    assert len({round(e.reward.total, 9) for e in episodes}) > 1  # the sampled driving differs
    silent = run_episodes(tiny_model, prompt, replace(config.grpo, reasoning="never", group_size=2), config.rewards,
                          config.closed_loop, torch.Generator().manual_seed(0))
    assert all(d.texts == [None] for e in silent for d in e.decisions)
    assert all(e.reward.components["consistency"] is None for e in silent)  # nothing stated, nothing scored
    result = rl(config, checkpoint, tmp_path / "closed", progress=False)
    line = json.loads((tmp_path / "closed" / "metrics.jsonl").read_text().splitlines()[-1])
    assert result.final is not None and line["completions"] == config.grpo.group_size and line["grad_norm"] > 0


def test_teacher_prompt_carries_critical_objects_and_scores_grounding(tiny_model):
    from cordillera.train.rewards import score_completion, simulate_plan
    from cordillera.train.rl_prompts import make_prompt

    config = PromptSourceConfig(driver="teacher", min_time_s=2.0, max_time_s=3.0, critical_objects=True)
    prompt = make_prompt(config, RewardConfig(), (model_rig(tiny_model.config.rig),), seed=0, step=0, index=0)
    again = make_prompt(config, RewardConfig(), (model_rig(tiny_model.config.rig),), seed=0, step=0, index=0)
    assert (prompt.family, prompt.t, prompt.context.critical) == (again.family, again.t, again.context.critical)
    np.testing.assert_array_equal(prompt.context.teacher_poses, again.context.teacher_poses)
    assert isinstance(prompt.context.critical, frozenset) and prompt.context.teacher_poses.shape == (64, 3)
    assert set(prompt.sample.cameras) == set(tiny_model.config.rig.cameras)
    rig = tiny_model.config.rig  # drawn at the model's resolution, as the policy reads them
    assert {f.shape[1:3] for f in prompt.sample.cameras.values()} == {(rig.image_height, rig.image_width)}
    teacher = prompt.context.teacher_poses
    reward = score_completion(prompt.teacher_text, teacher, simulate_plan(prompt.state, teacher, 4.0), prompt.context,
                              RewardConfig())
    assert reward.components["grounding"] is not None and reward.components["imitation"] == 1.0


def _with_gate_threshold(model: CordilleraVLA, threshold: float) -> CordilleraVLA:
    config = replace(model.config, prompt=replace(model.config.prompt, gate_threshold=threshold))
    copy = CordilleraVLA(config, model.tokenizer)
    copy.load_state_dict(model.state_dict())
    return copy.eval()


def test_auto_reasoning_follows_the_models_gate_as_the_evaluated_policy_does(tiny_model):
    from cordillera.train.rl_policy import gate_opens

    sample = make_samples(1)[0]
    config = GRPOConfig(group_size=3, max_reasoning_tokens=5, reasoning="auto")
    prompt = tiny_model.processor.collate([sample])
    probability = float(tiny_model.generate(prompt, mode="never").gate_probability[0])
    shut, opens = _with_gate_threshold(tiny_model, min(1.0, probability + 0.01)), _with_gate_threshold(tiny_model, 0.0)
    assert not gate_opens(shut, prompt) and gate_opens(opens, prompt)
    assert gate_opens(_with_gate_threshold(tiny_model, probability - 1e-4), prompt)  # the same probability

    silent = sample_group(shut, sample, 3, config, torch.Generator().manual_seed(0))
    assert silent.texts == [None] * 3 and silent.token_ids == [[]] * 3 and not bool(silent.action_mask.any())
    ids = shut.processor.ids
    end = silent.prefix_length[0] - 1
    assert int(silent.batch.input_ids[0, end]) == ids["traj_future_start"]  # straight after the prompt
    assert int(silent.batch.input_ids[0, end - 1]) == ids["prompt_end"]
    losses = grpo_loss(shut, silent, group_advantages([1.0, 0.0, 0.0]), config)
    assert float(losses["text"].detach()) == 0.0 and losses["expert"].requires_grad  # the expert alone is trained
    spoken = sample_group(opens, sample, 3, config, torch.Generator().manual_seed(0))
    assert all(isinstance(t, str) for t in spoken.texts) and bool(spoken.action_mask.any())
    never = sample_group(opens, sample, 3, replace(config, reasoning="never"), torch.Generator().manual_seed(0))
    assert never.texts == [None] * 3
    with pytest.raises(ConfigError, match="GRPOConfig.reasoning must be one of always, never, auto"):
        GRPOConfig(reasoning="sometimes")

