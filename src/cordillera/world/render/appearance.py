"""How the world looks to the cameras: palettes, lighting, weather and the image effects they need.

    >>> from cordillera.world.render.appearance import sample_appearance
    >>> look = sample_appearance(seed=7, time_of_day="night", weather="rain")   # seeded variety
    >>> plain = sample_appearance(seed=7, variety=False)                         # canonical day, for tests

Time of day and weather come from the scenario; everything else (road and ground colours, marking wear,
vehicle and clothing colours, sun direction, fog density, camera mount jitter) is drawn from the appearance
seed, so a model sees many looks of the same geometry while a rollout stays reproducible. With
`variety=False` every draw is replaced by a fixed canonical value and the camera is not jittered.

Colours are (R, G, B). Lighting has two paths: dusk and clear days scale each polygon's colour once
(`ambient`, `tint`); night and fog need the distance of every pixel, so the renderer writes a depth code
into a fourth channel and `finish` turns it into headlight falloff, fog and bloom per pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np
from numba import njit

from cordillera.world.render.rig import CameraRig, CameraSpec

__all__ = ["Appearance", "sample_appearance", "jitter_rig", "finish", "depth_code", "GROUND_CODE", "SKY_CODE",
           "EMISSIVE_CODE", "DEPTH_STEP_M"]

RGB = tuple[int, int, int]

# fourth-channel codes written by the rasteriser (see `depth_code`)
GROUND_CODE = 0  # static ground layers: distance comes from the camera's per-pixel ground range
SKY_CODE = 254
EMISSIVE_CODE = 255  # lamps, headlights: unaffected by ambient light, glow
DEPTH_STEP_M = 0.5  # objects: code k in 1..253 means a distance of about k * 0.5 m

# (colour, weight): US new-car colour shares, rounded
_CAR_COLORS = (((232, 232, 228), 0.25), ((28, 28, 32), 0.20), ((128, 130, 134), 0.17), ((180, 182, 186), 0.13),
               ((30, 60, 140), 0.09), ((160, 25, 28), 0.09), ((120, 95, 70), 0.03), ((35, 90, 55), 0.02),
               ((215, 160, 30), 0.02))
_BUS_COLORS = (((235, 235, 230), 0.5), ((190, 40, 40), 0.2), ((40, 80, 160), 0.2), ((60, 140, 80), 0.1))
_CARGO_COLORS = (((225, 225, 220), 0.6), ((190, 190, 190), 0.2), ((170, 50, 40), 0.1), ((60, 90, 150), 0.1))
_CLOTH_COLORS = (((40, 45, 70), 0.2), ((30, 30, 30), 0.2), ((200, 60, 50), 0.12), ((220, 200, 60), 0.08),
                 ((70, 120, 190), 0.15), ((230, 230, 225), 0.1), ((90, 130, 70), 0.08), ((240, 120, 30), 0.07))
_SKIN_COLORS = (((230, 190, 160), 0.3), ((200, 150, 110), 0.3), ((140, 95, 65), 0.25), ((90, 60, 40), 0.15))
_DEBRIS_COLORS = (((120, 90, 60), 0.4), ((40, 40, 42), 0.3), ((150, 140, 120), 0.3))  # cardboard, tyre, rubble
_ANIMAL_COLORS = (((120, 80, 45), 0.5), ((150, 120, 90), 0.3), ((60, 50, 40), 0.2))
_TABLE = 256  # per-agent colour draws are looked up by agent index modulo this


@dataclass(frozen=True)
class Appearance:
    """Everything about the look of one rollout. Frozen and hashable (part of render cache keys)."""

    time_of_day: str = "day"  # "day", "dusk", "night"
    weather: str = "clear"  # "clear", "rain", "fog"
    seed: int = 0
    variety: bool = False
    sky_top: RGB = (105, 155, 220)
    sky_horizon: RGB = (190, 212, 235)
    ground: RGB = (92, 112, 72)  # off-road: grass
    road: RGB = (88, 88, 92)  # asphalt
    shoulder: RGB = (78, 78, 82)
    sidewalk: RGB = (158, 156, 150)
    curb: RGB = (182, 180, 172)
    marking_white: RGB = (235, 235, 230)
    marking_yellow: RGB = (235, 185, 40)
    crosswalk: RGB = (228, 228, 224)
    ambient: float = 1.0  # scales every non-emissive colour
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)  # per-channel colour of the light
    sun: tuple[float, float, float] = (0.35, -0.45, 0.82)  # unit direction towards the light, world frame
    lights_on: bool = False  # vehicle headlights and tail lights glow (dusk, night)
    headlight_gain: float = 0.0  # ego low beams: added light at 10 m straight ahead (night only)
    fog_visibility_m: float = math.inf  # distance at which contrast drops to 1/e
    fog_color: RGB = (190, 192, 196)
    rain: float = 0.0  # 0..1: contrast loss and streaks
    blur_sigma_px: float = 0.0  # at 256 px image width; scaled with the image
    palette_seed: int = 0  # vehicle, clothing and debris colours
    jitter_deg: float = 0.0  # camera mount jitter (1 sigma) [deg]
    jitter_m: float = 0.0  # [m]

    @property
    def per_pixel(self) -> bool:
        """Whether frames need the per-pixel pass (distance-dependent light or fog)."""
        return self.headlight_gain > 0.0 or math.isfinite(self.fog_visibility_m)

    def shade(self, color, factor=1.0) -> np.ndarray:
        """A base colour (..., 3) times `factor` (face orientation, (...) or scalar), lit by the ambient light
        and tint, unless the light is applied per pixel later (night: `finish` does it)."""
        factor = np.asarray(factor, dtype=np.float64)[..., None]
        lit = np.asarray(color, dtype=np.float64) * factor
        if self.headlight_gain <= 0.0:
            lit = lit * self.ambient * np.asarray(self.tint)
        return np.clip(lit, 0.0, 255.0)

    def agent_colors(self, kind: str, index: np.ndarray) -> np.ndarray:
        """Colours (n, 3) for agents `index` (n,) of a role: "car", "bus", "cargo", "cloth", "pants", "skin",
        "debris", "animal". The same agent index gets the same colour in every frame."""
        table = _palette_table(self.palette_seed, self.variety)[kind]
        return table[np.asarray(index, dtype=np.int64) % _TABLE]


_PALETTES = {"car": _CAR_COLORS, "bus": _BUS_COLORS, "cargo": _CARGO_COLORS, "cloth": _CLOTH_COLORS,
             "pants": _CLOTH_COLORS, "skin": _SKIN_COLORS, "debris": _DEBRIS_COLORS, "animal": _ANIMAL_COLORS}
_TABLES: dict[tuple[int, bool], dict[str, np.ndarray]] = {}


def _palette_table(seed: int, variety: bool) -> dict[str, np.ndarray]:
    key = (seed, variety)
    if key not in _TABLES:
        rng = np.random.default_rng([seed, 101])
        tables = {}
        for k, (name, palette) in enumerate(_PALETTES.items()):
            colors = np.array([c for c, _ in palette], dtype=np.float64)
            if not variety:  # canonical: one colour per role (cars blue, so they stand out in tests)
                pick = 4 if name == "car" else 0
                tables[name] = np.repeat(colors[pick][None], _TABLE, 0)
                continue
            weights = np.array([w for _, w in palette])
            idx = rng.choice(len(colors), size=_TABLE, p=weights / weights.sum())
            jitter = rng.uniform(0.9, 1.08, size=(_TABLE, 1))  # paint and fabric differ a little
            tables[name] = np.clip(colors[idx] * jitter, 0, 255)
        if len(_TABLES) > 64:
            _TABLES.clear()
        _TABLES[key] = tables
    return _TABLES[key]


def _mix(a, b, t: float) -> RGB:
    return tuple(int(round(x * (1.0 - t) + y * t)) for x, y in zip(a, b))


def sample_appearance(seed: int, time_of_day: str = "day", weather: str = "clear", variety: bool = True) -> Appearance:
    """The look of a rollout: time of day and weather as given, the rest drawn from `seed` (or canonical)."""
    if time_of_day not in ("day", "dusk", "night"):
        raise ValueError(f"appearance.time_of_day: must be day, dusk or night, got {time_of_day!r}")
    if weather not in ("clear", "rain", "fog"):
        raise ValueError(f"appearance.weather: must be clear, rain or fog, got {weather!r}")
    look = Appearance(time_of_day=time_of_day, weather=weather, seed=int(seed), variety=variety,
                      palette_seed=int(seed))
    if variety:
        rng = np.random.default_rng([int(seed), 7])
        grey = rng.uniform(62, 108)
        warm = rng.uniform(-5, 5)
        road = (int(grey + warm), int(grey), int(grey - warm + 2))
        wear = rng.uniform(0.0, 0.45)  # how far markings have faded towards the asphalt
        ground = [(92, 112, 72), (126, 120, 88), (110, 98, 80), (80, 100, 66)][int(rng.integers(4))]
        concrete = rng.uniform(135, 178)
        azimuth, elevation = rng.uniform(-math.pi, math.pi), rng.uniform(0.5, 1.2)
        look = replace(
            look, road=road, shoulder=_mix(road, (0, 0, 0), 0.1), ground=ground,
            sidewalk=(int(concrete), int(concrete - 2), int(concrete - 7)), curb=_mix((185, 183, 175), road, 0.2),
            marking_white=_mix((235, 235, 230), road, wear), marking_yellow=_mix((235, 185, 40), road, wear),
            crosswalk=_mix((228, 228, 224), road, wear * 0.8),
            sun=(math.cos(azimuth) * math.cos(elevation), math.sin(azimuth) * math.cos(elevation), math.sin(elevation)),
            jitter_deg=0.4, jitter_m=0.02,
        )
    if time_of_day == "dusk":
        look = replace(look, sky_top=(70, 85, 145), sky_horizon=(240, 160, 105), ambient=0.62, tint=(1.0, 0.86, 0.74),
                       lights_on=True, sun=(look.sun[0], look.sun[1], 0.15))
    elif time_of_day == "night":
        look = replace(look, sky_top=(6, 8, 20), sky_horizon=(24, 28, 46), ambient=0.16, tint=(0.85, 0.92, 1.1),
                       lights_on=True, headlight_gain=1.4, fog_color=(22, 24, 30))
    if weather == "rain":
        rng = np.random.default_rng([int(seed), 11])
        rain = float(rng.uniform(0.4, 1.0)) if variety else 0.7
        look = replace(look, rain=rain, blur_sigma_px=0.6, ambient=look.ambient * 0.8,
                       sky_top=_mix(look.sky_top, (120, 124, 130), 0.7),
                       sky_horizon=_mix(look.sky_horizon, (150, 152, 156), 0.7),
                       road=_mix(look.road, (40, 40, 44), 0.3), fog_visibility_m=260.0)
    elif weather == "fog":
        rng = np.random.default_rng([int(seed), 13])
        visibility = float(rng.uniform(25.0, 80.0)) if variety else 45.0
        fog = look.fog_color if time_of_day == "night" else _mix((190, 192, 196), look.sky_horizon, 0.3)
        look = replace(look, fog_visibility_m=visibility, fog_color=fog, blur_sigma_px=0.8, ambient=look.ambient * 0.9)
    return look


def jitter_rig(rig: CameraRig, look: Appearance) -> CameraRig:
    """The rig with each camera's mount perturbed by the appearance's calibration jitter (fixed per seed)."""
    if not look.variety or (look.jitter_deg <= 0 and look.jitter_m <= 0):
        return rig
    rng = np.random.default_rng([look.seed, 17])
    cams = []
    for cam in rig.cameras:
        a = np.clip(rng.normal(0.0, look.jitter_deg, 3), -2.5 * look.jitter_deg, 2.5 * look.jitter_deg)
        d = np.clip(rng.normal(0.0, look.jitter_m, 3), -2.5 * look.jitter_m, 2.5 * look.jitter_m)
        cams.append(cam.moved(*d, *a))
    return replace(rig, cameras=tuple(cams))


def depth_code(distance_m: np.ndarray) -> np.ndarray:
    """Fourth-channel code (uint8 1..253) of object distances [m]."""
    return np.clip(np.asarray(distance_m) / DEPTH_STEP_M + 1.0, 1.0, 253.0).astype(np.uint8)


# ---- per-camera tables ------------------------------------------------------------------------------------


class _CameraTables:
    """Per-pixel geometry of one camera that only depends on its spec (cached)."""

    def __init__(self, cam: CameraSpec):
        rays = cam.rays().astype(np.float32)  # (H, W, 3) ego frame
        self.rays = rays
        height = cam.position[2]
        down = -rays[..., 2]
        with np.errstate(divide="ignore"):
            self.ground_range = np.where(down > 1e-4, height / np.maximum(down, 1e-4), 1e4).astype(np.float32)
        self.elevation = np.arcsin(np.clip(rays[..., 2], -1.0, 1.0)).astype(np.float32)  # [rad]
        lut = np.arange(256, dtype=np.float32) * DEPTH_STEP_M - DEPTH_STEP_M / 2.0
        lut[SKY_CODE] = 1e4
        lut[EMISSIVE_CODE] = 1.0
        self.range_lut = lut
        self.position = np.asarray(cam.position, np.float64)
        self._ground_light: np.ndarray | None = None
        self._ground_fog: dict[float, np.ndarray] = {}

    @property
    def ground_light(self) -> np.ndarray:
        """(H, W) ego low-beam light on the ground seen by each pixel (the ground never moves in this frame)."""
        if self._ground_light is None:
            points = self.rays * self.ground_range[..., None] + self.position.astype(np.float32)
            self._ground_light = _headlights(points.reshape(-1, 3)).reshape(self.ground_range.shape)
        return self._ground_light

    def ground_fog(self, visibility: float) -> np.ndarray:
        """(H, W) share of the ground's own colour left by fog of `visibility` [m] at each pixel."""
        if visibility not in self._ground_fog:
            if len(self._ground_fog) > 8:
                self._ground_fog.clear()
            self._ground_fog[visibility] = np.exp(-self.ground_range / visibility).astype(np.float32)
        return self._ground_fog[visibility]


