"""Photometric augmentation of training images: what a camera's exposure and white balance vary.

    >>> images = photometric(batch.images, torch.Generator().manual_seed(step))   # (M, 3, H, W) uint8

The vision encoder is trained from scratch on a few hundred simulated episodes, whose frames within an episode
are nearly the same picture; it fits them (a perception probe reaches 0.97 AUROC for "a vehicle in our lane"
on its training frames) long before it generalises (0.66 on held-out scenarios; docs/architecture.md,
"Perception head"). Scaling each image's brightness and contrast, each channel's gain, and adding pixel noise
removes the shortcut of recognising a scene by its exact colours, while leaving geometry untouched: where a
vehicle is in the image, and so which lane it is in, is what the targets are about, so there are no flips,
crops or shifts. A pure function of the images and the generator, so a resumed run draws the same values.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["AugmentConfig", "photometric"]


@dataclass(frozen=True)
class AugmentConfig:
    brightness: float = 0.3  # image gain drawn from [1 - b, 1 + b]
    contrast: float = 0.3  # deviation from the image mean scaled by [1 - c, 1 + c]
    channel: float = 0.1  # per-channel gain in [1 - ch, 1 + ch] (white balance)
    noise: float = 4.0  # std of added Gaussian pixel noise, in 0..255 units


def photometric(images: torch.Tensor, generator: torch.Generator, config: AugmentConfig | None = None) -> torch.Tensor:
    """(M, 3, H, W) uint8 -> augmented (M, 3, H, W) uint8, each image drawn independently."""
    cfg = config or AugmentConfig()
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (M, 3, H, W) uint8, got {tuple(images.shape)} {images.dtype}")
    m = images.shape[0]
    if m == 0:
        return images

    def uniform(shape, spread):
        return 1.0 + spread * (2.0 * torch.rand(shape, generator=generator) - 1.0)

    x = images.float()
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * uniform((m, 1, 1, 1), cfg.contrast) + mean
    x = x * uniform((m, 1, 1, 1), cfg.brightness) * uniform((m, 3, 1, 1), cfg.channel)
    if cfg.noise > 0:
        x = x + cfg.noise * torch.randn(x.shape, generator=generator)
    return x.round_().clamp_(0, 255).to(torch.uint8)
