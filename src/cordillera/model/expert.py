"""The action expert: a narrow transformer that denoises 64 action tokens by flow matching while
attending into the backbone's KV cache (prompt + reasoning).

    >>> expert = ActionExpert(ExpertConfig(), BackboneConfig(), horizon=64)
    >>> velocity = expert(x_t, t, cache, backbone.rope)                # (B, 64, 2)
    >>> actions = integrate(expert, cache, backbone.rope, noise, steps=10)   # products in config.integrate_dtype

Shapes follow Alpamayo: the expert has the backbone's number of layers, key/value heads and head size, so
layer i of the expert attends to layer i's cached keys/values next to its own; its query heads and width
are its own (narrower). Attention is bidirectional among the 64 action tokens and covers every valid cached
token. Each action token is one waypoint: Fourier features of its noisy (acceleration, curvature) and of the
flow time t go through an MLP, plus a learned waypoint embedding; rotary positions continue after the
prefix (<|traj_future_start|> is its last token).

Flow matching (t = 0 noise, t = 1 data): x_t = t x + (1 - t) eps, target velocity x - eps, loss MSE. Training
times t = 0.999 (1 - u^(1/1.5)), u ~ U(0, 1), i.e. 0.999 (1 - Beta(1.5, 1)), skewed towards noise. Inference
integrates with Euler steps from t = 0 to 1. Its matrix products may run in bfloat16 (`ExpertConfig.integrate_dtype`;
the residual stream, norms and attention stay float32): 64 tokens x 10 steps x 6 samples make the expert most
of a decision's arithmetic, and on a CPU with bf16 dot products these products run 2-2.5x faster.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from cordillera.model.backbone import PrefixCache, apply_rotary
from cordillera.model.config import BackboneConfig, ExpertConfig
from cordillera.model.encoders import FourierFeatures
from cordillera.model.weight_copies import WeightCopies, low_precision_dtype

__all__ = ["ActionExpert", "sample_flow_time", "flow_matching_loss", "speed_profile_loss", "integrate"]

Rope = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
LayerWeights = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # qkv, gate_up, down in the integrate dtype
# Fewer rows than this (K x 64 action tokens) keep float32 products: measured on the 2-core EPYC, one thread, a
# bf16 product plus the casts around it beats float32 from ~128 rows (qkv 88 vs 128 us at 384 rows, gate-up 147
# vs 240, down 78 vs 106) and loses at 64 (122 vs 86 us per layer); o (64 x 64) is never faster, so it stays.
LOW_PRECISION_MIN_ROWS = 128


class ExpertLayer(nn.Module):
    """Pre-norm attention (into the prefix and among the action tokens) + SwiGLU MLP. q/k/v and gate/up
    are single products (fewer, larger matrix products per Euler step)."""

    def __init__(self, d_model: int, num_heads: int, num_kv_heads: int, head_dim: int, ffn: int, eps: float):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = num_heads, num_kv_heads, head_dim
        self.attn_norm = nn.RMSNorm(d_model, eps=eps)
        self.qkv_proj = nn.Linear(d_model, (num_heads + 2 * num_kv_heads) * head_dim, bias=False)
        self.o_proj = nn.Linear(num_heads * head_dim, d_model, bias=False)
        self.mlp_norm = nn.RMSNorm(d_model, eps=eps)
        self.gate_up_proj = nn.Linear(d_model, 2 * ffn, bias=False)
        self.down_proj = nn.Linear(ffn, d_model, bias=False)

    def forward(self, hidden: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, keys: torch.Tensor,
                values: torch.Tensor, mask: torch.Tensor | None,
                workspace: tuple[torch.Tensor, torch.Tensor] | None, low: LayerWeights | None = None) -> torch.Tensor:
        """hidden (B, T, d); keys, values (B, Hkv, N, D) of the prefix; workspace: preallocated
        (B, Hkv, N + T, D) buffers already holding the prefix (inference), else concatenation (training);
        low: lower-precision copies of the qkv, gate-up and down matrices (inference), else the layers'."""
        batch, steps, _ = hidden.shape
        heads, kv_heads = self.heads, self.kv_heads
        x = self.attn_norm(hidden)
        qkv = self.qkv_proj(x) if low is None else F.linear(x.to(low[0].dtype), low[0]).to(x.dtype)
        qkv = qkv.view(batch, steps, heads + 2 * kv_heads, self.head_dim).transpose(1, 2)  # (B, Hq + 2 Hkv, T, D)
        qk = apply_rotary(qkv[:, : heads + kv_heads], cos, sin)
        q, k, v = qk[:, :heads], qk[:, heads:], qkv[:, heads + kv_heads:]
        if workspace is None:
            keys, values = torch.cat([keys, k], dim=2), torch.cat([values, v], dim=2)
        else:
            keys, values = workspace
            keys[:, :, -steps:] = k
            values[:, :, -steps:] = v
        o = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, enable_gqa=True)  # bidirectional
        hidden = hidden + self.o_proj(o.transpose(1, 2).reshape(batch, steps, -1))
        if low is None:
            gate, up = self.gate_up_proj(self.mlp_norm(hidden)).chunk(2, dim=-1)
            return hidden + self.down_proj(F.silu(gate) * up)
        # the gated activation stays in the low precision between the two products (two casts fewer)
        _, w_gate_up, w_down = low
        gate, up = F.linear(self.mlp_norm(hidden).to(w_gate_up.dtype), w_gate_up).chunk(2, dim=-1)
        return hidden + F.linear(F.silu(gate) * up, w_down)  # promoted to float32 by the add


