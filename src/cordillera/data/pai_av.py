"""The PhysicalAI-AV clip layout: shared names, the ego-pose interpolator, and the public entry points.

    >>> from cordillera.data.pai_av import PaiAvDataset, write_pai_av, clip_from_rollout, is_pai_av_dir
    >>> write_pai_av("runs/pai", [clip_from_rollout(final_state)])      # simulated rollouts as PAI-AV clips
    >>> ds = PaiAvDataset("runs/pai", split="all")                       # or a downloaded part of the real set
    >>> ds[0]                                                            # model.processor.Sample

    python -m cordillera.data.pai_av write --scenario tight_cut_in:3 --out runs/pai --duration 20    # teacher + CoC

NVIDIA's PhysicalAI-Autonomous-Vehicles dataset is what Alpamayo trains on; this package reads a local copy of
(part of) it and writes Cordillera's simulated rollouts in the same layout, so one loader serves both:

    DIR/features.csv                 feature, directory, chunk_path ("{chunk_id:04d}" template),
                                     clip_files_in_zip (JSON of member templates with "{clip_id}")
    DIR/clip_index.parquet           index clip_id; chunk, clip_is_valid, split
    DIR/metadata/feature_presence.parquet   index clip_id; one bool column per feature
    DIR/metadata/data_collection.parquet    index clip_id; country, month, hour_of_day, platform_class
    DIR/camera/{cam}/{cam}.chunk_0000.zip   {clip}.{cam}.mp4 + {clip}.{cam}.timestamps.parquet (int64 µs)
    DIR/labels/egomotion/egomotion.chunk_0000.zip   {clip}.egomotion.parquet
    DIR/calibration/{camera_intrinsics,sensor_extrinsics,vehicle_dimensions}/*.chunk_0000.parquet
    DIR/reasoning/ood_reasoning.parquet     index clip_id; events = [{event_start_timestamp, cot, ...}]

Egomotion rows: int64 µs `timestamp` (clip-relative), `qx,qy,qz,qw`, `x,y,z` (rig pose in the anchor frame =
rig at clip start with yaw 0; rig x forward, y left, z up, origin on the ground under the rear axle),
`vx,vy,vz` and `ax,ay,az` in the anchor frame, `curvature` [1/m]. Poses between rows are interpolated as the
published reader does: cubic spline (not-a-knot) for position, slerp for rotation, linear for velocity and
acceleration; asking outside the logged interval is an error, never an extrapolation.

Parquet files that the published client reads with pandas carry pandas index metadata written here with pyarrow
alone (pandas is not a dependency of Cordillera).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.interpolate import CubicSpline
from scipy.spatial.transform import Rotation, Slerp

from cordillera.data.format import DatasetError

__all__ = ["PaiAvError", "EgoTrack", "is_pai_av_dir", "FEATURES_CSV", "CLIP_INDEX", "FEATURE_PRESENCE",
           "DATA_COLLECTION", "REASONING", "EGOMOTION", "CALIBRATION", "EGOMOTION_COLUMNS", "US",
           "HISTORY_OFFSETS_US", "FUTURE_OFFSETS_US", "read_features", "indexed_table", "read_table",
           "PaiAvDataset", "write_pai_av", "SimClip", "clip_from_rollout", "split_of_clip"]

FEATURES_CSV, CLIP_INDEX = "features.csv", "clip_index.parquet"
FEATURE_PRESENCE, DATA_COLLECTION = "metadata/feature_presence.parquet", "metadata/data_collection.parquet"
REASONING = "reasoning/ood_reasoning.parquet"  # the public CoC labels' file name; the writer uses it too
EGOMOTION = "egomotion"
CALIBRATION = ("camera_intrinsics", "sensor_extrinsics", "vehicle_dimensions")
EGOMOTION_COLUMNS = ("timestamp", "qx", "qy", "qz", "qw", "x", "y", "z", "vx", "vy", "vz", "ax", "ay", "az",
                     "curvature")
US = 1_000_000  # microseconds per second
STEP_US = 100_000  # the model's 10 Hz step
HISTORY_OFFSETS_US = np.arange(-15, 1, dtype=np.int64) * STEP_US  # 16 poses t0 - 1.5 s ... t0
FUTURE_OFFSETS_US = np.arange(1, 65, dtype=np.int64) * STEP_US  # 64 poses t0 + 0.1 ... 6.4 s
VAL_FRACTION = 0.1  # clips without a split label: share that goes to "val" (by a hash of the clip id)


class PaiAvError(DatasetError):
    """A PhysicalAI-AV directory, clip or feature that is missing, short, corrupt or not understood."""


def is_pai_av_dir(path: str | Path) -> bool:
    """Whether `path` looks like a PhysicalAI-AV layout (features.csv and clip_index.parquet at its root)."""
    root = Path(path)
    return (root / FEATURES_CSV).is_file() and (root / CLIP_INDEX).is_file()


def split_of_clip(clip_id: str, val_fraction: float = VAL_FRACTION) -> str:
    """"val" or "train" for a clip with no split label: a fixed hash of its id."""
    digest = hashlib.sha256(clip_id.encode()).digest()
    return "val" if int.from_bytes(digest[:8], "big") / 2.0**64 < val_fraction else "train"


def read_features(root: Path) -> dict[str, dict]:
    """features.csv as {feature: {"directory", "chunk_path", "members": {alias: template} or None}}."""
    path = root / FEATURES_CSV
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise PaiAvError(f"{path}: missing (not a PhysicalAI-AV directory)") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise PaiAvError(f"{path}: not readable CSV ({exc})") from None
    out = {}
    for k, row in enumerate(rows):
        missing = [c for c in ("feature", "directory", "chunk_path") if not row.get(c)]
        if missing:
            raise PaiAvError(f"{path}: row {k + 2} has no {missing[0]!r}")
        members = row.get("clip_files_in_zip") or None
        if members is not None:
            try:
                members = json.loads(members)
            except json.JSONDecodeError as exc:
                raise PaiAvError(f"{path}: feature {row['feature']!r}: clip_files_in_zip is not JSON ({exc})") from None
            if not isinstance(members, dict) or not all(isinstance(v, str) for v in members.values()):
                raise PaiAvError(f"{path}: feature {row['feature']!r}: clip_files_in_zip must map aliases to names")
        out[row["feature"]] = {"directory": row["directory"], "chunk_path": row["chunk_path"], "members": members}
    return out


def indexed_table(columns: dict[str, list | np.ndarray | pa.Array], index: list[str]) -> pa.Table:
    """A pyarrow table whose pandas metadata makes `index` the DataFrame index (what pd.read_parquet and the
    published client expect), written without pandas."""
    table = pa.table(columns)
    described = []
    for field in table.schema:
        kind = "unicode" if pa.types.is_string(field.type) else "bool" if pa.types.is_boolean(field.type) \
            else "list[object]" if pa.types.is_list(field.type) else str(field.type)
        numpy_type = "object" if kind in ("unicode", "list[object]") else field.type.to_pandas_dtype().__name__
        described.append({"name": field.name, "field_name": field.name, "pandas_type": kind,
                          "numpy_type": numpy_type, "metadata": None})
    meta = {"index_columns": list(index), "column_indexes": [], "columns": described,
            "creator": {"library": "pyarrow", "version": pa.__version__}, "pandas_version": "2.2.0"}
    return table.replace_schema_metadata({b"pandas": json.dumps(meta).encode()})


def read_table(source, where: str) -> pa.Table:
    """A parquet table from a path or bytes; PaiAvError naming `where` when it is not readable parquet."""
    try:
        return pq.read_table(io.BytesIO(source) if isinstance(source, bytes) else source)
    except FileNotFoundError:
        raise PaiAvError(f"{where}: missing") from None
    except Exception as exc:  # noqa: BLE001  (pyarrow raises several types for a bad file)
        raise PaiAvError(f"{where}: not a readable parquet file ({exc})") from None


class EgoTrack:
    """One clip's ego motion as a function of time.

    timestamps: (N,) int64 [µs], strictly increasing; xyz: (N, 3) anchor frame [m]; quat: (N, 4) [qx, qy, qz, qw]
    rig -> anchor; velocity, acceleration: (N, 3) anchor frame [m/s, m/s^2]. `where` names the clip and feature
    in errors.
    """

    def __init__(self, timestamps, xyz, quat, velocity, acceleration, where: str = "egomotion"):
        self.where = where
        ts = np.asarray(timestamps, dtype=np.int64)
        arrays = [np.asarray(a, dtype=np.float64) for a in (xyz, quat, velocity, acceleration)]
        if ts.ndim != 1 or len(ts) < 2:
            raise PaiAvError(f"{where}: needs at least 2 timestamped rows, got {len(ts)}")
        if np.any(np.diff(ts) <= 0):
            k = int(np.argmax(np.diff(ts) <= 0))
            raise PaiAvError(f"{where}: timestamps must increase strictly (row {k + 1}: {ts[k + 1]} after {ts[k]})")
        for name, a, width in zip(("x,y,z", "qx..qw", "vx,vy,vz", "ax,ay,az"), arrays, (3, 4, 3, 3)):
            if a.shape != (len(ts), width) or not np.all(np.isfinite(a)):
                raise PaiAvError(f"{where}: columns {name} must be finite, {len(ts)} rows")
        norms = np.linalg.norm(arrays[1], axis=1)
        if np.any(np.abs(norms - 1.0) > 1e-3):
            raise PaiAvError(f"{where}: quaternion row {int(np.argmax(np.abs(norms - 1.0)))} is not unit length")
        self.timestamps = ts
        seconds = (ts - ts[0]) / US  # relative time keeps the spline well conditioned
        self._position = CubicSpline(seconds, arrays[0], extrapolate=False)
        self._rotation = Slerp(seconds, Rotation.from_quat(arrays[1]))
        self._seconds = seconds
        self._velocity, self._acceleration = arrays[2], arrays[3]

    @classmethod
    def from_table(cls, table: pa.Table, where: str) -> "EgoTrack":
        missing = [c for c in EGOMOTION_COLUMNS[:14] if c not in table.column_names]
        if missing:
            raise PaiAvError(f"{where}: missing column {missing[0]!r}")
        col = {c: table.column(c).to_numpy(zero_copy_only=False) for c in EGOMOTION_COLUMNS[:14]}
        stack = lambda names: np.stack([col[n] for n in names], axis=1)  # noqa: E731
        return cls(col["timestamp"], stack("xyz"), stack(("qx", "qy", "qz", "qw")), stack(("vx", "vy", "vz")),
                   stack(("ax", "ay", "az")), where)

    @property
    def span_us(self) -> tuple[int, int]:
        return int(self.timestamps[0]), int(self.timestamps[-1])

    def _seconds_of(self, times_us) -> np.ndarray:
        times = np.asarray(times_us, dtype=np.int64)
        lo, hi = self.span_us
        if times.min() < lo or times.max() > hi:
            raise PaiAvError(f"{self.where}: asked for {times.min() / US:.3f} .. {times.max() / US:.3f} s, the log "
                             f"covers {lo / US:.3f} .. {hi / US:.3f} s (no extrapolation)")
        return (times - lo) / US

    def pose(self, times_us) -> tuple[np.ndarray, Rotation]:
        """Positions (N, 3) and rotations (N) rig -> anchor at times (N,) [µs]."""
        s = self._seconds_of(times_us)
        return self._position(s), self._rotation(s)

    def relative(self, times_us, t0_us: int) -> np.ndarray:
        """(N, 3) [x, y, yaw] of the rig at `times_us` in the rig frame at t0 [m, m, rad]."""
        position, rotation = self.pose(times_us)
        p0, r0 = self.pose([t0_us])
        inverse = r0[0].inv()
        local = inverse.apply(position - p0[0])
        matrices = (inverse * rotation).as_matrix()
        yaw = np.arctan2(matrices[:, 1, 0], matrices[:, 0, 0])
        return np.column_stack([local[:, :2], yaw])

    def motion(self, t0_us: int) -> tuple[float, float]:
        """(forward speed [m/s], forward acceleration [m/s^2]) at t0: the linearly interpolated anchor-frame
        velocity and acceleration, expressed along the rig's x axis."""
        s = float(self._seconds_of([t0_us])[0])
        v = np.array([np.interp(s, self._seconds, self._velocity[:, k]) for k in range(3)])
        a = np.array([np.interp(s, self._seconds, self._acceleration[:, k]) for k in range(3)])
        inverse = self._rotation([s])[0].inv()
        return float(inverse.apply(v)[0]), float(inverse.apply(a)[0])


def __getattr__(name: str):
    if name == "PaiAvDataset":
        from cordillera.data.pai_av_read import PaiAvDataset

        return PaiAvDataset
    if name in ("write_pai_av", "SimClip", "clip_from_rollout"):
        from cordillera.data import pai_av_write

        return getattr(pai_av_write, name)
    raise AttributeError(f"module 'cordillera.data.pai_av' has no attribute {name!r}")


if __name__ == "__main__":
    import sys

    from cordillera.data.pai_av_write import main

    sys.exit(main())
