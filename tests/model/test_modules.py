"""Shapes of every module; KV-cache decoding equals full recomputation; the expert reads the cache."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from cordillera.model.backbone import Backbone, apply_rotary
from cordillera.model.config import BackboneConfig, ConfigError, ExpertConfig, ModelConfig, VisionConfig
from cordillera.model.encoders import FourierFeatures, ResidualBlock, TokenMLP, VisionEncoder
from cordillera.model.expert import ActionExpert, flow_matching_loss, integrate, sample_flow_time, speed_profile_loss

SMALL = BackboneConfig(hidden_size=64, num_layers=2, num_heads=4, num_kv_heads=2, head_dim=16, intermediate_size=96,
                       vocab_size=128, max_positions=256)


def test_vision_encoder_shapes(tiny_config):
    enc = VisionEncoder(tiny_config.vision, tiny_config.rig, d_model=48)
    images = torch.randint(0, 256, (5, 3, tiny_config.rig.image_height, tiny_config.rig.image_width), dtype=torch.uint8)
    out = enc(images, torch.tensor([0, 1, 2, 6, 6]), torch.tensor([0, 1, 0, 1, 0]))
    assert out.shape == (5, tiny_config.vision.tokens_per_image, 48)
    # token count is set by pooling, not by resolution
    big = torch.randint(0, 256, (2, 3, 64, 128), dtype=torch.uint8)
    assert enc(big, torch.tensor([0, 1]), torch.tensor([0, 0])).shape == (2, tiny_config.vision.tokens_per_image, 48)


def test_default_vision_tokens():
    config = ModelConfig()
    enc = VisionEncoder(config.vision, config.rig, d_model=32)
    images = torch.zeros((1, 3, config.rig.image_height, config.rig.image_width), dtype=torch.uint8)
    assert enc(images, torch.tensor([1]), torch.tensor([0])).shape == (1, 8, 32)


def test_residual_blocks_start_as_the_plain_stem_and_learn():
    config = ModelConfig()
    torch.manual_seed(0)
    plain = VisionEncoder(config.vision, config.rig, d_model=32)
    deep = VisionEncoder(replace(config.vision, blocks=1), config.rig, d_model=32)
    assert sum(isinstance(m, ResidualBlock) for m in deep.stem) == len(config.vision.channels)
    # copy the plain stem's weights into the deeper one: zero-initialised blocks are the identity
    mapping = [i for i, m in enumerate(deep.stem) if not isinstance(m, ResidualBlock)]
    shared = {}
    for k, v in plain.state_dict().items():
        if k.startswith("stem."):
            index, rest = k.split(".", 2)[1:]
            k = f"stem.{mapping[int(index)]}.{rest}"
        shared[k] = v
    missing = deep.load_state_dict(shared, strict=False).missing_keys
    assert missing and all(".body." in k for k in missing)
    images = torch.randint(0, 256, (3, 3, config.rig.image_height, config.rig.image_width), dtype=torch.uint8)
    camera, age = torch.tensor([0, 1, 6]), torch.tensor([0, 1, 3])
    assert torch.allclose(deep(images, camera, age), plain(images, camera, age), atol=1e-6)
    deep(images, camera, age).square().sum().backward()
    block = next(m for m in deep.stem if isinstance(m, ResidualBlock))
    assert block.body[-1].weight.grad.abs().sum() > 0  # the zero scale is trained, so the block can grow


def test_vision_blocks_validation():
    with pytest.raises(ConfigError, match="VisionConfig.blocks"):
        VisionConfig(blocks=-1)
    assert ModelConfig.from_dict(ModelConfig(vision=VisionConfig(blocks=2)).to_dict()).vision.blocks == 2


def test_token_mlp_and_fourier():
    assert TokenMLP(4, 16, 32)(torch.randn(3, 16, 4)).shape == (3, 16, 32)
    fourier = FourierFeatures(6, 32.0)
    assert fourier(torch.randn(2, 64)).shape == (2, 64, fourier.out_features) and fourier.out_features == 13


@pytest.mark.parametrize("family", ["llama", "qwen2"])
def test_kv_cache_decoding_equals_full_recomputation(family):
    torch.manual_seed(0)
    backbone = Backbone(replace(SMALL, family=family), vocab_size=128).eval()
    embeds = torch.randn(2, 20, 64)
    mask = torch.ones(2, 20, dtype=torch.bool)
    mask[0, :3] = False  # left padding
    positions = (mask.long().cumsum(1) - 1).clamp(min=0)
    with torch.no_grad():
        full, _ = backbone(embeds, mask, positions)
        _, cache = backbone(embeds[:, :14], mask[:, :14], positions[:, :14])
        exact = backbone.fuse(torch.float32)
        steps = [backbone.decode(embeds[:, i: i + 1], cache, mask[:, i: i + 1], exact) for i in range(14, 17)]
        steps.append(backbone.decode(embeds[:, 17:20], cache, mask[:, 17:20], exact))  # three tokens at once
    decoded = torch.cat(steps, dim=1)
    valid = mask[:, 14:]
    torch.testing.assert_close(decoded[valid], full[:, 14:][valid], atol=2e-5, rtol=1e-4)
    assert cache.length == 20 and cache.next_position.tolist() == [17, 20]
    torch.testing.assert_close(cache.keys[1][:, :, :14], backbone(embeds[:, :14], mask[:, :14], positions[:, :14])[1].keys[1])


def test_rope_tables_equal_the_rotary_embedding_and_serve_training_after_inference():
    """`Backbone.rope` reads rows of tables the model's rotary embedding computed once: the same numbers as
    calling it; positions past the tables are computed; tables built under inference mode still serve a
    training step's backward (the RL loop samples, then updates)."""
    backbone = Backbone(SMALL, vocab_size=128)
    positions = torch.tensor([[0, 1, 7, 255], [3, 3, 100, 200]])
    with torch.inference_mode():
        cos, sin = backbone.rope(positions)
    expected = backbone._rotary(positions, backbone.model.embed_tokens.weight)
    assert torch.equal(cos, expected[0]) and torch.equal(sin, expected[1]) and cos.shape == (2, 1, 4, 16)
    far = torch.tensor([[300, -1]])  # max_positions 256; a negative position must not wrap around the table
    assert all(torch.equal(a, b) for a, b in zip(backbone.rope(far), backbone._rotary(far, backbone.model.embed_tokens.weight)))
    x = torch.randn(2, 2, 4, 16, requires_grad=True)
    cos, sin = backbone.rope(positions)
    apply_rotary(x, cos, sin).sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())


