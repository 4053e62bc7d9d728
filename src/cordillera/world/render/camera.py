"""Pinhole camera rendering of the world for vision policies, observations and videos.

    >>> from cordillera.world.render.camera import render_state, observe_cameras, camera_panel
    >>> from cordillera.world.render.rig import default_rig
    >>> images = render_state(state)                       # {camera name: (128, 256, 3) uint8 RGB} at the last step
    >>> frames, stamps = observe_cameras(state, default_rig())   # {name: (4, 128, 256, 3)}, {name: (4,) [s]}
    >>> panel = camera_panel(state, index=10)              # the rig's images tiled with labels (videos)

A frame is drawn in three layers into an RGBA image whose fourth channel holds a depth code (see
`appearance`): a sky gradient; the static ground (off-road plane, road, markings, crosswalks, kerbs,
sidewalks: `ground.py`, cached per map), one cv2.fillPoly call per layer; then agents and signal heads
(`objects.py`) as shaded quads, far to near (painter's algorithm), one cv2.fillConvexPoly per visible quad.
Every polygon goes through the same two compiled kernels (`clip.py`): frustum culling with back-face culling
and the world -> camera transform, then exact clipping to the near and side planes and the projection.
Finally `appearance.finish` applies night lighting, fog, rain and bloom when the look asks for them.

Per rig frame the agent geometry is built once (in the world frame) and shared by every camera.
"""

from __future__ import annotations

import math
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import cv2
import numpy as np

from cordillera.world.render.appearance import (
    EMISSIVE_CODE,
    GROUND_CODE,
    Appearance,
    depth_code,
    finish,
    jitter_rig,
    sample_appearance,
    sky,
)
from cordillera.world.render.clip import (
    SHIFT,
    clip_project,
    frustum_planes,
    paint_order,
    splat,
    tiny,
    transform_cull,
)
from cordillera.world.render.ground import LAYERS, Ground, ground_geometry
from cordillera.world.render.objects import Objects, build_objects
from cordillera.world.render.rig import CameraRig, CameraSpec, default_rig, surround_rig
from cordillera.world.roads.map import RoadMap

if TYPE_CHECKING:
    from cordillera.world.sim import LogStep, World, WorldState

__all__ = ["CameraConfig", "Timings", "render_rig", "render_camera", "render_state", "observe_cameras",
           "camera_panel", "rig_for_sensors", "world_appearance", "object_depth"]

LOD_PX = 3.0  # [px] a part smaller than this on screen is drawn as its one face most turned to the camera
GROUND_HALF_M = 2000.0  # [m] the off-road plane drawn under everything reaches this far (horizon within 0.05 deg)


@dataclass(frozen=True)
class CameraConfig:
    """How frames are made. Hashable: part of the frame cache key."""

    variety: bool = True  # seeded look (colours, wear, weather strength, mount jitter); False: canonical look
    near_m: float = 0.1  # [m] near clipping plane
    far_m: float = 250.0  # [m] farthest polygon drawn: a car there is ~5 px wide in the 30 deg tele at 256 px
    cache_frames: int = 64  # camera images kept per rollout for observations (4 cameras x 4 frames, 4 times over)

    def __post_init__(self) -> None:
        if not (0.0 < self.near_m < self.far_m and math.isfinite(self.far_m)):
            raise ValueError(f"CameraConfig: need 0 < near_m < far_m < inf, got {self.near_m}, {self.far_m}")
        if self.cache_frames < 0:
            raise ValueError(f"CameraConfig.cache_frames: must be >= 0, got {self.cache_frames}")


@dataclass
class Timings:
    """Seconds spent per stage, summed over calls (benchmarks pass one in)."""

    scene: float = 0.0  # agent and signal geometry, once per rig frame
    projection: float = 0.0  # painter's sort, culling and world -> camera transform
    clipping: float = 0.0  # frustum clipping and perspective divide
    raster: float = 0.0  # cv2 fills
    effects: float = 0.0  # lighting, fog, rain, bloom
    frames: int = 0  # camera frames rendered

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in ("scene", "projection", "clipping", "raster", "effects")}


class _Clock:
    """Adds the time since the last tick to a Timings field (no-op without a Timings)."""

    def __init__(self, timings: Timings | None):
        self.timings = timings
        self.last = time.perf_counter() if timings is not None else 0.0

    def tick(self, stage: str) -> None:
        if self.timings is not None:
            now = time.perf_counter()
            setattr(self.timings, stage, getattr(self.timings, stage) + now - self.last)
            self.last = now