class ActionExpert(nn.Module):
    def __init__(self, config: ExpertConfig, backbone: BackboneConfig, horizon: int):
        super().__init__()
        d = config.hidden_size
        self.horizon = horizon
        self.integrate_dtype = low_precision_dtype(config.integrate_dtype)
        self._copies = WeightCopies()  # the layers' matrices in integrate_dtype, see `low_precision_weights`
        self.fourier = FourierFeatures(config.fourier_features, config.max_frequency)
        features = 3 * self.fourier.out_features  # acceleration, curvature, flow time
        self.in_proj = nn.Sequential(nn.Linear(features, config.input_hidden), nn.SiLU(),
                                     nn.Linear(config.input_hidden, d), nn.LayerNorm(d))
        self.waypoint = nn.Parameter(torch.zeros(horizon, d))
        nn.init.normal_(self.waypoint, std=0.02)
        self.layers = nn.ModuleList(
            ExpertLayer(d, config.num_heads, backbone.num_kv_heads, backbone.head_dim, config.intermediate_size,
                        backbone.rms_norm_eps) for _ in range(backbone.num_layers))
        self.norm = nn.RMSNorm(d, eps=backbone.rms_norm_eps)
        self.out_proj = nn.Linear(d, 2)
        nn.init.zeros_(self.out_proj.weight)
        nn.init.zeros_(self.out_proj.bias)

    def low_precision_weights(self, dtype: torch.dtype) -> list[LayerWeights]:
        """Per layer, its (qkv, gate_up, down) matrices in `dtype`; copied once per parameter state."""
        def build() -> list[LayerWeights]:
            with torch.no_grad():
                return [tuple(m.weight.to(dtype) for m in (layer.qkv_proj, layer.gate_up_proj, layer.down_proj))
                        for layer in self.layers]
        return self._copies.get(self, dtype, build)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cache: PrefixCache, rope: Rope,
                workspace: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
                low: list[LayerWeights] | None = None) -> torch.Tensor:
        """Velocity (B, T, 2) for noisy normalised actions x_t (B, T, 2) at flow times t (B,), conditioned
        on `cache` (batch B); low: `low_precision_weights` for the layers' products (inference)."""
        batch, steps, _ = x_t.shape
        time_features = self.fourier(t)[:, None, :].expand(batch, steps, -1)  # the same for every waypoint
        features = torch.cat([self.fourier(x_t).flatten(-2), time_features], dim=-1)
        hidden = self.in_proj(features) + self.waypoint[:steps]
        if cache.condition is not None:  # direct inputs (route, ego state, history), the same for every token
            hidden = hidden + cache.condition[:, None, :].to(hidden.dtype)
        positions = cache.next_position[:, None] + torch.arange(steps, device=x_t.device)  # (B, T)
        cos, sin = rope(positions)
        mask = cache.key_mask(extra=steps)
        for i, layer in enumerate(self.layers):
            hidden = layer(hidden, cos, sin, cache.keys[i], cache.values[i], mask,
                           None if workspace is None else workspace[i], None if low is None else low[i])
        return self.out_proj(self.norm(hidden))


