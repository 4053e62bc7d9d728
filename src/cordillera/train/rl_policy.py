"""The VLA as an RL policy: sampled completions with tractable log-probabilities for both the reasoning
tokens and the flow-matching expert, and the GRPO objective over a group of them.

    >>> group = sample_group(model, sample, size=8, config=GRPOConfig(), generator=torch.Generator().manual_seed(0))
    >>> group.texts[0], group.poses.shape                        # "Yield to ...", (8, 64, 3) ego frame
    >>> advantages = group_advantages(rewards)                   # (8,) normalised within the group
    >>> losses = grpo_loss(model, group, advantages, GRPOConfig(), reference=sft_model)
    >>> losses["total"].backward()

A completion is the reasoning text and one trajectory conditioned on it. With `reasoning: always` every completion
writes a text (the prompt gets <|cot_start|> appended); with `auto` the model's own gate decides per prompt, at
its threshold, as the evaluated policy does (`CordilleraVLA.generate`): where it stays shut the G completions
are <|traj_future_start|> and a trajectory, with no token objective (the gate itself is not trained: sampling it
would pit completions with reasoning, whose texts are scored for consistency and grounding, against completions
without, which are not); `never` writes no text at all. Its probability factorises into
- the reasoning tokens: categorical at the sampling temperature over the text tokens and <|cot_end|> (nucleus
  truncation is off in RL, so the probability of a sampled token is exactly its softmax entry);
- the expert: the flow's deterministic Euler sampler replaced by an Euler-Maruyama discretisation of the SDE
  with the same marginals (Flow-GRPO): with t = 0 noise and t = 1 data, x_t = t x + (1 - t) eps, velocity v,
  score(x, t) = -(x - t v) / (1 - t), and
      x_{k+1} = x_k + [v + sigma_k^2 / 2 * score] dt + sigma_k sqrt(dt) z,   sigma_k = noise * sqrt(1 - t_k),
  so every step is a Gaussian with a mean the expert computes and a fixed variance: the log-probability of
  the chain is a sum of Gaussian log-densities, differentiable in the expert's parameters.
Log-probabilities are recomputed by a teacher-forced pass over the sampled sequence (float32, the training
path), so the importance ratio is exactly 1 before the first update of a batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from cordillera.model.backbone import PrefixCache
from cordillera.model.config import REASONING_MODES, ConfigError
from cordillera.model.processor import Batch, Sample
from cordillera.model.reasoning import sample_token

__all__ = ["GRPOConfig", "Group", "sample_group", "gate_opens", "token_logprobs", "sde_sigmas", "sde_step_mean",
           "gaussian_logprob", "expert_logprobs", "group_advantages", "clipped_objective", "grpo_loss"]


@dataclass(frozen=True)
class GRPOConfig:
    group_size: int = 8  # completions per prompt (Alpamayo: 12)
    reasoning: str = "always"  # always | auto (the model's gate at its threshold, per prompt) | never
    temperature: float = 1.0  # reasoning sampling temperature (the policy whose log-probs are optimised)
    max_reasoning_tokens: int | None = None  # None: the model's prompt.max_reasoning_tokens
    expert_noise: float = 0.5  # SDE noise level a: sigma_t = a sqrt(1 - t) (normalised action units)
    euler_steps: int | None = None  # SDE steps; None: the model's expert.euler_steps
    clip_low: float = 0.2  # DAPO asymmetric clip: ratio in [1 - clip_low, 1 + clip_high]
    clip_high: float = 0.28
    kl_beta: float = 0.0  # weight of the KL to the reference (SFT) model; Alpamayo uses 0
    text_weight: float = 1.0  # weight of the reasoning-token objective
    expert_weight: float = 1.0  # weight of the expert (SDE chain) objective; 0 = language path only
    detach_prefix: bool = True  # the expert's gradient stops at the backbone cache (Alpamayo stage 2)
    advantage_eps: float = 1e-4  # added to the group's reward std

    def __post_init__(self) -> None:
        if not isinstance(self.group_size, int) or self.group_size < 2:
            raise ConfigError(f"GRPOConfig.group_size must be an integer >= 2, got {self.group_size!r}")
        for name in ("temperature", "advantage_eps"):
            if not (isinstance(getattr(self, name), (int, float)) and getattr(self, name) > 0):
                raise ConfigError(f"GRPOConfig.{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("expert_noise", "clip_low", "clip_high", "kl_beta", "text_weight", "expert_weight"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                    and value >= 0):
                raise ConfigError(f"GRPOConfig.{name} must be a finite number >= 0, got {value!r}")
        if self.clip_low >= 1:
            raise ConfigError(f"GRPOConfig.clip_low must be < 1, got {self.clip_low}")
        if self.expert_weight > 0 and self.expert_noise <= 0:
            raise ConfigError("GRPOConfig.expert_noise must be > 0 when the expert is trained (expert_weight > 0)")
        for name in ("max_reasoning_tokens", "euler_steps"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"GRPOConfig.{name} must be a positive integer or null, got {value!r}")
        if not isinstance(self.detach_prefix, bool):
            raise ConfigError("GRPOConfig.detach_prefix must be true or false")
        if self.reasoning not in REASONING_MODES:
            raise ConfigError(f"GRPOConfig.reasoning must be one of {', '.join(REASONING_MODES)}, "
                              f"got {self.reasoning!r}")


@dataclass
class Group:
    """G completions of one prompt, with what the update needs.

    batch: the G sequences right-padded (prompt, <|cot_start|>, text, <|cot_end|>, <|traj_future_start|>);
    targets: (G, L - 1) next-token ids; action_mask: (G, L - 1) bool, the sampled reasoning tokens (text and
    <|cot_end|>) among the targets; old_token_logprobs: (G, L - 1) at sampling time; states: (G, N + 1, T, 2)
    the SDE chain from noise to normalised actions; times: (N,) flow time of each step; sigmas: (N,);
    old_step_logprobs: (G, N); texts, token_ids: the reasoning per completion (None and [] where none was
    written); poses: (G, T, 3) ego frame.
    """

    batch: Batch
    prefix_length: torch.Tensor
    targets: torch.Tensor
    action_mask: torch.Tensor
    old_token_logprobs: torch.Tensor
    states: torch.Tensor
    times: torch.Tensor
    sigmas: torch.Tensor
    old_step_logprobs: torch.Tensor
    texts: list[str | None]
    token_ids: list[list[int]]
    poses: np.ndarray

    @property
    def size(self) -> int:
        return len(self.texts)


# ---- reasoning ------------------------------------------------------------------------------------
@torch.no_grad()
def _sample_reasoning(model, batch: Batch, temperature: float, limit: int,
                      generator: torch.Generator | None) -> tuple[list[list[int]], list[bool]]:
    """Token ids of one reasoning per sequence of a prompt batch (no padding inside), ended by <|cot_end|>
    (included), and whether each was closed by the length limit rather than sampled."""
    ids = model.processor.ids
    backbone = model.backbone
    size = batch.size
    embeds = torch.cat([model.embed(batch), backbone.embed(torch.full((size, 1), ids["cot_start"]))], dim=1)
    mask = torch.cat([batch.attention_mask, batch.attention_mask.new_ones((size, 1))], dim=1)
    positions = torch.cat([batch.position_ids, batch.position_ids[:, -1:] + 1], dim=1)
    hidden, cache = backbone(embeds, mask, positions)
    hidden = hidden[:, -1]
    cache.reserve(limit + 1)
    weights = backbone.fuse(torch.float32)  # float32: sampling follows the distribution scored later
    texts: list[list[int]] = [[] for _ in range(size)]
    forced = [False] * size
    open_ = torch.ones(size, dtype=torch.bool)
    for step in range(limit + 1):
        logits = backbone.decode_logits(hidden, weights).masked_fill(~model.text_allowed, float("-inf"))
        tokens = sample_token(logits, temperature, 1.0, generator)
        for b in torch.nonzero(open_)[:, 0].tolist():
            token = int(tokens[b])
            if step == limit and token != ids["cot_end"]:
                token, forced[b] = ids["cot_end"], True
            texts[b].append(token)
            if token == ids["cot_end"]:
                open_[b] = False
        if not bool(open_.any()):
            break
        feed = torch.where(open_, tokens, torch.full_like(tokens, ids["pad"]))
        hidden = backbone.decode(backbone.embed(feed[:, None]), cache, open_[:, None], weights)[:, -1]
    return texts, forced


@torch.no_grad()
def gate_opens(model, prompt: Batch) -> bool:
    """Whether the model's reasoning gate opens on a one-prompt batch: P(<|cot_start|>) read at <|prompt_end|>
    against the model's `gate_threshold`, as `CordilleraVLA.generate` decides in `auto`."""
    hidden, _ = model.backbone.prefill(model.embed(prompt), prompt.attention_mask)  # generate's prompt pass
    return bool(model.gate_probability(hidden[:, -1])[0] >= model.config.prompt.gate_threshold)


