"""Appearance: seeded variety, canonical look, palettes, camera jitter, image effects."""

import numpy as np
import pytest

from cordillera.world.render.appearance import (
    EMISSIVE_CODE,
    GROUND_CODE,
    SKY_CODE,
    depth_code,
    finish,
    jitter_rig,
    sample_appearance,
)
from cordillera.world.render.rig import default_rig


def test_variety_is_seeded():
    a, b = sample_appearance(5), sample_appearance(5)
    assert a == b and hash(a) == hash(b)
    others = {sample_appearance(s).road for s in range(10)}
    assert len(others) > 5  # road colours differ between seeds


def test_canonical_look_ignores_the_seed():
    assert sample_appearance(1, variety=False) == sample_appearance(2, variety=False).__class__(
        **{**sample_appearance(2, variety=False).__dict__, "seed": 1, "palette_seed": 1})
    look = sample_appearance(3, variety=False)
    assert look.jitter_deg == 0 and look.ambient == 1.0 and look.fog_visibility_m == float("inf")


@pytest.mark.parametrize("time_of_day, weather", [("day", "clear"), ("dusk", "rain"), ("night", "fog")])
def test_time_of_day_and_weather(time_of_day, weather):
    look = sample_appearance(0, time_of_day, weather)
    assert look.time_of_day == time_of_day and look.weather == weather
    assert look.lights_on == (time_of_day != "day")
    assert (look.headlight_gain > 0) == (time_of_day == "night")
    assert np.isfinite(look.fog_visibility_m) == (weather != "clear")


def test_bad_appearance_names_the_field():
    with pytest.raises(ValueError, match="time_of_day"):
        sample_appearance(0, "noon")
    with pytest.raises(ValueError, match="weather"):
        sample_appearance(0, "day", "snow")


def test_agent_colours_are_stable_per_agent():
    look = sample_appearance(9)
    idx = np.arange(40)
    assert np.array_equal(look.agent_colors("car", idx), look.agent_colors("car", idx))
    assert len({tuple(c) for c in look.agent_colors("car", idx).round()}) > 5
    plain = sample_appearance(9, variety=False)
    assert len({tuple(c) for c in plain.agent_colors("car", idx)}) == 1


def test_jitter_is_small_fixed_per_seed_and_off_without_variety():
    rig = default_rig()
    a, b = jitter_rig(rig, sample_appearance(4)), jitter_rig(rig, sample_appearance(4))
    assert a == b and a != rig
    for cam, base in zip(a.cameras, rig.cameras):
        assert abs(cam.yaw_deg - base.yaw_deg) <= 1.0 and abs(cam.pitch_deg - base.pitch_deg) <= 1.0
        assert np.abs(np.subtract(cam.position, base.position)).max() <= 0.05
    assert jitter_rig(rig, sample_appearance(4, variety=False)) is rig


def test_depth_codes():
    assert depth_code(np.array([0.0]))[0] == 1 and depth_code(np.array([1e6]))[0] == 253
    assert len({GROUND_CODE, SKY_CODE, EMISSIVE_CODE, 1, 253}) == 5


def test_finish_fog_and_night_act_per_pixel():
    cam = default_rig().camera("camera_front_wide_120fov")
    img = np.zeros((cam.height, cam.width, 4), np.uint8)
    img[..., :3] = 120
    img[:64, :, 3] = SKY_CODE
    img[64:, :, 3] = GROUND_CODE
    img[100:110, 100:110, 3] = EMISSIVE_CODE
    img[100:110, 100:110, :3] = (255, 40, 40)
    clear = finish(img, cam, sample_appearance(0, variety=False), 0)
    assert np.array_equal(clear, img[..., :3])
    fog = finish(img, cam, sample_appearance(0, "day", "fog", variety=False), 0)
    assert np.abs(fog[10, 10].astype(int) - fog[90, 128]).sum() > 0  # sky becomes fog colour, near road less so
    night = finish(img, cam, sample_appearance(0, "night", variety=False), 0)
    assert night[70, 5].mean() < 60  # unlit road far to the side is dark
    assert night[105, 105, 0] > 200  # a lamp keeps its colour