_TABLE_CACHE: dict[CameraSpec, _CameraTables] = {}


def camera_tables(cam: CameraSpec) -> _CameraTables:
    tables = _TABLE_CACHE.get(cam)
    if tables is None:
        if len(_TABLE_CACHE) > 32:  # jittered rigs make new specs per rollout; rays are 0.4 MB a camera
            _TABLE_CACHE.clear()
        tables = _TABLE_CACHE[cam] = _CameraTables(cam)
    return tables


_SKY_CACHE: dict[tuple, np.ndarray] = {}


def sky(cam: CameraSpec, look: Appearance) -> np.ndarray:
    """The background (H, W, 4) uint8: sky gradient by elevation, code SKY_CODE. Cached per camera and look."""
    key = (cam, look.sky_top, look.sky_horizon)
    image = _SKY_CACHE.get(key)
    if image is None:
        t = np.clip(camera_tables(cam).elevation / math.radians(50.0), 0.0, 1.0)[..., None]
        rgb = np.asarray(look.sky_horizon, np.float32) * (1.0 - t) + np.asarray(look.sky_top, np.float32) * t
        image = np.empty((cam.height, cam.width, 4), np.uint8)
        image[..., :3] = np.round(rgb).astype(np.uint8)
        image[..., 3] = SKY_CODE
        if len(_SKY_CACHE) > 64:
            _SKY_CACHE.clear()
        _SKY_CACHE[key] = image
    return image