def _sequences(model, prompt: Batch, texts: list[list[int] | None]) -> tuple[Batch, torch.Tensor]:
    """The right-padded full sequences of a group (identical prompts) and each one's prefix length; a text of
    None is a completion without reasoning (the prompt, then <|traj_future_start|>)."""
    ids = model.processor.ids
    prompt_ids = prompt.input_ids[0].tolist()
    rows = [prompt_ids + ([ids["traj_future_start"]] if text is None
                          else [ids["cot_start"], *text, ids["traj_future_start"]]) for text in texts]
    length = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), length), ids["pad"], dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.bool)
    for b, row in enumerate(rows):
        input_ids[b, : len(row)] = torch.tensor(row)
        mask[b, : len(row)] = True
    positions = (mask.long().cumsum(1) - 1).clamp(min=0)
    batch = Batch(input_ids, mask, positions, prompt.images, prompt.image_camera, prompt.image_age, prompt.history,
                  prompt.ego_state, prompt.route, prompt.v0)
    return batch, torch.tensor([len(r) for r in rows], dtype=torch.long)


def token_logprobs(model, batch: Batch, prefix_length: torch.Tensor, temperature: float,
                   detach_cache: bool = True) -> tuple[torch.Tensor, PrefixCache]:
    """Teacher-forced log-probabilities (G, L - 1) of every next token under the reasoning policy (text tokens
    and <|cot_end|> at `temperature`), and the prefix cache the expert attends to (valid up to each sequence's
    <|traj_future_start|>; detached when asked)."""
    embeds = model.embed(batch)
    hidden, cache = model.backbone(embeds, batch.attention_mask, batch.position_ids)
    logits = model.backbone.logits(hidden[:, :-1]).float() / temperature  # (G, L - 1, V)
    logits = logits.masked_fill(~model.text_allowed, float("-inf"))
    targets = batch.input_ids[:, 1:]
    logp = torch.log_softmax(logits, dim=-1).gather(-1, targets[..., None])[..., 0]
    logp = torch.where(model.text_allowed[targets], logp, torch.zeros_like(logp))  # -inf off the text vocabulary
    positions = torch.arange(batch.input_ids.shape[1])
    cache.valid = batch.attention_mask & (positions[None, :] < prefix_length[:, None])
    cache.next_position = prefix_length.clone()
    cache.condition = model.expert_condition(batch, embeds)
    return logp, cache.detach() if detach_cache else cache