_CAMERA_CONSTANTS: dict[tuple[CameraSpec, float], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _camera_constants(cam: CameraSpec, near: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cached per camera: ego -> optical (3, 4), frustum planes (5, 4), intrinsics (4,)."""
    key = (cam, near)
    found = _CAMERA_CONSTANTS.get(key)
    if found is None:
        if len(_CAMERA_CONSTANTS) > 256:
            _CAMERA_CONSTANTS.clear()
        found = _CAMERA_CONSTANTS[key] = (cam.ego_to_optical(),
                                     frustum_planes(cam.fx, cam.fy, cam.cx, cam.cy, cam.width, cam.height, near),
                                     np.array([cam.fx, cam.fy, cam.cx, cam.cy]))
    return found


class _View:
    """One camera at one ego pose: matrix, frustum and the two kernel calls."""

    def __init__(self, cam: CameraSpec, ego_pose: np.ndarray, config: CameraConfig):
        self.cam = cam
        opt, self.frustum, self.intrinsics = _camera_constants(cam, config.near_m)
        ex, ey, yaw = float(ego_pose[0]), float(ego_pose[1]), float(ego_pose[2])
        c, s = math.cos(yaw), math.sin(yaw)
        # world -> ego (rear axle, yaw) then ego -> optical
        ego_from_world = np.array([[c, s, 0.0, -(c * ex + s * ey)], [-s, c, 0.0, s * ex - c * ey],
                                   [0.0, 0.0, 1.0, 0.0]])
        self.matrix = opt[:, :3] @ ego_from_world
        self.matrix[:, 3] += opt[:, 3]
        px, py, pz = cam.position
        self.position = np.array([ex + c * px - s * py, ey + s * px + c * py, pz])  # camera in the world [m]
        self.far = config.far_m

    def project(self, vertices, starts, order, centre, radius, normal, clock: _Clock):
        """Pixels (M, 2) int32 fixed point, starts (K + 1,), source polygon ids (K,) of the visible polygons."""
        n = len(order)
        out_v = np.empty((len(vertices), 3))
        out_s = np.empty(n + 1, np.int64)
        out_src = np.empty(n, np.int64)
        kept = transform_cull(vertices, starts, order, centre, radius, normal, self.matrix, self.position,
                              self.frustum, self.far, out_v, out_s, out_src)
        clock.tick("projection")
        px = np.empty((2 * out_s[kept] + 16 * kept + 16, 2), np.int32)
        px_s = np.empty(kept + 1, np.int64)
        px_idx = np.empty(kept, np.int64)
        count = clip_project(out_v, out_s, kept, self.frustum, self.intrinsics, px, px_s, px_idx)
        clock.tick("clipping")
        return px, px_s[: count + 1], out_src[px_idx[:count]]


def _ground_plane(ego_pose: np.ndarray) -> tuple[np.ndarray, ...]:
    """The off-road plane: one square polygon around the ego, in the kernels' flat layout."""
    x, y, h = float(ego_pose[0]), float(ego_pose[1]), GROUND_HALF_M
    verts = np.array([[x - h, y - h, 0.0], [x + h, y - h, 0.0], [x + h, y + h, 0.0], [x - h, y + h, 0.0]])
    return (verts, np.array([0, 4], np.int64), np.zeros(1, np.int64), np.array([[x, y, 0.0]]),
            np.array([h * 1.5]), np.zeros((1, 3)))


_LAYER_COLORS: dict[Appearance, list] = {}
_LAYER_LOOK = {"stop_line": "marking_white", "curb_face": "curb"}  # layers painted in another layer's colour


def _layer_colors(look: Appearance) -> list[tuple[int, int, int, int]]:
    colors = _LAYER_COLORS.get(look)
    if colors is None:
        rgb = [look.shade(getattr(look, _LAYER_LOOK.get(name, name)), 0.75 if name == "curb_face" else 1.0)
               for name in ("ground", *LAYERS)]
        colors = [(*(int(round(v)) for v in c), GROUND_CODE) for c in rgb]
        if len(_LAYER_COLORS) > 256:
            _LAYER_COLORS.clear()
        _LAYER_COLORS[look] = colors
    return colors


def _draw_ground(image, view: _View, ground: Ground, ego_pose, look: Appearance, clock: _Clock) -> None:
    colors = _layer_colors(look)
    verts, starts, order, centre, radius, normal = _ground_plane(ego_pose)
    px, starts, _ = view.project(verts, starts, order, centre, radius, normal, clock)
    if len(starts) > 1:
        cv2.fillPoly(image, [px[starts[0]:starts[1]]], colors[0], cv2.LINE_8, SHIFT)
    clock.tick("raster")
    if not ground.count:
        return
    px, starts, src = view.project(ground.vertices, ground.starts, ground.order, ground.centre, ground.radius,
                                   ground.normal, clock)
    if not len(src):
        return
    layer = ground.layer[src]
    small = tiny(px, starts)
    bounds = starts.tolist()
    cuts = [0, *(np.flatnonzero(np.diff(layer)) + 1).tolist(), len(layer)]
    for a, b in zip(cuts[:-1], cuts[1:]):  # one layer: one fill (its polygons never overlap), then its specks
        color = colors[1 + int(layer[a])]
        big = [px[bounds[k]:bounds[k + 1]] for k in range(a, b) if not small[k]]
        if big:
            cv2.fillPoly(image, big, color, cv2.LINE_8, SHIFT)
        specks = a + np.flatnonzero(small[a:b])
        if len(specks):
            splat(image, px, starts, specks, np.tile(np.array(color, np.uint8), (len(specks), 1)))
    clock.tick("raster")


def _draw_objects(image, view: _View, objs: Objects, clock: _Clock) -> None:
    if not objs.count:
        return
    order = np.empty(objs.count, np.int64)
    part_dist = np.empty(len(objs.part_centre))
    count = paint_order(view.position, view.cam.fx, LOD_PX, objs.part_centre, objs.part_yaw, objs.part_half,
                        objs.part_enabled, objs.part_group, objs.part_level, objs.part, objs.decal, objs.emissive,
                        objs.normal, objs.centre, order, part_dist)
    px, px_starts, src = view.project(objs.quads.reshape(-1, 3), objs.starts, order[:count], objs.centre,
                                      objs.radius, objs.normal, clock)
    if not len(src):
        return
    code = np.where(objs.emissive[src], EMISSIVE_CODE, depth_code(part_dist[objs.part[src]]))
    colors = np.concatenate([objs.color[src], code[:, None].astype(np.uint8)], axis=1)
    listed = colors.tolist()
    bounds = px_starts.tolist()
    small = tiny(px, px_starts)
    edges = [0, *(np.flatnonzero(np.diff(small)) + 1).tolist(), len(small)]
    for a, b in zip(edges[:-1], edges[1:]):  # runs of polygons in painter's order
        if small[a]:  # a run of specks: one compiled call
            splat(image, px, px_starts, np.arange(a, b), colors[a:b])
            continue
        for k in range(a, b):
            cv2.fillConvexPoly(image, px[bounds[k]:bounds[k + 1]], listed[k], cv2.LINE_8, SHIFT)
    clock.tick("raster")


def _render_view(cam: CameraSpec, ground: Ground, objs: Objects, ego_pose, look: Appearance, config: CameraConfig,
                 frame_seed: int, clock: _Clock) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) RGB and the (H, W) fourth-channel code (appearance: depth code of objects, ground, sky)."""
    image = sky(cam, look).copy()
    view = _View(cam, ego_pose, config)
    _draw_ground(image, view, ground, ego_pose, look, clock)
    _draw_objects(image, view, objs, clock)
    out = finish(image, cam, look, frame_seed)
    clock.tick("effects")
    if clock.timings is not None:
        clock.timings.frames += 1
    return out, image[..., 3].copy()


def render_rig(road: RoadMap, step: "LogStep", agent_types, agent_heights, rig: CameraRig,
               look: Appearance | None = None, *, config: CameraConfig = CameraConfig(), frame_seed: int = 0,
               timings: Timings | None = None, codes: dict | None = None) -> dict[str, np.ndarray]:
    """Every camera of `rig` at one log step: {name: (H, W, 3) uint8 RGB}.

    agent_types, agent_heights: (N,) AgentType ints and heights [m] of the log step's agents.
    look: the appearance (default: canonical day). frame_seed: varies per-frame noise such as rain streaks.
    The rig is used as given (apply `appearance.jitter_rig` first for calibration jitter).
    codes: a dict to receive each camera's (H, W) uint8 fourth-channel code (`appearance.depth_code` of the
    nearest object per pixel, GROUND_CODE, SKY_CODE or EMISSIVE_CODE), the dense target of `object_depth`.
    """
    look = look or sample_appearance(0, variety=False)
    clock = _Clock(timings)
    ground = ground_geometry(road)
    objs = build_objects(road, step, agent_types, agent_heights, look, reach_m=config.far_m + 20.0)
    clock.tick("scene")
    ego = np.asarray(step.ego, dtype=np.float64)
    out = {}
    for k, cam in enumerate(rig.cameras):
        out[cam.name], code = _render_view(cam, ground, objs, ego, look, config, frame_seed * 16 + k, clock)
        if codes is not None:
            codes[cam.name] = code
    return out


def render_camera(road: RoadMap, step: "LogStep", agent_types, agent_heights, camera: CameraSpec,
                  look: Appearance | None = None, *, config: CameraConfig = CameraConfig()) -> np.ndarray:
    """One camera at one log step: (H, W, 3) uint8 RGB."""
    rig = CameraRig((camera,), name="single")
    return render_rig(road, step, agent_types, agent_heights, rig, look, config=config)[camera.name]


# ---- rollouts: appearance per world, observations, video panels ---------------------------------------------


@dataclass
class _WorldCache:
    looks: dict = field(default_factory=dict)  # variety -> Appearance
    rigs: dict = field(default_factory=dict)  # (rig, variety) -> jittered rig
    frames: OrderedDict = field(default_factory=OrderedDict)  # (id(step), camera, config) -> (step, image)


_WORLDS: "weakref.WeakKeyDictionary[World, _WorldCache]" = weakref.WeakKeyDictionary()


def _cache(world: "World") -> _WorldCache:
    entry = _WORLDS.get(world)
    if entry is None:
        entry = _WORLDS[world] = _WorldCache()
    return entry


def world_appearance(world: "World", variety: bool = True) -> Appearance:
    """The look of a rollout: the scenario's time of day and weather, the rest from its appearance seed."""
    cache = _cache(world)
    if variety not in cache.looks:
        spec = world.scenario.appearance
        cache.looks[variety] = sample_appearance(int(world.seeds["appearance"]), spec.time_of_day, spec.weather,
                                                 variety)
    return cache.looks[variety]