# ---- image effects ----------------------------------------------------------------------------------------


@njit(cache=True, fastmath=True)
def _headlight(x: float, y: float, z: float) -> float:
    """Ego low-beam illumination of an ego-frame point [m]: a cone ahead with distance falloff."""
    x -= 3.7  # lamps at the front bumper
    ahead = min(max((x + 1.5) / 4.0, 0.0), 1.0)  # fades in over the first metres instead of a hard edge
    if ahead == 0.0:
        return 0.0
    spread = math.exp(-((y / max(x, 1.0)) ** 2) / 0.35)  # about +-35 deg
    low = math.exp(-(z - 1.2) ** 2) if z > 1.2 else 1.0  # low beams light the road and car bodies, not the sky
    return ahead * spread * low * (100.0 / (x * x + y * y + 100.0)) * 2.0


@njit(cache=True)
def _headlights(points):
    """_headlight of many ego-frame points (N, 3) -> (N,) float32."""
    out = np.empty(points.shape[0], np.float32)
    for i in range(points.shape[0]):
        out[i] = _headlight(points[i, 0], points[i, 1], points[i, 2])
    return out


@njit(cache=True, fastmath=True)
def _light_and_fog(image, ground_range, ground_light, ground_fog, range_lut, rays, position, ambient,
                   headlight_gain, tint, visibility, fog_color, out):
    """Per pixel: distance from the depth code, night light (ambient + ego low beams) and exponential fog.
    Ground pixels read their light and fog from the camera's tables; objects compute theirs."""
    height, width = image.shape[0], image.shape[1]
    fog = visibility < 1e30
    for v in range(height):
        for u in range(width):
            code = image[v, u, 3]
            glow = code == EMISSIVE_CODE
            light = 1.0
            keep = 1.0
            if code == GROUND_CODE:
                light = ambient + headlight_gain * ground_light[v, u]
                keep = ground_fog[v, u]
            else:
                dist = range_lut[code]
                if headlight_gain > 0.0 and not glow and code != SKY_CODE:
                    light = ambient + headlight_gain * _headlight(position[0] + rays[v, u, 0] * dist,
                                                                  position[1] + rays[v, u, 1] * dist,
                                                                  position[2] + rays[v, u, 2] * dist)
                if fog:
                    keep = math.exp(-dist / visibility)
                    if glow:
                        keep = max(keep, 0.6)  # lamps shine through fog
            if headlight_gain <= 0.0:
                light = 1.0
            light = min(light, 1.3)
            for c in range(3):
                value = image[v, u, c] * light * tint[c] * keep + fog_color[c] * (1.0 - keep)
                out[v, u, c] = np.uint8(min(max(value + 0.5, 0.0), 255.0))