@pytest.mark.parametrize("family", ["llama", "qwen2"])
@pytest.mark.parametrize("padded", [True, False])
def test_prefill_equals_forward(family, padded):
    """`prefill` (decode over an empty cache, generate's prompt pass) gives forward's hidden states and cache:
    to float rounding with float32 products, closely with bfloat16 ones; left-padding rows stay finite."""
    torch.manual_seed(0)
    embeds = torch.randn(2, 70, 64)  # 140 rows: from WIDE_MIN_ROWS up, prefill_dtype products
    mask = torch.ones(2, 70, dtype=torch.bool)
    if padded:
        mask[0, :5] = False
    positions = (mask.long().cumsum(1) - 1).clamp(min=0)
    for dtype, tolerance in (("float32", 2e-5), ("bfloat16", 5e-2)):
        torch.manual_seed(1)
        backbone = Backbone(replace(SMALL, family=family, prefill_dtype=dtype), vocab_size=128).eval()
        with torch.no_grad():
            full, reference = backbone(embeds, mask, positions)
            hidden, cache = backbone.prefill(embeds, mask)
        assert bool(torch.isfinite(hidden).all())
        torch.testing.assert_close(hidden[mask], full[mask], atol=tolerance, rtol=tolerance)
        for layer in range(SMALL.num_layers):
            keys, expected = cache.keys[layer].transpose(1, 2)[mask], reference.keys[layer].transpose(1, 2)[mask]
            torch.testing.assert_close(keys, expected, atol=tolerance, rtol=tolerance)
        assert torch.equal(cache.valid, mask) and torch.equal(cache.next_position, reference.next_position)
        wide = backbone.fuse().pick(140)[0][0][1].dtype
        assert wide == (torch.bfloat16 if dtype == "bfloat16" else torch.float32)


