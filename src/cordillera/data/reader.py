"""Reading a dataset: version and checksum checks, and the torch Dataset the trainer iterates.

    >>> from cordillera.data import DrivingDataset
    >>> ds = DrivingDataset("runs/data/train", split="train")
    >>> sample = ds[0]                  # model.processor.Sample (cameras, history, route, future, reasoning, keyframe)
    >>> ds.record(0)["decision"]        # everything else about that sample (family, seed, CoC record, QA, ...)
    >>> ds.stats                        # model.action_space.ActionStats of the train split

Opening checks the format name and version in meta/info.json, that the generation finished, the checksum of
the episode table, and that data/ holds exactly the shards the checksums list (a stray file is named as
foreign). Each shard's sha256 and its own metadata (format, version, episode, config hash) are checked the
first time a process reads it, so a corrupt or foreign shard is named before any of its rows is used;
`verify()` checks every shard at once. Rows are read one parquet row group (8 samples) at a time.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from torch.utils.data import Dataset

from cordillera.data.format import (CHECKSUMS, DATA_DIR, EPISODES, FORMAT, FORMAT_VERSION, FRAME_CODEC, INFO,
                                    SHAPES, STATS, DatasetError, decode_codes, decode_frames, read_json,
                                    sha256_file)

__all__ = ["DatasetReader", "DrivingDataset", "SPLITS"]

SPLITS = ("train", "val", "all")


class DatasetReader:
    """Raw rows of a dataset directory (any split), with every integrity check. Picklable (for DataLoader
    workers): open shard handles are dropped and reopened, verified again, in each process."""

    def __init__(self, path: str | Path):
        self.root = Path(path)
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: not a dataset directory")
        self.info = read_json(self.root / INFO)
        if self.info.get("format") != FORMAT:
            raise DatasetError(f"{self.root / INFO}: format {self.info.get('format')!r} is not {FORMAT!r}")
        if self.info.get("version") != FORMAT_VERSION:
            raise DatasetError(f"{self.root / INFO}: format version {self.info.get('version')!r}, this reader "
                               f"reads version {FORMAT_VERSION}; regenerate the dataset")
        if not self.info.get("complete"):
            raise DatasetError(f"{self.root}: generation did not finish (meta/info.json complete=false); "
                               f"rerun the same `cordillera datagen` command to resume it")
        checksums = read_json(self.root / CHECKSUMS)
        files = checksums.get("files")
        if checksums.get("algorithm") != "sha256" or not isinstance(files, dict):
            raise DatasetError(f"{self.root / CHECKSUMS}: expected {{'algorithm': 'sha256', 'files': {{...}}}}")
        self.checksums: dict[str, str] = files
        self._check_file(EPISODES)
        table = pq.read_table(self.root / EPISODES)
        self.episodes: list[dict] = table.to_pylist()
        listed = {ep["shard"] for ep in self.episodes}
        for name in sorted(listed - set(files)):
            raise DatasetError(f"{self.root / name}: shard has no checksum in {CHECKSUMS}")
        self._check_directory(listed)
        self._verified: set[str] = set()
        self._files: dict[str, pq.ParquetFile] = {}
        self._cache: tuple | None = None  # (shard, row group, rows)
        counts = np.array([ep["samples"] for ep in self.episodes], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(counts)])  # sample k of episode e is offsets[e] + k

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.update(_verified=set(), _files={}, _cache=None)
        return state

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def _check_directory(self, listed: set[str]) -> None:
        data = self.root / DATA_DIR
        names = [p.name for p in data.iterdir()] if data.is_dir() else []
        present = {f"{DATA_DIR}/{name}" for name in names if not name.startswith(".")}  # dotfiles: unfinished writes
        for name in sorted(present - listed):
            raise DatasetError(f"{self.root / name}: foreign file in {DATA_DIR}/ (not in meta/episodes.parquet)")
        for name in sorted(listed - present):
            raise DatasetError(f"{self.root / name}: shard listed in meta/episodes.parquet is missing")

    def _check_file(self, name: str) -> None:
        expected = self.checksums.get(name)
        path = self.root / name
        if expected is None:
            raise DatasetError(f"{path}: no checksum in {CHECKSUMS}")
        if not path.is_file():
            raise DatasetError(f"{path}: missing")
        if sha256_file(path) != expected:
            raise DatasetError(f"{path}: corrupt (sha256 does not match {CHECKSUMS})")

    def _check_shard(self, episode: dict) -> None:
        name = episode["shard"]
        self._check_file(name)
        path = self.root / name
        try:
            meta = pq.read_schema(path).metadata or {}
        except Exception as exc:  # noqa: BLE001  (pyarrow raises several types for a bad file)
            raise DatasetError(f"{path}: not a readable parquet file ({exc})") from None
        got = {k.decode(): v.decode() for k, v in meta.items() if k.startswith(b"cordillera.")}
        want = {"cordillera.format": FORMAT, "cordillera.version": str(FORMAT_VERSION),
                "cordillera.episode": episode["episode"], "cordillera.config_hash": self.info.get("config_hash")}
        bad = [k for k in want if got.get(k) != want[k]]
        if bad:
            what = ", ".join(f"{k}={got.get(k)!r}, expected {want[k]!r}" for k in bad)
            raise DatasetError(f"{path}: foreign shard ({what})")

    def verify(self) -> int:
        """Check every shard's checksum and metadata now; returns the number of shards checked."""
        for episode in self.episodes:
            if episode["shard"] not in self._verified:
                self._check_shard(episode)
                self._verified.add(episode["shard"])
        return len(self.episodes)

    def locate(self, index: int) -> tuple[int, int]:
        """(episode position, row in its shard) of global sample `index`."""
        if not 0 <= index < len(self):
            raise IndexError(f"sample index {index} out of range for {len(self)} samples")
        e = int(np.searchsorted(self.offsets, index, side="right") - 1)
        return e, int(index - self.offsets[e])

    def row(self, index: int) -> dict:
        """The raw row (schema fields, flattened arrays, PNG bytes) of global sample `index`."""
        e, k = self.locate(index)
        episode = self.episodes[e]
        name = episode["shard"]
        if name not in self._verified:
            self._check_shard(episode)
            self._verified.add(name)
        file = self._files.get(name)
        if file is None:
            file = self._files[name] = pq.ParquetFile(self.root / name)
            if file.metadata.num_rows != episode["samples"]:
                raise DatasetError(f"{self.root / name}: {file.metadata.num_rows} rows, meta/episodes.parquet "
                                   f"says {episode['samples']}")
        size = file.metadata.row_group(0).num_rows
        group, offset = divmod(k, size)
        if self._cache is None or self._cache[:2] != (name, group):
            self._cache = (name, group, file.read_row_group(group))
        return self._cache[2].slice(offset, 1).to_pylist()[0]


