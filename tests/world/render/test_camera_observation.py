"""Cameras in the simulator: `sim.observe` frames and timestamps, sensor declarations, videos with a mosaic."""

import av
import numpy as np
import pytest

from cordillera.scenarios.schema import load_scenario
from cordillera.world import sim
from cordillera.world.render.camera import (
    CameraConfig,
    camera_panel,
    observe_cameras,
    render_state,
    rig_for_sensors,
    sized_rig,
    world_appearance,
)
from cordillera.world.render.rig import CameraRig, default_rig
from cordillera.world.render.video import render_rollout_video

FRONT = "camera_front_wide_120fov"
SCENARIO = {
    "name": "camera_test",
    "map": {"builder": "straight", "params": {"length_m": 300.0, "lanes_per_direction": 2}},
    "ego": {"lane": "fwd.0", "s": 30.0, "speed": 8.0},
    "agents": [
        {"id": "lead", "type": "car", "lane": "fwd.0", "s": 50.0, "speed": 6.0},
        {"id": "walker", "type": "pedestrian", "lane": "fwd.1", "s": 45.0, "behavior": {"kind": "static"}},
    ],
    "appearance": {"time_of_day": "dusk", "weather": "clear"},
    "success": {"kind": "survive", "time_s": 3.0},
}


@pytest.fixture(scope="module")
def start():
    return sim.reset(load_scenario(SCENARIO), seed=0)


@pytest.fixture(scope="module")
def rollout(start):
    state = start
    for _ in range(6):
        state = sim.step(state)
    return state


def test_observe_returns_the_last_four_frames_at_10_hz(rollout):
    obs = sim.observe(rollout, sensors=(FRONT,))
    frames = obs.cameras[FRONT]
    assert frames.shape == (4, 128, 256, 3) and frames.dtype == np.uint8
    np.testing.assert_allclose(obs.camera_timestamps[FRONT], [0.3, 0.4, 0.5, 0.6])
    assert not np.array_equal(frames[0], frames[-1])  # the world moved between frames
    assert list(obs.cameras) == [FRONT] and obs.bev is None


def test_short_rollouts_repeat_the_first_frame(start):
    obs = sim.observe(sim.step(start), sensors=(FRONT,))
    np.testing.assert_allclose(obs.camera_timestamps[FRONT], [0.0, 0.0, 0.0, 0.1])
    frames = obs.cameras[FRONT]
    assert np.array_equal(frames[0], frames[1]) and np.array_equal(frames[1], frames[2])


def test_a_rig_in_the_sensors_sets_cameras_frames_and_rate(rollout):
    rig = CameraRig((default_rig().camera(FRONT).scaled(64, 96), default_rig().camera("camera_front_tele_30fov")),
                    frames=2, frame_rate_hz=5.0)
    obs = sim.observe(rollout, sensors=(rig, "bev"))
    assert set(obs.cameras) == {FRONT, "camera_front_tele_30fov"}
    assert obs.cameras[FRONT].shape == (2, 64, 96, 3)
    np.testing.assert_allclose(obs.camera_timestamps[FRONT], [0.4, 0.6])  # 5 Hz: every other 0.1 s step
    assert obs.bev is not None


def test_no_camera_sensor_renders_nothing(rollout):
    obs = sim.observe(rollout, sensors=("bev",))
    assert obs.cameras == {} and obs.camera_timestamps == {}


def test_frames_are_cached_and_equal_to_a_fresh_render(rollout):
    a = sim.observe(rollout, sensors=(FRONT,)).cameras[FRONT]
    b = sim.observe(rollout, sensors=(FRONT,)).cameras[FRONT]
    assert np.array_equal(a, b)
    fresh = render_state(rollout, default_rig().select([FRONT]), config=CameraConfig(cache_frames=0))
    assert np.array_equal(fresh[FRONT], a[-1])


def test_observation_follows_the_scenario_look(rollout):
    look = world_appearance(rollout.world)
    assert look.time_of_day == "dusk" and look.lights_on and look.variety
    plain = world_appearance(rollout.world, variety=False)
    assert not plain.variety and plain.time_of_day == "dusk"


def test_sensor_declarations():
    assert rig_for_sensors(("bev",)) is None
    assert rig_for_sensors((FRONT, "camera_rear_tele_30fov")).names == (FRONT, "camera_rear_tele_30fov")
    rig = default_rig()
    assert rig_for_sensors((rig,)) is rig
    assert rig_for_sensors((rig, FRONT)).names == (FRONT,)
    with pytest.raises(ValueError, match="unknown camera 'camera_roof'"):
        rig_for_sensors(("camera_roof",))
    with pytest.raises(ValueError, match="unknown camera"):
        rig_for_sensors((rig, "camera_rear_tele_30fov"))  # not in the rig the policy gave


def test_sized_rig_draws_the_named_cameras_at_a_resolution():
    names = (FRONT, "camera_rear_tele_30fov")  # one from the default rig, one from the surround rig
    rig = sized_rig(names, 64, 128, 2)
    assert rig.names == names and rig.frames == 2
    assert {(c.height, c.width) for c in rig.cameras} == {(64, 128)}
    wide = default_rig().camera(FRONT)
    assert rig.camera(FRONT) == wide.scaled(64, 128)  # field of view and mount kept
    with pytest.raises(ValueError, match="unknown camera 'camera_roof'"):
        sized_rig(("camera_roof",), 64, 128, 4)


def test_observe_cameras_directly(rollout):
    frames, stamps = observe_cameras(rollout, default_rig())
    assert set(frames) == set(default_rig().names)
    assert all(f.shape == (4, 128, 256, 3) for f in frames.values())
    assert all(np.allclose(s, [0.3, 0.4, 0.5, 0.6]) for s in stamps.values())


def test_camera_panel_and_video_mosaic(rollout, tmp_path):
    panel = camera_panel(rollout, 3, camera_size=(60, 120))
    assert panel.shape == (120, 240, 3)  # 4 cameras, 2 columns
    path = render_rollout_video(rollout, tmp_path / "cams.mp4", cameras=default_rig())
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == len(rollout.log)
    assert frames[0].shape == (640, 640 + 1280, 3)  # the BEV, then 2 x 2 cameras of 320 x 640


def test_object_depth_shows_the_lead_car_at_its_distance(rollout):
    from cordillera.world.render.appearance import DEPTH_STEP_M
    from cordillera.world.render.camera import object_depth

    rig = default_rig()
    codes = object_depth(rollout, rig)
    assert set(codes) == set(rig.names) and all(c.shape == (128, 256) and c.dtype == np.uint8 for c in codes.values())
    ego, agents = rollout.ego, rollout.agents
    gap = float(np.hypot(agents.x[0] - ego.x, agents.y[0] - ego.y))  # rear axle to the lead's centre
    tele = codes["camera_front_tele_30fov"]
    near = (tele.astype(float)[(tele >= 1) & (tele <= 253)] - 1.0) * DEPTH_STEP_M
    assert len(near) > 50  # the lead car fills part of the tele view
    cam_x = rig.cameras[rig.names.index("camera_front_tele_30fov")].position[0]
    assert near.min() == pytest.approx(gap - cam_x - agents.length[0] / 2, abs=1.0)  # its rear face
    again = object_depth(rollout, rig)  # from the frame cache: identical, and a copy the caller may change
    assert all(np.array_equal(again[n], codes[n]) for n in rig.names)
    again["camera_front_tele_30fov"][:] = 0
    assert np.array_equal(object_depth(rollout, rig)["camera_front_tele_30fov"], tele)
