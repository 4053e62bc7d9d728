"""Camera rigs as data: per camera a name, resolution, pinhole intrinsics and a mount pose on the ego.

    >>> from cordillera.world.render.rig import default_rig, load_rig, save_rig
    >>> rig = default_rig()                        # the 4 PhysicalAI-AV cameras Alpamayo reads, 128x256 each
    >>> rig.camera("camera_front_wide_120fov").project([[20.0, 0.0, 0.0]])   # pixel (u, v) and depth
    >>> save_rig(rig.with_resolution(256, 512), "runs/rig.json")

Frames. The ego frame is the rear axle on the ground: x forward, y left, z up [m]. A camera's mount pose is
its position in that frame and yaw (left positive), pitch (down positive) and roll (right-handed about the
forward axis) [deg], applied in that order (z-y-x). The optical frame follows
the PhysicalAI-AV convention: z forward, x right, y down. Pixel (u, v) = (column, row) with the centre of
the top-left pixel at (0, 0), so a principal point of ((W-1)/2, (H-1)/2) is the middle of the image.

Rig JSON (version 1):

    {"version": 1, "name": "default", "frames": 4, "frame_rate_hz": 10.0,
     "cameras": [{"name": "camera_front_wide_120fov", "width": 256, "height": 128, "hfov_deg": 120.0,
                  "position_m": [1.8, 0.0, 1.45], "yaw_deg": 0.0, "pitch_deg": 3.0, "roll_deg": 0.0}]}

Intrinsics come either from `hfov_deg` (square pixels, centred principal point) or from
`"intrinsics": {"fx": .., "fy": .., "cx": .., "cy": ..}` [px]. Errors name the field:
`cameras[1].height: must be an integer >= 1, got 0`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import numpy as np

__all__ = ["RigError", "CameraSpec", "CameraRig", "default_rig", "surround_rig", "load_rig", "save_rig",
           "rig_from_dict", "RIG_VERSION", "MAX_CAMERAS"]

RIG_VERSION = 1
MAX_CAMERAS = 7  # the PhysicalAI-AV rig has 7 cameras
MAX_SIDE_PX = 8192  # larger images are a typo, not a camera

# optical axes (x right, y down, z forward) written in the camera body frame (x forward, y left, z up)
_BODY_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


class RigError(ValueError):
    """A rig file or camera definition is invalid. The message names the field."""


def _rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


@dataclass(frozen=True)
class CameraSpec:
    """One pinhole camera. Hashable: renderers cache per-camera tables keyed by it."""

    name: str
    width: int  # [px]
    height: int  # [px]
    fx: float  # focal length [px]
    fy: float  # [px]
    cx: float  # principal point, column [px]
    cy: float  # principal point, row [px]
    position: tuple[float, float, float]  # mount in the ego frame (rear axle, z up) [m]
    yaw_deg: float = 0.0  # left positive [deg] (degrees, as in the JSON, so rigs round-trip exactly)
    pitch_deg: float = 0.0  # down positive [deg]
    roll_deg: float = 0.0  # right-handed about the forward axis [deg]

    def __post_init__(self) -> None:
        if isinstance(self.position, (list, np.ndarray)):
            object.__setattr__(self, "position", tuple(self.position))
        _check_camera(self.__dict__, f"camera {self.name!r}")
        object.__setattr__(self, "position", tuple(float(v) for v in self.position))

    @staticmethod
    def from_hfov(name: str, width: int, height: int, hfov_deg: float, position=(0.0, 0.0, 1.5),
                  yaw_deg: float = 0.0, pitch_deg: float = 0.0, roll_deg: float = 0.0) -> "CameraSpec":
        """Square pixels and a centred principal point from the horizontal field of view [deg]."""
        f = _focal_from_hfov(width, hfov_deg, f"camera {name!r}.hfov_deg")
        return CameraSpec(name, int(width), int(height), f, f, (width - 1) / 2.0, (height - 1) / 2.0,
                          tuple(float(v) for v in position), float(yaw_deg), float(pitch_deg), float(roll_deg))

    @property
    def hfov_deg(self) -> float:
        """Horizontal field of view through the image centre [deg]."""
        return math.degrees(2.0 * math.atan(self.width / (2.0 * self.fx)))

    @property
    def intrinsics(self) -> np.ndarray:
        """K (3, 3)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def rotation(self) -> np.ndarray:
        """(3, 3) whose columns are the optical axes (x right, y down, z forward) in the ego frame."""
        yaw, pitch, roll = (math.radians(a) for a in (self.yaw_deg, self.pitch_deg, self.roll_deg))
        body = _rot_z(yaw) @ _rot_y(pitch) @ _rot_x(roll)
        return body @ _BODY_FROM_OPTICAL

    def ego_to_optical(self) -> np.ndarray:
        """(3, 4) [R | t] taking ego-frame points to the optical frame."""
        r = self.rotation.T
        return np.concatenate([r, -(r @ np.asarray(self.position))[:, None]], axis=1)

    def project(self, points_ego) -> tuple[np.ndarray, np.ndarray]:
        """Pixels (N, 2) [u, v] and depth along the optical axis (N,) [m] of ego-frame points (N, 3).

        Points at depth <= 0 (behind the camera) get NaN pixels.
        """
        p = np.asarray(points_ego, dtype=np.float64).reshape(-1, 3)
        m = self.ego_to_optical()
        opt = p @ m[:, :3].T + m[:, 3]
        z = opt[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = np.stack([self.fx * opt[:, 0] / z + self.cx, self.fy * opt[:, 1] / z + self.cy], -1)
        uv[z <= 0] = np.nan
        return uv, z

    def rays(self) -> np.ndarray:
        """Unit viewing directions (H, W, 3) of every pixel centre in the ego frame."""
        u, v = np.meshgrid(np.arange(self.width, dtype=np.float64), np.arange(self.height, dtype=np.float64))
        d = np.stack([(u - self.cx) / self.fx, (v - self.cy) / self.fy, np.ones_like(u)], -1)
        d /= np.linalg.norm(d, axis=-1, keepdims=True)
        return d @ self.rotation.T

    def scaled(self, height: int, width: int) -> "CameraSpec":
        """The same camera at another resolution (intrinsics scaled, so the field of view is kept)."""
        sx, sy = width / self.width, height / self.height
        return replace(self, width=int(width), height=int(height), fx=self.fx * sx, fy=self.fy * sy,
                       cx=(self.cx + 0.5) * sx - 0.5, cy=(self.cy + 0.5) * sy - 0.5)

    def moved(self, dx: float = 0.0, dy: float = 0.0, dz: float = 0.0, dyaw_deg: float = 0.0,
              dpitch_deg: float = 0.0, droll_deg: float = 0.0) -> "CameraSpec":
        """The camera with its mount shifted [m] and turned [deg] (calibration jitter)."""
        x, y, z = self.position
        return replace(self, position=(x + dx, y + dy, z + dz), yaw_deg=self.yaw_deg + dyaw_deg,
                       pitch_deg=self.pitch_deg + dpitch_deg, roll_deg=self.roll_deg + droll_deg)

    def to_dict(self) -> dict:
        return {"name": self.name, "width": self.width, "height": self.height,
                "intrinsics": {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy},
                "position_m": list(self.position), "yaw_deg": self.yaw_deg, "pitch_deg": self.pitch_deg,
                "roll_deg": self.roll_deg}


@dataclass(frozen=True)
class CameraRig:
    """1 to 7 cameras plus how many past frames a policy gets and at what rate."""

    cameras: tuple[CameraSpec, ...]
    frames: int = 4  # frames per camera in an observation (Alpamayo: t0-0.3 s ... t0)
    frame_rate_hz: float = 10.0  # [Hz] spacing of those frames
    name: str = "rig"

    def __post_init__(self) -> None:
        cams = tuple(self.cameras)
        object.__setattr__(self, "cameras", cams)
        if not 1 <= len(cams) <= MAX_CAMERAS:
            raise RigError(f"cameras: a rig needs 1 to {MAX_CAMERAS} cameras, got {len(cams)}")
        names = [c.name for c in cams]
        for k, n in enumerate(names):
            if n in names[:k]:
                raise RigError(f"cameras[{k}].name: duplicate camera name {n!r}")
        if not (isinstance(self.frames, int) and not isinstance(self.frames, bool) and 1 <= self.frames <= 64):
            raise RigError(f"frames: must be an integer in [1, 64], got {self.frames!r}")
        if not (_is_number(self.frame_rate_hz) and 0.0 < self.frame_rate_hz <= 100.0):
            raise RigError(f"frame_rate_hz: must be in (0, 100] Hz, got {self.frame_rate_hz!r}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.cameras)

    def camera(self, name: str) -> CameraSpec:
        for c in self.cameras:
            if c.name == name:
                return c
        raise KeyError(f"no camera {name!r} in rig {self.name!r}; it has: {', '.join(self.names)}")

    def select(self, names) -> "CameraRig":
        """A rig with only the named cameras, in the order given."""
        return replace(self, cameras=tuple(self.camera(n) for n in names))

    def with_resolution(self, height: int, width: int) -> "CameraRig":
        """Every camera at (height, width) [px], fields of view kept."""
        return replace(self, cameras=tuple(c.scaled(height, width) for c in self.cameras))

    def to_dict(self) -> dict:
        return {"version": RIG_VERSION, "name": self.name, "frames": self.frames,
                "frame_rate_hz": self.frame_rate_hz, "cameras": [c.to_dict() for c in self.cameras]}


# ---- validation ----------------------------------------------------------------------------------------


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


def _focal_from_hfov(width, hfov_deg, where: str) -> float:
    if not _is_number(hfov_deg) or not 0.0 < hfov_deg < 179.0:
        raise RigError(f"{where}: a pinhole horizontal field of view must be in (0, 179) deg, got {hfov_deg!r}")
    return width / 2.0 / math.tan(math.radians(hfov_deg) / 2.0)


def _check_camera(c: dict, where: str) -> None:
    """Validate CameraSpec field values (a dict of them); RigError naming `where` and the field."""
    if not isinstance(c["name"], str) or not c["name"].strip():
        raise RigError(f"{where}.name: must be a non-empty string, got {c['name']!r}")
    for field_ in ("width", "height"):
        v = c[field_]
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or not 1 <= v <= MAX_SIDE_PX:
            raise RigError(f"{where}.{field_}: must be an integer in [1, {MAX_SIDE_PX}] px, got {v!r}")
    for field_ in ("fx", "fy"):
        v = c[field_]
        if not _is_number(v) or v <= 0:
            raise RigError(f"{where}.intrinsics.{field_}: focal length must be > 0 px, got {v!r}")
    for field_, size in (("cx", c["width"]), ("cy", c["height"])):
        v = c[field_]
        if not _is_number(v) or not -0.5 <= v <= size - 0.5:
            raise RigError(f"{where}.intrinsics.{field_}: principal point must lie in the image "
                           f"[-0.5, {size - 0.5}] px, got {v!r}")
    pos = c["position"]
    if not (isinstance(pos, tuple) and len(pos) == 3 and all(_is_number(v) for v in pos)):
        raise RigError(f"{where}.position_m: must be 3 finite numbers [x, y, z] m, got {pos!r}")
    if not -10.0 <= pos[2] <= 10.0 or abs(pos[0]) > 30.0 or abs(pos[1]) > 10.0:
        raise RigError(f"{where}.position_m: mount {pos} m is not on a road vehicle")
    for field_ in ("yaw_deg", "pitch_deg", "roll_deg"):
        if not _is_number(c[field_]):
            raise RigError(f"{where}.{field_}: must be a finite number, got {c[field_]!r}")
    if abs(c["pitch_deg"]) >= 90.0:
        raise RigError(f"{where}.pitch_deg: must be within (-90, 90) deg, got {c['pitch_deg']}")


# ---- JSON ------------------------------------------------------------------------------------------------


def _get(doc: dict, key: str, where: str, default=None, required: bool = True):
    if key in doc:
        return doc[key]
    if required:
        raise RigError(f"{where}.{key}: missing field")
    return default


def _number(value, where: str) -> float:
    if not _is_number(value):
        raise RigError(f"{where}: must be a finite number, got {value!r}")
    return float(value)


def _camera_from_dict(doc, where: str) -> CameraSpec:
    if not isinstance(doc, dict):
        raise RigError(f"{where}: must be an object, got {type(doc).__name__}")
    known = {"name", "width", "height", "hfov_deg", "intrinsics", "position_m", "yaw_deg", "pitch_deg", "roll_deg"}
    unknown = sorted(set(doc) - known)
    if unknown:
        raise RigError(f"{where}.{unknown[0]}: unknown field (known: {', '.join(sorted(known))})")
    name = _get(doc, "name", where)
    w, h = _get(doc, "width", where), _get(doc, "height", where)
    for key, v in (("width", w), ("height", h)):
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= MAX_SIDE_PX:
            raise RigError(f"{where}.{key}: must be an integer in [1, {MAX_SIDE_PX}] px, got {v!r}")
    has_fov, has_k = "hfov_deg" in doc, "intrinsics" in doc
    if has_fov == has_k:
        raise RigError(f"{where}: give exactly one of hfov_deg or intrinsics")
    if has_fov:
        fx = fy = _focal_from_hfov(w, doc["hfov_deg"], f"{where}.hfov_deg")
        cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    else:
        k = doc["intrinsics"]
        if not isinstance(k, dict):
            raise RigError(f"{where}.intrinsics: must be an object with fx, fy, cx, cy")
        fx, fy, cx, cy = (_number(_get(k, key, f"{where}.intrinsics"), f"{where}.intrinsics.{key}")
                          for key in ("fx", "fy", "cx", "cy"))
    pos = _get(doc, "position_m", where)
    if not isinstance(pos, (list, tuple)) or len(pos) != 3:
        raise RigError(f"{where}.position_m: must be [x, y, z] m, got {pos!r}")
    pos = tuple(_number(v, f"{where}.position_m[{i}]") for i, v in enumerate(pos))
    angles = [_number(doc.get(key, 0.0), f"{where}.{key}") for key in ("yaw_deg", "pitch_deg", "roll_deg")]
    fields_ = ("name", "width", "height", "fx", "fy", "cx", "cy", "position", "yaw_deg", "pitch_deg", "roll_deg")
    values = dict(zip(fields_, (name, w, h, fx, fy, cx, cy, pos, *angles)))
    _check_camera(values, where)  # checked here first so that errors name the rig field (cameras[k])
    return CameraSpec(**values)


def rig_from_dict(doc) -> CameraRig:
    """Build a rig from a parsed JSON document; RigError naming the field on bad input."""
    if not isinstance(doc, dict):
        raise RigError(f"rig: must be a JSON object, got {type(doc).__name__}")
    version = doc.get("version")
    if version != RIG_VERSION:
        raise RigError(f"version: this reader understands rig version {RIG_VERSION}, got {version!r}")
    unknown = sorted(set(doc) - {"version", "name", "frames", "frame_rate_hz", "cameras"})
    if unknown:
        raise RigError(f"{unknown[0]}: unknown field")
    cams = _get(doc, "cameras", "rig")
    if not isinstance(cams, list):
        raise RigError("cameras: must be a list of camera objects")
    return CameraRig(tuple(_camera_from_dict(c, f"cameras[{k}]") for k, c in enumerate(cams)),
                     frames=doc.get("frames", 4), frame_rate_hz=doc.get("frame_rate_hz", 10.0),
                     name=str(doc.get("name", "rig")))


def load_rig(path: str | Path) -> CameraRig:
    """Read a rig JSON file; RigError naming the file and field on bad input."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise RigError(f"cannot read rig file {str(path)!r}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise RigError(f"{path.name}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    try:
        return rig_from_dict(doc)
    except RigError as exc:
        raise RigError(f"{path.name}: {exc}") from None


def save_rig(rig: CameraRig, path: str | Path) -> Path:
    """Write a rig as JSON (explicit intrinsics, angles in degrees); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rig.to_dict(), indent=2) + "\n")
    return path


def _packaged(name: str) -> CameraRig:
    text = resources.files("cordillera.world.render").joinpath("rigs", name).read_text()
    return rig_from_dict(json.loads(text))


def default_rig() -> CameraRig:
    """The 4 cameras Alpamayo reads (cross left, front wide, cross right, front tele), 128x256 each,
    4 frames at 10 Hz."""
    return _packaged("default.json")


def surround_rig() -> CameraRig:
    """All 7 PhysicalAI-AV camera positions (the default 4 plus rear left, rear right, rear tele)."""
    return _packaged("surround.json")