def test_float16_decode_weights_stay_close():
    torch.manual_seed(0)
    backbone = Backbone(SMALL, vocab_size=128).eval()
    embeds = torch.randn(1, 12, 64)
    mask = torch.ones(1, 12, dtype=torch.bool)
    positions = torch.arange(12)[None]
    with torch.no_grad():
        full, _ = backbone(embeds, mask, positions)
        _, cache = backbone(embeds[:, :8], mask[:, :8], positions[:, :8])
        half = backbone.fuse(torch.float16)
        assert half.low_lm_head.dtype == torch.float16 and half.low_layers[0][1].dtype == torch.float16
        assert half.pick(2)[1].dtype == torch.float32  # several rows: float32 products
        decoded = torch.cat([backbone.decode(embeds[:, i: i + 1], cache, mask[:, :1], half) for i in range(8, 12)], 1)
        assert cache.keys[0].dtype == torch.float32
        logits = backbone.decode_logits(decoded, half)
    torch.testing.assert_close(decoded, full[:, 8:], atol=5e-3, rtol=5e-3)
    torch.testing.assert_close(logits, backbone.logits(full[:, 8:]), atol=5e-3, rtol=5e-3)


def test_decode_ignores_invalid_tokens():
    torch.manual_seed(0)
    backbone = Backbone(SMALL, vocab_size=128).eval()
    embeds = torch.randn(1, 10, 64)
    mask = torch.ones(1, 10, dtype=torch.bool)
    positions = torch.arange(10)[None]
    with torch.no_grad():
        _, cache = backbone(embeds, mask, positions)
        backbone.decode(torch.randn(1, 1, 64), cache, torch.zeros(1, 1, dtype=torch.bool))  # a finished sequence
        after = backbone.decode(embeds[:, :1], cache, torch.ones(1, 1, dtype=torch.bool))
        _, clean = backbone(embeds, mask, positions)
        reference = backbone.decode(embeds[:, :1], clean, torch.ones(1, 1, dtype=torch.bool))
    torch.testing.assert_close(after, reference, atol=1e-5, rtol=1e-4)


def expert_and_cache(length: int = 12, batch: int = 2):
    torch.manual_seed(0)
    backbone = Backbone(SMALL, vocab_size=128).eval()
    expert = ActionExpert(ExpertConfig(hidden_size=32, num_heads=4, intermediate_size=64, fourier_features=4,
                                       input_hidden=32), SMALL, horizon=64).eval()
    torch.nn.init.normal_(expert.out_proj.weight, std=0.5)  # zero at init: make the output depend on the input
    with torch.no_grad():
        _, cache = backbone(torch.randn(batch, length, 64), torch.ones(batch, length, dtype=torch.bool),
                            torch.arange(length).expand(batch, length))
    return backbone, expert, cache


def test_expert_shapes_and_shared_layout():
    backbone, expert, cache = expert_and_cache()
    assert len(expert.layers) == SMALL.num_layers
    v = expert(torch.randn(2, 64, 2), torch.rand(2), cache, backbone.rope)
    assert v.shape == (2, 64, 2)
    loss = flow_matching_loss(expert, torch.randn(2, 64, 2), cache, backbone.rope, torch.Generator().manual_seed(0))
    loss.backward()
    assert expert.out_proj.weight.grad is not None
    t = sample_flow_time(10_000, torch.Generator().manual_seed(0))
    assert 0.0 <= float(t.min()) and float(t.max()) < 0.999 and float(t.mean()) < 0.5  # skewed to noise


