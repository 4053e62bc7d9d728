"""Camera rigs: intrinsics, mount poses, hand-computed projections, JSON round trips and bad rig files."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cordillera.constants import CAMERA_NAMES
from cordillera.world.render.rig import (
    CameraRig,
    CameraSpec,
    RigError,
    default_rig,
    load_rig,
    rig_from_dict,
    save_rig,
    surround_rig,
)


def camera(**kw) -> CameraSpec:
    """A 90 deg, 256x128 camera 1.5 m above the rear axle looking forward: fx = fy = 128, centre (127.5, 63.5)."""
    args = dict(name="cam", width=256, height=128, hfov_deg=90.0, position=(0.0, 0.0, 1.5))
    args.update(kw)
    return CameraSpec.from_hfov(**args)


def test_default_rig_is_the_alpamayo_cameras():
    rig = default_rig()
    assert rig.names == CAMERA_NAMES
    assert rig.frames == 4 and rig.frame_rate_hz == 10.0
    for cam in rig.cameras:
        assert (cam.height, cam.width) == (128, 256)
        expected = 30.0 if "30fov" in cam.name else 120.0
        assert cam.hfov_deg == pytest.approx(expected)
    left, right = rig.camera("camera_cross_left_120fov"), rig.camera("camera_cross_right_120fov")
    assert left.yaw_deg > 0 > right.yaw_deg  # yaw is positive to the left


def test_surround_rig_has_all_seven_dataset_cameras():
    names = set(surround_rig().names)
    assert len(names) == 7 and set(CAMERA_NAMES) <= names
    assert {"camera_rear_left_70fov", "camera_rear_right_70fov", "camera_rear_tele_30fov"} <= names


def test_intrinsics_from_hfov():
    cam = camera()
    assert cam.fx == pytest.approx(128.0) and cam.fy == pytest.approx(128.0)
    assert (cam.cx, cam.cy) == (127.5, 63.5)
    np.testing.assert_allclose(cam.intrinsics, [[128, 0, 127.5], [0, 128, 63.5], [0, 0, 1]])


def test_projection_matches_hand_computation():
    cam = camera()
    points = [[10.0, 0.0, 1.5],  # straight ahead at camera height: the image centre
              [10.0, 2.0, 1.5],  # 2 m left at 10 m: 128 * 0.2 = 25.6 px left
              [10.0, 0.0, 0.5],  # 1 m below at 10 m: 12.8 px down
              [20.0, -5.0, 3.5]]  # 5 m right, 2 m up at 20 m: +32 px, -12.8 px
    uv, depth = cam.project(points)
    np.testing.assert_allclose(uv, [[127.5, 63.5], [101.9, 63.5], [127.5, 76.3], [159.5, 50.7]], atol=1e-9)
    np.testing.assert_allclose(depth, [10.0, 10.0, 10.0, 20.0])
    behind, _ = cam.project([[-3.0, 0.0, 1.5]])
    assert np.isnan(behind).all()


def test_mount_yaw_pitch_roll():
    # looking left (yaw +90 deg), from 2 m forward of the rear axle: a point 10 m to the left of the mount is centred
    uv, depth = camera(yaw_deg=90.0, position=(2.0, 0.0, 1.5)).project([[2.0, 10.0, 1.5], [3.0, 10.0, 1.5]])
    np.testing.assert_allclose(uv[0], [127.5, 63.5], atol=1e-9)
    assert uv[1, 0] > 127.5  # forward is to the right when looking left
    # pitched 10 deg down: a point at camera height straight ahead is above the centre by fy * tan(10 deg)
    uv, _ = camera(pitch_deg=10.0).project([[50.0, 0.0, 1.5]])
    np.testing.assert_allclose(uv[0], [127.5, 63.5 - 128 * math.tan(math.radians(10))], atol=1e-9)
    # rolled 90 deg (its left side up): the camera's "down" now points left, so a point 2 m to the left of
    # the axis appears 25.6 px below the centre
    uv, _ = camera(roll_deg=90.0).project([[10.0, 2.0, 1.5]])
    np.testing.assert_allclose(uv[0], [127.5, 63.5 + 25.6], atol=1e-9)


def test_rays_point_through_pixel_centres():
    cam = camera(yaw_deg=30.0, pitch_deg=5.0)
    rays = cam.rays()
    assert rays.shape == (128, 256, 3)
    for row, col in [(0, 0), (63, 200), (127, 255)]:
        point = np.asarray(cam.position) + rays[row, col] * 7.0
        uv, _ = cam.project([point])
        np.testing.assert_allclose(uv[0], [col, row], atol=1e-9)


def test_scaled_keeps_the_field_of_view_and_centre():
    cam = default_rig().camera("camera_front_wide_120fov")
    big = cam.scaled(256, 512)
    assert big.hfov_deg == pytest.approx(cam.hfov_deg)
    assert (big.cx, big.cy) == (255.5, 127.5)
    rig = default_rig().with_resolution(64, 96)
    assert all((c.height, c.width) == (64, 96) for c in rig.cameras)


def test_json_round_trip(tmp_path):
    rig = default_rig().with_resolution(100, 180)
    path = save_rig(rig, tmp_path / "rigs" / "mine.json")
    assert load_rig(path) == rig
    doc = json.loads(path.read_text())
    assert doc["version"] == 1 and doc["cameras"][0]["intrinsics"]["fx"] > 0


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 7),
    width=st.integers(1, 2000),
    height=st.integers(1, 2000),
    hfov=st.floats(1.0, 170.0),
    yaw=st.floats(-180.0, 180.0),
    pitch=st.floats(-60.0, 60.0),
    x=st.floats(-5.0, 5.0),
)
def test_json_round_trip_property(n, width, height, hfov, yaw, pitch, x):
    cams = tuple(CameraSpec.from_hfov(f"cam{k}", width, height, hfov, (x, 0.1 * k, 1.4), yaw, pitch, 0.5)
                 for k in range(n))
    rig = CameraRig(cams, frames=3, frame_rate_hz=5.0, name="p")
    again = rig_from_dict(json.loads(json.dumps(rig.to_dict())))
    assert again.names == rig.names and again.frames == 3
    assert again == rig  # bit for bit: floats survive JSON


def good_doc() -> dict:
    return {"version": 1, "name": "t", "frames": 4, "frame_rate_hz": 10.0,
            "cameras": [{"name": "camera_front_wide_120fov", "width": 256, "height": 128, "hfov_deg": 120.0,
                         "position_m": [1.8, 0.0, 1.45], "yaw_deg": 0.0, "pitch_deg": 3.0, "roll_deg": 0.0}]}


def broken(edit) -> dict:
    doc = good_doc()
    edit(doc)
    return doc


@pytest.mark.parametrize("edit, field", [
    (lambda d: d["cameras"][0].pop("name"), "cameras[0].name: missing"),
    (lambda d: d["cameras"][0].pop("width"), "cameras[0].width: missing"),
    (lambda d: d["cameras"][0].pop("position_m"), "cameras[0].position_m: missing"),
    (lambda d: d["cameras"][0].update(height=0), "cameras[0].height"),
    (lambda d: d["cameras"][0].update(width=-4), "cameras[0].width"),
    (lambda d: d["cameras"][0].update(width=12.5), "cameras[0].width"),
    (lambda d: d["cameras"][0].update(hfov_deg=180.0), "cameras[0].hfov_deg"),
    (lambda d: d["cameras"][0].update(hfov_deg=0.0), "cameras[0].hfov_deg"),
    (lambda d: (d["cameras"][0].pop("hfov_deg"),
                d["cameras"][0].update(intrinsics={"fx": -10.0, "fy": 10.0, "cx": 100.0, "cy": 60.0})),
     "cameras[0].intrinsics.fx"),
    (lambda d: (d["cameras"][0].pop("hfov_deg"),
                d["cameras"][0].update(intrinsics={"fx": 100.0, "fy": 100.0, "cx": 900.0, "cy": 60.0})),
     "cameras[0].intrinsics.cx"),
    (lambda d: (d["cameras"][0].pop("hfov_deg"), d["cameras"][0].update(intrinsics={"fx": 100.0})),
     "cameras[0].intrinsics.fy: missing"),
    (lambda d: d["cameras"][0].update(intrinsics={"fx": 1, "fy": 1, "cx": 1, "cy": 1}), "hfov_deg or intrinsics"),
    (lambda d: d["cameras"][0].update(position_m=[1.0, 2.0]), "cameras[0].position_m"),
    (lambda d: d["cameras"][0].update(pitch_deg=95.0), "cameras[0].pitch_deg"),
    (lambda d: d["cameras"][0].update(yaw_deg="left"), "cameras[0].yaw_deg"),
    (lambda d: d["cameras"][0].update(zoom=2), "cameras[0].zoom: unknown field"),
    (lambda d: d.update(cameras=[]), "cameras: a rig needs 1 to 7"),
    (lambda d: d.update(cameras=d["cameras"] * 8), "cameras: a rig needs 1 to 7"),
    (lambda d: d.update(cameras=d["cameras"] * 2), "cameras[1].name: duplicate"),
    (lambda d: d.update(frames=0), "frames"),
    (lambda d: d.update(frame_rate_hz=-1), "frame_rate_hz"),
    (lambda d: d.update(version=7), "version"),
    (lambda d: d.pop("cameras"), "rig.cameras: missing"),
])
def test_bad_rig_documents_name_the_field(edit, field):
    with pytest.raises(RigError, match=field.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        rig_from_dict(broken(edit))


def test_bad_rig_files(tmp_path):
    with pytest.raises(RigError, match="cannot read rig file"):
        load_rig(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(RigError, match="bad.json: not valid JSON"):
        load_rig(bad)
    bad.write_text(json.dumps(broken(lambda d: d["cameras"][0].update(height=0))))
    with pytest.raises(RigError, match=r"bad.json: cameras\[0\].height"):
        load_rig(bad)


def test_camera_spec_validates_direct_construction():
    with pytest.raises(RigError, match="fx"):
        CameraSpec("c", 10, 10, 0.0, 1.0, 4.5, 4.5, (0.0, 0.0, 1.0))
    with pytest.raises(RigError, match="width"):
        CameraSpec("c", 0, 10, 1.0, 1.0, 4.5, 4.5, (0.0, 0.0, 1.0))
    with pytest.raises(KeyError, match="no camera"):
        default_rig().camera("camera_rear_tele_30fov")
