"""Scene question answering: ask a trained VLA what it sees (Alpamayo 1.5's VQA format).

    >>> from cordillera.model.qa import answer
    >>> answer(model, Sample.from_observation(obs), ["What is the vehicle ahead doing?"])
    ['The car 24 m ahead in our lane is slowing (6.8 m/s).']

A model trained with `data.qa_pairs > 0` has seen each sample's scene questions after the part the action
expert reads: prompt, [reasoning], <|traj_future_start|>, <|question_start|> q <|question_end|>
<|answer_start|> a <|answer_end|>. Answering rebuilds that layout without reasoning (the gate's "no
reasoning" path) and decodes greedily until <|answer_end|> or `max_tokens`. The answers are the plainest
probe of what the vision encoder has learned: the teacher's labels come from the privileged state, so a
wrong answer about the vehicle ahead is a perception failure, not a planning one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from cordillera.model.processor import Sample

__all__ = ["answer"]


@torch.inference_mode()
def answer(model, sample: Sample, questions: Sequence[str], max_tokens: int = 40) -> list[str]:
    """The model's greedy answer to each question about one sample (frames, history, route)."""
    if isinstance(questions, str):
        raise TypeError("questions must be a sequence of strings, not one string")
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    if model.config.action.discrete_tokens:
        raise ValueError("answer() needs a model without discrete trajectory tokens (its questions follow them)")
    for question in questions:
        if not isinstance(question, str) or not question.strip():
            raise ValueError(f"a question must be a non-empty string, got {question!r}")
    processor, backbone, ids = model.processor, model.backbone, model.processor.ids
    batch = processor.collate([sample])
    prompt = model.embed(batch)
    allowed = model.text_allowed.clone()
    allowed[ids["cot_end"]] = False
    allowed[ids["answer_end"]] = True
    weights = backbone.fuse()
    answers = []
    for question in questions:
        asked = [ids["traj_future_start"], ids["question_start"], *processor.tokenizer.encode(question),
                 ids["question_end"], ids["answer_start"]]
        embeds = torch.cat([prompt, backbone.embed(torch.tensor([asked]))], dim=1)
        mask = torch.cat([batch.attention_mask, batch.attention_mask.new_ones((1, len(asked)))], dim=1)
        positions = batch.position_ids[:, -1:] + torch.arange(1, len(asked) + 1)[None]
        hidden, cache = backbone(embeds, mask, torch.cat([batch.position_ids, positions], dim=1))
        cache.reserve(max_tokens)
        last, tokens = hidden[:, -1], []
        valid = torch.ones((1, 1), dtype=torch.bool)
        while len(tokens) < max_tokens:
            token = int(backbone.decode_logits(last, weights).masked_fill(~allowed, float("-inf")).argmax())
            if token == ids["answer_end"]:
                break
            tokens.append(token)
            last = backbone.decode(backbone.embed(torch.tensor([[token]])), cache, valid, weights)[:, -1]
        answers.append(processor.tokenizer.decode(tokens))
    return answers