def sample_flow_time(count: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Training flow times (count,): 0.999 (1 - Beta(1.5, 1)) by inverting the Beta(1.5, 1) CDF u^(1/1.5)."""
    u = torch.rand(count, generator=generator)
    return 0.999 * (1.0 - u ** (1.0 / 1.5))


def flow_matching_loss(expert: ActionExpert, actions: torch.Tensor, cache: PrefixCache, rope: Rope,
                       generator: torch.Generator | None = None,
                       denoised: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """MSE between the predicted and the target velocity x - eps for normalised actions (B, T, 2). With
    denoised, also the expert's estimate of the clean actions x_t + (1 - t) v (B, T, 2) (with gradient), which
    `speed_profile_loss` compares with the target."""
    noise = torch.randn(actions.shape, generator=generator).to(actions)
    t = sample_flow_time(actions.shape[0], generator).to(actions)
    x_t = t[:, None, None] * actions + (1.0 - t[:, None, None]) * noise
    velocity = expert(x_t, t, cache, rope)
    loss = F.mse_loss(velocity, actions - noise)
    if not denoised:
        return loss
    return loss, x_t + (1.0 - t[:, None, None]) * velocity


def speed_profile_loss(estimate: torch.Tensor, actions: torch.Tensor, acceleration_std: float,
                       dt: float) -> torch.Tensor:
    """Mean squared error [(m/s)^2] of the speed change over the horizon implied by estimated normalised actions
    (B, T, 2) against the target's: per waypoint k, (std dt sum_{j<=k} (a_hat_j - a_j))^2, averaged over the
    waypoints and the batch (the acceleration's mean cancels). The flow loss weighs a per-step acceleration bias
    b as b^2; the speed 2 s later is off by 20 dt std b, which is what a planner that does not brake gets wrong
    (docs/architecture.md, "A speed-profile loss")."""
    error = torch.cumsum(estimate[..., 0] - actions[..., 0], dim=-1) * (acceleration_std * dt)
    return error.square().mean()


@torch.inference_mode()
def integrate(expert: ActionExpert, cache: PrefixCache, rope: Rope, noise: torch.Tensor, steps: int,
              dtype: torch.dtype | None = None) -> torch.Tensor:
    """Euler integration of the flow from noise (B K, T, 2) at t = 0 to normalised actions at t = 1, for a
    cache of batch B (each sequence gets K = noise batch / B consecutive samples). dtype: of the layers'
    matrix products (default the expert's `integrate_dtype`; float32 is the training forward exactly), used from
    `LOW_PRECISION_MIN_ROWS` rows (B K x T) up.

    The prefix keys/values are copied once into per-layer buffers of batch B K with room for the T action
    tokens, so each step writes only its own keys/values instead of concatenating the whole prefix again.
    """
    total, horizon, _ = noise.shape
    batch = cache.valid.shape[0]
    if total % batch:
        raise ValueError(f"noise batch {total} is not a multiple of the cache batch {batch}")
    samples = total // batch
    workspace = []
    for keys, values in zip(cache.keys, cache.values):
        heads, length, dim = keys.shape[1:]
        k = keys.new_empty((batch, samples, heads, length + horizon, dim))
        v = values.new_empty(k.shape)
        k[:, :, :, :length] = keys[:, None]
        v[:, :, :, :length] = values[:, None]
        workspace.append((k.flatten(0, 1), v.flatten(0, 1)))
    expanded = PrefixCache([k[:, :, :-horizon] for k, _ in workspace], [v[:, :, :-horizon] for _, v in workspace],
                           cache.valid.repeat_interleave(samples, 0), cache.next_position.repeat_interleave(samples, 0),
                           condition=None if cache.condition is None else cache.condition.repeat_interleave(samples, 0))
    dtype = dtype or expert.integrate_dtype
    low = None if dtype == torch.float32 or total * horizon < LOW_PRECISION_MIN_ROWS else \
        expert.low_precision_weights(dtype)
    rotary: list[tuple[torch.Tensor, torch.Tensor]] = []

    def rope_once(positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The action tokens' positions are the same at every step: their rotary tables once (~0.1 ms each)."""
        if not rotary:
            rotary.append(rope(positions))
        return rotary[0]

    x = noise
    dt = 1.0 / steps
    for i in range(steps):
        t = torch.full((total,), i * dt, dtype=noise.dtype)
        x = x + dt * expert(x, t, expanded, rope_once, workspace, low)
    return x
