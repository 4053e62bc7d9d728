"""The Cordillera driving dataset format (version 1): layout, table schema, frame codec, split rule.

    DIR/
      meta/info.json        format name and version, rig, dt, horizon, the generating config and code version,
                            counts per split; "complete": false while a generation is still running
      meta/stats.json       normalisation statistics of the train split: {"actions": {"mean", "std"}} (what
                            model.action_space.ActionStats.from_dict reads) plus speed / acceleration /
                            curvature summaries
      meta/episodes.parquet one row per episode: index, id, family, seed, repeat, split, samples, shard
      meta/checksums.json   {"algorithm": "sha256", "files": {relative path: hex digest}} for every data file
      data/episode-NNNNNN.parquet
                            one shard per episode (the unit of work and of resume), rows = samples

A sample row holds the model rig's frames (one blob per camera: its T history frames, oldest first, as a raw
(T, H, W, 3) uint8 array compressed with zstd), the ego history, speed, acceleration, route, navigation text,
the teacher's 64-pose plan and its (acceleration, curvature) actions, the decision, the Chain-of-Causation
record (JSON) and text (None at routine moments), the keyframe flag, QA pairs (JSON), the perturbation applied
at that moment, the scenario family and seed, time and episode, and (privileged, for training the vision
encoder) each camera's per-pixel object-distance code at t0. Arrays are flattened float64 lists; their shapes are in `SHAPES`.

Every shard carries its own key-value metadata (format, version, episode id, config hash), so a shard copied
in from another dataset or format is recognised as foreign even when its checksum is missing.

Frames are stored as a 4-frame raw stack per camera compressed with zstd, chosen by measurement over PNG, JPEG,
per-frame zstd and H.264 (benchmarks/frame_formats.py; docs/architecture.md, "Datasets and the data factory"):
lossless, ~0.7 kB per 64x128 frame (zstd finds the repeats between consecutive frames), and a sample decodes on
its own in ~0.3 ms, where a video needs a seek and a GOP of decoding (~30 ms) for random access.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa

__all__ = ["FORMAT", "FORMAT_VERSION", "DatasetError", "SHAPES", "SCHEMA", "EPISODE_SCHEMA", "INFO", "STATS",
           "EPISODES", "CHECKSUMS", "DATA_DIR", "shard_name", "split_of", "encode_frames", "decode_frames",
           "encode_codes", "decode_codes",
           "sha256_file", "config_hash", "shard_metadata", "read_json", "VAL_FRACTION", "FRAME_CODEC"]

FORMAT = "cordillera-driving-dataset"
FORMAT_VERSION = 1  # bumped when the layout or a column's meaning changes; readers refuse other versions

INFO, STATS, EPISODES, CHECKSUMS = "meta/info.json", "meta/stats.json", "meta/episodes.parquet", "meta/checksums.json"
DATA_DIR = "data"
_ZSTD = pa.Codec("zstd", compression_level=9)
FRAME_CODEC = "zstd9-raw-stack"  # info.json rig.frame_format
VAL_FRACTION = 0.1  # share of scenarios (family, seed) that go to the val split

SHAPES = {  # flattened list columns -> their array shape
    "ego_history": (16, 3),  # [x, y, yaw] t0-1.5 s .. t0, ego frame at t0 [m, m, rad]
    "route_waypoints": (20, 2),  # upcoming route centreline points, ego frame [m]
    "future": (64, 3),  # the teacher's plan [x, y, yaw] at t0+0.1 .. 6.4 s, ego frame
    "actions": (64, 2),  # (acceleration [m/s^2], curvature [1/m]) per step (trajectory_to_actions of future)
}

_F64 = pa.list_(pa.float64())
SCHEMA = pa.schema([
    ("episode", pa.string()),  # "family:seed:repeat"
    ("episode_index", pa.int32()),
    ("family", pa.string()),
    ("seed", pa.int64()),
    ("repeat", pa.int32()),  # k-th visit of this scenario (different perturbations)
    ("split", pa.string()),  # "train" | "val" (by scenario, see split_of)
    ("step", pa.int32()),  # simulation step of t0
    ("t", pa.float64()),  # [s] simulated time of t0
    ("frames", pa.list_(pa.binary())),  # one encode_frames blob per camera (info rig order): (T, H, W, 3)
    ("ego_history", _F64),
    ("speed", pa.float64()),  # [m/s]
    ("acceleration", pa.float64()),  # [m/s^2]
    ("yaw_rate", pa.float64()),  # [rad/s]
    ("route_waypoints", _F64),
    ("navigation", pa.string()),
    ("future", _F64),
    ("actions", _F64),
    ("proposal", pa.string()),  # the planner proposal that won
    ("decision_longitudinal", pa.string()),  # the planner's decision (full taxonomy name or null), also at
                                             # routine moments, where the CoC record's decision is None
    ("decision_lateral", pa.string()),
    ("keyframe", pa.bool_()),
    ("reasoning", pa.string()),  # the CoC text; null at routine moments
    ("coc", pa.string()),  # JSON of the ChainOfCausation record (null when none was made)
    ("qa", pa.string()),  # JSON list of [question, answer]
    ("perturbation", pa.string()),  # JSON {"lateral_m", "heading_rad", "speed_factor"} active at t0, or null
    ("depth", pa.list_(pa.binary())),  # privileged dense target, one encode_codes blob per camera: the (H, W)
                                       # object-distance code of the newest frame (world.render.camera.
                                       # object_depth); null in datasets written before it existed
])

EPISODE_SCHEMA = pa.schema([
    ("episode_index", pa.int32()),
    ("episode", pa.string()),
    ("family", pa.string()),
    ("seed", pa.int64()),
    ("repeat", pa.int32()),
    ("split", pa.string()),
    ("samples", pa.int32()),
    ("keyframes", pa.int32()),
    ("shard", pa.string()),  # path relative to the dataset directory
])


class DatasetError(ValueError):
    """A dataset directory or shard that is missing, corrupt, foreign or of another format version."""


def shard_name(episode_index: int) -> str:
    """Relative path of an episode's shard."""
    return f"{DATA_DIR}/episode-{episode_index:06d}.parquet"


