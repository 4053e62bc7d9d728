"""Shared fixtures for model tests: a tiny config, a tokenizer trained on a few CoC-style sentences, and
synthetic samples (random uint8 frames, simple kinematic histories and futures)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cordillera.model import CordilleraVLA, ModelConfig, Sample, train_tokenizer
from cordillera.model.config import ALL_CAMERAS

REASONING = [
    "Yield to the pedestrian crossing ahead",
    "Stop for the red light at the intersection",
    "Nudge left around the parked truck",
    "Keep distance to the slowing lead vehicle",
]
NAVIGATION = ["turn left in 40 m", "continue straight", "turn right in 20 m", "keep right at the fork"]


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_config() -> ModelConfig:
    return ModelConfig.tiny()


@pytest.fixture(scope="session")
def tokenizer(tiny_config):
    return train_tokenizer(REASONING * 3 + NAVIGATION * 3, tiny_config.backbone.vocab_size,
                           tiny_config.rig.camera_vocabulary)


@pytest.fixture
def make_model(tiny_config, tokenizer):
    def make(config: ModelConfig | None = None, seed: int = 0) -> CordilleraVLA:
        torch.manual_seed(seed)
        return CordilleraVLA(config or tiny_config, tokenizer).eval()
    return make


def straight_future(speed: float, accel: float = 0.0) -> np.ndarray:
    t = 0.1 * np.arange(1, 65)
    x = speed * t + 0.5 * accel * t * t
    return np.column_stack([x, np.zeros(64), np.zeros(64)])


@pytest.fixture
def make_sample(tiny_config):
    """sample(seed, cameras=rig cameras, frames=rig frames, reasoning=None, speed=8.0, size=rig image size)."""
    rig = tiny_config.rig

    def make(seed: int = 0, cameras=None, frames: int | None = None, reasoning: str | None = None,
             speed: float = 8.0, size: tuple[int, int] | None = None, future=None, keyframe=None,
             navigation: str | None = None) -> Sample:
        rng = np.random.default_rng(seed)
        names = rig.cameras if cameras is None else cameras
        height, width = size or (rig.image_height, rig.image_width)
        frames = frames or rig.num_frames
        images = {n: rng.integers(0, 256, (frames, height, width, 3), dtype=np.uint8) for n in names}
        history = np.column_stack([speed * 0.1 * np.arange(-15, 1), np.zeros(16), np.zeros(16)])
        route = np.column_stack([2.0 * np.arange(1, 21), rng.normal(0, 0.5, 20)])
        return Sample(images, history, speed, route, navigation or NAVIGATION[seed % len(NAVIGATION)],
                      future=straight_future(speed) if future is None else future, reasoning=reasoning,
                      keyframe=keyframe)
    return make


@pytest.fixture
def all_cameras():
    return ALL_CAMERAS
