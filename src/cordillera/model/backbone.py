"""The reasoning backbone: a `transformers` decoder (Llama or Qwen2, random init from a config) fed with
`inputs_embeds`, plus the KV cache the action expert reads and a lean decode step.

    >>> backbone = Backbone(BackboneConfig(), vocab_size=2048)
    >>> hidden, cache = backbone(embeds, attention_mask, position_ids)   # full sequence (training, prefill)
    >>> hidden = backbone.decode(backbone.embed(next_ids), cache, valid)  # one or more new tokens

`forward` is the stock transformers model (causal + padding mask, SDPA): training and prefill. `decode` is
our own step over the same weights for generation. At this size a token costs little arithmetic and is
bound by per-operation overhead and by reading the weights, so the step skips the mask and cache machinery
of transformers, concatenates q/k/v and gate/up into single products, writes keys/values in place into a
reserved cache, and (one row at a time) reads float16 copies of the matrices: 1.4-1.9x faster per token than
float32 on the 2-core CPU (benchmarks/policy_latency.py prints both against transformers' own forward).
The cache is plain per-layer tensors with a validity mask, the form the expert consumes. A test checks that
decoding with the cache equals recomputing the whole sequence with `forward`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import DynamicCache, LlamaConfig, LlamaModel, Qwen2Config, Qwen2Model

from cordillera.model.config import BackboneConfig
from cordillera.model.weight_copies import WeightCopies, low_precision_dtype

__all__ = ["Backbone", "DecodeWeights", "PrefixCache", "apply_rotary", "hf_config"]

_FAMILIES = {"llama": (LlamaConfig, LlamaModel), "qwen2": (Qwen2Config, Qwen2Model)}
WIDE_MIN_ROWS = 128  # from here on products use the prefill_dtype copies (bf16 wins from ~128 rows here)


def hf_config(config: BackboneConfig, vocab_size: int):
    """The transformers config for a backbone config (vocab_size includes trajectory tokens if any)."""
    config_cls, _ = _FAMILIES[config.family]
    hf = config_cls(
        vocab_size=vocab_size,
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_kv_heads,
        head_dim=config.head_dim,
        max_position_embeddings=config.max_positions,
        rms_norm_eps=config.rms_norm_eps,
        rope_parameters={"rope_type": "default", "rope_theta": config.rope_theta},
        tie_word_embeddings=False,  # the lm head lives in Backbone (tied there when configured)
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
    )
    hf._attn_implementation = "sdpa"
    return hf


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding (rotate-half convention of Llama/Qwen2). x (B, H, T, D); cos, sin (B, 1, T, D)."""
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-second, first], dim=-1) * sin


