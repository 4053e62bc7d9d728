"""Perception head: an auxiliary, detection-style target on the image tokens the backbone reads.

    >>> head = PerceptionHead(PerceptionConfig(enabled=True), d_model=256)
    >>> out = head(embeds, image_mask)             # (B, L, d) prompt embeddings, (B, L) image-token mask
    >>> losses = perception_loss(out, targets)     # targets (B, 7) = teacher.qa.SceneFacts.vector(), NaN = unknown

Imitation and text losses alone did not teach the from-scratch vision encoder to see the vehicle ahead
(docs/architecture.md, "Scene QA as an auxiliary target": the v6 model answers "no vehicle ahead" everywhere):
whether the lane is blocked is one token of a long answer and a small part of the trajectory error. This head
asks the image tokens directly, with dense targets on every sample: is there a vehicle in our path, how far,
does it stand still; is someone crossing, how far; the signal state ahead; the traffic control ahead. The
targets are the facts the teacher's QA answers state (`teacher.qa.scene_facts`), so they use only what the
front camera saw. A few learned queries attend over the sample's image tokens (attention pooling: a small
object in one camera is not averaged away with the rest of the rig), then an MLP predicts the facts. The head
reads the tokens after the encoder's projection and embeddings, exactly what the backbone is given, so what
it learns to find is in the backbone's input. By default it is training only; with
`PerceptionConfig.to_expert` its 14 outputs (gradient stopped: only its own loss trains it) also join the
expert's direct inputs, so the planner reads "a stopped vehicle 12 m ahead" as numbers, the way a modular
stack hands perception to planning.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from cordillera.model.config import PerceptionConfig
from cordillera.teacher.qa import CONTROL_CLASSES, SIGNAL_CLASSES  # the classes of the answers the targets come from

__all__ = ["PerceptionConfig", "PerceptionHead", "perception_loss", "describe", "TARGETS", "DISTANCE_SCALE_M",
           "OUTPUTS", "SIGNAL_CLASSES", "CONTROL_CLASSES", "facts_as_outputs", "CONFIDENT_LOGIT"]

TARGETS = ("lead", "lead_distance", "lead_stopped", "crossing", "crossing_distance", "signal", "control")
NUM_SIGNAL, NUM_CONTROL = len(SIGNAL_CLASSES), len(CONTROL_CLASSES)
DISTANCE_SCALE_M = 40.0  # distances are predicted as d / 40 m
OUTPUTS = 5 + NUM_SIGNAL + NUM_CONTROL  # lead, lead distance, stopped, crossing, crossing distance logits/values
CONFIDENT_LOGIT = 4.0  # what a true fact reads as in the head's output format: sigmoid 0.982, softmax ~0.93


class PerceptionHead(nn.Module):
    def __init__(self, config: PerceptionConfig, d_model: int):
        super().__init__()
        self.config = config
        self.norm = nn.LayerNorm(d_model)
        self.queries = nn.Parameter(torch.randn(config.queries, d_model) / math.sqrt(d_model))
        self.mlp = nn.Sequential(nn.Linear(config.queries * d_model, config.hidden_size), nn.SiLU(),
                                 nn.Linear(config.hidden_size, OUTPUTS))

    def forward(self, embeds: torch.Tensor, image_mask: torch.Tensor) -> torch.Tensor:
        """embeds (B, L, d), image_mask (B, L) bool (True at image tokens; every row needs one) -> (B, 14)."""
        if not bool(image_mask.any(dim=1).all()):
            raise ValueError("every sample needs image tokens for the perception head")
        x = self.norm(embeds)
        scores = torch.einsum("qd,bld->bql", self.queries, x) / math.sqrt(x.shape[-1])
        scores = scores.masked_fill(~image_mask[:, None, :], float("-inf"))
        pooled = torch.einsum("bql,bld->bqd", scores.softmax(dim=-1), x)
        return self.mlp(pooled.flatten(1))


def perception_loss(outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-fact losses (each averaged over the samples where the fact is known; 0 where none is) and their
    sum "perception". outputs (B, 14) from PerceptionHead; targets (B, 7) in TARGETS order, NaN = unknown.
    Presence and "stopped": binary cross-entropy; distances: smooth L1 on d / 40 m; signal and control:
    cross-entropy over their classes."""
    targets = targets.to(outputs.dtype)
    known = ~torch.isnan(targets)
    zero = outputs.new_zeros(())
    out: dict[str, torch.Tensor] = {}

    def masked(name: str, column: int, fn) -> None:
        rows = known[:, column]
        out[name] = fn(rows) if bool(rows.any()) else zero

    masked("lead", 0, lambda r: F.binary_cross_entropy_with_logits(outputs[r, 0], targets[r, 0]))
    masked("lead_distance", 1, lambda r: F.smooth_l1_loss(outputs[r, 1], targets[r, 1] / DISTANCE_SCALE_M))
    masked("lead_stopped", 2, lambda r: F.binary_cross_entropy_with_logits(outputs[r, 2], targets[r, 2]))
    masked("crossing", 3, lambda r: F.binary_cross_entropy_with_logits(outputs[r, 3], targets[r, 3]))
    masked("crossing_distance", 4, lambda r: F.smooth_l1_loss(outputs[r, 4], targets[r, 4] / DISTANCE_SCALE_M))
    masked("signal", 5, lambda r: F.cross_entropy(outputs[r, 5: 5 + NUM_SIGNAL], targets[r, 5].long()))
    masked("control", 6, lambda r: F.cross_entropy(outputs[r, 5 + NUM_SIGNAL:], targets[r, 6].long()))
    out["perception"] = sum(out.values())
    return out


