"""PhysicalAI-AV layout: write a real simulated rollout, read it back, compare with the simulator's own log.

Run: .venv/bin/python -m pytest tests/data/test_pai_av.py -q      (+ -m pai_av for the published-client check)
"""

from __future__ import annotations

import json
import math
import shutil
import zipfile
from dataclasses import replace

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from cordillera.data.pai_av import (CLIP_INDEX, REASONING, EgoTrack, PaiAvDataset, PaiAvError, SimClip,
                                    clip_from_rollout, is_pai_av_dir, write_pai_av)
from cordillera.data.pai_av_read import route_from_future
from cordillera.data.pai_av_write import egomotion_table, ftheta_polynomials
from cordillera.geometry import to_frame
from cordillera.model.config import RigConfig
from cordillera.policies import make_policy
from cordillera.scenarios.families import sample_family
from cordillera.world.render.camera import render_state
from cordillera.world.render.rig import default_rig
from cordillera.world.rollout import rollout

DURATION_S = 9.0  # the cut needs > 8 s (1.6 s history + 6.4 s future); t0 in (1.6, 2.6] s
EVENT = (2.5, "Slow down for the curve ahead because the road bends left.", {"decision": {"longitudinal":
                                                                                          "Speed adaptation"}})


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    final = rollout(sample_family("lane_follow_curved", 1), make_policy("lane_follower"), duration_s=DURATION_S)
    clip = clip_from_rollout(final, events=[EVENT])
    root = write_pai_av(tmp_path_factory.mktemp("pai") / "out", [clip])
    return final, clip, root


def _log_poses(final, step: int, offsets) -> np.ndarray:
    ego = np.stack([s.ego[:3] for s in final.log])
    return to_frame(ego[[step + k for k in offsets]], ego[step])


def test_round_trip_gives_the_logged_samples(export):
    final, clip, root = export
    ds = PaiAvDataset(root, split="all")
    assert len(ds) == 2 and ds.info["keyframes"] == 1 and ds.info["clips"] == 1
    moments = [ds.record(i) for i in range(len(ds))]
    assert [m["t0_us"] for m in moments] == [2_000_000, 2_500_000]
    size = (ds.rig.image_width, ds.rig.image_height)
    for i, moment in enumerate(moments):
        sample = ds[i]
        step = moment["t0_us"] // 100_000
        assert np.abs(sample.ego_history - _log_poses(final, step, range(-15, 1))).max() < 1e-3  # [m, rad]
        assert np.abs(sample.future - _log_poses(final, step, range(1, 65))).max() < 1e-3
        assert sample.speed == pytest.approx(final.log[step].ego[3], abs=1e-9)
        assert sample.acceleration == pytest.approx(final.log[step].ego[4], abs=1e-9)
        assert set(sample.cameras) == set(RigConfig().cameras)
        for name, frames in sample.cameras.items():
            assert frames.shape == (4, 64, 128, 3)
            for k, image in enumerate(frames):
                truth = cv2.resize(render_state(final, default_rig(), index=step - 3 + k)[name], size,
                                   interpolation=cv2.INTER_AREA)
                error = np.abs(image.astype(float) - truth).mean()
                assert error < 8.0, (name, k, error)  # H.264 at crf 18: about 1-2 grey levels
        assert sample.keyframe == (moment["t0_us"] == 2_500_000)
        assert sample.reasoning == (EVENT[1] if sample.keyframe else None)
    assert len(ds.stats.mean) == 2 and all(math.isfinite(v) for v in ds.stats.mean)


def test_samples_feed_the_model_processor(export):
    from cordillera.model import ModelConfig, train_tokenizer
    from cordillera.model.processor import Processor

    _, _, root = export
    config = ModelConfig.tiny()
    ds = PaiAvDataset(root, split="all", rig=config.rig)  # the model's rig: its cameras, frames and resolution
    assert ds.frames == config.rig.num_frames and set(ds.cameras) <= set(config.rig.camera_vocabulary)
    texts = [ds.record(i)["navigation"] for i in range(len(ds))] + [EVENT[1]] * 3
    tokenizer = train_tokenizer(texts * 3, config.backbone.vocab_size, config.rig.camera_vocabulary)
    batch = Processor(config, tokenizer, ds.stats).collate([ds[0], ds[1]], targets=True)
    assert batch.actions.shape == (2, 64, 2) and torch_finite(batch.actions)
    rig = config.rig
    assert batch.images.shape == (2 * len(rig.cameras) * rig.num_frames, 3, rig.image_height, rig.image_width)
    record = ds.record(1)
    assert record["keyframe"] and record["reasoning"] == EVENT[1] and record["t0_s"] == 2.5
    assert np.array_equal(record["future"], ds[1].future)