def split_of(family: str, seed: int, val_fraction: float = VAL_FRACTION) -> str:
    """"val" or "train" for a scenario: a fixed hash of (family, seed), so every sample and every repeat of a
    scenario lands in the same split, whatever the suite, the episode order or the number of episodes."""
    digest = hashlib.sha256(f"{family}:{int(seed)}".encode()).digest()
    return "val" if int.from_bytes(digest[:8], "big") / 2.0**64 < val_fraction else "train"


def encode_frames(frames: np.ndarray) -> bytes:
    """One camera's history frames (T, H, W, 3) uint8 as a single zstd (level 9) blob of the raw array."""
    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise DatasetError(f"frames must be (T, H, W, 3) uint8, got {frames.shape}")
    return _ZSTD.compress(frames.tobytes(), asbytes=True)


def encode_codes(codes: np.ndarray) -> bytes:
    """One camera's (H, W) uint8 object-distance code map as a zstd (level 9) blob of the raw array."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    if codes.ndim != 2:
        raise DatasetError(f"depth codes must be (H, W) uint8, got {codes.shape}")
    return _ZSTD.compress(codes.tobytes(), asbytes=True)


def decode_codes(blob: bytes, shape: tuple[int, int], where: str = "depth") -> np.ndarray:
    """(H, W) uint8 from encode_codes bytes; DatasetError naming `where` when they do not decode."""
    return _unpack(blob, shape, where, "depth codes")


def decode_frames(blob: bytes, shape: tuple[int, int, int, int], where: str = "frames") -> np.ndarray:
    """(T, H, W, 3) uint8 from encode_frames bytes; DatasetError naming `where` when they do not decode."""
    return _unpack(blob, shape, where, "frame bytes")


def _unpack(blob: bytes, shape: tuple[int, ...], where: str, what: str) -> np.ndarray:
    size = int(np.prod(shape))
    try:
        raw = _ZSTD.decompress(blob, decompressed_size=size, asbytes=True)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise DatasetError(f"{where}: {what} do not decode ({exc})") from None
    if len(raw) != size:
        raise DatasetError(f"{where}: {what} decode to {len(raw)} bytes, expected {shape}")
    return np.frombuffer(raw, np.uint8).reshape(shape)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def config_hash(config: dict) -> str:
    """sha256 of the canonical JSON of the generating config (what makes two shards of one dataset)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def shard_metadata(episode: str, chash: str) -> dict[bytes, bytes]:
    return {b"cordillera.format": FORMAT.encode(), b"cordillera.version": str(FORMAT_VERSION).encode(),
            b"cordillera.episode": episode.encode(), b"cordillera.config_hash": chash.encode()}


def read_json(path: Path) -> dict:
    """A JSON object from `path`; DatasetError naming the file when it is missing or malformed."""
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise DatasetError(f"{path}: expected a JSON object, got {type(doc).__name__}")
    return doc
