"""Writing simulated rollouts as PhysicalAI-AV clips (layout in `data.pai_av`).

    >>> from cordillera.data.pai_av_write import clip_from_rollout, write_pai_av
    >>> clip = clip_from_rollout(final_state, events=[(4.2, "Yield to the pedestrian ...", coc.to_dict())])
    >>> write_pai_av("runs/pai", [clip])

    python -m cordillera.data.pai_av write --scenario tight_cut_in:3 --out runs/pai    # teacher drives, labels CoC

What maps to what (docs/architecture.md, "PhysicalAI-AV layout"):
- egomotion: one row per log step (10 Hz, where the real set has ~100 Hz), the rear-axle pose in the anchor frame
  (rig at the first step; the simulator is planar, so z = 0, roll = pitch = 0 and the quaternion is a yaw), the
  velocity v (cos, sin) of the heading and the acceleration a (cos, sin) + v yaw_rate (-sin, cos) in that frame,
  curvature tan(steer) / wheelbase.
- cameras: one H.264 mp4 per camera (libx264, yuv420p, crf 18, a keyframe every 10 frames), a frame per log step at
  the renderer's resolution, with a timestamps parquet (int64 µs, clip-relative).
- camera_intrinsics: the renderer is a pinhole camera. The f-theta columns hold polynomial fits of it (forward
  r(theta) = fx tan(theta) with fw_poly_0 = 0 and fw_poly_1 = fx, backward theta(r) = atan(r / fx) with bw_poly_1 =
  1 / fx, the higher terms least squares out to the farthest image corner); the exact pinhole is in the extra
  columns `model` ("pinhole"), `fx`, `fy`, which the Cordillera reader does not need and others may ignore.
- sensor_extrinsics: per camera the optical frame (z forward, x right, y down) in the rig frame, as
  qx, qy, qz, qw, x, y, z, including the rollout's calibration jitter, so pixels re-project exactly.
- vehicle_dimensions: the ego's length, width, rear axle to box centre, wheelbase (height and track width are not
  simulated: 1.5 m and the width minus 0.25 m).
- reasoning: events [{event_start_timestamp (µs), event_start_frame (10 Hz index), cot, record (JSON of the
  structured Chain-of-Causation record)}], written to the public labels' file name.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import uuid
import zipfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.spatial.transform import Rotation

from cordillera.data.commands import add_export_arguments
from cordillera.data.pai_av import (CALIBRATION, CLIP_INDEX, DATA_COLLECTION, EGOMOTION, FEATURE_PRESENCE,
                                    FEATURES_CSV, REASONING, US, PaiAvError, indexed_table, split_of_clip)

__all__ = ["SimClip", "clip_from_rollout", "write_pai_av", "ftheta_polynomials", "teacher_rollout", "export",
           "main"]

CHUNK_TEMPLATE = "{directory}/{feature}/{feature}.chunk_{{chunk_id:04d}}.{ext}"
EXPORT_INFO = "cordillera_export.json"  # what wrote the directory (not part of the published layout)
EXPORT_VERSION = 1
VIDEO_CRF = 18  # x264 quality: mean abs error ~1-2 / 255 after resizing to the model's 64 x 128 (measured)
VIDEO_GOP = 10  # a keyframe every 1 s at 10 fps: a random-access read decodes at most 10 frames
VEHICLE_HEIGHT_M = 1.5  # not simulated
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member dates: the same clips give byte-identical zips


@dataclass(frozen=True)
class SimClip:
    """One simulated clip to export.

    state: the final WorldState of the rollout (its log gives the ego motion, its world the vehicle and look).
    rig: the render.rig.CameraRig the frames were rendered with (before the rollout's calibration jitter).
    frames: camera name -> (T, H, W, 3) uint8 RGB, one frame per log step, T = len(state.log).
    events: (t [s], Chain-of-Causation text, structured record) per reasoning keyframe.
    split: "train" | "val" label for clip_index.parquet (None: a hash of the clip id).
    """

    clip_id: str
    state: object
    rig: object
    frames: Mapping[str, np.ndarray]
    events: tuple = ()
    split: str | None = None
    extra: dict = field(default_factory=dict)  # data_collection columns (family, seed, ...)

    def __post_init__(self) -> None:
        steps = len(self.state.log)
        for name, frames in self.frames.items():
            if name not in self.rig.names:
                raise PaiAvError(f"clip {self.clip_id}: camera {name!r} is not in the rig "
                                 f"({', '.join(self.rig.names)})")
            if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 \
                    or frames.shape[0] != steps or frames.shape[-1] != 3:
                raise PaiAvError(f"clip {self.clip_id}: frames[{name!r}] must be ({steps}, H, W, 3) uint8, got "
                                 f"{getattr(frames, 'shape', None)} {getattr(frames, 'dtype', '')}")
            if frames.shape[1] % 2 or frames.shape[2] % 2:
                raise PaiAvError(f"clip {self.clip_id}: frames[{name!r}] are {frames.shape[1:3]}; H.264 yuv420p needs "
                                 f"even sizes")
        events = []
        for k, event in enumerate(self.events):
            if len(event) != 3 or not isinstance(event[1], str) or not isinstance(event[2], dict):
                raise PaiAvError(f"clip {self.clip_id}: events[{k}] must be (t, text, record dict)")
            t = float(event[0])
            if not (math.isfinite(t) and self.state.log[0].t <= t <= self.state.log[-1].t):
                raise PaiAvError(f"clip {self.clip_id}: events[{k}] at t={t} s is outside the rollout")
            events.append((t, event[1], event[2]))
        object.__setattr__(self, "events", tuple(sorted(events, key=lambda e: e[0])))
        if self.split not in (None, "train", "val", "test"):
            raise PaiAvError(f"clip {self.clip_id}: split must be train, val or test, got {self.split!r}")


def _shown_rig(state, rig, variety: bool = True):
    """The rig as the renderer actually placed it for this rollout (with its calibration jitter)."""
    from cordillera.world.render.appearance import jitter_rig
    from cordillera.world.render.camera import world_appearance

    return jitter_rig(rig, world_appearance(state.world, variety))


def clip_from_rollout(final_state, rig=None, events: Sequence = (), clip_id: str | None = None) -> SimClip:
    """Render every log step of a rollout with `rig` (default: the 4-camera rig) into a SimClip.

    clip_id: default a UUID derived from the scenario name and seed (the same rollout gets the same id).
    The split label follows the native dataset's rule (data.format.split_of of family and seed).
    """
    from cordillera.data.format import split_of
    from cordillera.world.render.camera import render_state
    from cordillera.world.render.rig import default_rig

    rig = rig or default_rig()
    world = final_state.world
    scenario = world.scenario
    family = scenario.tags.family or scenario.name
    clip_id = clip_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"cordillera:{scenario.name}:{world.seed}"))
    per_step = [render_state(final_state, rig, index=i) for i in range(len(final_state.log))]
    frames = {name: np.stack([images[name] for images in per_step]) for name in rig.names}
    extra = {"family": family, "seed": int(world.seed), "time_of_day": scenario.appearance.time_of_day,
             "weather": scenario.appearance.weather}
    return SimClip(clip_id, final_state, rig, frames, tuple(events), split_of(family, int(world.seed)), extra)


# ---- per-clip tables -------------------------------------------------------------------------------------


def _micros(t: float) -> int:
    return int(round(t * US))


def egomotion_table(state) -> pa.Table:
    """The clip's egomotion parquet (columns of data.pai_av.EGOMOTION_COLUMNS) from the rollout log."""
    from cordillera.geometry import to_frame

    log = state.log
    ego = np.stack([s.ego for s in log])  # (T, 7) x, y, yaw, v, a, steer, yaw_rate (world frame)
    poses = to_frame(ego[:, :3], ego[0, :3])  # anchor frame: rig at the first step, yaw 0
    yaw, v, a, yaw_rate = poses[:, 2], ego[:, 3], ego[:, 4], ego[:, 6]
    c, s, zero = np.cos(yaw), np.sin(yaw), np.zeros(len(log))
    wheelbase = state.world.config.vehicle.wheelbase_m
    return pa.table({
        "timestamp": pa.array([_micros(st.t) for st in log], pa.int64()),
        "qx": zero, "qy": zero, "qz": np.sin(yaw / 2.0), "qw": np.cos(yaw / 2.0),
        "x": poses[:, 0], "y": poses[:, 1], "z": zero,
        "vx": v * c, "vy": v * s, "vz": zero,
        "ax": a * c - v * yaw_rate * s, "ay": a * s + v * yaw_rate * c, "az": zero,
        "curvature": np.tan(ego[:, 5]) / wheelbase,
    })


def ftheta_polynomials(cam) -> tuple[np.ndarray, np.ndarray, float]:
    """(fw_poly (5,), bw_poly (5,), worst forward error [px]) of a pinhole CameraSpec: degree-4 fits of
    r = fx tan(theta) and theta = atan(r / fx) with the constant and linear terms fixed, over the image."""
    corners = np.array([[0, 0], [cam.width - 1, 0], [0, cam.height - 1], [cam.width - 1, cam.height - 1]], float)
    r_max = float(np.max(np.hypot((corners[:, 0] - cam.cx) / cam.fx, (corners[:, 1] - cam.cy) / cam.fy))) * cam.fx
    r = np.linspace(0.0, r_max, 200)
    theta = np.arctan(r / cam.fx)
    powers = np.stack([theta**k for k in (2, 3, 4)], axis=1)
    high, *_ = np.linalg.lstsq(powers, r - cam.fx * theta, rcond=None)
    forward = np.concatenate([[0.0, cam.fx], high])
    r_powers = np.stack([r**k for k in (2, 3, 4)], axis=1)
    high_bw, *_ = np.linalg.lstsq(r_powers, theta - r / cam.fx, rcond=None)
    backward = np.concatenate([[0.0, 1.0 / cam.fx], high_bw])
    error = float(np.max(np.abs(np.polynomial.polynomial.polyval(theta, forward) - r)))
    return forward, backward, error


def _calibration_tables(clips: list[SimClip]) -> dict[str, pa.Table]:
    intr: dict[str, list] = {k: [] for k in ("clip_id", "camera_name", "width", "height", "cx", "cy",
                                             *(f"fw_poly_{i}" for i in range(5)), *(f"bw_poly_{i}" for i in range(5)),
                                             "model", "fx", "fy")}
    extr: dict[str, list] = {k: [] for k in ("clip_id", "sensor_name", "qx", "qy", "qz", "qw", "x", "y", "z")}
    dims: dict[str, list] = {k: [] for k in ("clip_id", "length", "width", "height", "rear_axle_to_bbox_center",
                                             "wheelbase", "track_width")}
    for clip in clips:
        shown = _shown_rig(clip.state, clip.rig)
        for name in clip.frames:
            cam = shown.camera(name)
            h, w = clip.frames[name].shape[1:3]
            cam = cam.scaled(h, w) if (cam.height, cam.width) != (h, w) else cam
            forward, backward, _ = ftheta_polynomials(cam)
            values = [clip.clip_id, name, w, h, cam.cx, cam.cy, *forward, *backward, "pinhole", cam.fx, cam.fy]
            for key, value in zip(intr, values):
                intr[key].append(value)
            quat = Rotation.from_matrix(cam.rotation).as_quat()
            for key, value in zip(extr, [clip.clip_id, name, *quat, *cam.position]):
                extr[key].append(value)
        p = clip.state.world.config.vehicle
        for key, value in zip(dims, [clip.clip_id, p.length_m, p.width_m, VEHICLE_HEIGHT_M,
                                     p.length_m / 2.0 - p.rear_overhang_m, p.wheelbase_m, p.width_m - 0.25]):
            dims[key].append(value)
    intr["width"] = pa.array(intr["width"], pa.int64())
    intr["height"] = pa.array(intr["height"], pa.int64())
    return {"camera_intrinsics": indexed_table(intr, ["clip_id", "camera_name"]),
            "sensor_extrinsics": indexed_table(extr, ["clip_id", "sensor_name"]),
            "vehicle_dimensions": indexed_table(dims, ["clip_id"])}


def encode_video(frames: np.ndarray, fps: int = 10, crf: int = VIDEO_CRF, gop: int = VIDEO_GOP) -> bytes:
    """H.264 mp4 bytes of (T, H, W, 3) uint8 RGB frames at a constant `fps`, frame k at pts k."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        stream.options = {"crf": str(crf), "g": str(gop), "threads": "1"}
        for k, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = k
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _write_zip(path: Path, members: list[tuple[str, bytes]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:  # mp4 and parquet are compressed
        for name, data in members:
            archive.writestr(zipfile.ZipInfo(name, date_time=ZIP_TIME), data)


def _reasoning_table(clips: list[SimClip]) -> pa.Table:
    event = pa.struct([("event_start_timestamp", pa.int64()), ("event_start_frame", pa.int32()),
                       ("cot", pa.string()), ("record", pa.string())])
    rows = [c for c in clips if c.events]
    events = [[{"event_start_timestamp": _micros(t), "event_start_frame": int(round(t * 10.0)), "cot": text,
                "record": json.dumps(record, sort_keys=True)} for t, text, record in c.events] for c in rows]
    return indexed_table({"clip_id": [c.clip_id for c in rows], "events": pa.array(events, pa.list_(event))},
                         ["clip_id"])


def write_pai_av(out_dir: str | Path, clips: Sequence[SimClip], chunk_size: int = 100) -> Path:
    """Write `clips` in the PhysicalAI-AV layout under `out_dir` (created; existing files are overwritten).
    Clips go to chunks of `chunk_size` in the order given. Returns the directory."""
    clips = list(clips)
    root = Path(out_dir)
    if not clips:
        raise PaiAvError("write_pai_av: no clips")
    ids = [c.clip_id for c in clips]
    duplicate = next((i for k, i in enumerate(ids) if i in ids[:k]), None)
    if duplicate is not None:
        raise PaiAvError(f"write_pai_av: clip id {duplicate} appears twice")
    cameras = list(dict.fromkeys(name for c in clips for name in c.rig.names if name in c.frames))
    chunks = [k // chunk_size for k in range(len(clips))]
    feature_rows = []

    def feature(name: str, directory: str, ext: str, members: dict | None) -> str:
        template = CHUNK_TEMPLATE.format(directory=directory, feature=name, ext=ext)
        feature_rows.append((name, directory, template, json.dumps(members) if members else ""))
        return template

    for name in cameras:
        template = feature(name, "camera", "zip", {"video": f"{{clip_id}}.{name}.mp4",
                                                   "frame_timestamps": f"{{clip_id}}.{name}.timestamps.parquet"})
        for chunk in sorted(set(chunks)):
            members = []
            for clip, c in zip(clips, chunks):
                if c != chunk or name not in clip.frames:
                    continue
                stamps = pa.table({"timestamp": pa.array([_micros(s.t) for s in clip.state.log], pa.int64())})
                fps = max(1, int(round(1.0 / clip.state.world.config.dt)))  # one frame per log step
                members += [(f"{clip.clip_id}.{name}.mp4", encode_video(clip.frames[name], fps)),
                            (f"{clip.clip_id}.{name}.timestamps.parquet", _parquet_bytes(stamps))]
            _write_zip(root / template.format(chunk_id=chunk), members)
    template = feature(EGOMOTION, "labels", "zip", {"egomotion": "{clip_id}.egomotion.parquet"})
    for chunk in sorted(set(chunks)):
        _write_zip(root / template.format(chunk_id=chunk),
                   [(f"{clip.clip_id}.egomotion.parquet", _parquet_bytes(egomotion_table(clip.state)))
                    for clip, c in zip(clips, chunks) if c == chunk])
    for name in CALIBRATION:
        template = feature(name, "calibration", "parquet", None)
        for chunk in sorted(set(chunks)):
            table = _calibration_tables([clip for clip, c in zip(clips, chunks) if c == chunk])[name]
            (root / template.format(chunk_id=chunk)).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, root / template.format(chunk_id=chunk))

    with open(root / FEATURES_CSV, "w", newline="") as f:
        import csv

        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["feature", "directory", "chunk_path", "clip_files_in_zip"])
        writer.writerows(feature_rows)
    pq.write_table(indexed_table({"clip_id": ids, "chunk": pa.array(chunks, pa.int64()),
                                  "clip_is_valid": [True] * len(clips),
                                  "split": [c.split or split_of_clip(c.clip_id) for c in clips]}, ["clip_id"]),
                   root / CLIP_INDEX)
    (root / "metadata").mkdir(exist_ok=True)
    presence = {"clip_id": ids} | {name: [name in c.frames for c in clips] for name in cameras} \
        | {name: [True] * len(clips) for name in (EGOMOTION, *CALIBRATION)}
    pq.write_table(indexed_table(presence, ["clip_id"]), root / FEATURE_PRESENCE)
    collection = {"clip_id": ids, "country": ["simulation"] * len(clips),
                  "month": pa.array([1] * len(clips), pa.int64()),
                  "hour_of_day": pa.array([{"day": 12, "dusk": 19, "night": 23}.get(c.extra.get("time_of_day"), 12)
                                           for c in clips], pa.int64()),
                  "platform_class": ["cordillera-sim"] * len(clips),
                  "family": [str(c.extra.get("family", "")) for c in clips],
                  "seed": pa.array([int(c.extra.get("seed", -1)) for c in clips], pa.int64())}
    pq.write_table(indexed_table(collection, ["clip_id"]), root / DATA_COLLECTION)
    (root / REASONING).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(_reasoning_table(clips), root / REASONING)
    from cordillera import __version__

    info = {"format": "physicalai-av", "writer": "cordillera", "export_version": EXPORT_VERSION,
            "cordillera_version": __version__, "video": {"codec": "h264", "crf": VIDEO_CRF, "gop": VIDEO_GOP,
                                                        "fps": 10},
            "clips": len(clips), "rigs": {c.clip_id: c.rig.to_dict() for c in clips}}
    (root / EXPORT_INFO).write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
    return root


# ---- teacher rollouts and the command line ---------------------------------------------------------------


def teacher_rollout(family: str, seed: int, duration_s: float = 20.0, label_seed: int = 0):
    """(final WorldState, CoC events) of the privileged teacher driving FAMILY:SEED for `duration_s` without
    perturbations: every keyframe (teacher.keyframes) whose decision is not routine becomes an event
    (t, ChainOfCausation.text, ChainOfCausation.to_dict())."""
    from cordillera.scenarios.families import sample_family
    from cordillera.teacher.keyframes import keyframe_steps
    from cordillera.teacher.planner import TeacherPlanner
    from cordillera.teacher.reasoning import label_moment
    from cordillera.world import sim
    from cordillera.world.types import Plan

    planner = TeacherPlanner()
    state = sim.reset(sample_family(family, seed), seed, sim.SimConfig(duration_s=duration_s))
    states, results = [], []
    while not state.done:
        result = planner.decide(state)
        states.append(state)
        results.append(result)
        state = sim.step(state, Plan(result.poses))
    rng = np.random.default_rng([label_seed, seed])
    events, previous = [], None
    for k in keyframe_steps(states, results):
        coc = label_moment(states[k], results[k], planner, previous, rng, keyframe=True)
        previous = coc
        if coc.keyframe:
            events.append((float(states[k].t), coc.text, coc.to_dict()))
    return state, events


def export(scenarios: Sequence[str], out: str | Path, duration_s: float = 20.0, driver: str = "teacher") -> Path:
    """Simulate each "FAMILY:SEED" with `driver` ("teacher": the privileged teacher with its CoC events;
    "lane_follower": the rule-based baseline, no events) and write the clips to `out`."""
    from cordillera.policies import make_policy
    from cordillera.scenarios.families import sample_family
    from cordillera.scenarios.schema import ScenarioError
    from cordillera.world.rollout import rollout

    clips = []
    for item in scenarios:
        family, _, seed = item.partition(":")
        if not family or not seed.isdigit():
            raise PaiAvError(f"scenario {item!r}: expected FAMILY:SEED")
        try:
            sample_family(family, int(seed))
        except ScenarioError as exc:
            raise PaiAvError(f"scenario {item!r}: {exc}") from None
        if driver == "teacher":
            final, events = teacher_rollout(family, int(seed), duration_s)
        elif driver == "lane_follower":
            final, events = rollout(sample_family(family, int(seed)), make_policy("lane_follower"),
                                    duration_s=duration_s), []
        else:
            raise PaiAvError(f"driver must be 'teacher' or 'lane_follower', got {driver!r}")
        clips.append(clip_from_rollout(final, events=events))
    return write_pai_av(out, clips)


def run_export(args: argparse.Namespace) -> int:
    out = export(args.scenario, args.out, args.duration, args.driver)
    print(f"{len(args.scenario)} clip(s) written to {out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m cordillera.data.pai_av write --scenario FAMILY:SEED [...] --out DIR`."""
    parser = argparse.ArgumentParser(prog="python -m cordillera.data.pai_av")
    sub = parser.add_subparsers(dest="verb", required=True)
    add_export_arguments(sub.add_parser("write", help="simulate scenarios and write them as PhysicalAI-AV clips"))
    args = parser.parse_args(argv)
    try:
        return run_export(args)
    except PaiAvError as exc:
        parser.exit(2, f"error: {exc}\n")