def torch_finite(tensor) -> bool:
    return bool(tensor.isfinite().all())


def test_frames_are_the_latest_at_or_before_each_time(export):
    _, clip, root = export
    ds = PaiAvDataset(root, split="all")
    images, stamps = ds.camera_frames(clip.clip_id, "camera_front_wide_120fov", 2_449_999)  # between frames
    assert stamps.tolist() == [2_100_000, 2_200_000, 2_300_000, 2_400_000]
    assert np.abs(images[-1].astype(float) - clip.frames["camera_front_wide_120fov"][24]).mean() < 8.0


def test_reasoning_parquet_keeps_the_structured_record(export):
    _, clip, root = export
    rows = pq.read_table(root / REASONING).to_pylist()
    assert len(rows) == 1 and rows[0]["clip_id"] == clip.clip_id
    (event,) = rows[0]["events"]
    assert event["event_start_timestamp"] == 2_500_000 and event["event_start_frame"] == 25
    assert event["cot"] == EVENT[1] and json.loads(event["record"]) == EVENT[2]


def test_layout_is_recognised_and_writing_is_deterministic(export, tmp_path):
    _, clip, root = export
    assert is_pai_av_dir(root) and not is_pai_av_dir(tmp_path)
    again = write_pai_av(tmp_path / "again", [clip])
    files = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for name in files:
        assert (root / name).read_bytes() == (again / name).read_bytes(), name


def test_egomotion_is_in_the_anchor_frame(export):
    final, _, _ = export
    table = egomotion_table(final).to_pydict()
    assert table["x"][0] == table["y"][0] == 0.0 and table["qz"][0] == 0.0 and table["qw"][0] == 1.0
    k = 50
    ego = final.log[k].ego
    yaw = 2.0 * math.atan2(table["qz"][k], table["qw"][k])
    assert math.hypot(table["vx"][k], table["vy"][k]) == pytest.approx(ego[3])
    assert math.atan2(table["vy"][k], table["vx"][k]) == pytest.approx(yaw, abs=1e-9)


# ---- interpolation, hand-computed ------------------------------------------------------------------------


def _track(times_s, xy, yaw_deg, where="clip c1: feature 'egomotion'"):
    n = len(times_s)
    yaw = np.radians(yaw_deg)
    quat = np.column_stack([np.zeros(n), np.zeros(n), np.sin(yaw / 2), np.cos(yaw / 2)])
    xyz = np.column_stack([np.asarray(xy, float), np.zeros(n)])
    return EgoTrack(np.round(np.asarray(times_s) * 1e6).astype(np.int64), xyz, quat, np.zeros((n, 3)),
                    np.zeros((n, 3)), where)


def test_spline_reproduces_a_quadratic_and_slerp_a_uniform_turn():
    t = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    track = _track(t, np.column_stack([t**2, 3.0 * t]), 90.0 * t / 2.0)  # x = t^2, y = 3 t, yaw 0 -> 90 deg
    position, rotation = track.pose([250_000, 1_750_000])
    assert position[:, 0] == pytest.approx([0.0625, 3.0625], abs=1e-12)  # not-a-knot cubic is exact on t^2
    assert position[:, 1] == pytest.approx([0.75, 5.25], abs=1e-12)
    assert np.degrees(rotation.as_euler("zyx")[:, 0]) == pytest.approx([11.25, 78.75], abs=1e-9)


def test_relative_poses_are_in_the_t0_rig_frame():
    # driving north (yaw 90 deg) at 10 m/s: one second later the rig is 10 m ahead of where it was at t0
    track = _track([0.0, 1.0, 2.0, 3.0], [[0, 0], [0, 10], [0, 20], [0, 30]], [90, 90, 90, 90])
    rel = track.relative([1_000_000, 2_000_000, 2_500_000], 1_000_000)
    assert rel == pytest.approx(np.array([[0, 0, 0], [10, 0, 0], [15, 0, 0]]), abs=1e-9)
    # a quarter turn between two rows: halfway, slerp gives 45 deg relative to the start
    turn = _track([0.0, 1.0], [[0, 0], [1, 1]], [0, 90])
    assert turn.relative([500_000], 0)[0, 2] == pytest.approx(math.radians(45.0), abs=1e-12)