# ---- expert ---------------------------------------------------------------------------------------
def sde_sigmas(steps: int, noise: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Flow times t_k = k / steps (k < steps) and noise levels sigma_k = noise sqrt(1 - t_k)."""
    times = torch.arange(steps, dtype=torch.float32) / steps
    return times, noise * torch.sqrt(1.0 - times)


def sde_step_mean(x: torch.Tensor, velocity: torch.Tensor, t: torch.Tensor, sigma: torch.Tensor,
                  dt: float) -> torch.Tensor:
    """Mean of the Euler-Maruyama step from x (B, T, 2) at flow times t (B,) with noise sigma (B,): the
    velocity plus the score correction that keeps the flow's marginals, score = -(x - t v) / (1 - t)."""
    t, sigma = t[:, None, None], sigma[:, None, None]
    score = -(x - t * velocity) / (1.0 - t)
    return x + (velocity + 0.5 * sigma ** 2 * score) * dt


def gaussian_logprob(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, std^2 I) summed over all but the first dimension; std (B,)."""
    dims = x[0].numel()
    std = std.to(x.dtype)
    sq = ((x - mean) ** 2).flatten(1).sum(1)
    return -0.5 * sq / std ** 2 - dims * torch.log(std) - 0.5 * dims * math.log(2.0 * math.pi)


@torch.no_grad()
def _sample_chain(model, cache: PrefixCache, steps: int, noise: float,
                  generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The SDE chain (G, N + 1, T, 2) from Gaussian noise, its times and sigmas (N,), step log-probs (G, N)."""
    size, horizon = cache.valid.shape[0], model.config.action.horizon
    times, sigmas = sde_sigmas(steps, noise)
    dt = 1.0 / steps
    x = torch.randn((size, horizon, 2), generator=generator)
    states, logps = [x], []
    for k in range(steps):
        t = times[k].expand(size)
        sigma = sigmas[k].expand(size)
        mean = sde_step_mean(x, model.expert(x, t, cache, model.backbone.rope), t, sigma, dt)
        std = sigma * math.sqrt(dt)
        x = mean + std[:, None, None] * torch.randn(mean.shape, generator=generator)
        states.append(x)
        logps.append(gaussian_logprob(x, mean, std))
    return torch.stack(states, 1), times, sigmas, torch.stack(logps, 1)


def expert_logprobs(model, cache: PrefixCache, states: torch.Tensor, times: torch.Tensor,
                    sigmas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities (G, N) of every step of the chains `states` (G, N + 1, T, 2) under the current expert,
    and the step means (G, N, T, 2). All G x N steps go through the expert as one batch."""
    size, steps = states.shape[0], states.shape[1] - 1
    dt = 1.0 / steps
    x = states[:, :-1].flatten(0, 1)  # (G N, T, 2), sequence-major
    t = times.repeat(size)
    sigma = sigmas.repeat(size)
    velocity = model.expert(x, t, cache.repeat(steps), model.backbone.rope)
    mean = sde_step_mean(x, velocity, t, sigma, dt)
    logp = gaussian_logprob(states[:, 1:].flatten(0, 1), mean, sigma * math.sqrt(dt))
    return logp.view(size, steps), mean.view(size, steps, *mean.shape[1:])


# ---- sampling a group -----------------------------------------------------------------------------
@torch.no_grad()
def sample_group(model, sample: Sample, size: int, config: GRPOConfig,
                 generator: torch.Generator | None = None) -> Group:
    """G = size completions of one prompt (see the module docstring), with their sampling-time log-probs."""
    prompt = model.processor.collate([sample] * size)
    limit = config.max_reasoning_tokens or model.config.prompt.max_reasoning_tokens
    reason = config.reasoning == "always" or (config.reasoning == "auto"
                                              and gate_opens(model, model.processor.collate([sample])))
    if reason:
        texts, forced = _sample_reasoning(model, prompt, config.temperature, limit, generator)
    else:
        texts, forced = [None] * size, [False] * size
    batch, prefix = _sequences(model, prompt, texts)
    logp, cache = token_logprobs(model, batch, prefix, config.temperature)
    targets = batch.input_ids[:, 1:]
    action_mask = torch.zeros_like(targets, dtype=torch.bool)
    start = prompt.input_ids.shape[1]  # index of <|cot_start|>; the text's first token is target index start
    for b, text in enumerate(texts):
        if text is not None:
            action_mask[b, start: start + len(text) - (1 if forced[b] else 0)] = True
    steps = config.euler_steps or model.config.expert.euler_steps
    states, times, sigmas, step_logps = _sample_chain(model, cache, steps, max(config.expert_noise, 1e-6), generator)
    actions = model.stats.denormalize(states[:, -1].double())
    _, poses = model.actions_to_poses(actions, batch.v0.double(), batch.route)
    tokenizer = model.tokenizer
    return Group(batch, prefix, targets, action_mask, logp, states, times, sigmas, step_logps,
                 [None if t is None else tokenizer.decode(t[:-1]) for t in texts],
                 [[] if t is None else t[:-1] for t in texts], poses.numpy())


# ---- objective ------------------------------------------------------------------------------------
def group_advantages(rewards, eps: float = 1e-4) -> np.ndarray:
    """GRPO advantages: (r - mean) / (std + eps) within the group (population std); all equal -> zeros."""
    r = np.asarray(rewards, dtype=np.float64)
    return (r - r.mean()) / (r.std() + eps)


def clipped_objective(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, clip_low: float,
                      clip_high: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-element PPO/DAPO surrogate to maximise, min(rho A, clip(rho, 1 - lo, 1 + hi) A), rho = exp(logp -
    old_logp), and whether the clip was active there (its gradient is zero)."""
    ratio = torch.exp(logp - old_logp)
    unclipped = ratio * advantages
    clipped = ratio.clamp(1.0 - clip_low, 1.0 + clip_high) * advantages
    return torch.minimum(unclipped, clipped), clipped < unclipped


def grpo_loss(model, group: Group, advantages, config: GRPOConfig, reference=None) -> dict[str, torch.Tensor]:
    """The GRPO loss of one group (to minimise) and its parts: "text" (token-level mean over the group's
    reasoning tokens, DAPO), "expert" (mean over completions and SDE steps), "kl_text" / "kl_expert" (to the
    reference model when kl_beta > 0: k3 estimator per token, closed-form Gaussian KL per step), clip
    fractions. total = text_weight * text + expert_weight * expert + kl_beta * (kl_text + kl_expert)."""
    adv = torch.as_tensor(np.asarray(advantages), dtype=torch.float32)
    logp, cache = token_logprobs(model, group.batch, group.prefix_length, config.temperature,
                                 detach_cache=config.detach_prefix)
    mask = group.action_mask
    surrogate, clipped = clipped_objective(logp, group.old_token_logprobs, adv[:, None].expand_as(logp),
                                           config.clip_low, config.clip_high)
    count = mask.sum().clamp(min=1)
    text = -(surrogate * mask).sum() / count
    zero = logp.new_zeros(())
    out = {"text": text, "clip_text": (clipped & mask).sum() / count}
    if config.expert_weight > 0:
        step_logp, means = expert_logprobs(model, cache, group.states, group.times, group.sigmas)
        surrogate, clipped = clipped_objective(step_logp, group.old_step_logprobs, adv[:, None].expand_as(step_logp),
                                               config.clip_low, config.clip_high)
        out["expert"] = -surrogate.mean()
        out["clip_expert"] = clipped.float().mean()
    else:
        out["expert"] = zero
    out["kl_text"] = out["kl_expert"] = zero
    if config.kl_beta > 0 and reference is not None:
        with torch.no_grad():
            ref_logp, ref_cache = token_logprobs(reference, group.batch, group.prefix_length, config.temperature)
        diff = (ref_logp - logp).masked_fill(~mask, 0.0)
        out["kl_text"] = ((torch.exp(diff) - diff - 1.0) * mask).sum() / count
        if config.expert_weight > 0:
            with torch.no_grad():
                _, ref_means = expert_logprobs(reference, ref_cache, group.states, group.times, group.sigmas)
            var = (group.sigmas ** 2 / (group.states.shape[1] - 1))[None, :]  # (1, N) step variance
            out["kl_expert"] = (((means - ref_means) ** 2).flatten(2).sum(-1) / (2.0 * var)).mean()
    out["total"] = (config.text_weight * text + config.expert_weight * out["expert"]
                    + config.kl_beta * (out["kl_text"] + out["kl_expert"]))
    return out