def _world_rig(world: "World", rig: CameraRig, variety: bool) -> CameraRig:
    cache = _cache(world)
    key = (rig, variety)
    if key not in cache.rigs:
        cache.rigs[key] = jitter_rig(rig, world_appearance(world, variety))
    return cache.rigs[key]


def _frames_at(state: "WorldState", index: int, rig: CameraRig, config: CameraConfig,
               slot: int = 1) -> dict[str, np.ndarray]:
    """The rig's images (slot 1) or fourth-channel codes (slot 2) at log step `index`, from the rollout's frame
    cache when already rendered."""
    world = state.world
    cache = _cache(world)
    step = state.log[index]
    shown = _world_rig(world, rig, config.variety)
    keys = [(id(step), cam, config) for cam in shown.cameras]
    hits = [cache.frames.get(k) for k in keys]
    if all(h is not None and h[0] is step for h in hits):
        for k in keys:
            cache.frames.move_to_end(k)
        return {cam.name: h[slot] for cam, h in zip(rig.cameras, hits)}
    codes: dict[str, np.ndarray] = {}
    images = render_rig(state.road, step, state.agents.type, state.agents.height, shown,
                        world_appearance(world, config.variety), config=config, frame_seed=index, codes=codes)
    out = {}
    for key, base, cam in zip(keys, rig.cameras, shown.cameras):
        image, code = images[cam.name], codes[cam.name]
        image.flags.writeable = False  # shared between observations
        code.flags.writeable = False
        cache.frames[key] = (step, image, code)  # the step is kept alive, so its id is not reused
        out[base.name] = (step, image, code)[slot]
    while len(cache.frames) > config.cache_frames:
        cache.frames.popitem(last=False)
    return out