def test_denoised_estimate_is_the_clean_actions_the_velocity_points_to():
    backbone, expert, cache = expert_and_cache()
    actions = torch.randn(2, 64, 2)
    plain = flow_matching_loss(expert, actions, cache, backbone.rope, torch.Generator().manual_seed(0))
    loss, estimate = flow_matching_loss(expert, actions, cache, backbone.rope, torch.Generator().manual_seed(0),
                                        denoised=True)
    assert torch.equal(loss, plain)  # the same draws: asking for the estimate changes nothing else
    # redo the draws: x_t + (1 - t) v with v the expert's output at (x_t, t)
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(actions.shape, generator=generator)
    t = sample_flow_time(2, generator)
    x_t = t[:, None, None] * actions + (1 - t[:, None, None]) * noise
    with torch.no_grad():
        expected = x_t + (1 - t[:, None, None]) * expert(x_t, t, cache, backbone.rope)
    assert torch.allclose(estimate.detach(), expected, atol=1e-6)
    assert estimate.requires_grad


def test_speed_profile_loss_by_hand():
    target = torch.zeros(1, 4, 2)
    estimate = torch.zeros(1, 4, 2)
    estimate[0, :2, 0] = 1.0  # one std of extra acceleration for two steps of 0.5 s, std 2 m/s^2
    estimate[0, :, 1] = 5.0  # the lateral dimension does not count
    # cumulative speed errors: 1 m/s, 2, 2, 2 -> squares 1, 4, 4, 4 -> mean 3.25
    assert float(speed_profile_loss(estimate, target, acceleration_std=2.0, dt=0.5)) == pytest.approx(3.25)
    # a bias that cancels (+1 then -1) leaves the speed right after the second step: 1, 0, 0, 0 -> 0.25
    estimate[0, 1, 0] = -1.0
    assert float(speed_profile_loss(estimate, target, acceleration_std=2.0, dt=0.5)) == pytest.approx(0.25)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_integrate_matches_per_step_calls_and_samples(dtype):
    backbone, expert, cache = expert_and_cache(batch=1)
    noise = torch.randn(3, 64, 2)  # 192 rows: bfloat16 products when asked
    out = integrate(expert, cache, backbone.rope, noise, steps=4, dtype=dtype)
    low = None if dtype == torch.float32 else expert.low_precision_weights(dtype)
    with torch.no_grad():
        x, repeated = noise, cache.repeat(3)
        for i in range(4):
            x = x + 0.25 * expert(x, torch.full((3,), i / 4), repeated, backbone.rope, low=low)
    torch.testing.assert_close(out, x, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(out[0], out[1])  # different noise, different samples


def test_integrate_keeps_float32_products_for_few_rows_and_low_copies_follow_the_weights():
    backbone, expert, cache = expert_and_cache(batch=1)
    noise = torch.randn(1, 64, 2)  # 64 rows < LOW_PRECISION_MIN_ROWS: bfloat16 would be slower there
    assert torch.equal(integrate(expert, cache, backbone.rope, noise, steps=3, dtype=torch.bfloat16),
                       integrate(expert, cache, backbone.rope, noise, steps=3, dtype=torch.float32))
    first = expert.low_precision_weights(torch.bfloat16)
    assert expert.low_precision_weights(torch.bfloat16) is first  # copied once per parameter state
    with torch.no_grad():
        expert.layers[0].gate_up_proj.weight.mul_(2.0)  # an in-place write (as an optimizer step)
    again = expert.low_precision_weights(torch.bfloat16)
    assert again is not first
    torch.testing.assert_close(again[0][1].float(), expert.layers[0].gate_up_proj.weight, atol=0.05, rtol=0.01)


def test_expert_reads_the_cache():
    backbone, expert, cache = expert_and_cache(batch=1)
    noise = torch.randn(1, 64, 2)
    base = integrate(expert, cache, backbone.rope, noise, steps=3)  # one sample: float32 products
    changed = cache.repeat(1)
    changed.values[0] = changed.values[0] + 1.0
    assert (integrate(expert, changed, backbone.rope, noise, steps=3) - base).abs().max() > 1e-3
    masked = cache.repeat(1)
    masked.values[1] = masked.values[1].clone()
    masked.values[1][:, :, 4] += 10.0
    masked.valid[:, 4] = False
    unmasked = cache.repeat(1)
    unmasked.valid[:, 4] = False
    torch.testing.assert_close(integrate(expert, masked, backbone.rope, noise, steps=3),
                               integrate(expert, unmasked, backbone.rope, noise, steps=3))
