"""Reading a local PhysicalAI-AV directory as a torch Dataset of `model.processor.Sample`s.

    >>> from cordillera.data.pai_av_read import PaiAvDataset
    >>> ds = PaiAvDataset("/data/pai-av", split="train")          # real download or `write_pai_av` output
    >>> sample = ds[0]          # cameras (4 x (4, 64, 128, 3)), 16 history + 64 future poses, reasoning, keyframe
    >>> ds.stats, ds.info       # model.action_space.ActionStats of the train split; what was read and how

The cut follows Alpamayo's loader: a moment t0 with t0 - clip start in (1.6 s, clip length - 6.4 s] (13.6 s for a
20 s clip); 16 history poses t0 - 1.5 s ... t0 and 64 future poses t0 + 0.1 ... 6.4 s at 10 Hz in the rig frame at
t0 (data.pai_av.EgoTrack: spline positions, slerp rotations, no extrapolation); per camera the 4 frames at
t0 - 0.3 ... t0, each the latest frame at or before that time, resized to the model rig's resolution (cv2
INTER_AREA, as model.processor does). Moments: every reasoning event of the clip (keyframe, reasoning = its `cot`),
plus routine moments every `t0_stride_s` seconds on the clip's 10 Hz grid (not keyframes, no reasoning);
`t0_stride_s=None` keeps only the events, and a clip without events then gives Alpamayo's default t0 = 5.1 s.
Events outside the cut are skipped and counted in `info["events_outside_cut"]`.

Route: PhysicalAI-AV has no route or navigation. `route="future"` (default) takes the 20 route waypoints (2 m
apart) from the logged future path, continued straight past its end, and a navigation text from its heading
change: privileged-from-log, as Alpamayo 1.5's navigation is derived from the drive itself, and the closest analog
of the native dataset, whose route is the planner's route. `route="straight"` gives points straight ahead and
"follow the road", for evaluating a model without that hint.

Camera names are the PhysicalAI-AV names (model.config.ALL_CAMERAS), so the model rig's cameras are the feature
names. Errors (PaiAvError, a data.format.DatasetError) name the clip and the feature.
"""

from __future__ import annotations

import io
import math
import zipfile
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np
from torch.utils.data import Dataset

from cordillera import constants as C
from cordillera.data.pai_av import (CLIP_INDEX, EGOMOTION, FEATURE_PRESENCE, FUTURE_OFFSETS_US, HISTORY_OFFSETS_US,
                                    REASONING, STEP_US, US, EgoTrack, PaiAvError, read_features, read_table,
                                    split_of_clip)

__all__ = ["PaiAvDataset", "route_from_future", "SPLITS"]

SPLITS = ("train", "val", "test", "all")
MIN_T0_US = 1_600_000  # t0 later than this after the clip start (Alpamayo's cut)
DEFAULT_T0_US = 5_100_000  # Alpamayo's default keyframe when a clip has no events
FRAME_OFFSETS_US = np.arange(-3, 1, dtype=np.int64) * STEP_US  # t0 - 0.3 ... t0
TURN_RAD = math.radians(45.0)  # heading change along the future path that counts as a turn


def route_from_future(future: np.ndarray, count: int = C.ROUTE_WAYPOINTS,
                      spacing: float = C.ROUTE_SPACING_M) -> tuple[np.ndarray, str]:
    """(count, 2) points `spacing` apart along the path [(0, 0), future (64, 3) x, y], continued straight along the
    last heading past its end, and a navigation text ("turn left in 25 m" or "follow the road")."""
    points = np.vstack([[0.0, 0.0], future[:, :2]])
    steps = np.hypot(*np.diff(points, axis=0).T)
    keep = np.concatenate([[True], steps > 1e-6])
    points = points[keep]
    arc = np.concatenate([[0.0], np.cumsum(steps[steps > 1e-6])])
    wanted = spacing * np.arange(1, count + 1)
    heading = future[-1, 2]
    out = np.empty((count, 2))
    inside = wanted <= arc[-1]
    out[inside] = np.column_stack([np.interp(wanted[inside], arc, points[:, 0]),
                                   np.interp(wanted[inside], arc, points[:, 1])])
    beyond = wanted[~inside] - arc[-1]
    out[~inside] = points[-1] + beyond[:, None] * np.array([math.cos(heading), math.sin(heading)])
    yaw = np.unwrap(np.concatenate([[0.0], future[:, 2]]))[keep]
    turned = np.flatnonzero(np.abs(yaw) >= TURN_RAD)
    if len(turned) == 0:
        return out, "follow the road"
    start = int(np.flatnonzero(np.abs(yaw) >= 0.1 * TURN_RAD)[0])  # where the turn begins
    side = "left" if yaw[turned[0]] > 0 else "right"
    metres = int(5 * round(arc[start] / 5.0))
    return out, f"turn {side} now" if metres == 0 else f"turn {side} in {metres} m"