def render_state(state: "WorldState", rig: CameraRig | None = None, index: int = -1,
                 config: CameraConfig = CameraConfig()) -> dict[str, np.ndarray]:
    """The rig's images (default rig) at log step `index` of a rollout, in the rollout's own look:
    {name: (H, W, 3) uint8 RGB}."""
    rig = rig or default_rig()
    return {name: image.copy() for name, image in _frames_at(state, index % len(state.log), rig, config).items()}


def observe_cameras(state: "WorldState", rig: CameraRig, config: CameraConfig = CameraConfig()):
    """The last `rig.frames` frames of every camera, `1 / rig.frame_rate_hz` apart, oldest first.

    Returns ({name: (T, H, W, 3) uint8}, {name: (T,) float64 timestamps [s]}). When the rollout is shorter
    than the window, the first frame is repeated (with its own timestamp).
    """
    dt = state.world.config.dt
    stride = max(1, int(round(1.0 / (rig.frame_rate_hz * dt))))
    last = len(state.log) - 1
    indices = [max(last - k * stride, 0) for k in range(rig.frames - 1, -1, -1)]
    per_step = {i: _frames_at(state, i, rig, config) for i in sorted(set(indices))}
    stamps = np.array([state.log[i].t for i in indices], dtype=np.float64)
    frames = {name: np.stack([per_step[i][name] for i in indices]) for name in rig.names}
    return frames, {name: stamps.copy() for name in rig.names}