@dataclass
class PrefixCache:
    """Keys and values of every backbone layer for the tokens seen so far (rotary already applied).

    keys, values: per layer (B, num_kv_heads, N, head_dim). valid: (B, N) bool, the positions a later
    token may attend to (False for padding, and for tokens of a sequence that had already finished).
    next_position: (B,) long, the rotary position of the next token of each sequence.
    Layer i's keys/values are always a prefix view of buffers[i] when buffers are reserved.
    """

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    valid: torch.Tensor
    next_position: torch.Tensor
    buffers: list[tuple[torch.Tensor, torch.Tensor]] | None = None  # per layer, see `reserve`
    condition: torch.Tensor | None = None  # (B, expert width) the expert's direct inputs (CordilleraVLA)

    @property
    def length(self) -> int:
        return self.valid.shape[1]

    def key_mask(self, extra: int = 0) -> torch.Tensor | None:
        """(B, 1, 1, N + extra) bool mask of attendable keys (the `extra` appended ones are valid), or None
        when every key is valid (lets SDPA take its unmasked path)."""
        if bool(self.valid.all()):
            return None
        tail = self.valid.new_ones((self.valid.shape[0], extra))
        return torch.cat([self.valid, tail], dim=1)[:, None, None, :]

    def repeat(self, times: int) -> "PrefixCache":
        """Each sequence `times` times in a row (sample-major), e.g. for K trajectory samples."""
        def rep(t: torch.Tensor) -> torch.Tensor:
            return t.repeat_interleave(times, dim=0)
        return PrefixCache([rep(k) for k in self.keys], [rep(v) for v in self.values], rep(self.valid),
                           rep(self.next_position), condition=None if self.condition is None else rep(self.condition))

    def detach(self) -> "PrefixCache":
        """The backbone's keys/values cut from the graph; `condition` is the expert's own input and keeps its
        gradient."""
        return PrefixCache([k.detach() for k in self.keys], [v.detach() for v in self.values], self.valid,
                           self.next_position, condition=self.condition)

    def reserve(self, extra: int) -> None:
        """Move keys/values into buffers with room for `extra` more positions, so that `append` writes new
        tokens in place instead of copying the whole cache at every decoding step."""
        self.buffers = []
        for i, (k, v) in enumerate(zip(self.keys, self.values)):
            pair = tuple(t.new_empty((*t.shape[:2], t.shape[2] + extra, t.shape[3])) for t in (k, v))
            pair[0][:, :, : k.shape[2]] = k
            pair[1][:, :, : v.shape[2]] = v
            self.buffers.append(pair)
            self.keys[i], self.values[i] = pair[0][:, :, : k.shape[2]], pair[1][:, :, : v.shape[2]]

    def append(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Add (B, Hkv, T, D) keys/values to a layer: in place when `reserve` left room, else by concatenation."""
        length, steps = self.keys[layer].shape[2], keys.shape[2]
        if self.buffers is not None and self.buffers[layer][0].shape[2] >= length + steps:
            key_buffer, value_buffer = self.buffers[layer]
            key_buffer[:, :, length: length + steps] = keys
            value_buffer[:, :, length: length + steps] = values
            self.keys[layer] = key_buffer[:, :, : length + steps]
            self.values[layer] = value_buffer[:, :, : length + steps]
        else:
            self.keys[layer] = torch.cat([self.keys[layer], keys], dim=2)
            self.values[layer] = torch.cat([self.values[layer], values], dim=2)

    def drop_last(self) -> None:
        """Remove the last position of every sequence (each must have had it valid)."""
        self.keys = [k[:, :, :-1] for k in self.keys]
        self.values = [v[:, :, :-1] for v in self.values]
        self.valid = self.valid[:, :-1]
        self.next_position = self.next_position - 1


@dataclass
class DecodeWeights:
    """Weights of the decode step (see `Backbone.fuse`): per layer (input norm, qkv weight, qkv bias or
    None, o weight, post-attention norm, gate-up weight, down weight) and the lm head, in float32, plus
    copies of the matrices in a lower precision (or None) for single-row products and for products of at
    least `WIDE_MIN_ROWS` rows (the prompt of `prefill`)."""

    layers: list[tuple[torch.Tensor | None, ...]]
    lm_head: torch.Tensor
    low_layers: list[tuple[torch.Tensor | None, ...]] | None = None
    low_lm_head: torch.Tensor | None = None
    wide_layers: list[tuple[torch.Tensor | None, ...]] | None = None

    def pick(self, rows: int) -> tuple[list[tuple[torch.Tensor | None, ...]], torch.Tensor]:
        """The weights for products with `rows` rows: the low-precision copies for one row, the wide copies
        from WIDE_MIN_ROWS rows, float32 between. Measured on the 2-core CPU: a float16 matrix-vector product
        reads half the bytes and runs 1.6-1.9x faster per decoded token, but float16 products with several
        rows are slower than float32 (2x at 2 rows); bfloat16 products of the ~180-row prompt run 1.7-2.1x
        faster than float32 (casts included) where the CPU has bf16 dot products."""
        if rows == 1 and self.low_layers is not None:
            return self.low_layers, self.low_lm_head
        if rows >= WIDE_MIN_ROWS and self.wide_layers is not None:
            return self.wide_layers, self.lm_head
        return self.layers, self.lm_head


class Backbone(nn.Module):
    def __init__(self, config: BackboneConfig, vocab_size: int):
        super().__init__()
        self.config = config
        self.hf_config = hf_config(config, vocab_size)
        self._copies = WeightCopies()  # the decode weights of `fuse`
        self.prefill_dtype = low_precision_dtype(config.prefill_dtype)  # resolved once, as the expert's
        self._rope_tables: tuple | None = None  # ((dtype, device), cos, sin) of `rope`, built at its first call
        self.model = _FAMILIES[config.family][1](self.hf_config)
        self.lm_head = nn.Linear(config.hidden_size, vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        else:
            nn.init.normal_(self.lm_head.weight, std=self.hf_config.initializer_range)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model.embed_tokens(ids)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.lm_head(hidden)

    def rope(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin (B, 1, T, head_dim) for rotary positions (B, T): rows of the model's rotary tables for
        positions 0..max_positions-1, computed once by its rotary embedding (the same values: each entry is one
        product position x frequency; range check and lookup ~13 us where the call costs ~26, once per decoded
        token)."""
        weight = self.model.embed_tokens.weight
        if positions.numel():
            low, high = torch.aminmax(positions)
            if int(low) < 0 or int(high) >= self.config.max_positions:  # outside the tables: computed
                return self._rotary(positions, weight)
        key = (weight.dtype, weight.device)
        if self._rope_tables is None or self._rope_tables[0] != key:
            with torch.inference_mode(False), torch.no_grad():  # plain tensors: training may index them later
                cos, sin = self._rotary(torch.arange(self.config.max_positions, device=weight.device)[None], weight)
            self._rope_tables = (key, cos[0, 0], sin[0, 0])
        _, cos, sin = self._rope_tables
        return cos[positions][:, None], sin[positions][:, None]

    def _rotary(self, positions: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probe = torch.empty(0, dtype=weight.dtype, device=weight.device)  # rotary_emb reads only dtype/device
        cos, sin = self.model.rotary_emb(probe, positions)
        return cos[:, None], sin[:, None]

    def forward(self, embeds: torch.Tensor, attention_mask: torch.Tensor,
                position_ids: torch.Tensor) -> tuple[torch.Tensor, PrefixCache]:
        """Full-sequence pass. embeds (B, L, d); attention_mask (B, L) bool; position_ids (B, L) long.
        Returns the final hidden states (B, L, d) and the cache of all L positions (gradients flow through
        it; `valid` is the attention mask, `next_position` one past each sequence's last position)."""
        out = self.model(inputs_embeds=embeds, attention_mask=attention_mask, position_ids=position_ids,
                         cache=DynamicCache(config=self.hf_config), use_cache=True)
        layers = out.cache.layers
        cache = PrefixCache([layer.keys for layer in layers], [layer.values for layer in layers],
                            attention_mask.clone(), position_ids[:, -1] + 1)
        return out.last_hidden_state, cache

    def fuse(self, dtype: torch.dtype | None = None, wide: torch.dtype | None = None) -> DecodeWeights:
        """Copies of the weights `decode` uses, with q/k/v and gate/up concatenated (fewer, larger products),
        plus `dtype` copies (default: the config's decode_dtype) for single-row products and `wide` copies
        (default: the config's prefill_dtype) for products of many rows. Built once per state of the
        parameters (`WeightCopies`): ~7 ms for the default model, which every `generate` used to pay."""
        dtype = dtype or getattr(torch, self.config.decode_dtype)
        wide = wide or self.prefill_dtype
        return self._copies.get(self, (dtype, wide), lambda: self._build_decode_weights(dtype, wide))

    def _build_decode_weights(self, dtype: torch.dtype, wide: torch.dtype) -> DecodeWeights:
        layers = []
        with torch.no_grad():
            for layer in self.model.layers:
                attn, mlp = layer.self_attn, layer.mlp
                projections = (attn.q_proj, attn.k_proj, attn.v_proj)
                bias = torch.cat([p.bias for p in projections]) if attn.q_proj.bias is not None else None
                layers.append((layer.input_layernorm.weight, torch.cat([p.weight for p in projections]), bias,
                               attn.o_proj.weight, layer.post_attention_layernorm.weight,
                               torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight]), mlp.down_proj.weight))
            weights = DecodeWeights(layers, self.lm_head.weight)

            def cast(t: torch.Tensor | None, to: torch.dtype) -> torch.Tensor | None:
                return None if t is None else t.to(to)

            def cast_layers(to: torch.dtype) -> list[tuple[torch.Tensor | None, ...]]:  # norms stay float32
                return [(norm1, cast(qkv, to), cast(bias, to), cast(o, to), norm2, cast(gate_up, to), cast(down, to))
                        for norm1, qkv, bias, o, norm2, gate_up, down in layers]
            if dtype != torch.float32:
                weights.low_layers = cast_layers(dtype)
                weights.low_lm_head = cast(self.lm_head.weight, dtype)
            if wide != torch.float32:
                weights.wide_layers = cast_layers(wide)
        return weights

    def prefill(self, embeds: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, PrefixCache]:
        """The prompt pass of inference: `forward`'s hidden states and cache, computed by `decode` over an
        empty cache so that the prompt's matrix products run in `prefill_dtype` (the residual stream, norms,
        attention and the cache stay float32; with "float32" it matches `forward` to float rounding).
        Positions follow the mask (left padding), as the processor writes them. Inference only."""
        batch, cfg = embeds.shape[0], self.config
        empty = embeds.new_empty((batch, cfg.num_kv_heads, 0, cfg.head_dim))
        cache = PrefixCache([empty] * cfg.num_layers, [empty] * cfg.num_layers, attention_mask[:, :0],
                            torch.zeros(batch, dtype=torch.long))
        return self.decode(embeds, cache, attention_mask, self.fuse()), cache

    def decode_logits(self, hidden: torch.Tensor, weights: DecodeWeights) -> torch.Tensor:
        """Logits (..., V) float32 of decoded hidden states (..., d) with the decode weights' lm head."""
        _, lm_head = weights.pick(hidden[..., 0].numel())
        return F.linear(hidden.to(lm_head.dtype), lm_head).float()

    def decode(self, embeds: torch.Tensor, cache: PrefixCache, valid: torch.Tensor,
               weights: DecodeWeights | None = None) -> torch.Tensor:
        """Append T new tokens per sequence and return their final hidden states (B, T, d).

        embeds (B, T, d); valid (B, T) bool: False for tokens of finished sequences (they are written to the
        cache but nobody attends to them and they take no position). New tokens attend to every valid cached
        token and causally to each other. Updates `cache` in place. weights: `fuse()` of the current
        parameters (built here when not given). With one row (B T = 1) the matrix products use the
        low-precision copies, from WIDE_MIN_ROWS rows the wide ones (`DecodeWeights.pick`); the residual
        stream, norms, attention and the cache stay float32. Inference only.
        """
        weights = weights if weights is not None else self.fuse()
        batch, steps, width = embeds.shape
        cfg = self.config
        heads, kv_heads, head_dim, eps = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim, cfg.rms_norm_eps
        positions = cache.next_position[:, None] + (valid.long().cumsum(1) - 1).clamp(min=0)  # (B, T)
        cos, sin = self.rope(positions)
        cache.valid = torch.cat([cache.valid, valid], dim=1)
        cache.next_position = cache.next_position + valid.long().sum(1)
        total = cache.valid.shape[1]
        causal = steps == total and bool(valid.all())  # a prompt without padding: SDPA's causal path
        if steps == 1:
            mask = None if bool(cache.valid.all()) else cache.valid[:, None, None, :]
        elif causal:
            mask = None
        else:
            visible = torch.ones(steps, total, dtype=torch.bool).tril(total - steps)  # (T, N + T)
            itself = torch.zeros(steps, total, dtype=torch.bool)
            itself[:, total - steps:] = torch.eye(steps, dtype=torch.bool)  # a padding row sees itself: stays finite
            mask = cache.valid[:, None, None, :] & visible | itself
        hidden = embeds
        layers, _ = weights.pick(batch * steps)
        low = layers[0][1].dtype  # of the products (the qkv matrix)
        for i, (norm1, w_qkv, b_qkv, w_o, norm2, w_gate_up, w_down) in enumerate(layers):
            x = F.rms_norm(hidden, (width,), norm1, eps).to(low)
            qkv = F.linear(x, w_qkv, b_qkv).float().view(batch, steps, heads + 2 * kv_heads, head_dim).transpose(1, 2)
            qk = apply_rotary(qkv[:, : heads + kv_heads], cos, sin)  # (B, Hq + Hkv, T, D): q and k together
            cache.append(i, qk[:, heads:], qkv[:, heads + kv_heads:])
            o = F.scaled_dot_product_attention(qk[:, :heads], cache.keys[i], cache.values[i], attn_mask=mask,
                                               is_causal=causal, scale=head_dim ** -0.5, enable_gqa=True)
            # float32 + a low-precision product promotes to float32: the cast and the add are one operation
            hidden = hidden + F.linear(o.transpose(1, 2).reshape(batch, steps, -1).to(low), w_o)
            gate, up = F.linear(F.rms_norm(hidden, (width,), norm2, eps).to(low), w_gate_up).chunk(2, dim=-1)
            hidden = hidden + F.linear(F.silu(gate) * up, w_down)
        return self.model.norm(hidden)
