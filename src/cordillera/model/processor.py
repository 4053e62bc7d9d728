"""Samples in, tensors out: the prompt format of the reasoning VLA and the batch the model reads.

    >>> from cordillera.model.processor import Processor, Sample
    >>> sample = Sample.from_observation(obs)                 # or a dataset record with targets filled in
    >>> batch = processor.collate([sample], targets=False)   # left-padded prompts for generation

A `Sample` is the data interface: what one moment of driving holds (cameras, ego history, speed, route)
and, for training, the targets (64 future poses, the Chain-of-Causation text, the keyframe label). A
dataset produces Samples; `Processor.collate` turns a list of them into a `Batch`.

Prompt (one token per item; `[..]` marks placeholders whose embeddings the encoders write in):

    <|prompt_start|>
      per camera (sorted by camera vocabulary index):
        <|camera_NAME|> <|image_start|> [image] x frames x tokens_per_image <|image_end|>
      <|traj_history_start|> [pose] x 16 [ego_state] <|traj_history_end|>
      <|route_start|> navigation text (BPE) [route] x 5 <|route_end|>
    <|prompt_end|>
    then either  <|cot_start|> reasoning text <|cot_end|> <|traj_future_start|>
    or           <|traj_future_start|>
    (+ 128 trajectory tokens <|traj_future_end|> when discrete tokens are on)

The token after <|prompt_end|> is the reasoning gate: training labels it <|cot_start|> for keyframes and
<|traj_future_start|> for routine moments (even when the sequence carries a reasoning text, which then
trains "always" mode), so in "auto" mode P(<|cot_start|>) decides whether to write a reasoning at all.
Frame indices enter as an embedding of each image's age (0 = newest), so a different number of frames
also works; camera names are tokens, so any subset of the camera vocabulary works.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Mapping

import cv2
import numpy as np
import torch

from cordillera.model.action_space import (ACTION_LIMITS, ActionStats, actions_to_tokens, clip_actions,
                                           trajectory_to_actions)
from cordillera.model.route_frame import clip_route_actions, route_frame_actions
from cordillera.model.config import ModelConfig
from cordillera.model.perception import TARGETS as PERCEPTION_TARGETS
from cordillera.model.tokenizer import TextTokenizer
from cordillera.model.dense import depth_classes
from cordillera.teacher.qa import scene_facts
from cordillera.world.types import Observation

__all__ = ["Sample", "Batch", "Processor", "SampleError", "IGNORE"]

IGNORE = -100  # label of positions without a loss


class SampleError(ValueError):
    """A sample's arrays have the wrong shape, type or camera names."""