def facts_as_outputs(targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Facts (B, 7) in TARGETS order (NaN = unknown) written the way the head writes its (B, 14) outputs, and
    (B, 14) bool: which outputs a known fact sets. Binary facts become logits of +-CONFIDENT_LOGIT, distances
    d / 40 m, a signal or control class CONFIDENT_LOGIT at its class and 0 at the others. What the expert reads
    in place of the head's predictions when training with true facts (train.config.StageConfig.true_facts)."""
    targets = targets.float()
    known = ~torch.isnan(targets)
    values = torch.nan_to_num(targets)
    size = targets.shape[0]
    out = targets.new_zeros((size, OUTPUTS))
    mask = torch.zeros((size, OUTPUTS), dtype=torch.bool, device=targets.device)
    for column in (0, 2, 3):  # lead, stopped, crossing: binary
        out[:, column] = CONFIDENT_LOGIT * (2.0 * values[:, column] - 1.0)
        mask[:, column] = known[:, column]
    for column in (1, 4):  # lead and crossing distance
        out[:, column] = values[:, column] / DISTANCE_SCALE_M
        mask[:, column] = known[:, column]
    for column, start, count in ((5, 5, NUM_SIGNAL), (6, 5 + NUM_SIGNAL, NUM_CONTROL)):
        classes = values[:, column].long().clamp(0, count - 1)
        out[:, start: start + count] = CONFIDENT_LOGIT * F.one_hot(classes, count).to(out.dtype)
        mask[:, start: start + count] = known[:, column: column + 1]
    return out, mask


def describe(outputs: torch.Tensor) -> list[dict]:
    """Readable predictions of head outputs (B, 14): per sample the probability of a vehicle in our path,
    its distance [m] and the probability it stands still, the same for someone crossing, and the most likely
    signal and traffic control with their probabilities."""
    out = []
    for row in outputs.detach().float():
        signal = torch.softmax(row[5: 5 + NUM_SIGNAL], 0)
        control = torch.softmax(row[5 + NUM_SIGNAL:], 0)
        out.append({
            "vehicle_ahead": round(float(torch.sigmoid(row[0])), 3),
            "vehicle_distance_m": round(float(row[1]) * DISTANCE_SCALE_M, 1),
            "vehicle_stopped": round(float(torch.sigmoid(row[2])), 3),
            "crossing": round(float(torch.sigmoid(row[3])), 3),
            "crossing_distance_m": round(float(row[4]) * DISTANCE_SCALE_M, 1),
            "signal": SIGNAL_CLASSES[int(signal.argmax())], "signal_probability": round(float(signal.max()), 3),
            "control": CONTROL_CLASSES[int(control.argmax())], "control_probability": round(float(control.max()), 3),
        })
    return out