def finish(image: np.ndarray, cam: CameraSpec, look: Appearance, frame_seed: int) -> np.ndarray:
    """Turn the rasterised RGBA-with-depth-code image (H, W, 4) into the final RGB uint8 (H, W, 3).

    frame_seed: varies rain streaks between frames (deterministic for a rollout seed and time).
    """
    if not (look.per_pixel or look.lights_on or look.rain > 0.0 or look.blur_sigma_px > 0.0):
        return cv2.cvtColor(image, cv2.COLOR_RGBA2RGB)  # a clear day: nothing per pixel
    if look.per_pixel:
        tables = camera_tables(cam)
        rgb = np.empty(image.shape[:2] + (3,), np.uint8)
        night = look.headlight_gain > 0.0
        foggy = math.isfinite(look.fog_visibility_m)
        _light_and_fog(image, tables.ground_range, tables.ground_light if night else tables.ground_range,
                       tables.ground_fog(look.fog_visibility_m if foggy else math.inf), tables.range_lut, tables.rays,
                       tables.position, look.ambient, look.headlight_gain,
                       np.asarray(look.tint if night else (1.0, 1.0, 1.0), np.float64),
                       look.fog_visibility_m if foggy else 1e31, np.asarray(look.fog_color, np.float64), rgb)
    else:
        rgb = cv2.cvtColor(image, cv2.COLOR_RGBA2RGB)
    scale = cam.width / 256.0
    if look.lights_on:  # bloom around lamps
        lamps = cv2.compare(image[..., 3], EMISSIVE_CODE, cv2.CMP_EQ)
        if cv2.countNonZero(lamps):
            glow = cv2.GaussianBlur(cv2.bitwise_and(rgb, rgb, mask=lamps), (0, 0), 1.2 * max(scale, 0.5))
            rgb = cv2.add(rgb, glow)
    if look.rain > 0.0:
        rgb = cv2.addWeighted(rgb, 1.0 - 0.3 * look.rain, np.full_like(rgb, 128), 0.3 * look.rain, 0.0)
        _rain_streaks(rgb, look, frame_seed, scale)
    if look.blur_sigma_px > 0.0:
        rgb = cv2.GaussianBlur(rgb, (0, 0), look.blur_sigma_px * max(scale, 0.5))
    return rgb


def _rain_streaks(rgb: np.ndarray, look: Appearance, frame_seed: int, scale: float) -> None:
    h, w = rgb.shape[:2]
    rng = np.random.default_rng([look.seed, int(frame_seed) & 0x7FFFFFFF, 23])
    n = int(40 * look.rain * max(scale, 0.5))
    x0 = rng.uniform(0, w, n)
    y0 = rng.uniform(0, h, n)
    length = rng.uniform(5, 12, n) * max(scale, 0.5)
    slant = rng.uniform(-0.15, 0.05, n)
    overlay = rgb.copy()
    color = (200, 202, 208) if look.time_of_day == "day" else (120, 122, 130)
    for a, b, l, s in zip(x0, y0, length, slant):
        cv2.line(overlay, (int(a), int(b)), (int(a + s * l), int(b + l)), color, 1, cv2.LINE_AA)
    cv2.addWeighted(overlay, 0.45, rgb, 0.55, 0.0, dst=rgb)