@dataclass(frozen=True)
class Sample:
    """One moment of driving, as the model sees it, with optional training targets.

    cameras: camera name -> (T, H, W, 3) uint8 RGB frames, oldest first, 0.1 s apart (may be empty).
    ego_history: (16, 3) float [x, y, yaw], ego frame at t0 (last row ~ (0, 0, 0)) [m, m, rad].
    speed: ego speed at t0 [m/s]; acceleration: [m/s^2].
    route_waypoints: (N, 2) float, upcoming route points in the ego frame [m] (the model reads 20).
    navigation: short route text ("turn left in 40 m").
    future: (64, 3) float [x, y, yaw] target poses at t0 + 0.1 ... 6.4 s, ego frame (training).
    reasoning: the Chain-of-Causation text target, or None (training).
    keyframe: gate label (a moment that calls for reasoning); None means `reasoning is not None`.
    qa: (question, answer) pairs about the scene (training): an auxiliary text target placed after the
        trajectory start, where the expert does not read it (it teaches the encoders what the scene holds).
    facts: (7,) float targets of the perception head (`teacher.qa.SceneFacts.vector()`, NaN = unknown), or
        None to read them from `qa` when a training batch is built (training).
    depth: camera name -> (H, W) uint8 render codes of that camera's newest frame (`world.render.camera.
        object_depth`), the dense target of model/dense.py, or None (training; privileged, never an input).
    """

    cameras: Mapping[str, np.ndarray]
    ego_history: np.ndarray
    speed: float
    route_waypoints: np.ndarray
    navigation: str = ""
    acceleration: float = 0.0
    future: np.ndarray | None = None
    reasoning: str | None = None
    keyframe: bool | None = None
    qa: tuple[tuple[str, str], ...] = ()
    facts: np.ndarray | None = None
    depth: Mapping[str, np.ndarray] | None = None

    def __post_init__(self) -> None:
        qa = tuple(tuple(pair) for pair in self.qa)
        if any(len(pair) != 2 or not all(isinstance(x, str) for x in pair) for pair in qa):
            raise SampleError("qa must be (question, answer) pairs of strings")
        object.__setattr__(self, "qa", qa)
        for name, frames in self.cameras.items():
            if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 \
                    or frames.shape[-1] != 3 or frames.shape[0] < 1:
                got = getattr(frames, "shape", type(frames).__name__), getattr(frames, "dtype", "")
                raise SampleError(f"cameras[{name!r}] must be (T, H, W, 3) uint8, got {got}")
        history = np.asarray(self.ego_history, dtype=np.float64)
        if history.ndim != 2 or history.shape[1] != 3 or not np.all(np.isfinite(history)):
            raise SampleError(f"ego_history must be finite (N, 3), got {history.shape}")
        route = np.asarray(self.route_waypoints, dtype=np.float64)
        if route.ndim != 2 or route.shape[1] != 2 or len(route) == 0 or not np.all(np.isfinite(route)):
            raise SampleError(f"route_waypoints must be finite (N >= 1, 2), got {route.shape}")
        object.__setattr__(self, "ego_history", history)
        object.__setattr__(self, "route_waypoints", route)
        if self.future is not None:
            future = np.asarray(self.future, dtype=np.float64)
            if future.ndim != 2 or future.shape[1] != 3 or not np.all(np.isfinite(future)):
                raise SampleError(f"future must be finite (64, 3), got {future.shape}")
            object.__setattr__(self, "future", future)
        if self.facts is not None:
            facts = np.asarray(self.facts, dtype=np.float32)
            if facts.shape != (len(PERCEPTION_TARGETS),):
                raise SampleError(f"facts must be ({len(PERCEPTION_TARGETS)},) floats, got {facts.shape}")
            object.__setattr__(self, "facts", facts)
        for name, codes in (self.depth or {}).items():
            if not isinstance(codes, np.ndarray) or codes.dtype != np.uint8 or codes.ndim != 2:
                got = getattr(codes, "shape", type(codes).__name__), getattr(codes, "dtype", "")
                raise SampleError(f"depth[{name!r}] must be (H, W) uint8, got {got}")
        if not np.isfinite(self.speed) or not np.isfinite(self.acceleration):
            raise SampleError(f"speed and acceleration must be finite, got {self.speed!r}, {self.acceleration!r}")

    @property
    def wants_reasoning(self) -> bool:
        """The gate label: keyframe when given, else whether a reasoning text exists."""
        return bool(self.keyframe) if self.keyframe is not None else self.reasoning is not None

    @classmethod
    def from_observation(cls, obs: Observation) -> "Sample":
        return cls(cameras=dict(obs.cameras), ego_history=obs.ego_history, speed=float(obs.speed),
                   route_waypoints=obs.route_waypoints, navigation=obs.navigation,
                   acceleration=float(obs.acceleration))


