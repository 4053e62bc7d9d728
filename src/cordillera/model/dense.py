"""Dense object-distance target on the vision stem's feature map: what is where in each image, and how far.

    >>> classes = depth_classes(codes, grid=(4, 8))        # (H, W) uint8 render codes -> (4, 8) int64 in 0..5
    >>> loss = dense_loss(logits, targets)                 # logits (M, 6, 4, 8), targets (M, 4, 8), -1 = unknown

The perception head's seven facts per sample (model/perception.py) are few labels for a from-scratch encoder:
it fits its training frames and generalises poorly to new scenarios (docs/architecture.md, "Perception
head"). A dense target gives every cell of every image a label, so the stem must learn to find objects
wherever they are, as end-to-end planners do with auxiliary depth and segmentation heads (TransFuser,
Learning by Cheating). The label comes free from the renderer: its fourth channel holds, per pixel, the
distance code of the nearest object drawn there (vehicles, pedestrians, cyclists, animals, debris, signal
hardware; `world.render.camera.object_depth`), which the data factory stores for the newest frame.

Each stem cell (16 x 16 px at the default stride) gets one class: 0 when objects cover fewer than
`MIN_COVER` of its pixels, else the bin of the nearest object pixel's distance (`BIN_EDGES_M`, log-spaced:
< 10, 10-20, 20-40, 40-80, >= 80 m). A 1x1 convolution predicts the class from the cell's features; the
loss is cross-entropy over the cells with a known target. Training only: inference never runs it.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from cordillera.world.render.appearance import DEPTH_STEP_M

__all__ = ["BIN_EDGES_M", "NUM_CLASSES", "MIN_COVER", "depth_classes", "dense_loss", "dense_accuracy"]

BIN_EDGES_M = (10.0, 20.0, 40.0, 80.0)  # [m] class k (1..5) holds nearest-object distances in bin k - 1
NUM_CLASSES = 1 + len(BIN_EDGES_M) + 1  # "no object" + the distance bins
MIN_COVER = 1.0 / 64.0  # share of a cell's pixels objects must cover (4 px of a 16 x 16 cell)
_OBJECT_CODES = (1, 253)  # appearance.depth_code range; 0 ground, 254 sky, 255 lamps (no distance)


def depth_classes(codes: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Per-cell classes (grid) int64 of one image's (H, W) uint8 render codes (any resolution: resized to a
    multiple of the grid by nearest neighbour, which keeps codes intact)."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.dtype != np.uint8:
        raise ValueError(f"depth codes must be (H, W) uint8, got {codes.shape} {codes.dtype}")
    gh, gw = grid
    h, w = codes.shape
    if h % gh or w % gw or h < gh or w < gw:
        h, w = max(gh, h // gh * gh), max(gw, w // gw * gw)
        codes = cv2.resize(codes, (w, h), interpolation=cv2.INTER_NEAREST)
    cells = codes.reshape(gh, h // gh, gw, w // gw).transpose(0, 2, 1, 3).reshape(gh, gw, -1)
    is_object = (cells >= _OBJECT_CODES[0]) & (cells <= _OBJECT_CODES[1])
    cover = is_object.mean(axis=-1)
    nearest = np.where(is_object, cells, 255).min(axis=-1).astype(np.float64)
    distance = (nearest - 1.0) * DEPTH_STEP_M  # depth_code inverted (to the code's 0.5 m step)
    classes = 1 + np.searchsorted(np.asarray(BIN_EDGES_M), distance, side="right")
    return np.where(cover >= MIN_COVER, classes, 0).astype(np.int64)


def dense_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over cells with a known class. logits (M, NUM_CLASSES, gh, gw); targets (M, gh, gw)
    long with -1 where unknown. 0 (with a graph) when no cell is known."""
    if logits.shape[0] != targets.shape[0] or logits.shape[2:] != targets.shape[1:]:
        raise ValueError(f"dense logits {tuple(logits.shape)} do not match targets {tuple(targets.shape)}")
    if not bool((targets >= 0).any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits.float(), targets, ignore_index=-1)


def dense_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """Cell accuracy over known cells, and over the cells that hold an object within 20 m (classes 1-2)
    "near object recall": the share of those predicted as some object within 20 m."""
    known = targets >= 0
    predicted = logits.argmax(dim=1)
    near = known & (targets >= 1) & (targets <= 2)
    return {"accuracy": float((predicted[known] == targets[known]).float().mean()) if bool(known.any()) else float("nan"),
            "near_recall": float(((predicted[near] >= 1) & (predicted[near] <= 2)).float().mean())
            if bool(near.any()) else float("nan")}
