"""Writing a dataset: one shard per episode (atomically), then the meta files that describe all of them.

    >>> from cordillera.data.writer import write_shard, finalize
    >>> write_shard(root, 0, "stalled_vehicle:3:0", rows, chash)     # data/episode-000000.parquet
    >>> finalize(root, episodes)                                    # meta/{episodes.parquet,stats,checksums}

A shard is written to a temporary file beside its final name and renamed into place, so a shard either
exists whole or not at all: an interrupted generation leaves only finished episodes, and resuming writes
exactly the missing ones. Nothing in a shard depends on wall-clock time, the worker or the order in which
episodes finished, so a resumed dataset is byte-identical to an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cordillera.data.format import (CHECKSUMS, EPISODE_SCHEMA, EPISODES, FORMAT, FORMAT_VERSION, INFO, SCHEMA,
                                    SHAPES, STATS, DatasetError, read_json, sha256_file, shard_metadata,
                                    shard_name)

__all__ = ["write_shard", "finalize", "write_json", "to_row", "ROW_GROUP_SIZE"]

ROW_GROUP_SIZE = 8  # samples per parquet row group: a random read decodes at most this many rows
COMPRESSION = {name: "zstd" for name in SCHEMA.names} | {"frames": "none"}  # frames are zstd blobs already


def _atomic(path: Path, write) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: Path, doc: dict) -> Path:
    return _atomic(Path(path), lambda tmp: tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n"))


def to_row(sample: dict) -> dict:
    """A schema row from a sample dict whose array fields are numpy arrays of the shapes in SHAPES."""
    row = dict(sample)
    for key, shape in SHAPES.items():
        arr = np.asarray(sample[key], dtype=np.float64)
        if arr.shape != shape or not np.all(np.isfinite(arr)):
            raise DatasetError(f"sample field {key!r} must be finite {shape}, got {arr.shape}")
        row[key] = arr.reshape(-1).tolist()
    missing = [name for name in SCHEMA.names if name not in row]
    if missing:
        raise DatasetError(f"sample is missing fields: {', '.join(missing)}")
    return {name: row[name] for name in SCHEMA.names}


def write_shard(root: Path, episode_index: int, episode: str, rows: list[dict], chash: str) -> Path:
    """Write the rows (to_row dicts) of one episode to its shard, atomically; returns the shard path."""
    table = pa.Table.from_pylist(rows, schema=SCHEMA).replace_schema_metadata(shard_metadata(episode, chash))
    path = Path(root) / shard_name(episode_index)
    return _atomic(path, lambda tmp: pq.write_table(table, tmp, compression=COMPRESSION,
                                                    row_group_size=ROW_GROUP_SIZE, write_statistics=False))


def _summary(values: np.ndarray) -> dict:
    if values.size == 0:
        return {"mean": None, "std": None, "min": None, "max": None, "p05": None, "p95": None}
    return {"mean": float(values.mean()), "std": float(values.std()), "min": float(values.min()),
            "max": float(values.max()), "p05": float(np.percentile(values, 5)), "p95": float(np.percentile(values, 95))}


def _stats(root: Path, episodes: list[dict]) -> dict:
    """Normalisation statistics of the train split (all samples when it has none; the model's defaults
    when the dataset has no samples at all)."""
    from cordillera.model.action_space import ActionStats

    def gather(split: str | None):
        actions, speed = [], []
        for ep in episodes:
            if split is not None and ep["split"] != split:
                continue
            table = pq.read_table(root / ep["shard"], columns=["actions", "speed"])
            for flat in table.column("actions").to_pylist():
                actions.append(np.asarray(flat).reshape(SHAPES["actions"]))
            speed.extend(table.column("speed").to_pylist())
        return actions, speed

    source = "train"
    actions, speed = gather("train")
    if not actions:
        source, (actions, speed) = "all", gather(None)
    if actions:
        stacked = np.stack(actions)  # (N, 64, 2)
        stats = ActionStats.from_actions(stacked)
        accel, curvature = stacked[..., 0].ravel(), stacked[..., 1].ravel()
    else:
        source, stats = "defaults", ActionStats()
        accel = curvature = np.zeros(0)
    return {"actions": stats.to_dict(), "source": source, "samples": len(actions),
            "speed": _summary(np.asarray(speed, dtype=np.float64)), "acceleration": _summary(accel),
            "curvature": _summary(curvature)}


def finalize(root: Path, episodes: Iterable[dict]) -> dict:
    """Write meta/episodes.parquet, meta/stats.json and meta/checksums.json for the given episodes (dicts
    with the EPISODE_SCHEMA fields), then mark meta/info.json complete with the counts. Returns the info."""
    root = Path(root)
    episodes = sorted(episodes, key=lambda e: e["episode_index"])
    table = pa.Table.from_pylist([{k: e[k] for k in EPISODE_SCHEMA.names} for e in episodes], schema=EPISODE_SCHEMA)
    _atomic(root / EPISODES, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
    write_json(root / STATS, _stats(root, episodes))
    files = {ep["shard"]: sha256_file(root / ep["shard"]) for ep in episodes}
    files[EPISODES] = sha256_file(root / EPISODES)
    write_json(root / CHECKSUMS, {"algorithm": "sha256", "files": dict(sorted(files.items()))})
    info = read_json(root / INFO)
    if info.get("format") != FORMAT or info.get("version") != FORMAT_VERSION:
        raise DatasetError(f"{root / INFO}: not a {FORMAT} version {FORMAT_VERSION} info file")
    splits: dict[str, int] = {}
    for ep in episodes:
        splits[ep["split"]] = splits.get(ep["split"], 0) + ep["samples"]
    info.update(complete=True, episodes=len(episodes), samples=sum(e["samples"] for e in episodes),
                keyframes=sum(e["keyframes"] for e in episodes), splits=dict(sorted(splits.items())))
    write_json(root / INFO, info)
    return info
