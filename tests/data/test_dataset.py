"""The dataset format on real teacher data: write -> read round trip, integrity checks, split by scenario."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from cordillera import constants as C
from cordillera.data import DatasetError, DrivingDataset, split_of
from cordillera.data.format import CHECKSUMS, INFO, decode_frames, encode_frames, sha256_file
from cordillera.data.reader import DatasetReader
from cordillera.model.action_space import ActionStats, trajectory_to_actions
from cordillera.model.processor import Sample


def test_round_trip_samples(small_dataset):
    root, info = small_dataset
    ds = DrivingDataset(root, split="all")
    assert len(ds) == info["samples"] > 0
    assert info["complete"] and info["version"] == 1 and info["rig"]["cameras"] == list(C.CAMERA_NAMES)
    assert isinstance(ds.stats, ActionStats)
    seen_objects = 0
    for i in range(len(ds)):
        sample, record = ds[i], ds.record(i)
        assert isinstance(sample, Sample)
        assert list(sample.cameras) == list(C.CAMERA_NAMES)
        for frames in sample.cameras.values():
            assert frames.shape == (4, 64, 128, 3) and frames.dtype == np.uint8
            assert frames.std() > 1.0  # a rendered scene, not a blank image
        assert sample.ego_history.shape == (16, 3) and np.allclose(sample.ego_history[-1], 0.0)
        assert sample.future.shape == (64, 3) and sample.route_waypoints.shape == (20, 2)
        assert record["t"] >= SMALL_WARMUP - 1e-9
        # the stored actions are the fit of the stored plan at the stored speed
        np.testing.assert_allclose(record["actions"], trajectory_to_actions(sample.future, sample.speed), atol=1e-9)
        # reasoning text exactly at keyframes; the CoC record agrees with the row
        assert (sample.reasoning is not None) == sample.keyframe == record["coc"]["keyframe"]
        if sample.keyframe:
            assert record["coc"]["text"] == sample.reasoning and not record["coc"]["routine"]
        assert record["family"] == record["episode"].split(":")[0]
        assert record["split"] == split_of(record["family"], record["seed"], 0.5)
        assert isinstance(record["qa"], list) and sample.qa == tuple(tuple(pair) for pair in record["qa"])
        # the privileged render codes of each camera's newest frame: objects where the newest frame shows them
        assert list(sample.depth) == list(C.CAMERA_NAMES) and "depth" not in record
        for name, codes in sample.depth.items():
            assert codes.shape == (64, 128) and codes.dtype == np.uint8
        objects = sum(int(((c >= 1) & (c <= 253)).sum()) for c in sample.depth.values())
        seen_objects += objects > 0
    assert seen_objects > 0  # these scenarios have traffic in view
    stats = json.loads((root / "meta" / "stats.json").read_text())
    assert ActionStats.from_dict(stats["actions"]) == ds.stats
    assert stats["speed"]["max"] >= stats["speed"]["min"] >= 0.0


SMALL_WARMUP = 1.5


def test_frame_codec_is_lossless_on_rendered_frames():
    from cordillera.scenarios.families import sample_family
    from cordillera.world import sim
    from cordillera.world.render.camera import observe_cameras
    from cordillera.world.render.rig import default_rig

    state = sim.reset(sample_family("stalled_vehicle", 0), 0)
    for _ in range(4):
        state = sim.step(state)
    frames, _ = observe_cameras(state, default_rig().with_resolution(64, 128))
    for stack in frames.values():
        blob = encode_frames(stack)
        assert len(blob) < stack.nbytes / 4
        np.testing.assert_array_equal(decode_frames(blob, stack.shape), stack)
    with pytest.raises(DatasetError, match="camera x"):
        decode_frames(b"not zstd", (4, 64, 128, 3), "camera x")


def _copy(small_dataset, tmp_path):
    root, _ = small_dataset
    dst = tmp_path / "copy"
    shutil.copytree(root, dst)
    return dst


def test_corrupt_shard_is_named(small_dataset, tmp_path):
    root = _copy(small_dataset, tmp_path)
    shard = sorted((root / "data").glob("*.parquet"))[1]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=f"{shard.name}.*corrupt"):
        DatasetReader(root).verify()
    ds = DrivingDataset(root, split="all")  # opening is cheap; the shard is checked before its first row is used
    first = int(ds.reader.offsets[1])
    with pytest.raises(DatasetError, match=shard.name):
        ds[first]


def test_foreign_file_and_foreign_shard_are_named(small_dataset, tmp_path):
    root = _copy(small_dataset, tmp_path)
    stray = root / "data" / "episode-000042.parquet"
    shutil.copy(root / "data" / "episode-000000.parquet", stray)
    with pytest.raises(DatasetError, match="episode-000042.parquet: foreign file"):
        DatasetReader(root)
    stray.unlink()
    # a shard of another dataset (its own metadata) put in place, with a matching checksum
    shard = root / "data" / "episode-000001.parquet"
    table = pq.read_table(shard)
    meta = dict(table.schema.metadata)
    meta[b"cordillera.config_hash"] = b"0" * 64
    pq.write_table(table.replace_schema_metadata(meta), shard)
    sums = json.loads((root / CHECKSUMS).read_text())
    sums["files"]["data/episode-000001.parquet"] = sha256_file(shard)
    (root / CHECKSUMS).write_text(json.dumps(sums))
    with pytest.raises(DatasetError, match="episode-000001.parquet: foreign shard.*config_hash"):
        DatasetReader(root).verify()


def test_wrong_version_and_unfinished_generation_are_refused(small_dataset, tmp_path):
    root = _copy(small_dataset, tmp_path)
    info = json.loads((root / INFO).read_text())
    (root / INFO).write_text(json.dumps({**info, "version": 99}))
    with pytest.raises(DatasetError, match="info.json: format version 99"):
        DrivingDataset(root)
    (root / INFO).write_text(json.dumps({**info, "format": "lerobot"}))
    with pytest.raises(DatasetError, match="format 'lerobot'"):
        DrivingDataset(root)
    (root / INFO).write_text(json.dumps({**info, "complete": False}))
    with pytest.raises(DatasetError, match="did not finish"):
        DrivingDataset(root)
    (root / INFO).write_text("{not json")
    with pytest.raises(DatasetError, match="info.json: not readable JSON"):
        DrivingDataset(root)
    with pytest.raises(DatasetError, match="not a dataset directory"):
        DrivingDataset(tmp_path / "nowhere")


def test_split_is_by_scenario(small_dataset):
    root, _ = small_dataset
    train, val, every = (DrivingDataset(root, split=s) for s in ("train", "val", "all"))
    assert len(train) > 0 and len(val) > 0 and len(train) + len(val) == len(every)
    scenarios = {s: {(r["family"], r["seed"]) for r in map(ds.record, range(len(ds)))}
                 for s, ds in (("train", train), ("val", val))}
    assert not scenarios["train"] & scenarios["val"]
    with pytest.raises(DatasetError, match="unknown split"):
        DrivingDataset(root, split="test")


def test_split_rule_is_a_fixed_hash_of_the_scenario():
    from cordillera.scenarios.suites import get_suite

    items = get_suite("train").items
    splits = [split_of(f, s) for f, s in items]
    assert splits == [split_of(f, s) for f, s in items]  # deterministic
    share = splits.count("val") / len(splits)
    assert 0.05 < share < 0.15  # ~ VAL_FRACTION = 0.1 over 580 scenarios
    assert all(split_of(f, s, 0.0) == "train" for f, s in items[:20])
    assert all(split_of(f, s, 1.0) == "val" for f, s in items[:20])


def test_dataloader_workers_reopen_shards(small_dataset):
    import torch

    root, _ = small_dataset
    ds = DrivingDataset(root, split="all")
    loader = torch.utils.data.DataLoader(ds, batch_size=None, shuffle=False, num_workers=0)
    futures = [s.future for s in loader]
    assert len(futures) == len(ds)
    import pickle

    clone = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(clone[len(ds) - 1].future, ds[len(ds) - 1].future)