class _Clip:
    """What the index needs of one clip (its egomotion is re-read on demand)."""

    __slots__ = ("clip_id", "chunk", "split", "span_us")

    def __init__(self, clip_id: str, chunk: int, split: str, span_us: tuple[int, int]):
        self.clip_id, self.chunk, self.split, self.span_us = clip_id, chunk, split, span_us


class PaiAvDataset(Dataset):
    """A torch-style map Dataset over a PhysicalAI-AV directory (see the module docstring).

    root: the directory; split: "train", "val", "test" or "all" (clip_index.parquet's `split` column, else a
    hash of the clip id, 10 % val); rig: model.config.RigConfig (cameras, frames, resolution; default RigConfig());
    clips: clip ids to use (default all valid clips of the split); t0_stride_s: spacing of routine moments [s];
    route: "future" or "straight"; compute_stats: ActionStats from the train split's futures (else the defaults).
    """

    def __init__(self, root: str | Path, split: str = "train", rig=None, clips=None, t0_stride_s: float | None = 1.0,
                 route: str = "future", compute_stats: bool = True):
        from cordillera.model.config import RigConfig

        if split not in SPLITS:
            raise PaiAvError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
        if route not in ("future", "straight"):
            raise PaiAvError(f"route must be 'future' or 'straight', got {route!r}")
        if t0_stride_s is not None and not (math.isfinite(t0_stride_s) and t0_stride_s >= 0.1):
            raise PaiAvError(f"t0_stride_s must be >= 0.1 s or None, got {t0_stride_s!r}")
        self.root = Path(root)
        self.split, self.route = split, route
        self.rig = rig or RigConfig()
        self.features = read_features(self.root)
        self.cameras: tuple[str, ...] = tuple(self.rig.cameras)
        self.frames: int = self.rig.num_frames  # frames per camera in a sample (as DrivingDataset.frames)
        for name in (EGOMOTION, *self.cameras):
            if name not in self.features:
                raise PaiAvError(f"{self.root}: feature {name!r} is not in features.csv (it lists "
                                 f"{', '.join(sorted(self.features))})")
            if not self.features[name]["members"]:
                raise PaiAvError(f"{self.root}: feature {name!r} has no clip_files_in_zip in features.csv")
        self._zips: OrderedDict = OrderedDict()
        self._tracks: OrderedDict = OrderedDict()
        every = self._clip_table(clips)
        self.events = self._read_events()
        self.events_outside_cut = 0
        self.items: list[tuple[str, int, str | None]] = []  # (clip id, t0 [µs], cot or None)
        train_items = []
        stride_us = None if t0_stride_s is None else int(round(t0_stride_s * 10)) * STEP_US
        for clip in every:
            moments = self._moments(clip, stride_us)
            if clip.split == "train":
                train_items += [(clip.clip_id, t0) for t0, _ in moments]
            if split == "all" or clip.split == split:
                self.items += [(clip.clip_id, t0, cot) for t0, cot in moments]
        self.clip_ids = tuple(c.clip_id for c in every if split == "all" or c.split == split)
        self._clips = {c.clip_id: c for c in every}
        self.stats = self._stats(train_items) if compute_stats else self._default_stats()
        self.info = {"format": "physicalai-av", "root": str(self.root), "split": split,
                     "rig": {"cameras": list(self.cameras), "frames": self.rig.num_frames,
                             "height": self.rig.image_height, "width": self.rig.image_width},
                     "dt": STEP_US / US, "history": len(HISTORY_OFFSETS_US), "horizon": len(FUTURE_OFFSETS_US),
                     "clips": len(self.clip_ids), "samples": len(self.items),
                     "keyframes": sum(cot is not None for *_, cot in self.items),
                     "events_outside_cut": self.events_outside_cut, "route": route, "t0_stride_s": t0_stride_s,
                     "stats_from": "train split futures" if compute_stats and train_items else "defaults"}

    # ---- index -----------------------------------------------------------------------------------
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.update(_zips=OrderedDict(), _tracks=OrderedDict())  # reopened in each DataLoader worker
        return state

    def _clip_table(self, wanted) -> list[_Clip]:
        table = read_table(self.root / CLIP_INDEX, str(self.root / CLIP_INDEX))
        names = table.column_names
        id_column = "clip_id" if "clip_id" in names else "__index_level_0__"
        if id_column not in names or "chunk" not in names:
            raise PaiAvError(f"{self.root / CLIP_INDEX}: needs a clip_id index and a chunk column")
        ids = [str(c) for c in table.column(id_column).to_pylist()]
        chunks = table.column("chunk").to_pylist()
        valid = table.column("clip_is_valid").to_pylist() if "clip_is_valid" in names else [True] * len(ids)
        splits = table.column("split").to_pylist() if "split" in names else [None] * len(ids)
        known = dict(zip(ids, range(len(ids))))
        if wanted is not None:
            wanted = [str(c) for c in wanted]
            unknown = [c for c in wanted if c not in known]
            if unknown:
                raise PaiAvError(f"clip {unknown[0]}: not in {self.root / CLIP_INDEX}")
            rows = [known[c] for c in wanted]
        else:
            rows = [k for k in range(len(ids)) if valid[k] is not False]
        presence = self._presence()
        out = []
        for k in rows:
            clip_id = ids[k]
            split = splits[k] or split_of_clip(clip_id)
            if self.split not in ("all", split) and split != "train":  # train clips always: .stats come from them
                continue
            for name in (EGOMOTION, *self.cameras):
                if presence is not None and not presence.get(clip_id, {}).get(name, True):
                    raise PaiAvError(f"clip {clip_id}: feature {name!r} is absent ({FEATURE_PRESENCE})")
            track = self._track(clip_id, int(chunks[k]))
            out.append(_Clip(clip_id, int(chunks[k]), split, track.span_us))
        return out

    def _presence(self) -> dict | None:
        path = self.root / FEATURE_PRESENCE
        if not path.is_file():
            return None
        table = read_table(path, str(path))
        id_column = "clip_id" if "clip_id" in table.column_names else "__index_level_0__"
        rows = table.to_pylist()
        return {str(r[id_column]): r for r in rows}

    def _read_events(self) -> dict[str, list[tuple[int, str]]]:
        """clip id -> [(event_start_timestamp µs, cot)] from the reasoning parquet, when there is one."""
        path = self.root / REASONING
        if not path.is_file():
            return {}
        table = read_table(path, str(path))
        id_column = "clip_id" if "clip_id" in table.column_names else "__index_level_0__"
        if "events" not in table.column_names:
            raise PaiAvError(f"{path}: no 'events' column")
        out: dict[str, list[tuple[int, str]]] = {}
        for row in table.select([id_column, "events"]).to_pylist():
            events = row["events"]
            if isinstance(events, str):  # some copies store the list as a JSON string
                import json

                try:
                    events = json.loads(events)
                except json.JSONDecodeError as exc:
                    raise PaiAvError(f"clip {row[id_column]}: reasoning events are not JSON ({exc})") from None
            parsed = []
            for k, event in enumerate(events or []):
                text = event.get("cot", event.get("coc")) if isinstance(event, dict) else None
                stamp = event.get("event_start_timestamp") if isinstance(event, dict) else None
                if not isinstance(text, str) or not isinstance(stamp, (int, float)):
                    raise PaiAvError(f"clip {row[id_column]}: reasoning event {k} needs event_start_timestamp and cot")
                parsed.append((int(stamp), text))
            if parsed:
                out[str(row[id_column])] = sorted(parsed)
        return out

    def _moments(self, clip: _Clip, stride_us: int | None) -> list[tuple[int, str | None]]:
        start, end = clip.span_us
        lo, hi = start + MIN_T0_US, end - int(FUTURE_OFFSETS_US[-1])  # t0 in (lo, hi]
        if hi <= lo:
            raise PaiAvError(f"clip {clip.clip_id}: feature {EGOMOTION!r} covers {(end - start) / US:.2f} s; the cut "
                             f"needs more than {(MIN_T0_US + FUTURE_OFFSETS_US[-1]) / US:.1f} s (1.6 s history, "
                             f"6.4 s future)")
        moments = []
        for t0, cot in self.events.get(clip.clip_id, []):
            if lo < t0 <= hi:
                moments.append((t0, cot))
            else:
                self.events_outside_cut += 1
        taken = {t0 for t0, _ in moments}
        if stride_us is not None:
            first = start + (lo - start) // stride_us * stride_us + stride_us
            moments += [(t0, None) for t0 in range(first, hi + 1, stride_us) if t0 not in taken]
        elif not moments and lo < start + DEFAULT_T0_US <= hi:
            moments.append((start + DEFAULT_T0_US, None))
        return sorted(moments)

    def _stats(self, items: list[tuple[str, int]]):
        from cordillera.model.action_space import ActionStats, trajectory_to_actions

        if not items:
            return self._default_stats()
        futures, speeds = [], []
        for clip_id, t0 in items:
            track = self._track(clip_id)
            futures.append(track.relative(t0 + FUTURE_OFFSETS_US, t0))
            speeds.append(track.motion(t0)[0])
        actions = trajectory_to_actions(np.stack(futures), np.array(speeds), STEP_US / US)
        return ActionStats.from_actions(actions)

    @staticmethod
    def _default_stats():
        from cordillera.model.action_space import ActionStats

        return ActionStats()

    # ---- files -----------------------------------------------------------------------------------
    def _archive(self, clip_id: str, feature: str, chunk: int | None = None) -> tuple[Path, zipfile.ZipFile]:
        spec = self.features[feature]
        chunk = self._clips[clip_id].chunk if chunk is None else chunk
        path = self.root / spec["chunk_path"].format(chunk_id=chunk)
        archive = self._zips.get(path)
        if archive is None:
            if not path.is_file():
                raise PaiAvError(f"clip {clip_id}: feature {feature!r}: {path} is missing")
            try:
                archive = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise PaiAvError(f"clip {clip_id}: feature {feature!r}: {path} is not a readable zip ({exc})") from None
            self._zips[path] = archive
            while len(self._zips) > 16:
                self._zips.popitem(last=False)[1].close()
        return path, archive

    def _member_info(self, clip_id: str, feature: str, name: str) -> zipfile.ZipInfo:
        path, archive = self._archive(clip_id, feature)
        try:
            return archive.getinfo(name)
        except KeyError:
            raise PaiAvError(f"clip {clip_id}: feature {feature!r}: {path} has no member {name}") from None

    def _member(self, clip_id: str, feature: str, alias: str, chunk: int | None = None) -> bytes:
        path, archive = self._archive(clip_id, feature, chunk)
        name = self.features[feature]["members"][alias].format(clip_id=clip_id)
        try:
            return archive.read(name)
        except KeyError:
            raise PaiAvError(f"clip {clip_id}: feature {feature!r}: {path} has no member {name}") from None
        except (zipfile.BadZipFile, OSError, ValueError) as exc:  # CRC mismatch, truncated member
            raise PaiAvError(f"clip {clip_id}: feature {feature!r}: member {name} of {path} is corrupt "
                             f"({exc})") from None

    def _track(self, clip_id: str, chunk: int | None = None) -> EgoTrack:
        track = self._tracks.get(clip_id)
        if track is None:
            where = f"clip {clip_id}: feature {EGOMOTION!r}"
            alias = next(iter(self.features[EGOMOTION]["members"]))
            table = read_table(self._member(clip_id, EGOMOTION, alias, chunk), where)
            track = self._tracks[clip_id] = EgoTrack.from_table(table, where)
            while len(self._tracks) > 8:
                self._tracks.popitem(last=False)
        else:
            self._tracks.move_to_end(clip_id)
        return track

    def camera_frames(self, clip_id: str, camera: str, t0_us: int) -> tuple[np.ndarray, np.ndarray]:
        """The rig's frames of one camera at t0 - 0.3 ... t0 (latest at or before each time), at the video's
        own resolution: ((num_frames, H, W, 3) uint8, (num_frames,) int64 frame timestamps [µs])."""
        import av

        where = f"clip {clip_id}: feature {camera!r}"
        members = self.features[camera]["members"]
        stamps_alias = "frame_timestamps" if "frame_timestamps" in members else next(a for a in members if a != "video")
        table = read_table(self._member(clip_id, camera, stamps_alias), f"{where} timestamps")
        if "timestamp" not in table.column_names:
            raise PaiAvError(f"{where}: timestamps parquet has no 'timestamp' column")
        stamps = table.column("timestamp").to_numpy().astype(np.int64)
        if len(stamps) == 0 or np.any(np.diff(stamps) <= 0):
            raise PaiAvError(f"{where}: frame timestamps must be non-empty and strictly increasing")
        wanted = t0_us + np.arange(-(self.rig.num_frames - 1), 1, dtype=np.int64) * STEP_US
        index = np.searchsorted(stamps, wanted, side="right") - 1
        if index[0] < 0:
            raise PaiAvError(f"{where}: no frame at or before {wanted[0] / US:.3f} s (first frame at "
                             f"{stamps[0] / US:.3f} s)")
        data = self._member(clip_id, camera, "video")
        try:
            images = _decode(data, index, len(stamps))
        except PaiAvError as exc:
            raise PaiAvError(f"{where}: {exc}") from None
        except (av.error.FFmpegError, ValueError, IndexError) as exc:
            raise PaiAvError(f"{where}: video does not decode ({exc})") from None
        return images, stamps[index]

    # ---- samples ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.items)

    def _poses(self, i: int) -> dict:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} {self.split} samples")
        clip_id, t0, cot = self.items[i]
        track = self._track(clip_id)
        future = track.relative(t0 + FUTURE_OFFSETS_US, t0)
        speed, acceleration = track.motion(t0)
        if self.route == "future":
            route, navigation = route_from_future(future)
        else:
            route = np.column_stack([C.ROUTE_SPACING_M * np.arange(1, C.ROUTE_WAYPOINTS + 1),
                                     np.zeros(C.ROUTE_WAYPOINTS)])
            navigation = "follow the road"
        return {"clip_id": clip_id, "t0_us": t0, "t0_s": (t0 - self._clips[clip_id].span_us[0]) / US,
                "keyframe": cot is not None, "reasoning": cot, "navigation": navigation,
                "ego_history": track.relative(t0 + HISTORY_OFFSETS_US, t0), "future": future, "speed": speed,
                "acceleration": acceleration, "route_waypoints": route}

    def __getitem__(self, i: int):
        from cordillera.model.processor import Sample

        row = self._poses(i)
        size = (self.rig.image_width, self.rig.image_height)
        cameras = {}
        for name in self.cameras:
            images, _ = self.camera_frames(row["clip_id"], name, row["t0_us"])
            cameras[name] = np.stack([img if img.shape[1::-1] == size else
                                      cv2.resize(img, size, interpolation=cv2.INTER_AREA) for img in images])
        return Sample(cameras=cameras, ego_history=row["ego_history"], speed=row["speed"],
                      route_waypoints=row["route_waypoints"], navigation=row["navigation"],
                      acceleration=row["acceleration"], future=row["future"], reasoning=row["reasoning"],
                      keyframe=row["keyframe"])

    def record(self, i: int) -> dict:
        """Sample i without its frames (no video is decoded): clip_id, t0_us, t0_s (after the clip start),
        keyframe, reasoning, navigation, ego_history, future, speed, acceleration, route_waypoints."""
        return self._poses(i)

    def verify(self) -> int:
        """Check now that every clip of the split has each needed member in its chunk zip (rather than at the
        first sample that reads it); returns the number of clips checked."""
        for clip_id in self.clip_ids:
            for name in self.cameras:
                for alias in self.features[name]["members"]:
                    spec = self.features[name]
                    member = spec["members"][alias].format(clip_id=clip_id)
                    self._member_info(clip_id, name, member)
        return len(self.clip_ids)


def _decode(data: bytes, indices: np.ndarray, expected: int) -> np.ndarray:
    """RGB frames (len(indices), H, W, 3) at frame indices of a constant-frame-rate video (bytes): seek to the
    keyframe before the first wanted frame, then decode forward, numbering frames by presentation time."""
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        if stream.frames and stream.frames != expected:
            raise PaiAvError(f"video has {stream.frames} frames, the timestamps parquet {expected}")
        rate = stream.average_rate or stream.guessed_rate
        if not rate:
            raise PaiAvError("video has no frame rate")
        start = stream.start_time or 0
        per_frame = 1.0 / float(rate * stream.time_base)  # pts per frame
        wanted = sorted(set(int(k) for k in indices))
        container.seek(int(start + wanted[0] * per_frame), backward=True, any_frame=False, stream=stream)
        found: dict[int, np.ndarray] = {}
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            k = int(round((frame.pts - start) / per_frame))
            if k in wanted:
                found[k] = frame.to_ndarray(format="rgb24")
            if k >= wanted[-1]:
                break
    missing = [k for k in wanted if k not in found]
    if missing:
        raise PaiAvError(f"frame {missing[0]} is not in the video")
    return np.stack([found[int(k)] for k in indices])
