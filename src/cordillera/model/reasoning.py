"""What a plan's reasoning holds, the decision parsed from its text, and token sampling.

    >>> from cordillera.model.reasoning import parse_decision
    >>> parse_decision("Yield to the pedestrian on the crosswalk, then turn left")
    {'longitudinal': 'Yield', 'lateral': 'Turn left'}

The decision labels are the released CoC autolabeler's taxonomy (dataset_and_coc.md §2.2), which the
evaluation's consistency metric (`eval.metrics.reasoning.consistency`) accepts as a mapping. A text that
states nothing recognisable gives None for that channel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

__all__ = ["PlanReasoning", "parse_decision", "sample_token"]

# (pattern, channel, label); a label containing "{d}" takes the first "left"/"right" after the match.
_DECISIONS: tuple[tuple[str, str, str], ...] = (
    (r"\bstop(s|ping|ped)?\b", "longitudinal", "Stop"),
    (r"\byield", "longitudinal", "Yield"),
    (r"\b(overtak\w*|pass(es|ing)?)\b", "longitudinal", "Pass/Overtake"),
    (r"\bgap", "longitudinal", "Gap-search"),
    (r"\b(keep (a )?distance|follow\w*)\b", "longitudinal", "Keep Distance"),
    (r"\b(adapt\w* speed|slow\w*|decelerat\w*|brak\w*)\b", "longitudinal", "Adapt Speed"),
    (r"\b(resum\w*|accelerat\w*|speed up|set speed)\b", "longitudinal", "Resume Speed"),
    (r"\b(lane change|chang\w* lanes?)\b", "lateral", "Lane Change {d}"),
    (r"\bnudg\w*", "lateral", "Nudge {d}"),
    (r"\bturn\w*", "lateral", "Turn {d}"),
    (r"\bmerg\w*", "lateral", "Merge"),
    (r"\bsplit\w*", "lateral", "Split"),
    (r"\bpull\w* over\b", "lateral", "Pull over"),
    (r"\babort\w*", "lateral", "Abort"),
    (r"\b(keep\w* (the |its |our )?lane|lane keep\w*|stay\w* in (the )?lane)\b", "lateral", "Keep Lane"),
)


def parse_decision(text: str | None) -> dict[str, str | None]:
    """The longitudinal and lateral decision a reasoning text states: the earliest match per channel."""
    found: dict[str, tuple[int, str]] = {}
    lowered = (text or "").lower()
    for pattern, channel, label in _DECISIONS:
        match = re.search(pattern, lowered)
        if match is None or (channel in found and found[channel][0] <= match.start()):
            continue
        if "{d}" in label:
            side = re.search(r"\b(left|right)\b", lowered[match.end():])
            label = label.format(d=side.group(1) if side else "").strip()
        found[channel] = (match.start(), label)
    return {channel: found[channel][1] if channel in found else None for channel in ("longitudinal", "lateral")}


@dataclass(frozen=True)
class PlanReasoning:
    """What a VLA plan carries besides its poses (`Plan.reasoning`).

    text: the Chain-of-Causation text ("" when the model did not reason); decision: {"longitudinal",
    "lateral"} labels parsed from the text (None where it states none); reasoned: whether reasoning was
    written; gate_probability: the model's P(reasoning) for the scene (the auto-mode gate); tokens: text
    tokens generated; timings: seconds per stage (preprocess, vision, prefill, generation, expert, total).
    """

    text: str
    decision: dict
    reasoned: bool
    gate_probability: float
    tokens: int
    timings: dict

    @classmethod
    def from_text(cls, text: str | None, gate_probability: float, tokens: int, timings: dict) -> "PlanReasoning":
        return cls(text or "", parse_decision(text), text is not None, float(gate_probability), int(tokens),
                   dict(timings))


def sample_token(logits: torch.Tensor, temperature: float, top_p: float,
                 generator: torch.Generator | None) -> torch.Tensor:
    """Next token ids (B,) from logits (B, V): greedy when temperature <= 0, else nucleus sampling (the
    smallest set of tokens whose probability reaches top_p) at the given temperature."""
    if temperature <= 0.0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    outside = sorted_probs.cumsum(-1) - sorted_probs >= top_p  # the first token always stays
    sorted_probs = sorted_probs.masked_fill(outside, 0.0)
    choice = torch.multinomial(sorted_probs, 1, generator=generator)
    return order.gather(-1, choice)[:, 0]