def object_depth(state: "WorldState", rig: CameraRig, config: CameraConfig = CameraConfig(),
                 index: int = -1) -> dict[str, np.ndarray]:
    """Per camera of `rig` the (H, W) uint8 fourth-channel code of log step `index` (default the last): the
    distance code of the nearest object at each pixel (`appearance.depth_code`, 1..253 in DEPTH_STEP_M
    steps), GROUND_CODE, SKY_CODE or EMISSIVE_CODE. Privileged: a dense training target (what is where,
    how far) for the vision encoder, never a policy input. Shares the frame cache with `observe_cameras`."""
    return {name: code.copy() for name, code in _frames_at(state, index % len(state.log), rig, config, 2).items()}


def rig_for_sensors(sensors) -> CameraRig | None:
    """The rig a policy's sensor list asks for: a CameraRig item, and/or camera names (taken from that rig,
    else from the default or 7-camera surround rig). None when no camera is asked for."""
    rigs = [s for s in sensors if isinstance(s, CameraRig)]
    if len(rigs) > 1:
        raise ValueError("sensors: at most one CameraRig per policy")
    names = [s for s in sensors if isinstance(s, str) and s.startswith("camera_")]
    if not names:
        return rigs[0] if rigs else None
    base = rigs[0] if rigs else default_rig()
    pool = {c.name: c for c in (base.cameras if rigs else (*surround_rig().cameras, *base.cameras))}
    unknown = [n for n in names if n not in pool]
    if unknown:
        raise ValueError(f"sensors: unknown camera {unknown[0]!r}; known: {', '.join(sorted(pool))}")
    return CameraRig(tuple(pool[n] for n in dict.fromkeys(names)), base.frames, base.frame_rate_hz, base.name)


def sized_rig(names, height: int, width: int, frames: int) -> CameraRig:
    """The named cameras (as `rig_for_sensors` finds them) drawn directly at (height, width) [px], `frames` frames
    each: the rig a dataset is rendered with (teacher.datagen) and the one a checkpoint reads (model.policy), built
    in one place so both draw the same pixels."""
    return replace(rig_for_sensors(tuple(names)).with_resolution(height, width), frames=frames)


def _label(image: np.ndarray, text: str) -> None:
    """White text on a dark band in the top-left corner."""
    scale = max(0.35, image.shape[1] / 1000.0)
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    band = image[: h + base + 6, : w + 8]
    band[:] = band // 3
    cv2.putText(image, text, (4, h + 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (245, 245, 245), 1, cv2.LINE_AA)


def _panel_order(rig: CameraRig) -> list[CameraSpec]:
    """Front-facing cameras first, then by how far they look back; left before right."""
    def key(cam: CameraSpec):
        return (round(abs(cam.yaw_deg) / 45.0), -cam.yaw_deg)
    return sorted(rig.cameras, key=key)


def camera_panel(state: "WorldState", index: int, rig: CameraRig | None = None,
                 camera_size: tuple[int, int] = (320, 640), columns: int = 2,
                 config: CameraConfig = CameraConfig()) -> np.ndarray:
    """The rig's images at log step `index` tiled `columns` wide, each (H, W) = camera_size with its name.

    Returns (rows * H, columns * W, 3) uint8 RGB; front cameras first (wide, tele), then cross, then rear.
    """
    rig = (rig or default_rig()).with_resolution(*camera_size)
    images = render_rig(state.road, state.log[index], state.agents.type, state.agents.height,
                        _world_rig(state.world, rig, config.variety), world_appearance(state.world, config.variety),
                        config=config, frame_seed=index % len(state.log))
    cams = _panel_order(rig)
    h, w = camera_size
    rows = -(-len(cams) // columns)
    panel = np.zeros((rows * h, columns * w, 3), np.uint8)
    for k, cam in enumerate(cams):
        r, c = divmod(k, columns)
        tile = np.ascontiguousarray(images[cam.name])
        _label(tile, cam.name.removeprefix("camera_"))
        panel[r * h:(r + 1) * h, c * w:(c + 1) * w] = tile
    return panel