@dataclass
class Batch:
    """Tensors for a list of samples. B samples, L tokens, M images in prompt order.

    input_ids (B, L) long; attention_mask (B, L) bool; position_ids (B, L) long (RoPE positions);
    images (M, 3, H, W) uint8; image_camera (M,) long (camera vocabulary index); image_age (M,) long
    (0 = newest frame); history (B, 16, 4) float (x, y scaled, sin yaw, cos yaw); ego_state (B, 2) float
    (speed, acceleration scaled; acceleration 0 when PromptConfig.acceleration_input is off); route
    (B, R, 2 * waypoints_per_token) float; v0 (B,) float [m/s].
    Training only: labels (B, L) long (IGNORE where no loss; label i is the token at i, predicted from i - 1);
    actions (B, 64, 2) normalised target actions; prefix_length (B,) long: tokens up to and including
    <|traj_future_start|>, the part of the sequence the expert attends to; facts (B, 7) float perception
    targets (NaN = unknown; `Sample.facts`, else read from the sample's QA pairs); depth (M, gh, gw) long
    dense classes per image (-1 = unknown; with PerceptionConfig.dense and samples that carry `depth`).
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    images: torch.Tensor
    image_camera: torch.Tensor
    image_age: torch.Tensor
    history: torch.Tensor
    ego_state: torch.Tensor
    route: torch.Tensor
    v0: torch.Tensor
    labels: torch.Tensor | None = None
    actions: torch.Tensor | None = None
    prefix_length: torch.Tensor | None = None
    facts: torch.Tensor | None = None
    depth: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> "Batch":
        return replace(self, **{f.name: getattr(self, f.name).to(device) for f in fields(self)
                                if getattr(self, f.name) is not None})

    @property
    def size(self) -> int:
        return self.input_ids.shape[0]


@dataclass
class _Encoded:
    ids: list[int]
    labels: list[int]
    images: list[np.ndarray] = field(default_factory=list)  # (3, H, W) uint8 each
    cameras: list[int] = field(default_factory=list)
    ages: list[int] = field(default_factory=list)
    prefix_length: int = 0


class Processor:
    """Builds prompts and batches for one model configuration, tokenizer and action statistics."""

    def __init__(self, config: ModelConfig, tokenizer: TextTokenizer, stats: ActionStats):
        self.config = config
        self.tokenizer = tokenizer
        self.stats = stats
        self.camera_index = {name: i for i, name in enumerate(config.rig.camera_vocabulary)}
        tok = tokenizer.special
        self.ids = {name.strip("<|>"): tok(name) for name in tokenizer.special_names}
        self.trajectory_token_offset = config.backbone.vocab_size  # discrete bins follow the text vocabulary

    # ---- prompt ---------------------------------------------------------------------------------
    def _camera_order(self, sample: Sample) -> list[str]:
        unknown = [name for name in sample.cameras if name not in self.camera_index]
        if unknown:
            raise SampleError(f"camera {unknown[0]!r} is not in the model's camera vocabulary: "
                              f"{', '.join(self.config.rig.camera_vocabulary)}")
        return sorted(sample.cameras, key=self.camera_index.__getitem__)

    def _frames(self, frames: np.ndarray) -> np.ndarray:
        """Last num_frames frames, resized to the model's resolution: (n, 3, H, W) uint8."""
        rig = self.config.rig
        frames = frames[-rig.num_frames:]
        if frames.shape[1:3] != (rig.image_height, rig.image_width):
            frames = np.stack([cv2.resize(f, (rig.image_width, rig.image_height), interpolation=cv2.INTER_AREA)
                               for f in frames])
        return np.ascontiguousarray(frames.transpose(0, 3, 1, 2))

    def encode_prompt(self, sample: Sample) -> _Encoded:
        ids, prompt = self.ids, self.config.prompt
        out = _Encoded(ids=[ids["prompt_start"]], labels=[])
        per_image = self.config.vision.tokens_per_image
        for name in self._camera_order(sample):
            frames = self._frames(sample.cameras[name])
            out.ids += [self.tokenizer.camera(name), ids["image_start"]]
            out.ids += [ids["image_pad"]] * (len(frames) * per_image) + [ids["image_end"]]
            out.images += list(frames)
            out.cameras += [self.camera_index[name]] * len(frames)
            out.ages += list(range(len(frames) - 1, -1, -1))
        out.ids += [ids["traj_history_start"]] + [ids["traj_history"]] * prompt.history_steps
        out.ids += [ids["ego_state"], ids["traj_history_end"], ids["route_start"]]
        out.ids += self.tokenizer.encode(sample.navigation)[: prompt.max_navigation_tokens]
        out.ids += [ids["route_pad"]] * prompt.route_tokens + [ids["route_end"], ids["prompt_end"]]
        out.labels = [IGNORE] * len(out.ids)
        return out

    def encode_targets(self, sample: Sample, encoded: _Encoded, actions: np.ndarray | None) -> None:
        """Append the assistant part (reasoning, trajectory start, optional trajectory tokens) with labels."""
        ids = self.ids
        gate_label = ids["cot_start"] if sample.wants_reasoning else ids["traj_future_start"]
        if sample.reasoning is not None:
            text = self.tokenizer.encode(sample.reasoning)[: self.config.prompt.max_reasoning_tokens]
            tail = [ids["cot_start"], *text, ids["cot_end"], ids["traj_future_start"]]
        else:
            tail = [ids["traj_future_start"]]
        encoded.ids += tail
        encoded.labels += [gate_label, *tail[1:]]
        encoded.prefix_length = len(encoded.ids)
        if self.config.action.discrete_tokens and actions is not None:
            act = self.config.action
            bins = actions_to_tokens(self.stats.normalize(torch.from_numpy(actions)), act.token_bins, act.token_range)
            tokens = (bins + self.trajectory_token_offset).tolist() + [ids["traj_future_end"]]
            encoded.ids += tokens
            encoded.labels += tokens
        for question, answer in sample.qa:  # after everything the expert reads; only answers are labelled
            asked = [ids["question_start"], *self.tokenizer.encode(question), ids["question_end"], ids["answer_start"]]
            answered = [*self.tokenizer.encode(answer), ids["answer_end"]]
            encoded.ids += asked + answered
            encoded.labels += [IGNORE] * len(asked) + answered

    # ---- batches --------------------------------------------------------------------------------
    def collate(self, samples: list[Sample], targets: bool = False) -> Batch:
        """Batch samples. targets=False: prompts only, left-padded (generation appends at the end);
        targets=True: prompt + assistant part with labels and normalised target actions, right-padded."""
        if not samples:
            raise SampleError("collate needs at least one sample")
        actions = None
        if targets:
            missing = [i for i, s in enumerate(samples) if s.future is None]
            if missing:
                raise SampleError(f"sample {missing[0]} has no future trajectory (needed for targets)")
            horizon = self.config.action.horizon
            bad = [i for i, s in enumerate(samples) if s.future.shape != (horizon, 3)]
            if bad:
                raise SampleError(f"sample {bad[0]}: future must be ({horizon}, 3), got {samples[bad[0]].future.shape}")
            actions = self.target_actions(samples)  # (B, 64, 2)
        encoded = []
        for i, sample in enumerate(samples):
            enc = self.encode_prompt(sample)
            if targets:
                self.encode_targets(sample, enc, actions[i])
            encoded.append(enc)

        length = max(len(e.ids) for e in encoded)
        pad = self.ids["pad"]
        input_ids = torch.full((len(samples), length), pad, dtype=torch.long)
        labels = torch.full((len(samples), length), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(samples), length), dtype=torch.bool)
        for b, enc in enumerate(encoded):
            span = slice(0, len(enc.ids)) if targets else slice(length - len(enc.ids), length)
            input_ids[b, span] = torch.tensor(enc.ids)
            labels[b, span] = torch.tensor(enc.labels)
            mask[b, span] = True
        position_ids = (mask.long().cumsum(1) - 1).clamp(min=0)

        rig = self.config.rig
        accel_on = 1.0 if self.config.prompt.acceleration_input else 0.0
        images = [img for e in encoded for img in e.images]
        batch = Batch(
            input_ids=input_ids,
            attention_mask=mask,
            position_ids=position_ids,
            images=torch.from_numpy(np.stack(images)) if images else
            torch.zeros((0, 3, rig.image_height, rig.image_width), dtype=torch.uint8),
            image_camera=torch.tensor([c for e in encoded for c in e.cameras], dtype=torch.long),
            image_age=torch.tensor([a for e in encoded for a in e.ages], dtype=torch.long),
            history=torch.from_numpy(np.stack([self._history(s) for s in samples])),
            ego_state=torch.tensor([[s.speed / self.config.prompt.speed_scale,
                                     accel_on * s.acceleration * 4.0 / self.config.prompt.speed_scale]
                                    for s in samples],
                                   dtype=torch.float32),
            route=torch.from_numpy(np.stack([self._route(s) for s in samples])),
            v0=torch.tensor([s.speed for s in samples], dtype=torch.float32),
        )
        if targets:
            batch.labels = labels
            batch.actions = self.stats.normalize(torch.from_numpy(actions)).float()
            batch.prefix_length = torch.tensor([e.prefix_length for e in encoded], dtype=torch.long)
            batch.facts = torch.from_numpy(np.stack([_facts(s) for s in samples]))
            if self.config.perception.dense and any(s.depth for s in samples):
                batch.depth = torch.from_numpy(np.stack([t for s in samples for t in self._depth_targets(s)]))
        return batch

    def dense_grid(self) -> tuple[int, int]:
        """(rows, cols) of the vision stem's feature map at the model's resolution (3x3 stride-2 convs with
        padding 1 after the patchify conv: each stage rounds up)."""
        vision, rig = self.config.vision, self.config.rig
        h, w = rig.image_height // vision.patch_size, rig.image_width // vision.patch_size
        for _ in vision.channels[1:]:
            h, w = (h + 1) // 2, (w + 1) // 2
        return h, w

    def _depth_targets(self, sample: Sample) -> list[np.ndarray]:
        """Dense classes (model/dense.py) per image of the sample, in prompt order: the newest frame of each
        camera from `sample.depth`, -1 (unknown) for older frames and cameras without codes."""
        grid = self.dense_grid()
        out = []
        for name in self._camera_order(sample):
            count = min(len(sample.cameras[name]), self.config.rig.num_frames)
            out += [np.full(grid, -1, dtype=np.int64)] * (count - 1)
            codes = (sample.depth or {}).get(name)
            out.append(depth_classes(codes, grid) if codes is not None else np.full(grid, -1, dtype=np.int64))
        return out

    def target_actions(self, samples: list[Sample]) -> np.ndarray:
        """(B, horizon, 2) float64 actions of the samples' futures in the config's action frame, clipped:
        ego frame (acceleration, curvature), route frame (acceleration along, offset from the route the
        model reads)."""
        futures = np.stack([s.future for s in samples])
        speeds = np.array([s.speed for s in samples])
        action = self.config.action
        if action.frame == "route":
            routes = np.stack([self.route_points(self._route(s)) for s in samples])
            return clip_route_actions(route_frame_actions(futures, speeds, routes, action.dt), ACTION_LIMITS[0])
        return clip_actions(trajectory_to_actions(futures, speeds, action.dt))

    def route_points(self, route: np.ndarray | torch.Tensor) -> np.ndarray:
        """Route waypoints (..., N, 2) [m, ego frame] back from the model's scaled route input (..., R, 2 k)."""
        route = route.detach().cpu().double().numpy() if isinstance(route, torch.Tensor) else np.asarray(route)
        return route.reshape(*route.shape[:-2], -1, 2).astype(np.float64) * self.config.prompt.route_scale_m

    def _history(self, sample: Sample) -> np.ndarray:
        """(16, 4) float32: x and y / history_scale_m, sin yaw, cos yaw; the last 16 poses (the first repeated
        when fewer are given)."""
        steps = self.config.prompt.history_steps
        poses = sample.ego_history[-steps:]
        if len(poses) < steps:
            poses = np.concatenate([np.repeat(poses[:1], steps - len(poses), axis=0), poses])
        scale = self.config.prompt.history_scale_m
        return np.column_stack([poses[:, :2] / scale, np.sin(poses[:, 2]), np.cos(poses[:, 2])]).astype(np.float32)

    def _route(self, sample: Sample) -> np.ndarray:
        """(R, 2 * waypoints_per_token) float32: route points / route_scale_m, grouped; the last point is
        repeated when fewer than route_waypoints are given."""
        prompt = self.config.prompt
        points = sample.route_waypoints[: prompt.route_waypoints]
        needed = prompt.route_tokens * prompt.waypoints_per_token
        if len(points) < needed:
            points = np.concatenate([points, np.repeat(points[-1:], needed - len(points), axis=0)])
        return (points / prompt.route_scale_m).reshape(prompt.route_tokens, -1).astype(np.float32)


def _facts(sample: Sample) -> np.ndarray:
    """The perception targets of a sample: given, else read from its QA pairs, else all unknown."""
    if sample.facts is not None:
        return sample.facts
    if sample.qa:
        return scene_facts(sample.qa, strict=False).vector()  # the parser lives beside the answers' writer
    return np.full(len(PERCEPTION_TARGETS), np.nan, dtype=np.float32)
