"""Scene question answering: cached greedy decoding equals full recomputation, a tiny model learns to
answer from its cameras, and bad questions are refused."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from cordillera.model.qa import answer

QUESTION = "Stop for the light ahead"
DARK, BRIGHT = "Stop for the red light at the intersection", "continue straight"


def recomputed_answer(model, sample, question, max_tokens):
    """Greedy answer by re-running the whole teacher-forced sequence for every token (no cache)."""
    proc, tokens = model.processor, []
    allowed = model.text_allowed.clone()
    allowed[proc.ids["cot_end"]] = False
    allowed[proc.ids["answer_end"]] = True
    with torch.no_grad():
        while len(tokens) < max_tokens:
            asked = replace(sample, qa=((question, proc.tokenizer.decode(tokens) if tokens else ""),))
            batch = proc.collate([asked], targets=True)
            hidden, _ = model.teacher_forced(batch)
            before_end = int(batch.attention_mask[0].sum()) - 2  # predicts the token after the answer so far
            logits = model.backbone.logits(hidden[0, before_end]).masked_fill(~allowed, float("-inf"))
            token = int(logits.argmax())
            if token == proc.ids["answer_end"]:
                break
            tokens.append(token)
    return tokens


def test_cached_answer_equals_full_recomputation(make_model, make_sample):
    model = make_model(seed=3)
    sample = make_sample(1)
    got = answer(model, sample, [QUESTION, "continue"], max_tokens=5)
    for question, text in zip([QUESTION, "continue"], got):
        assert text == model.processor.tokenizer.decode(recomputed_answer(model, sample, question, 5))


def test_a_tiny_model_learns_to_answer_from_its_cameras(make_model, make_sample, tiny_config):
    model = make_model(seed=0).train()
    front = [tiny_config.rig.cameras[1]]  # one camera keeps the test cheap
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)

    def lit(seed, bright):
        # a bright block in the lower half or none: structure, since the stem's GroupNorm removes an image's
        # mean; one navigation text for all, so only the pixels tell the answers apart
        sample = make_sample(seed, cameras=front, navigation="continue straight")
        frames = {name: np.full_like(f, 20) for name, f in sample.cameras.items()}
        for f in frames.values():
            f[:, f.shape[1] // 2:, : f.shape[2] // 2] = 230 if bright else 20
        return replace(sample, cameras=frames, qa=((QUESTION, BRIGHT if bright else DARK),))

    train = [lit(seed, seed % 2 == 0) for seed in range(4)]
    for step in range(40):
        batch = model.processor.collate(train, targets=True)
        loss = model.loss(batch, generator=torch.Generator().manual_seed(step))["text"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    assert answer(model, lit(100, True), [QUESTION]) == [BRIGHT]
    assert answer(model, lit(101, False), [QUESTION]) == [DARK]


@pytest.mark.parametrize("questions, kwargs, message", [
    ("Is the light red?", {}, "sequence of strings"),
    ([""], {}, "non-empty string"),
    ([QUESTION], {"max_tokens": 0}, "max_tokens"),
])
def test_bad_questions(make_model, make_sample, questions, kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        answer(make_model(), make_sample(0), questions, **kwargs)