def test_no_extrapolation_and_bad_rows_are_named():
    track = _track([0.0, 1.0, 2.0], [[0, 0], [1, 0], [2, 0]], [0, 0, 0])
    with pytest.raises(PaiAvError, match=r"clip c1: feature 'egomotion'.*no extrapolation"):
        track.relative([2_100_000], 1_000_000)
    with pytest.raises(PaiAvError, match="increase strictly"):
        _track([0.0, 1.0, 1.0], [[0, 0], [1, 0], [2, 0]], [0, 0, 0])


def test_route_from_future_path():
    straight = np.column_stack([np.arange(1, 65, dtype=float), np.zeros(64), np.zeros(64)])  # 1 m per step
    route, text = route_from_future(straight)
    assert route == pytest.approx(np.column_stack([2.0 * np.arange(1, 21), np.zeros(20)]))
    assert text == "follow the road"
    stopped, _ = route_from_future(np.zeros((64, 3)))
    assert stopped == pytest.approx(np.column_stack([2.0 * np.arange(1, 21), np.zeros(20)]))
    # 20 m straight, then a left quarter circle of radius 10 m
    arc = np.linspace(0, math.pi / 2, 44)
    turn = np.vstack([np.column_stack([np.linspace(1, 20, 20), np.zeros(20), np.zeros(20)]),
                      np.column_stack([20 + 10 * np.sin(arc), 10 - 10 * np.cos(arc), arc])])
    assert route_from_future(turn)[1] == "turn left in 20 m"


def test_pinhole_in_ftheta_columns():
    wide, tele = default_rig().camera("camera_front_wide_120fov"), default_rig().camera("camera_front_tele_30fov")
    forward, backward, error = ftheta_polynomials(wide)
    assert forward[:2] == pytest.approx([0.0, wide.fx]) and backward[1] == pytest.approx(1.0 / wide.fx)
    assert error < 1.5  # [px] 120 deg at 256 px: tan is not a quartic
    assert ftheta_polynomials(tele)[2] < 0.01


# ---- errors name the clip and the feature ----------------------------------------------------------------


def test_missing_feature(export):
    _, _, root = export
    rig = RigConfig(cameras=("camera_front_wide_120fov", "camera_rear_tele_30fov"))
    with pytest.raises(PaiAvError, match="feature 'camera_rear_tele_30fov' is not in features.csv"):
        PaiAvDataset(root, split="all", rig=rig)


def test_unknown_camera_in_a_clip(export):
    final, clip, _ = export
    with pytest.raises(PaiAvError, match=f"clip {clip.clip_id}: camera 'camera_fisheye' is not in the rig"):
        SimClip(clip.clip_id, final, clip.rig, {"camera_fisheye": clip.frames["camera_front_wide_120fov"]})


def test_short_clip(export, tmp_path):
    final, clip, _ = export
    short = replace(final, log=final.log[:60])  # 5.9 s
    frames = {k: v[:60] for k, v in clip.frames.items()}
    root = write_pai_av(tmp_path / "short", [SimClip("short-clip", short, clip.rig, frames)])
    with pytest.raises(PaiAvError, match="clip short-clip: feature 'egomotion' covers 5.90 s"):
        PaiAvDataset(root, split="all")


def test_corrupt_zips_and_parquets(export, tmp_path):
    _, clip, root = export
    broken = tmp_path / "broken"
    shutil.copytree(root, broken)
    video = broken / "camera/camera_front_tele_30fov/camera_front_tele_30fov.chunk_0000.zip"
    video.write_bytes(video.read_bytes()[:500])
    ds = PaiAvDataset(broken, split="all")  # egomotion is intact: the index builds
    with pytest.raises(PaiAvError, match=f"clip {clip.clip_id}: feature 'camera_front_tele_30fov'.*not a readable zip"):
        ds[0]
    (broken / "labels/egomotion/egomotion.chunk_0000.zip").write_bytes(b"not a zip")
    with pytest.raises(PaiAvError, match=f"clip {clip.clip_id}: feature 'egomotion'.*not a readable zip"):
        PaiAvDataset(broken, split="all")
    (broken / CLIP_INDEX).write_bytes(b"garbage")
    with pytest.raises(PaiAvError, match="clip_index.parquet: not a readable parquet"):
        PaiAvDataset(broken, split="all")


def test_verify_names_a_missing_member(export, tmp_path):
    _, clip, root = export
    broken = tmp_path / "broken"
    shutil.copytree(root, broken)
    path = broken / "camera/camera_front_wide_120fov/camera_front_wide_120fov.chunk_0000.zip"
    with zipfile.ZipFile(path) as archive:
        kept = [(info, archive.read(info)) for info in archive.infolist() if not info.filename.endswith(".mp4")]
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in kept:
            archive.writestr(info, data)
    ds = PaiAvDataset(broken, split="all")
    with pytest.raises(PaiAvError, match=f"clip {clip.clip_id}: feature 'camera_front_wide_120fov'.*has no member "
                                         f"{clip.clip_id}.camera_front_wide_120fov.mp4"):
        ds.verify()
    assert PaiAvDataset(root, split="all").verify() == 1


