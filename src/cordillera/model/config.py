"""Configuration of the reasoning VLA: one frozen dataclass per component, composed in `ModelConfig`.

    >>> from cordillera.model.config import ModelConfig
    >>> cfg = ModelConfig.tiny()                       # 2 layers, for tests
    >>> ModelConfig.from_dict(cfg.to_dict()) == cfg
    True

The default `ModelConfig()` is the shipped CPU model; a large model is the same code with bigger numbers
(`BackboneConfig(hidden_size=2048, num_layers=24, ...)`). The expert takes its layer count, key/value heads
and head size from the backbone (it attends into the backbone's KV cache), so those are not expert fields.
Every field is checked on construction and `from_dict` rejects unknown keys, so a config file with a typo or
from an incompatible version fails with the field's name.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from cordillera import constants as C

__all__ = ["ALL_CAMERAS", "RigConfig", "VisionConfig", "BackboneConfig", "ExpertConfig", "ActionConfig",
           "PerceptionConfig", "PromptConfig", "ModelConfig", "ConfigError", "VISION_POOLS", "REASONING_MODES"]

REASONING_MODES = C.REASONING_MODES  # always | never | auto

ALL_CAMERAS = (  # the PhysicalAI-AV 7-camera rig, in its index order: rows of the camera embedding
    "camera_cross_left_120fov",
    "camera_front_wide_120fov",
    "camera_cross_right_120fov",
    "camera_rear_left_70fov",
    "camera_rear_tele_30fov",
    "camera_rear_right_70fov",
    "camera_front_tele_30fov",
)


ACTION_FRAMES = ("ego", "route")
PRODUCT_DTYPES = ("auto", "bfloat16", "float32")  # inference product precisions (prefill, expert)


class ConfigError(ValueError):
    """A configuration value or file is invalid; the message names the field."""


def _positive_ints(obj: Any, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"{type(obj).__name__}.{name} must be a positive integer, got {value!r}")


def _positive_floats(obj: Any, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
            raise ConfigError(f"{type(obj).__name__}.{name} must be a finite positive number, got {value!r}")


@dataclass(frozen=True)
class RigConfig:
    """The cameras the model was built for and how their frames are fed in. Saved as `rig.json`.

    Any subset of `camera_vocabulary` is accepted at run time (the prompt names each camera), so a
    checkpoint trained on the 4-camera rig still runs with 1 camera, with lower accuracy.
    """

    cameras: tuple[str, ...] = C.CAMERA_NAMES  # the default rig, in prompt order
    camera_vocabulary: tuple[str, ...] = ALL_CAMERAS  # every camera name the model has an embedding for
    num_frames: int = 4  # frames per camera, newest last, at 10 Hz (t0 - 0.3 s ... t0)
    image_height: int = 64  # [px] drawn at this size for the policy (policy.model_rig); other frames are resized
    image_width: int = 128  # [px]

    def __post_init__(self) -> None:
        object.__setattr__(self, "cameras", tuple(self.cameras))
        object.__setattr__(self, "camera_vocabulary", tuple(self.camera_vocabulary))
        _positive_ints(self, ("num_frames", "image_height", "image_width"))
        if not self.cameras:
            raise ConfigError("RigConfig.cameras must name at least one camera")
        if len(set(self.camera_vocabulary)) != len(self.camera_vocabulary):
            raise ConfigError("RigConfig.camera_vocabulary has duplicate names")
        unknown = [c for c in self.cameras if c not in self.camera_vocabulary]
        if unknown:
            raise ConfigError(f"RigConfig.cameras: {unknown[0]!r} is not in camera_vocabulary")


VISION_POOLS = ("avg", "avg+max")


@dataclass(frozen=True)
class VisionConfig:
    """Convolutional stem + pooled patch tokens, trained from scratch (no pretrained weights exist here)."""

    patch_size: int = 4  # [px] first conv: non-overlapping patches
    channels: tuple[int, ...] = (32, 64, 128)  # per stage; every stage after the first halves the resolution
    token_grid: tuple[int, int] = (2, 4)  # tokens per image after average pooling (rows, cols): 8 tokens
    blocks: int = 0  # residual blocks (two 3x3 convs + skip) after each stage's downsampling; 0: the plain stem
    pool: str = "avg"  # "avg": average-pool the feature map to the token grid; "avg+max": average and maximum
    #                    side by side (a small object's response survives pooling), projected together

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        object.__setattr__(self, "token_grid", tuple(self.token_grid))
        _positive_ints(self, ("patch_size",))
        if not isinstance(self.blocks, int) or isinstance(self.blocks, bool) or self.blocks < 0:
            raise ConfigError(f"VisionConfig.blocks must be an integer >= 0, got {self.blocks!r}")
        if self.pool not in VISION_POOLS:
            raise ConfigError(f"VisionConfig.pool must be one of {VISION_POOLS}, got {self.pool!r}")
        if not self.channels or any(not isinstance(c, int) or c <= 0 for c in self.channels):
            raise ConfigError(f"VisionConfig.channels must be positive integers, got {self.channels!r}")
        if len(self.token_grid) != 2 or any(not isinstance(g, int) or g <= 0 for g in self.token_grid):
            raise ConfigError(f"VisionConfig.token_grid must be two positive integers, got {self.token_grid!r}")

    @property
    def tokens_per_image(self) -> int:
        return self.token_grid[0] * self.token_grid[1]

    @property
    def stride(self) -> int:
        """Total downsampling of the stem [px per feature cell]."""
        return self.patch_size * 2 ** (len(self.channels) - 1)


@dataclass(frozen=True)
class BackboneConfig:
    """The decoder-only language model (a `transformers` Llama or Qwen2 built from this config)."""

    family: str = "llama"  # "llama" | "qwen2" (Qwen2 adds q/k/v biases)
    hidden_size: int = 256
    num_layers: int = 4
    num_heads: int = 8
    num_kv_heads: int = 2  # GQA; the expert has the same, so it can read the cache
    head_dim: int = 32  # small heads: the expert's attention into the cache costs 4 x kv_heads x head_dim per key
    intermediate_size: int = 512  # SwiGLU width 2 x hidden: decoding is bound by reading the weights
    vocab_size: int = 2048  # BPE on the CoC corpus incl. special tokens; multiple of 64
    rope_theta: float = 10000.0
    max_positions: int = 1024  # prompt (~190) + reasoning (<= 64) + optional trajectory tokens (130)
    tie_embeddings: bool = True  # lm_head shares the token embedding: -0.5 M parameters at vocab 2048
    rms_norm_eps: float = 1e-6
    decode_dtype: str = "float16"  # matrix products of token-by-token decoding: half the weight bytes, 1.6-1.9x
    #                                faster per token on the 2-core CPU (bound by reading weights); "float32" exact
    prefill_dtype: str = "auto"  # matrix products of the prompt pass at inference (`Backbone.prefill`): "bfloat16"
    #                              halves them on CPUs with bf16 dot products; "auto" picks it there, else float32

    def __post_init__(self) -> None:
        if self.decode_dtype not in ("float16", "bfloat16", "float32"):
            raise ConfigError(f"BackboneConfig.decode_dtype must be float16, bfloat16 or float32, got {self.decode_dtype!r}")
        if self.prefill_dtype not in PRODUCT_DTYPES:
            raise ConfigError(f"BackboneConfig.prefill_dtype must be one of {PRODUCT_DTYPES}, "
                              f"got {self.prefill_dtype!r}")
        if self.family not in ("llama", "qwen2"):
            raise ConfigError(f"BackboneConfig.family must be 'llama' or 'qwen2', got {self.family!r}")
        _positive_ints(self, ("hidden_size", "num_layers", "num_heads", "num_kv_heads", "head_dim",
                              "intermediate_size", "vocab_size", "max_positions"))
        _positive_floats(self, ("rope_theta", "rms_norm_eps"))
        if self.num_heads % self.num_kv_heads:
            raise ConfigError(f"BackboneConfig: num_heads ({self.num_heads}) must be a multiple of "
                              f"num_kv_heads ({self.num_kv_heads})")
        if self.head_dim % 2:
            raise ConfigError(f"BackboneConfig.head_dim must be even (rotary embedding), got {self.head_dim}")


@dataclass(frozen=True)
class ExpertConfig:
    """The flow-matching action expert. Layers, KV heads and head size come from the backbone."""

    hidden_size: int = 64  # it runs 64 tokens x 10 steps x K samples per decision: width is latency
    num_heads: int = 2  # query heads; a multiple of the backbone's num_kv_heads
    intermediate_size: int = 192
    fourier_features: int = 8  # sin + cos pairs per scalar (each action dim and the flow time)
    max_frequency: float = 32.0  # log-spaced frequencies 1 ... max_frequency [rad per unit]
    input_hidden: int = 64  # width of the per-waypoint input MLP
    euler_steps: int = 10  # inference integration steps from noise (t = 0) to data (t = 1)
    direct_inputs: bool = True  # also read route, ego state and history through an MLP (not only the cache)
    integrate_dtype: str = "auto"  # matrix products of inference (flow integration): "bfloat16" runs them at
    #                              2-2.5x the float32 rate on CPUs with bf16 dot products (trajectories move by
    #                              ~1 cm); "auto" picks bfloat16 where the CPU has them, else "float32"

    def __post_init__(self) -> None:
        _positive_ints(self, ("hidden_size", "num_heads", "intermediate_size", "fourier_features",
                              "input_hidden", "euler_steps"))
        _positive_floats(self, ("max_frequency",))
        if not isinstance(self.direct_inputs, bool):
            raise ConfigError(f"ExpertConfig.direct_inputs must be true or false, got {self.direct_inputs!r}")
        if self.integrate_dtype not in PRODUCT_DTYPES:
            raise ConfigError(f"ExpertConfig.integrate_dtype must be one of {PRODUCT_DTYPES}, "
                              f"got {self.integrate_dtype!r}")


@dataclass(frozen=True)
class ActionConfig:
    """Action space: per step (acceleration, curvature) in the ego frame, or (acceleration along the route,
    lateral offset from it) in the route frame (model/route_frame.py); optional discrete trajectory tokens."""

    horizon: int = C.PLAN_STEPS  # 64 steps
    dt: float = C.DT  # [s]
    frame: str = "ego"  # "ego": (acceleration, curvature); "route": (acceleration, lateral offset) on the route
    lateral_scale_m: float = 1.0  # [m] route frame: offsets are divided by this (their normalisation std)
    discrete_tokens: bool = False  # also predict 2 x horizon bin tokens with the LM (RL on the token path)
    token_bins: int = 256  # bins per action dimension when discrete_tokens
    token_range: float = 5.0  # bins cover [-range, range] in normalised (std) units; outside is clamped

    def __post_init__(self) -> None:
        _positive_ints(self, ("horizon", "token_bins"))
        _positive_floats(self, ("dt", "token_range", "lateral_scale_m"))
        if self.frame not in ACTION_FRAMES:
            raise ConfigError(f"ActionConfig.frame must be one of {ACTION_FRAMES}, got {self.frame!r}")


@dataclass(frozen=True)
class PromptConfig:
    """How a sample becomes a token sequence. Saved as `prompt.json` with the checkpoint."""

    history_steps: int = C.HISTORY_STEPS  # one token per past pose
    route_waypoints: int = C.ROUTE_WAYPOINTS  # route points read from the observation
    waypoints_per_token: int = 4  # route points per route token: 20 points -> 5 tokens
    max_navigation_tokens: int = 16  # navigation text is cut to this many BPE tokens
    max_reasoning_tokens: int = 48  # generation stops (and closes the reasoning) after this many tokens
    history_scale_m: float = 10.0  # [m] history positions are divided by this
    route_scale_m: float = 40.0  # [m] route positions are divided by this
    speed_scale: float = 10.0  # [m/s] speed is divided by this; acceleration by speed_scale / 4 s
    reasoning: str = "auto"  # default mode: "always" | "never" | "auto" (the learned gate decides)
    gate_threshold: float = 0.5  # auto mode reasons when P(<|cot_start|>) >= this
    acceleration_input: bool = True  # False: the ego-state token carries speed only (no acceleration copycat)

    def __post_init__(self) -> None:
        _positive_ints(self, ("history_steps", "route_waypoints", "waypoints_per_token", "max_navigation_tokens",
                              "max_reasoning_tokens"))
        _positive_floats(self, ("history_scale_m", "route_scale_m", "speed_scale"))
        if not isinstance(self.acceleration_input, bool):
            raise ConfigError(f"PromptConfig.acceleration_input must be true or false, got {self.acceleration_input!r}")
        if self.reasoning not in REASONING_MODES:
            raise ConfigError(f"PromptConfig.reasoning must be 'always', 'never' or 'auto', got {self.reasoning!r}")
        if not 0.0 <= self.gate_threshold <= 1.0:
            raise ConfigError(f"PromptConfig.gate_threshold must be in [0, 1], got {self.gate_threshold!r}")

    @property
    def route_tokens(self) -> int:
        return -(-self.route_waypoints // self.waypoints_per_token)


@dataclass(frozen=True)
class PerceptionConfig:
    """The auxiliary perception head (model/perception.py): trained on the scene facts; at inference it runs
    only when its predictions feed the expert (`to_expert`)."""

    enabled: bool = False
    queries: int = 4  # learned attention-pooling queries over a sample's image tokens
    hidden_size: int = 128  # width of the MLP that predicts the facts
    to_expert: bool = False  # the head's predictions (gradient stopped) join the expert's direct inputs
    dense: bool = False  # per-cell object-distance classes on the vision stem's feature map (model/dense.py),
    #                      trained on the dataset's render codes; independent of `enabled`, training only

    def __post_init__(self) -> None:
        for name in ("enabled", "to_expert", "dense"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"PerceptionConfig.{name} must be true or false, got {getattr(self, name)!r}")
        if self.to_expert and not self.enabled:
            raise ConfigError("PerceptionConfig.to_expert needs the head: set enabled too")
        _positive_ints(self, ("queries", "hidden_size"))


_SECTIONS = {"rig": RigConfig, "vision": VisionConfig, "backbone": BackboneConfig, "expert": ExpertConfig,
             "action": ActionConfig, "prompt": PromptConfig,
             "perception": PerceptionConfig}


@dataclass(frozen=True)
class ModelConfig:
    rig: RigConfig = field(default_factory=RigConfig)
    vision: VisionConfig = field(default_factory=VisionConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    expert: ExpertConfig = field(default_factory=ExpertConfig)
    action: ActionConfig = field(default_factory=ActionConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    perception: PerceptionConfig = field(default_factory=PerceptionConfig)

    def __post_init__(self) -> None:
        for name, cls in _SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(f"ModelConfig.{name} must be a {cls.__name__}")
        if self.expert.num_heads % self.backbone.num_kv_heads:
            raise ConfigError(f"ExpertConfig.num_heads ({self.expert.num_heads}) must be a multiple of "
                              f"BackboneConfig.num_kv_heads ({self.backbone.num_kv_heads})")
        if self.perception.to_expert and not self.expert.direct_inputs:
            raise ConfigError("PerceptionConfig.to_expert feeds the expert's direct inputs: needs "
                              "ExpertConfig.direct_inputs")
        if self.rig.image_height % self.vision.stride or self.rig.image_width % self.vision.stride:
            raise ConfigError(f"RigConfig image size {self.rig.image_height}x{self.rig.image_width} must be a "
                              f"multiple of the vision stride {self.vision.stride}")

    @classmethod
    def tiny(cls) -> "ModelConfig":
        """A 2-layer model of ~0.15 M parameters for tests: 32 x 64 px images, 4 tokens per image."""
        return cls(
            rig=RigConfig(image_height=32, image_width=64, num_frames=2),
            vision=VisionConfig(patch_size=4, channels=(8, 16), token_grid=(2, 2)),
            backbone=BackboneConfig(hidden_size=64, num_layers=2, num_heads=4, num_kv_heads=2, head_dim=16,
                                    intermediate_size=128, vocab_size=512, max_positions=512),
            expert=ExpertConfig(hidden_size=32, num_heads=2, intermediate_size=64, fourier_features=4,
                                input_hidden=32, euler_steps=4),
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: Any) -> "ModelConfig":
        """Strict inverse of `to_dict`: unknown or mistyped keys raise ConfigError naming them."""
        if not isinstance(doc, dict):
            raise ConfigError(f"model config must be a JSON object, got {type(doc).__name__}")
        unknown = sorted(set(doc) - set(_SECTIONS))
        if unknown:
            raise ConfigError(f"model config: unknown section {unknown[0]!r}; known: {', '.join(_SECTIONS)}")
        return cls(**{name: section_from_dict(sec, doc[name], name) for name, sec in _SECTIONS.items() if name in doc})


def section_from_dict(cls, doc: Any, where: str):
    """Build one config dataclass from a JSON object; lists become tuples; errors name `where.key`."""
    if not isinstance(doc, dict):
        raise ConfigError(f"{where} must be a JSON object, got {type(doc).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(doc) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; known: {', '.join(sorted(names))}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in doc.items()}
    try:
        return cls(**values)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