def _qa(row: dict, where: str) -> tuple:
    """The sample's scene QA pairs (stored as JSON); DatasetError when they do not parse as pairs."""
    try:
        pairs = json.loads(row["qa"]) if row.get("qa") else []
        return tuple((str(q), str(a)) for q, a in pairs)
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{where}: sample at step {row.get('step')} has malformed qa: {exc}") from None


def _array(row: dict, key: str) -> np.ndarray:
    return np.asarray(row[key], dtype=np.float64).reshape(SHAPES[key])


class DrivingDataset(Dataset):
    """A torch-style map Dataset of `model.processor.Sample`s from one split ("train", "val" or "all").

    The split is by scenario (format.split_of), fixed when the dataset was written. `.stats` are the train
    split's action statistics, `.info` the dataset's meta/info.json, `record(i)` the rest of sample i.
    """

    def __init__(self, path: str | Path, split: str = "train"):
        if split not in SPLITS:
            raise DatasetError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
        self.reader = DatasetReader(path)
        self.split = split
        self.info = self.reader.info
        stats = read_json(self.reader.root / STATS)
        from cordillera.model.action_space import ActionStats

        try:
            self.stats = ActionStats.from_dict(stats.get("actions"))
        except ValueError as exc:
            raise DatasetError(f"{self.reader.root / STATS}: {exc}") from None
        self.stats_doc = stats
        rig = self.info["rig"]
        self.cameras: tuple[str, ...] = tuple(rig["cameras"])
        self.frames: int = int(rig["frames"])
        self.frame_shape = (self.frames, int(rig["height"]), int(rig["width"]), 3)
        if rig.get("frame_format") != FRAME_CODEC:
            raise DatasetError(f"{self.reader.root / INFO}: frame format {rig.get('frame_format')!r}, this reader "
                               f"reads {FRAME_CODEC!r}")
        offsets = self.reader.offsets
        keep = [e for e, ep in enumerate(self.reader.episodes) if split == "all" or ep["split"] == split]
        self.indices = (np.concatenate([np.arange(offsets[e], offsets[e + 1]) for e in keep]).astype(np.int64)
                        if keep else np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.indices)

    def _row(self, i: int) -> dict:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} {self.split} samples")
        return self.reader.row(int(self.indices[i]))

    def __getitem__(self, i: int):
        from cordillera.model.processor import Sample

        row = self._row(i)
        where = f"{self.reader.root / self.reader.episodes[self.reader.locate(int(self.indices[i]))[0]]['shard']}"
        blobs = row["frames"]
        if len(blobs) != len(self.cameras):
            raise DatasetError(f"{where}: sample at step {row['step']} has {len(blobs)} camera blobs, expected "
                               f"{len(self.cameras)}")
        cameras = {name: decode_frames(blob, self.frame_shape, f"{where} step {row['step']} {name}")
                   for name, blob in zip(self.cameras, blobs)}
        depth = None
        if row.get("depth") is not None:  # datasets written before the column existed have none
            if len(row["depth"]) != len(self.cameras):
                raise DatasetError(f"{where}: sample at step {row['step']} has {len(row['depth'])} depth blobs, "
                                   f"expected {len(self.cameras)}")
            depth = {name: decode_codes(blob, self.frame_shape[1:3], f"{where} step {row['step']} {name} depth")
                     for name, blob in zip(self.cameras, row["depth"])}
        return Sample(cameras=cameras, ego_history=_array(row, "ego_history"), speed=row["speed"],
                      route_waypoints=_array(row, "route_waypoints"), navigation=row["navigation"],
                      acceleration=row["acceleration"], future=_array(row, "future"), reasoning=row["reasoning"],
                      keyframe=bool(row["keyframe"]), qa=_qa(row, where), depth=depth)

    def record(self, i: int) -> dict:
        """Everything stored about sample i except the frames: ids, family, seed, split, time, decision,
        CoC record (dict), QA pairs, perturbation, proposal, arrays (numpy, shaped)."""
        row = dict(self._row(i))
        row.pop("frames")
        row.pop("depth", None)
        for key in SHAPES:
            row[key] = _array(row, key)
        row["decision"] = {"longitudinal": row.pop("decision_longitudinal"), "lateral": row.pop("decision_lateral")}
        for key in ("coc", "qa", "perturbation"):
            row[key] = json.loads(row[key]) if row[key] is not None else None
        return row
