"""Input encoders of the VLA: camera images, ego history, ego state and route to backbone-width tokens.

    >>> enc = VisionEncoder(VisionConfig(), RigConfig(), d_model=256)
    >>> tokens = enc(images, camera, age)      # (M, 3, 64, 128) uint8 -> (M, 8, 256)

Vision: a convolutional stem (patchify conv, then stride-2 convs with GroupNorm + SiLU, each stage optionally
followed by residual blocks), average pooling (or average and max pooling side by side, `VisionConfig.pool`)
to the configured token grid ("token pooling": the token count per image is a config, independent of the
resolution), a linear projection, and learned embeddings of the grid cell, the camera and the frame age.
Trained from scratch: no pretrained vision weights exist offline.

Ego history and route are encoded continuously: an MLP per pose (or per group of route points) on scaled
coordinates. Alpamayo quantises history deltas into [-4, 4] m bins, which saturates above ~2.7 m/s for the
first delta; a continuous encoder has no such ceiling.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from cordillera.model.config import RigConfig, VisionConfig

__all__ = ["VisionEncoder", "ResidualBlock", "TokenMLP", "FourierFeatures"]


class VisionEncoder(nn.Module):
    """dense_classes > 0 adds a 1x1 convolution on the stem's feature map that predicts that many classes per
    cell (the auxiliary object-distance target of model/dense.py), returned by `forward(..., dense=True)`."""

    def __init__(self, config: VisionConfig, rig: RigConfig, d_model: int, dense_classes: int = 0):
        super().__init__()
        channels = config.channels
        layers: list[nn.Module] = [nn.Conv2d(3, channels[0], config.patch_size, stride=config.patch_size),
                                   nn.GroupNorm(_groups(channels[0]), channels[0]), nn.SiLU()]
        layers += [ResidualBlock(channels[0]) for _ in range(config.blocks)]
        for c_in, c_out in zip(channels, channels[1:]):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.GroupNorm(_groups(c_out), c_out), nn.SiLU()]
            layers += [ResidualBlock(c_out) for _ in range(config.blocks)]
        self.stem = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(config.token_grid)
        self.max_pool = nn.AdaptiveMaxPool2d(config.token_grid) if config.pool == "avg+max" else None
        self.proj = nn.Linear(channels[-1] * (2 if self.max_pool is not None else 1), d_model)
        self.dense = nn.Conv2d(channels[-1], dense_classes, 1) if dense_classes else None
        self.cell = nn.Parameter(torch.zeros(config.tokens_per_image, d_model))
        self.camera = nn.Embedding(len(rig.camera_vocabulary), d_model)
        self.age = nn.Embedding(rig.num_frames, d_model)
        nn.init.normal_(self.cell, std=0.02)
        nn.init.normal_(self.camera.weight, std=0.02)
        nn.init.normal_(self.age.weight, std=0.02)

    def forward(self, images: torch.Tensor, camera: torch.Tensor, age: torch.Tensor, dense: bool = False):
        """images (M, 3, H, W) uint8; camera, age (M,) long -> tokens (M, tokens_per_image, d_model); with
        dense=True also the dense head's logits (M, dense_classes, H / stride, W / stride)."""
        x = images.to(self.proj.weight.dtype) / 127.5 - 1.0
        features = self.stem(x)
        x = self.pool(features)  # (M, C, gh, gw)
        if self.max_pool is not None:
            x = torch.cat([x, self.max_pool(features)], dim=1)  # (M, 2 C, gh, gw)
        x = self.proj(x.flatten(2).transpose(1, 2))  # (M, gh * gw, d)
        tokens = x + self.cell + (self.camera(camera) + self.age(age))[:, None, :]
        if not dense:
            return tokens
        if self.dense is None:
            raise ValueError("this vision encoder has no dense head (PerceptionConfig.dense is false)")
        return tokens, self.dense(features)


class ResidualBlock(nn.Module):
    """x + GN(conv(SiLU(GN(conv(x))))): depth at a fixed resolution (VisionConfig.blocks). The second
    norm's scale starts at zero, so a new block starts as the identity and training begins from the
    plain stem's function."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                                  nn.GroupNorm(_groups(channels), channels), nn.SiLU(),
                                  nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                                  nn.GroupNorm(_groups(channels), channels))
        nn.init.zeros_(self.body[-1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _groups(channels: int) -> int:
    """GroupNorm groups: 8 when the channel count allows, else 1."""
    return 8 if channels % 8 == 0 else 1


class TokenMLP(nn.Module):
    """Per-token MLP from `in_features` scaled values to d_model, plus a learned embedding of the token's
    index (pose k of the history, route group k)."""

    def __init__(self, in_features: int, num_tokens: int, d_model: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or d_model
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.SiLU(), nn.Linear(hidden, d_model))
        self.index = nn.Parameter(torch.zeros(num_tokens, d_model))
        nn.init.normal_(self.index, std=0.02)

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        """values (B, num_tokens, in_features) -> (B, num_tokens, d_model)."""
        return self.net(values) + self.index


class FourierFeatures(nn.Module):
    """sin/cos of a scalar at log-spaced frequencies 1 ... max_frequency, scaled by sqrt(2), plus the value."""

    def __init__(self, num_frequencies: int, max_frequency: float):
        super().__init__()
        exponents = torch.linspace(0.0, math.log(max_frequency), num_frequencies)
        self.register_buffer("frequencies", torch.exp(exponents), persistent=False)

    @property
    def out_features(self) -> int:
        return 2 * self.frequencies.numel() + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (...,) -> (..., 2 F + 1)."""
        angles = x[..., None] * self.frequencies
        return torch.cat([x[..., None], math.sqrt(2.0) * torch.sin(angles), math.sqrt(2.0) * torch.cos(angles)], -1)