def test_export_verb_registers_under_data():
    from cordillera.cli import build_parser

    args = build_parser().parse_args(["data", "export-pai-av", "--scenario", "tight_cut_in:3", "--out", "x",
                                      "--duration", "9"])
    assert args.scenario == ["tight_cut_in:3"] and args.driver == "teacher" and callable(args.func)


def test_events_outside_the_cut_are_counted(export, tmp_path):
    final, clip, _ = export
    late = replace(clip, clip_id="late", events=((7.0, "Stop for the red light.", {}),))
    ds = PaiAvDataset(write_pai_av(tmp_path / "late", [late]), split="all", t0_stride_s=None)
    assert ds.info["events_outside_cut"] == 1 and ds.info["keyframes"] == 0


# ---- the published client ----------------------------------------------------------------------------------


@pytest.mark.pai_av
def test_published_client_reads_the_export(export, tmp_path):
    """NVIDIA's physical_ai_av opens the export offline, through a Hugging Face cache laid out over it."""
    pytest.importorskip("physical_ai_av")
    from cordillera.data.pai_av_compat import open_with_client

    final, clip, root = export
    client = open_with_client(root, tmp_path / "hf-cache")
    ego = client.get_clip_feature(clip.clip_id, "egomotion")
    state = ego(np.array([2_000_000, 2_050_000, 8_000_000]))
    ours = PaiAvDataset(root, split="all")._track(clip.clip_id)
    position, rotation = ours.pose([2_000_000, 2_050_000, 8_000_000])
    assert np.abs(state.pose.translation - position).max() < 1e-9
    assert np.abs((state.pose.rotation.inv() * rotation).magnitude()).max() < 1e-9
    reader = client.get_clip_feature(clip.clip_id, "camera_front_wide_120fov")
    theirs, stamps = reader.decode_images_from_timestamps(np.array([2_200_000, 2_449_999], dtype=np.int64))
    mine, my_stamps = PaiAvDataset(root, split="all").camera_frames(clip.clip_id, "camera_front_wide_120fov", 2_449_999)
    assert stamps.tolist() == [2_200_000, 2_400_000]
    assert np.array_equal(theirs[0], mine[1]) and np.array_equal(theirs[1], mine[3])  # same decoder, same pixels
    intrinsics = client.get_clip_feature(clip.clip_id, "camera_intrinsics").camera_models
    cam = default_rig().camera("camera_front_tele_30fov")
    pixel = intrinsics["camera_front_tele_30fov"].ray2pixel(np.array([0.05, -0.02, 1.0]))
    assert pixel == pytest.approx([cam.cx + cam.fx * 0.05, cam.cy - cam.fy * 0.02], abs=0.2)
    dims = client.get_clip_feature(clip.clip_id, "vehicle_dimensions")
    assert dims.wheelbase == pytest.approx(final.world.config.vehicle.wheelbase_m)


@pytest.mark.slow
def test_teacher_export_carries_its_chain_of_causation(tmp_path):
    from cordillera.data.pai_av_write import export

    root = export(["tight_cut_in:3"], tmp_path / "teacher", duration_s=10.0, driver="teacher")
    (row,) = pq.read_table(root / REASONING).to_pylist()
    assert row["events"], "the teacher labelled no keyframe"
    for event in row["events"]:
        record = json.loads(event["record"])
        assert record["keyframe"] and not record["routine"] and record["text"] == event["cot"]
        assert event["event_start_timestamp"] == round(record["t"] * 1e6)
    ds = PaiAvDataset(root, split="all")
    assert len(ds) >= 1 and ds.info["keyframes"] + ds.info["events_outside_cut"] == len(row["events"])


def test_train_opens_a_pai_av_directory_like_a_native_dataset(export):
    from cordillera.model import ModelConfig
    from cordillera.train.commands import open_datasets
    from cordillera.train.config import TrainConfig

    _, clip, root = export
    config = TrainConfig.from_dict({"model": ModelConfig.tiny().to_dict()})
    train_set, val_set = open_datasets(str(root), config)
    assert isinstance(train_set, PaiAvDataset) and len(train_set) + len(val_set) > 0
    sample = (train_set if len(train_set) else val_set)[0]
    assert sample.future.shape == (64, 3) and set(sample.cameras) <= set(config.model.rig.camera_vocabulary)
