"""Shared fixtures for training tests: a tiny model config in a TrainConfig and synthetic samples whose
futures depend on what the model can see (speed, acceleration in the ego state, route curvature)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cordillera.model import ModelConfig, Sample
from cordillera.train.config import (CheckpointConfig, DataConfig, OptimConfig, StageConfig, TrainConfig,
                                     ValidationConfig)

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


def make_samples(count: int, seed: int = 0, config: ModelConfig | None = None) -> list[Sample]:
    """`count` samples: constant-acceleration arcs whose speed, acceleration and curvature the prompt shows
    (ego state, history, route); every other one is a keyframe with a reasoning text."""
    rig = (config or ModelConfig.tiny()).rig
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        speed = float(rng.uniform(2.0, 12.0))
        accel = float(rng.uniform(-1.0, 1.0))
        curvature = float(rng.uniform(-0.02, 0.02))
        t = 0.1 * np.arange(1, 65)
        s = np.maximum(speed * t + 0.5 * accel * t * t, 0.0)
        yaw = curvature * s
        future = np.column_stack([np.sin(yaw) / curvature if curvature else s,
                                  (1 - np.cos(yaw)) / curvature if curvature else 0 * s, yaw])
        th = 0.1 * np.arange(-15, 1)
        history = np.column_stack([speed * th, np.zeros(16), np.zeros(16)])
        r = 2.0 * np.arange(1, 21)
        route = np.column_stack([r, 0.5 * curvature * r * r])
        images = {n: rng.integers(0, 256, (rig.num_frames, rig.image_height, rig.image_width, 3), dtype=np.uint8)
                  for n in rig.cameras}
        text = REASONING[i % len(REASONING)] if i % 2 == 0 else None
        out.append(Sample(images, history, speed, route, NAVIGATION[i % len(NAVIGATION)], acceleration=accel,
                          future=future, reasoning=text))
    return out


def tiny_train_config(steps: int = 6, **changes) -> TrainConfig:
    base = dict(
        model=ModelConfig.tiny(),
        stages=(StageConfig("joint", steps),),
        data=DataConfig(batch_size=4, workers=0, tokenizer_min_frequency=1),
        optim=OptimConfig(lr=3e-3, warmup_steps=2),
        validation=ValidationConfig(every_steps=steps, max_samples=4, trajectories=2, mode="never"),
        checkpoint=CheckpointConfig(every_steps=3, keep=5),
        log_every=1,
        seed=0,
    )
    base.update(changes)
    return TrainConfig(**base)


@pytest.fixture(scope="session")
def samples() -> list[Sample]:
    return make_samples(16)


@pytest.fixture(scope="session")
def val_samples() -> list[Sample]:
    return make_samples(4, seed=1)
