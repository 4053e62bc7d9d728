"""The auxiliary perception head: hand-computed losses, attention only over image tokens, targets from the
samples' QA pairs, and a tiny model whose image tokens learn a fact through it."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from cordillera.model import CordilleraVLA, ModelConfig
from cordillera.model.config import ConfigError, PerceptionConfig, VisionConfig
from cordillera.model.encoders import VisionEncoder
from cordillera.model.perception import (CONFIDENT_LOGIT, DISTANCE_SCALE_M, PerceptionHead, describe,
                                        facts_as_outputs, perception_loss)
from cordillera.model.processor import SampleError

NAN = math.nan
LEAD_Q = "What is the vehicle ahead doing?"


def test_loss_by_hand():
    outputs = torch.zeros(2, 14)
    outputs[0, 1] = 0.25  # lead distance 10 m predicted, 20 m true: |0.25 - 0.5| = 0.25 < 1 -> 0.5 x 0.25^2
    targets = torch.tensor([[1.0, 20.0, 0.0, 0.0, NAN, 2.0, 1.0],
                            [0.0, NAN, NAN, NAN, NAN, NAN, 3.0]])
    got = perception_loss(outputs, targets)
    ln2 = math.log(2.0)
    assert got["lead"].item() == pytest.approx(ln2)  # logit 0 against 1 and 0: ln 2 each
    assert got["lead_distance"].item() == pytest.approx(0.5 * 0.25 ** 2)  # only the row where a lead is there
    assert got["lead_stopped"].item() == pytest.approx(ln2)
    assert got["crossing"].item() == pytest.approx(ln2)
    assert got["crossing_distance"].item() == 0.0  # no row knows it
    assert got["signal"].item() == pytest.approx(math.log(5))  # uniform logits over 5 classes
    assert got["control"].item() == pytest.approx(math.log(4))
    assert got["perception"].item() == pytest.approx(3 * ln2 + 0.5 * 0.25 ** 2 + math.log(5) + math.log(4))
    assert DISTANCE_SCALE_M == 40.0


def test_head_attends_only_to_image_tokens():
    torch.manual_seed(0)
    head = PerceptionHead(PerceptionConfig(enabled=True, queries=2, hidden_size=16), d_model=8)
    embeds = torch.randn(2, 6, 8)
    mask = torch.tensor([[True, True, False, False, False, False], [False, False, False, True, True, True]])
    out = head(embeds, mask)
    assert out.shape == (2, 14)
    changed = embeds.clone()
    changed[0, 2:] += 5.0  # not image tokens of sample 0
    changed[1, :3] -= 3.0
    assert torch.equal(head(changed, mask), out)
    changed[0, 0] += torch.randn(8)  # (a constant shift would vanish in the head's LayerNorm)
    assert not torch.allclose(head(changed, mask)[0], out[0])
    with pytest.raises(ValueError, match="image tokens"):
        head(embeds, torch.zeros(2, 6, dtype=torch.bool))


def test_config_validation_and_avg_max_pooling():
    with pytest.raises(ConfigError, match="queries"):
        PerceptionConfig(queries=0)
    with pytest.raises(ConfigError, match="enabled"):
        PerceptionConfig(enabled="yes")
    with pytest.raises(ConfigError, match="pool"):
        VisionConfig(pool="median")
    config = ModelConfig()
    enc = VisionEncoder(replace(config.vision, pool="avg+max"), config.rig, d_model=16)
    images = torch.zeros((2, 3, config.rig.image_height, config.rig.image_width), dtype=torch.uint8)
    images[0, :, 10:12, 40:42] = 255  # one small bright spot: max pooling keeps it at full strength
    assert enc(images, torch.tensor([1, 1]), torch.tensor([0, 0])).shape == (2, 8, 16)
    assert enc.proj.in_features == 2 * config.vision.channels[-1]
    doc = replace(config, perception=PerceptionConfig(enabled=True)).to_dict()
    assert ModelConfig.from_dict(doc).perception.enabled is True
    with pytest.raises(ConfigError, match="perception"):
        ModelConfig.from_dict({"perception": {"heads": 2}})


def test_sample_facts_are_validated(make_sample):
    assert make_sample(0).facts is None
    with pytest.raises(SampleError, match="facts"):
        replace(make_sample(0), facts=np.zeros(3))


def test_collate_fills_facts(make_model, make_sample):
    model = make_model()
    lead = replace(make_sample(0), qa=((LEAD_Q, "The car 12 m ahead in our lane is stopped (0.0 m/s)."),))
    given = replace(make_sample(1), facts=np.array([0, NAN, NAN, 1, 7, 0, 0], dtype=np.float32))
    facts = model.processor.collate([lead, given, make_sample(2)], targets=True).facts.numpy()
    assert np.allclose(facts[0, :3], [1, 12, 1]) and np.isnan(facts[0, 3:]).all()
    assert np.allclose(facts[1], given.facts, equal_nan=True)
    assert np.isnan(facts[2]).all()  # no QA, no facts: the sample adds nothing to the perception loss
    assert model.processor.collate([lead], targets=False).facts is None
    assert float(model.loss(model.processor.collate([lead], targets=True))["perception"]) == 0.0  # no head


def test_a_tiny_model_learns_a_fact_through_its_image_tokens(make_sample, tiny_config, tokenizer):
    config = replace(tiny_config, perception=PerceptionConfig(enabled=True, queries=2, hidden_size=32))
    torch.manual_seed(0)
    model = CordilleraVLA(config, tokenizer).train()
    front = [tiny_config.rig.cameras[1]]

    def lit(seed, bright):
        # a bright block in the lower half, or none (structure, not overall brightness: the stem's GroupNorm
        # removes an image's mean); the same navigation text for all, so nothing but the pixels tells them apart
        sample = make_sample(seed, cameras=front, navigation="continue straight")
        frames = {name: np.full_like(f, 20) for name, f in sample.cameras.items()}
        for f in frames.values():
            f[:, f.shape[1] // 2:, : f.shape[2] // 2] = 230 if bright else 20
        facts = np.array([float(bright), 10.0 if bright else NAN] + [NAN] * 5, dtype=np.float32)
        return replace(sample, cameras=frames, facts=facts)

    train = [lit(seed, seed % 2 == 0) for seed in range(4)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for step in range(30):
        losses = model.loss(model.processor.collate(train, targets=True), generator=torch.Generator().manual_seed(step))
        first = float(losses["perception"].detach()) if first is None else first
        optimizer.zero_grad()
        losses["perception"].backward()
        assert model.vision.proj.weight.grad.abs().sum() > 0  # the gradient reaches the encoder
        optimizer.step()
    model.eval()
    test = [lit(100, True), lit(101, False)]
    batch = model.processor.collate(test, targets=True)
    with torch.no_grad():
        out = model.perception(model.embed(batch), batch.input_ids == model.processor.ids["image_pad"])
    assert float(losses["perception"].detach()) < 0.2 * first
    assert out[0, 0] > 0 > out[1, 0]  # bright -> "lead", dark -> "clear"
    assert abs(float(out[0, 1]) * DISTANCE_SCALE_M - 10.0) < 3.0


def test_save_and_load_keep_the_head(make_sample, tiny_config, tokenizer, tmp_path):
    config = replace(tiny_config, perception=PerceptionConfig(enabled=True))
    torch.manual_seed(0)
    model = CordilleraVLA(config, tokenizer).eval()
    model.save_pretrained(tmp_path / "m")
    loaded = CordilleraVLA.from_pretrained(tmp_path / "m")
    assert loaded.config.perception.enabled
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name


def test_to_expert_feeds_the_heads_predictions_to_the_planner(make_sample, tiny_config, tokenizer):
    with pytest.raises(ConfigError, match="needs the head"):
        PerceptionConfig(to_expert=True)
    with pytest.raises(ConfigError, match="direct_inputs"):
        replace(tiny_config, perception=PerceptionConfig(enabled=True, to_expert=True),
                expert=replace(tiny_config.expert, direct_inputs=False))
    config = replace(tiny_config, perception=PerceptionConfig(enabled=True, queries=2, hidden_size=16, to_expert=True))
    torch.manual_seed(0)
    model = CordilleraVLA(config, tokenizer).eval()
    torch.nn.init.normal_(model.expert.out_proj.weight, std=0.1)  # zero at init: a trained expert's is not
    batch = model.processor.collate([make_sample(0)], targets=True)

    def flow_loss():  # the expert's velocity error at fixed noise and flow time
        with torch.no_grad():
            return float(model.loss(batch, generator=torch.Generator().manual_seed(3))["flow"])

    before = flow_loss()
    with torch.no_grad():
        model.perception.mlp[-1].bias[0] += 5.0  # the head now sees "a vehicle ahead" more strongly
    assert flow_loss() != pytest.approx(before, rel=1e-4)  # ... and the planner reads it
    # the flow loss does not train the head: only its own loss does (the predictions enter detached)
    lead = replace(make_sample(1), qa=((LEAD_Q, "The car 12 m ahead in our lane is stopped (0.0 m/s)."),))
    model.train()
    model.loss(model.processor.collate([lead], targets=True))["flow"].backward()
    assert all(p.grad is None or not p.grad.any() for p in model.perception.parameters())
    assert model.expert_inputs[0].weight.grad.abs().sum() > 0


def test_facts_are_written_as_the_head_writes_its_outputs():
    facts = torch.tensor([[1.0, 12.0, 1.0, 0.0, NAN, 2.0, 3.0],  # a stopped car 12 m ahead, yellow, a signal
                          [0.0, NAN, NAN, NAN, NAN, NAN, 0.0]])  # no lead; crossing and signal unknown
    out, known = facts_as_outputs(facts)
    c = CONFIDENT_LOGIT
    np.testing.assert_allclose(out[0].numpy(), [c, 0.3, c, -c, 0, 0, 0, c, 0, 0, 0, 0, 0, c])
    assert known[0].tolist() == [True] * 4 + [False] + [True] * 9
    np.testing.assert_allclose(out[1, [0, 10]].numpy(), [-c, c])
    assert known[1].tolist() == [True] + [False] * 9 + [True] * 4
    first = describe(out)[0]  # and they read back as the facts
    assert first["vehicle_ahead"] > 0.98 and first["vehicle_distance_m"] == 12.0 and first["vehicle_stopped"] > 0.98
    assert first["crossing"] < 0.02 and first["signal"] == "yellow" and first["control"] == "signal"
    # a model trained with true facts reads them in place of the head's predictions, where they are known
    loss = perception_loss(out, facts)
    assert loss["lead"] < 0.02 and loss["lead_distance"] == 0.0 and loss["signal"] < 0.1


def test_true_facts_replace_the_predictions_the_expert_reads(make_sample, tiny_config, tokenizer):
    config = replace(tiny_config, perception=PerceptionConfig(enabled=True, queries=2, hidden_size=16, to_expert=True))
    torch.manual_seed(0)
    model = CordilleraVLA(config, tokenizer).eval()
    torch.nn.init.normal_(model.expert.out_proj.weight, std=0.1)  # zero at init: a trained expert's is not
    lead = replace(make_sample(1), qa=((LEAD_Q, "The car 12 m ahead in our lane is stopped (0.0 m/s)."),))
    batch = model.processor.collate([lead, make_sample(2)], targets=True)
    seen = []
    model.expert_inputs.register_forward_hook(lambda module, args, out: seen.append(args[0][:, -14:].clone()))
    with torch.no_grad():
        heads = model.perceive(batch, model.embed(batch))
        model.expert_condition(batch)
        model.expert_condition(batch, true_facts=torch.tensor([True, False]))
    np.testing.assert_allclose(seen[0].numpy(), heads.numpy(), rtol=1e-6)  # by default: the head's predictions
    truth, known = facts_as_outputs(batch.facts)
    np.testing.assert_allclose(seen[1][0][known[0]].numpy(), truth[0][known[0]].numpy())  # forced row: the facts
    np.testing.assert_allclose(seen[1][0][~known[0]].numpy(), heads[0][~known[0]].numpy(), rtol=1e-6)  # unknown
    np.testing.assert_allclose(seen[1][1].numpy(), heads[1].numpy(), rtol=1e-6)  # the other row: untouched
    with torch.no_grad():  # and the flow loss sees the difference
        plain = model.loss(batch, generator=torch.Generator().manual_seed(3))["flow"]
        forced = model.loss(batch, generator=torch.Generator().manual_seed(3), true_facts=torch.tensor([True, True]))
    assert float(forced["flow"]) != pytest.approx(float(plain), rel=1e-6)


def test_describe_reads_the_outputs():
    outputs = torch.zeros(1, 14)
    outputs[0, 0], outputs[0, 1] = 2.0, 0.3  # logit 2 -> 0.881; 0.3 x 40 m = 12 m
    outputs[0, 5 + 1] = 3.0  # signal "red"
    got = describe(outputs)[0]
    assert got["vehicle_ahead"] == pytest.approx(0.881, abs=1e-3) and got["vehicle_distance_m"] == 12.0
    assert got["signal"] == "red" and got["signal_probability"] > 0.8
    assert got["control"] == "none" and got["control_probability"] == 0.25  # uniform over 4


def test_dense_head_loss_joins_the_perception_term_and_survives_save(make_sample, tiny_config, tokenizer, tmp_path):
    from cordillera.world.render.appearance import depth_code

    config = replace(tiny_config, perception=PerceptionConfig(dense=True))  # dense target without the facts head
    torch.manual_seed(0)
    model = CordilleraVLA(config, tokenizer).train()
    rig = config.rig
    sample = make_sample(0)
    plain = model.loss(model.processor.collate([sample], targets=True))
    assert float(plain["perception"].detach()) == 0.0  # no codes: nothing to learn, but still in the graph
    codes = np.zeros((rig.image_height, rig.image_width), dtype=np.uint8)
    codes[:, : rig.image_width // 2] = depth_code(30.0)
    batch = model.processor.collate([replace(sample, depth={name: codes for name in sample.cameras})], targets=True)
    losses = model.loss(batch)
    assert float(losses["perception"].detach()) > 0.5  # an untrained head: about log(6) per cell
    losses["perception"].backward()
    assert model.vision.dense.weight.grad.abs().sum() > 0 and model.vision.stem[0].weight.grad.abs().sum() > 0
    assert model.perception is None
    model.save_pretrained(tmp_path / "m")
    loaded = CordilleraVLA.from_pretrained(tmp_path / "m")
    assert loaded.config.perception.dense and loaded.vision.dense is not None
    assert torch.equal(loaded.vision.dense.weight, model.vision.dense.weight)
