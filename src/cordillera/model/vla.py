"""CordilleraVLA: cameras + ego history + route -> Chain-of-Causation text + 6.4 s trajectory.

    >>> from cordillera.model import CordilleraVLA, ModelConfig, train_tokenizer
    >>> model = CordilleraVLA(ModelConfig(), train_tokenizer(corpus, 2048))       # random init, from a config
    >>> batch = model.processor.collate(samples, targets=True)
    >>> losses = model.loss(batch)                                                # text, gate, flow, total
    >>> out = model.generate(model.processor.collate([sample]), mode="auto", num_samples=6,
    ...                      generator=torch.Generator().manual_seed(0))
    >>> out.poses.shape, out.reasoning[0]                                         # (1, 6, 64, 3), "Yield to ..."
    >>> model.save_pretrained("checkpoints/small"); CordilleraVLA.from_pretrained("checkpoints/small")

Decision path (`generate`): the vision and input encoders write their tokens into the prompt embedding;
the backbone prefills the prompt with one token appended: <|cot_start|> in "always" mode, else
<|traj_future_start|>. The logits at <|prompt_end|> are the reasoning gate (P(<|cot_start|>) against
P(<|traj_future_start|>)). Without reasoning the cache is then already what the expert needs, so no decode
step runs at all; with reasoning in "auto" mode the appended token is dropped, and the backbone writes the
text with its KV cache (`Backbone.decode`) until <|cot_end|>, then <|traj_future_start|>. The expert
integrates the flow for K noise samples per prompt against that cache: one reasoning text per prompt, K
trajectories conditioned on it. With `ExpertConfig.direct_inputs` the expert also reads the route, ego state
and ego history directly (`expert_inputs`, an MLP whose output every action token adds, carried in the
cache as `PrefixCache.condition`): geometry the trajectory must follow reaches it without passing through
attention over the whole prompt (docs/architecture.md, "Training").
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cordillera.model.action_space import (ACTION_LIMITS, ActionStats, actions_to_trajectory, clip_actions,
                                           tokens_to_actions)
from cordillera.model.route_frame import clip_route_actions, route_frame_poses
from cordillera.model.backbone import Backbone, PrefixCache
from cordillera.model.config import REASONING_MODES, ModelConfig
from cordillera.model.encoders import TokenMLP, VisionEncoder
from cordillera.model.expert import ActionExpert, flow_matching_loss, integrate, speed_profile_loss
from cordillera.model.dense import NUM_CLASSES as DENSE_CLASSES
from cordillera.model.dense import dense_loss
from cordillera.model.perception import OUTPUTS as PERCEPTION_OUTPUTS
from cordillera.model.perception import PerceptionHead, facts_as_outputs, perception_loss
from cordillera.model.processor import IGNORE, Batch, Processor
from cordillera.model.reasoning import sample_token
from cordillera.model.tokenizer import TextTokenizer, TokenizerError, special_tokens_for

__all__ = ["CordilleraVLA", "Generation", "REASONING_MODES"]


@dataclass
class Generation:
    """Output of `CordilleraVLA.generate` for a batch of B prompts and K samples each.

    poses: (B, K, 64, 3) float64 [x, y, yaw], ego frame at t0; actions: (B, K, 64, 2) [m/s^2, 1/m];
    reasoning: per prompt the text, or None when the model did not reason; reasoning_tokens: text tokens
    per prompt; gate_probability: (B,) P(<|cot_start|>) after the prompt; timings: seconds per stage
    (vision, prefill, generation, expert).
    """

    poses: np.ndarray
    actions: np.ndarray
    reasoning: list[str | None]
    reasoning_tokens: list[int]
    gate_probability: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)


class CordilleraVLA(nn.Module):
    def __init__(self, config: ModelConfig, tokenizer: TextTokenizer, stats: ActionStats | None = None):
        super().__init__()
        if tokenizer.vocab_size > config.backbone.vocab_size:
            raise TokenizerError(f"tokenizer has {tokenizer.vocab_size} tokens but the backbone vocab_size is "
                                 f"{config.backbone.vocab_size}")
        if tokenizer.special_names != special_tokens_for(config.rig.camera_vocabulary):
            raise TokenizerError("tokenizer camera tokens do not match the config's camera vocabulary")
        self.config = config
        self.tokenizer = tokenizer
        self.stats = stats or ActionStats()
        self.processor = Processor(config, tokenizer, self.stats)
        action = config.action
        vocab = config.backbone.vocab_size + (action.token_bins if action.discrete_tokens else 0)
        d, prompt = config.backbone.hidden_size, config.prompt
        self.vision = VisionEncoder(config.vision, config.rig, d, DENSE_CLASSES if config.perception.dense else 0)
        self.history = TokenMLP(4, prompt.history_steps, d)
        self.ego_state = TokenMLP(2, 1, d)
        self.route = TokenMLP(2 * prompt.waypoints_per_token, prompt.route_tokens, d)
        self.backbone = Backbone(config.backbone, vocab)
        self.expert = ActionExpert(config.expert, config.backbone, action.horizon)
        self.perception = PerceptionHead(config.perception, d) if config.perception.enabled else None
        self.expert_inputs = None
        if config.expert.direct_inputs:
            width = config.expert.hidden_size
            features = 4 * prompt.history_steps + 2 + 2 * prompt.waypoints_per_token * prompt.route_tokens
            features += PERCEPTION_OUTPUTS if config.perception.to_expert else 0
            self.expert_inputs = nn.Sequential(nn.Linear(features, 2 * width), nn.SiLU(), nn.Linear(2 * width, width))
        ids = self.processor.ids
        allowed = torch.zeros(vocab, dtype=torch.bool)  # reasoning text: text tokens and <|cot_end|>
        allowed[tokenizer.num_special: tokenizer.vocab_size] = True
        allowed[ids["cot_end"]] = True
        self.register_buffer("text_allowed", allowed, persistent=False)

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ---- inputs -----------------------------------------------------------------------------------
    def embed(self, batch: Batch) -> torch.Tensor:
        """Prompt embeddings (B, L, d): token embeddings with every placeholder replaced by its encoder's
        output (images, history poses, ego state, route groups), in prompt order."""
        return self.embed_with_dense(batch)[0]

    def embed_with_dense(self, batch: Batch, dense: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`embed`, and with dense=True the vision encoder's dense logits (M, classes, gh, gw) (model/dense.py)."""
        ids, tok = batch.input_ids, self.processor.ids
        embeds = self.backbone.embed(ids)
        vision, dense_logits = None, None
        if len(batch.images):
            vision = self.vision(batch.images, batch.image_camera, batch.image_age, dense=dense)
            if dense:
                vision, dense_logits = vision
        parts = [(tok["image_pad"], vision), (tok["traj_history"], self.history(batch.history)),
                 (tok["ego_state"], self.ego_state(batch.ego_state[:, None])), (tok["route_pad"], self.route(batch.route))]
        for token, values in parts:
            mask = ids == token
            count = int(mask.sum())
            found = 0 if values is None else values.shape[0] * values.shape[1]
            if count != found:
                raise ValueError(f"batch has {count} placeholder tokens {token} but the encoder made {found} tokens")
            if count:
                embeds = embeds.masked_scatter(mask[..., None], values.to(embeds.dtype))
        return embeds, dense_logits

    def perceive(self, batch: Batch, embeds: torch.Tensor) -> torch.Tensor:
        """The perception head's (B, 14) outputs for prompt embeddings (B, L, d) of `batch` (model/perception.py)."""
        if self.perception is None:
            raise ValueError("the model has no perception head (ModelConfig.perception.enabled is false)")
        return self.perception(embeds, batch.input_ids == self.processor.ids["image_pad"])

    def expert_condition(self, batch: Batch, embeds: torch.Tensor | None = None,
                         true_facts: torch.Tensor | None = None) -> torch.Tensor | None:
        """(B, expert width) summary of history, ego state and route (and, with PerceptionConfig.to_expert,
        the perception head's predictions on `embeds`, computed here when not given) the expert adds to its
        tokens, or None. true_facts (B,) bool (training): these samples' known facts (`batch.facts`) replace
        the head's predictions (perception.facts_as_outputs)."""
        if self.expert_inputs is None:
            return None
        parts = [batch.history.flatten(1), batch.ego_state, batch.route.flatten(1)]
        if self.config.perception.to_expert:
            embeds = self.embed(batch) if embeds is None else embeds
            seen = self.perceive(batch, embeds).detach()
            if true_facts is not None and batch.facts is not None:
                truth, known = facts_as_outputs(batch.facts.to(seen.device))
                seen = torch.where(known & true_facts[:, None], truth.to(seen.dtype), seen)
            parts.append(seen)
        flat = torch.cat([p.to(self.expert_inputs[0].weight.dtype) for p in parts], dim=1)
        return self.expert_inputs(flat)

    # ---- training ---------------------------------------------------------------------------------
    def teacher_forced(self, batch: Batch, embeds: torch.Tensor | None = None,
                       true_facts: torch.Tensor | None = None) -> tuple[torch.Tensor, PrefixCache]:
        """One backbone pass over a right-padded batch with targets: hidden states (B, L, d) and the cache
        the expert attends to (valid up to and including each sequence's <|traj_future_start|>). embeds:
        the batch's `embed` output when the caller already has it."""
        if batch.labels is None or batch.actions is None or batch.prefix_length is None:
            raise ValueError("needs a batch with targets: Processor.collate(samples, targets=True)")
        embeds = self.embed(batch) if embeds is None else embeds
        hidden, cache = self.backbone(embeds, batch.attention_mask, batch.position_ids)
        positions = torch.arange(batch.input_ids.shape[1], device=hidden.device)
        cache.valid = batch.attention_mask & (positions[None, :] < batch.prefix_length[:, None])
        cache.next_position = batch.prefix_length.clone()
        cache.condition = self.expert_condition(batch, embeds, true_facts)
        return hidden, cache

    def loss(self, batch: Batch, generator: torch.Generator | None = None, detach_prefix: bool = False,
             flow_samples: int = 1, true_facts: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Losses of a right-padded batch with targets (`Processor.collate(..., targets=True)`).

        text: mean next-token cross-entropy over the reasoning text, its markers and (when on) the discrete
        trajectory tokens; gate: cross-entropy of the reasoning gate token; flow: flow-matching MSE of the
        expert on the normalised target actions; perception: the auxiliary perception head's loss on
        `batch.facts` (0 without a head, model/perception.py) plus the dense object-distance loss on
        `batch.depth` (PerceptionConfig.dense, model/dense.py); speed: the speed-profile error [(m/s)^2] of
        the expert's denoised estimate in the flow loss's draw (expert.speed_profile_loss), not part of total
        (a training stage adds it with its weight); total = text + gate + flow + perception.
        detach_prefix stops the flow loss's gradient at the backbone cache (Alpamayo's stage-2 setting); by
        default it trains the backbone and encoders too. flow_samples: noise/time draws per sample for the
        flow loss (the expert is cheap next to the backbone, so several draws per backbone pass lower the
        loss variance). true_facts (B,) bool: samples whose expert reads their true scene facts (`batch.facts`)
        instead of the perception head's predictions (PerceptionConfig.to_expert): an expert trained only on the
        head's outputs, noise early in training, learns to ignore them (docs/architecture.md, "DAgger, fact
        forcing, and why the expert does not brake").
        """
        dense = self.vision.dense is not None and len(batch.images) > 0
        embeds, dense_logits = self.embed_with_dense(batch, dense=dense)
        hidden, cache = self.teacher_forced(batch, embeds, true_facts)
        targets = batch.labels[:, 1:]
        where = targets != IGNORE  # logits only where there is a label
        logits = self.backbone.logits(hidden[:, :-1][where])
        per_token = F.cross_entropy(logits.float(), targets[where], reduction="none")
        is_gate = (batch.input_ids[:, :-1] == self.processor.ids["prompt_end"])[where]
        zero = hidden.new_zeros(())
        text = per_token[~is_gate].mean() if bool((~is_gate).any()) else zero
        gate = per_token[is_gate].mean() if bool(is_gate.any()) else zero
        if detach_prefix:
            cache = cache.detach()
        if flow_samples > 1:
            cache = cache.repeat(flow_samples)
        actions = batch.actions.repeat_interleave(flow_samples, 0)
        flow, estimate = flow_matching_loss(self.expert, actions, cache, self.backbone.rope, generator, denoised=True)
        speed = speed_profile_loss(estimate, actions, self.stats.std[0], self.config.action.dt)
        perception = zero
        if self.perception is not None and batch.facts is not None:
            perception = perception_loss(self.perceive(batch, embeds), batch.facts)["perception"]
        if dense_logits is not None:  # every sample's images are in the graph: 0 where no cell is known
            targets = batch.depth if batch.depth is not None else torch.full(
                (dense_logits.shape[0], *dense_logits.shape[2:]), -1, dtype=torch.long, device=dense_logits.device)
            perception = perception + dense_loss(dense_logits, targets)
        return {"total": text + gate + flow + perception, "text": text, "gate": gate, "flow": flow,
                "perception": perception, "speed": speed}

    # ---- inference --------------------------------------------------------------------------------
    @property
    def inference_precision(self) -> str:
        """The precision of the matrix products of the prompt pass and of the flow integration, as the
        config's prefill_dtype / integrate_dtype resolve on this machine ("auto": bfloat16 where the CPU has
        bf16 dot products), e.g. "bfloat16 / bfloat16"; each applies from 128 rows (a prompt of the default
        rig, two or more trajectory samples). Results depend on it (by centimetres per plan)."""
        dtypes = (self.backbone.prefill_dtype, self.expert.integrate_dtype)
        return " / ".join(str(dtype).removeprefix("torch.") for dtype in dtypes)

    def gate_probability(self, hidden: torch.Tensor) -> torch.Tensor:
        """The reasoning gate: P(<|cot_start|>) against P(<|traj_future_start|>), (B,), from the backbone's
        output (B, D) at <|prompt_end|>; `auto` reasons where it reaches `prompt.gate_threshold`."""
        ids = self.processor.ids
        logits = self.backbone.logits(hidden)[:, [ids["cot_start"], ids["traj_future_start"]]]
        return torch.softmax(logits.float(), dim=-1)[:, 0]

    @torch.inference_mode()
    def generate(self, batch: Batch, mode: str | None = None, num_samples: int = 1, temperature: float = 0.6,
                 top_p: float = 0.98, generator: torch.Generator | None = None,
                 noise_scale: float | Sequence[float] = 1.0,
                 max_reasoning_tokens: int | None = None, euler_steps: int | None = None,
                 trajectory: str = "expert") -> Generation:
        """Reasoning (per mode) and K = num_samples trajectories for each prompt of a left-padded batch.

        mode: "always" | "never" | "auto" (default: the config's); temperature <= 0 decodes greedily;
        noise_scale scales the expert's initial noise, one number or one per sample (0: the sample is
        integrated from zero noise, the flow's central plan; the random draws are the same either way);
        trajectory: "expert" (flow matching) or "tokens" (the discrete trajectory tokens, when the model has
        them).
        """
        mode = mode or self.config.prompt.reasoning
        if mode not in REASONING_MODES:
            raise ValueError(f"mode must be one of {REASONING_MODES}, got {mode!r}")
        if trajectory not in ("expert", "tokens"):
            raise ValueError(f"trajectory must be 'expert' or 'tokens', got {trajectory!r}")
        if trajectory == "tokens" and not self.config.action.discrete_tokens:
            raise ValueError("trajectory='tokens' needs a model built with ActionConfig(discrete_tokens=True)")
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        ids, timings = self.processor.ids, {}
        start = time.perf_counter()
        embeds = self.embed(batch)
        condition = self.expert_condition(batch, embeds)
        size = batch.size
        # "always" knows it will reason: prefill <|cot_start|> with the prompt; otherwise prefill
        # <|traj_future_start|>, which is all the expert needs when no reasoning follows.
        appended = ids["cot_start"] if mode == "always" else ids["traj_future_start"]
        embeds = torch.cat([embeds, self.backbone.embed(torch.full((size, 1), appended, dtype=torch.long))], dim=1)
        mask = torch.cat([batch.attention_mask, batch.attention_mask.new_ones((size, 1))], dim=1)
        timings["vision"] = time.perf_counter() - start

        start = time.perf_counter()
        hidden, cache = self.backbone.prefill(embeds, mask)  # positions follow the mask, as the processor's
        cache.condition = condition
        gate = self.gate_probability(hidden[:, -2])  # read at <|prompt_end|>
        last_hidden = hidden[:, -1].clone()  # output at the appended token
        timings["prefill"] = time.perf_counter() - start

        start = time.perf_counter()
        if mode == "always":
            reason = torch.ones(size, dtype=torch.bool)
        elif mode == "never":
            reason = torch.zeros(size, dtype=torch.bool)
        else:
            reason = gate >= self.config.prompt.gate_threshold
        texts: list[list[int] | None] = [None] * size
        if bool(reason.any()):
            limit = max_reasoning_tokens or self.config.prompt.max_reasoning_tokens
            cache.reserve(limit + 3)  # text + <|cot_start|>, <|cot_end|>, <|traj_future_start|>
            start_hidden = last_hidden.clone() if mode == "always" else None
            if mode != "always":  # the reasoning replaces the appended <|traj_future_start|>
                if bool(reason.all()):
                    cache.drop_last()
                else:
                    cache.valid[reason, -1] = False
                    cache.next_position[reason] -= 1
            if size == 1:
                texts = [self._write_one(cache, start_hidden, last_hidden, temperature, top_p, generator, limit)]
            else:
                texts = self._write_reasoning(cache, reason, start_hidden, last_hidden, temperature, top_p,
                                              generator, limit)
        timings["generation"] = time.perf_counter() - start

        start = time.perf_counter()
        horizon = self.config.action.horizon
        if trajectory == "expert":
            scale = torch.as_tensor(noise_scale, dtype=torch.float32)
            if scale.dim() > 1:
                raise ValueError("noise_scale must be a number or one number per sample")
            if scale.dim() == 1 and scale.shape[0] != num_samples:
                raise ValueError(f"noise_scale has {scale.shape[0]} entries for {num_samples} samples")
            scale = scale.repeat(size)[:, None, None] if scale.dim() == 1 else scale
            noise = scale * torch.randn((size * num_samples, horizon, 2), generator=generator)
            normalized = integrate(self.expert, cache, self.backbone.rope, noise,
                                   euler_steps or self.config.expert.euler_steps)
        else:
            normalized = self._trajectory_tokens(cache.repeat(num_samples), last_hidden.repeat_interleave(num_samples, 0),
                                                 temperature, top_p, generator)
        actions = self.stats.denormalize(normalized.double()).view(size, num_samples, horizon, 2)
        actions, poses = self.actions_to_poses(actions, batch.v0.double()[:, None], batch.route[:, None])
        timings["expert"] = time.perf_counter() - start
        return Generation(
            poses=poses.numpy(), actions=actions.numpy(),
            reasoning=[None if t is None else self.tokenizer.decode(t) for t in texts],
            reasoning_tokens=[0 if t is None else len(t) for t in texts],
            gate_probability=gate.numpy(), timings=timings)

    def actions_to_poses(self, actions: torch.Tensor, v0: torch.Tensor,
                         route: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(clipped actions, poses (..., T, 3)) of denormalised actions (..., T, 2) in the config's action
        frame, from the start speed v0 (...) and the model's scaled route input (..., R, 2 k) (broadcast)."""
        action = self.config.action
        if action.frame == "route":
            clipped = clip_route_actions(actions.numpy(), ACTION_LIMITS[0])
            routes = self.processor.route_points(route)
            poses = route_frame_poses(clipped, v0.double().numpy(), routes, action.dt)
            return torch.from_numpy(clipped), torch.from_numpy(poses)
        clipped = clip_actions(actions)
        return clipped, actions_to_trajectory(clipped, v0, action.dt)

    def _write_reasoning(self, cache: PrefixCache, active: torch.Tensor, start_hidden: torch.Tensor | None,
                         last_hidden: torch.Tensor, temperature: float, top_p: float,
                         generator: torch.Generator | None, max_tokens: int) -> list[list[int] | None]:
        """Decode the reasoning of the `active` sequences (B,) into `cache`: <|cot_start|> (unless already
        there: then start_hidden (B, d) is the backbone output at it), text, <|cot_end|>,
        <|traj_future_start|>. The output at <|traj_future_start|> goes to last_hidden (B, d). Sequences
        that are inactive or done feed padding that no one attends to. Returns the text ids per sequence.

        Per sequence: WRITE (sample the next token), CLOSE (<|cot_end|> sampled and fed this step), FINAL
        (<|traj_future_start|> fed this step), DONE. When every open sequence closes at once (always, for a
        single prompt) <|cot_end|> and <|traj_future_start|> go in as one two-token step.
        """
        ids = self.processor.ids
        size = active.shape[0]
        write, close, final, done = 0, 1, 2, 3
        texts: list[list[int] | None] = [[] if bool(a) else None for a in active]
        state = torch.where(active, write, done)
        weights = self.backbone.fuse()
        if start_hidden is None:
            cot = torch.where(active, ids["cot_start"], ids["pad"])[:, None]
            start_hidden = self.backbone.decode(self.backbone.embed(cot), cache, active[:, None], weights)[:, -1]
        hidden = start_hidden
        while bool((state != done).any()):
            feed = torch.full((size,), ids["pad"], dtype=torch.long)
            writing = state == write
            if bool(writing.any()):
                logits = self.backbone.decode_logits(hidden[writing], weights).masked_fill(~self.text_allowed, float("-inf"))
                tokens = sample_token(logits, temperature, top_p, generator)
                for b, token in zip(torch.nonzero(writing)[:, 0].tolist(), tokens.tolist()):
                    if token != ids["cot_end"] and len(texts[b]) >= max_tokens:
                        token = ids["cot_end"]  # too long: close the reasoning here
                    if token == ids["cot_end"]:
                        state[b] = close
                    else:
                        texts[b].append(token)
                    feed[b] = token
            feed[state == final] = ids["traj_future_start"]
            open_ = state != done
            if bool((state[open_] == close).all()):
                pair = torch.stack([feed, torch.full_like(feed, ids["traj_future_start"])], dim=1)
                out = self.backbone.decode(self.backbone.embed(pair), cache, open_[:, None].expand(size, 2), weights)
                last_hidden[open_] = out[open_, -1]
                break
            hidden = self.backbone.decode(self.backbone.embed(feed[:, None]), cache, open_[:, None], weights)[:, -1]
            finished = state == final
            last_hidden[finished] = hidden[finished]
            state[finished] = done
            state[state == close] = final
        return texts

    def _write_one(self, cache: PrefixCache, start_hidden: torch.Tensor | None, last_hidden: torch.Tensor,
                   temperature: float, top_p: float, generator: torch.Generator | None,
                   max_tokens: int) -> list[int]:
        """`_write_reasoning` for one sequence (the policy's case): the same tokens, random draws and cache,
        without the batch loop's per-sequence state tensors (1.54 -> 1.43 ms per token for the shipped model on
        one thread). <|cot_end|> and <|traj_future_start|> go in as one two-token step."""
        ids, backbone = self.processor.ids, self.backbone
        weights = backbone.fuse()
        one = torch.ones((1, 1), dtype=torch.bool)
        if start_hidden is None:
            cot = torch.tensor([[ids["cot_start"]]])
            start_hidden = backbone.decode(backbone.embed(cot), cache, one, weights)[:, -1]
        hidden, text = start_hidden, []
        blocked = ~self.text_allowed
        while True:
            logits = backbone.decode_logits(hidden, weights).masked_fill_(blocked, float("-inf"))
            token = int(sample_token(logits, temperature, top_p, generator))
            if token == ids["cot_end"] or len(text) >= max_tokens:  # too long: close the reasoning here
                break
            text.append(token)
            hidden = backbone.decode(backbone.embed(torch.tensor([[token]])), cache, one, weights)[:, -1]
        pair = torch.tensor([[ids["cot_end"], ids["traj_future_start"]]])
        last_hidden[0] = backbone.decode(backbone.embed(pair), cache, one.expand(1, 2), weights)[0, -1]
        return text

    def _trajectory_tokens(self, cache: PrefixCache, last_hidden: torch.Tensor, temperature: float, top_p: float,
                           generator: torch.Generator | None) -> torch.Tensor:
        """Decode 2 x horizon discrete trajectory tokens after <|traj_future_start|> for every sequence of
        `cache` (modified); last_hidden (B, d) is the backbone output at <|traj_future_start|>. Returns
        normalised actions (B, horizon, 2) at the bin centres."""
        action = self.config.action
        offset = self.processor.trajectory_token_offset
        allowed = torch.zeros_like(self.text_allowed)
        allowed[offset: offset + action.token_bins] = True
        valid = torch.ones((last_hidden.shape[0], 1), dtype=torch.bool)
        hidden, bins, weights = last_hidden, [], self.backbone.fuse()
        cache.reserve(2 * action.horizon)
        for step in range(2 * action.horizon):
            logits = self.backbone.decode_logits(hidden, weights).masked_fill(~allowed, float("-inf"))
            token = sample_token(logits, temperature, top_p, generator)
            bins.append(token - offset)
            if step + 1 < 2 * action.horizon:
                hidden = self.backbone.decode(self.backbone.embed(token[:, None]), cache, valid, weights)[:, -1]
        return tokens_to_actions(torch.stack(bins, dim=1), action.token_bins, action.token_range)

    # ---- checkpoints ------------------------------------------------------------------------------
    def save_pretrained(self, path: str | Path) -> Path:
        from cordillera.model.checkpoint import save_pretrained

        return save_pretrained(self, path)

    @classmethod
    def from_pretrained(cls, path: str | Path) -> "CordilleraVLA":
        from cordillera.model.checkpoint import load_pretrained

        return load_pretrained(path)
