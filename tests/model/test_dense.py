"""model/dense.py: per-cell object-distance classes by hand, the loss, and the encoder's dense head."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cordillera.model.config import RigConfig, VisionConfig
from cordillera.model.dense import NUM_CLASSES, dense_accuracy, dense_loss, depth_classes
from cordillera.model.encoders import VisionEncoder
from cordillera.world.render.appearance import EMISSIVE_CODE, GROUND_CODE, SKY_CODE, depth_code


def test_depth_classes_by_hand():
    codes = np.full((8, 16), GROUND_CODE, dtype=np.uint8)  # a 2 x 4 grid of 4 x 4 px cells
    codes[:2] = SKY_CODE
    codes[0:2, 0:2] = depth_code(5.0)  # cell (0, 0): 4 px of an object 5 m away -> class 1 (< 10 m)
    codes[4:8, 4:8] = depth_code(30.0)  # cell (1, 1): filled at 30 m -> class 3 (20-40 m)
    codes[5, 5] = depth_code(12.0)  # ... with one nearer pixel: the nearest counts -> class 2 (10-20 m)
    codes[4:8, 8:12] = depth_code(100.0)  # cell (1, 2): >= 80 m -> class 5
    codes[0:4, 12:16] = EMISSIVE_CODE  # cell (0, 3): lamps have no distance -> no object
    got = depth_classes(codes, (2, 4))
    assert got.tolist() == [[1, 0, 0, 0], [0, 2, 5, 0]]
    assert got.dtype == np.int64


def test_depth_classes_need_enough_cover_and_resize_to_the_grid():
    codes = np.zeros((64, 128), dtype=np.uint8)  # 16 x 16 px cells on a 4 x 8 grid
    codes[0, 0:3] = depth_code(15.0)  # 3 px: under 1/64 of 256 px -> still empty
    codes[20, 16:20] = depth_code(15.0)  # 4 px: counts (cell (1, 1))
    got = depth_classes(codes, (4, 8))
    assert got[0, 0] == 0 and got[1, 1] == 2 and got.sum() == 2
    odd = np.zeros((66, 130), dtype=np.uint8)  # not a multiple of the grid: resized by nearest neighbour
    odd[:, :] = depth_code(50.0)
    assert (depth_classes(odd, (4, 8)) == 4).all()
    with pytest.raises(ValueError, match="uint8"):
        depth_classes(np.zeros((8, 16), dtype=np.float32), (2, 4))


def test_dense_loss_ignores_unknown_cells_and_is_zero_without_any():
    logits = torch.zeros(2, NUM_CLASSES, 2, 4)
    logits[0, 3, 0, 0] = 2.0
    targets = torch.full((2, 2, 4), -1, dtype=torch.long)
    targets[0, 0, 0] = 3
    right = np.log1p((NUM_CLASSES - 1) * np.exp(-2.0))  # -log softmax of the 2.0 logit among five zeros
    assert float(dense_loss(logits, targets)) == pytest.approx(right, rel=1e-5)
    targets[1, 1, 1] = 0  # a uniform prediction: log(NUM_CLASSES)
    assert float(dense_loss(logits, targets)) == pytest.approx((right + np.log(NUM_CLASSES)) / 2, rel=1e-5)
    none = torch.full((2, 2, 4), -1, dtype=torch.long)
    zero = dense_loss(logits.requires_grad_(), none)
    assert float(zero.detach()) == 0.0 and zero.requires_grad
    with pytest.raises(ValueError, match="do not match"):
        dense_loss(logits, torch.zeros(2, 4, 8, dtype=torch.long))
    acc = dense_accuracy(logits.detach(), targets)
    assert acc["accuracy"] == 1.0 and np.isnan(acc["near_recall"])  # argmax 3 for class 3, argmax 0 (ties) for 0
    targets[1, 0, 2] = 2  # an object 10-20 m away, predicted empty: missed
    acc = dense_accuracy(logits.detach(), targets)
    assert acc["accuracy"] == pytest.approx(2 / 3) and acc["near_recall"] == 0.0


def test_encoder_dense_head_shapes_and_learns_where_objects_are():
    torch.manual_seed(0)
    vision = VisionConfig(channels=(8, 16), patch_size=4)  # stride 8: 64 x 128 -> 8 x 16 cells
    encoder = VisionEncoder(vision, RigConfig(num_frames=1), 32, NUM_CLASSES)
    images = torch.zeros(8, 3, 64, 128, dtype=torch.uint8)
    targets = torch.zeros(8, 8, 16, dtype=torch.long)
    for k in range(8):  # a bright square (an "object" 5-10 m away) at a different place in every image
        r, c = k % 4 * 2, k * 2
        images[k, :, r * 8:(r + 1) * 8, c * 8:(c + 1) * 8] = 255
        targets[k, r, c] = 1
    tokens, logits = encoder(images, torch.zeros(8, dtype=torch.long), torch.zeros(8, dtype=torch.long), dense=True)
    assert tokens.shape == (8, 8, 32) and logits.shape == (8, NUM_CLASSES, 8, 16)
    opt = torch.optim.AdamW(encoder.parameters(), lr=3e-3)
    for _ in range(150):
        loss = dense_loss(encoder(images, torch.zeros(8, dtype=torch.long), torch.zeros(8, dtype=torch.long),
                                  dense=True)[1], targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    logits = encoder(images, torch.zeros(8, dtype=torch.long), torch.zeros(8, dtype=torch.long), dense=True)[1]
    assert (logits.argmax(1) == targets).all()
    with pytest.raises(ValueError, match="no dense head"):
        VisionEncoder(vision, RigConfig(num_frames=1), 32)(images, torch.zeros(8, dtype=torch.long),
                                                           torch.zeros(8, dtype=torch.long), dense=True)
