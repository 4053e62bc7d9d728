"""Video writing (PyAV H.264), mosaics, and BEV frames of real simulator rollouts."""

import av
import numpy as np
import pytest

from cordillera.scenarios.schema import load_scenario
from cordillera.world import sim
from cordillera.world.render import (
    DEFAULT_STYLE,
    OBSERVATION_VIEW,
    mosaic,
    render_bev_observation,
    render_frame,
    render_rollout_video,
    write_video,
)

SCENARIO = {
    "name": "render_test",
    "map": {"builder": "straight", "params": {"length_m": 300.0, "lanes_per_direction": 2}},
    "ego": {"lane": "fwd.0", "s": 30.0, "speed": 8.0},
    "agents": [
        {"id": "lead", "type": "car", "lane": "fwd.0", "s": 55.0, "speed": 6.0},
        {"id": "cone", "type": "cone", "lane": "fwd.1", "s": 45.0, "behavior": {"kind": "static"}},
    ],
    "success": {"kind": "survive", "time_s": 2.0},
}


def decode(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


@pytest.fixture(scope="module")
def rollout():
    state = sim.reset(load_scenario(SCENARIO), seed=0)
    for _ in range(12):
        state = sim.step(state)
    return state


def test_write_video_round_trip(tmp_path):
    frames = [np.full((48, 64, 3), (20 * k, 100, 200), dtype=np.uint8) for k in range(12)]
    path = write_video(iter(frames), tmp_path / "deep" / "dir" / "clip.mp4", fps=10)
    assert path.exists()
    decoded = decode(path)
    assert len(decoded) == 12
    assert decoded[0].shape == (48, 64, 3)
    for k in (0, 5, 11):  # lossy, but flat colours come back close
        assert np.abs(decoded[k].astype(int) - frames[k]).mean() < 6
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == 10 and stream.codec_context.name in ("h264", "libx264")


def test_odd_sizes_are_padded_to_even(tmp_path):
    frames = [np.full((33, 47, 3), 180, dtype=np.uint8)] * 3
    decoded = decode(write_video(frames, tmp_path / "odd.mp4"))
    assert len(decoded) == 3 and decoded[0].shape == (34, 48, 3)
    assert np.abs(decoded[0][:32, :46].astype(int) - 180).max() < 8


def test_write_video_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="no frames"):
        write_video([], tmp_path / "empty.mp4")
    with pytest.raises(ValueError, match="size"):
        write_video([np.zeros((32, 32, 3), np.uint8), np.zeros((16, 32, 3), np.uint8)], tmp_path / "mixed.mp4")
    with pytest.raises(ValueError, match="uint8"):
        write_video([np.zeros((32, 32, 3), np.float32)], tmp_path / "float.mp4")


def test_mosaic_scales_panels_to_the_first_height():
    bev = np.full((100, 50, 3), 10, np.uint8)
    camera = np.full((50, 80, 3), 200, np.uint8)
    grey = np.full((200, 100), 90, np.uint8)
    out = mosaic([bev, camera, grey], gap=2)
    assert out.shape == (100, 50 + 2 + 160 + 2 + 50, 3)
    assert np.all(out[:, :50] == 10) and np.all(out[:, 50:52] == 0) and np.all(out[:, 52:212] == 200)
    assert np.all(out[:, -50:] == 90)


def test_observation_of_a_real_rollout(rollout):
    bev = render_bev_observation(rollout)
    assert bev.shape == (*OBSERVATION_VIEW.size_px, 3) and bev.dtype == np.uint8
    ego = np.all(bev == DEFAULT_STYLE.ego, axis=-1)
    car = np.all(bev == DEFAULT_STYLE.agents[0], axis=-1)
    ego_rows, ego_cols = np.nonzero(ego)
    car_rows, car_cols = np.nonzero(car)
    assert len(ego_rows) and len(car_rows)
    assert car_rows.mean() < ego_rows.mean() - 40  # the lead car ~20 m ahead is well above the ego
    assert abs(car_cols.mean() - ego_cols.mean()) < 3  # and in the same lane
    assert np.array_equal(bev, render_bev_observation(rollout))


def test_frame_overlay_and_collision_marker(rollout):
    frame = render_frame(rollout, navigation="continue straight")
    assert frame.shape == (640, 640, 3)
    assert tuple(frame[0, 320]) != DEFAULT_STYLE.collision
    crash = rollout.log[-1]._replace(collisions=(0,))
    crashed = type(rollout)(**{**rollout.__dict__, "log": rollout.log[:-1] + (crash,)})
    marked = render_frame(crashed)
    assert tuple(marked[0, 320]) == DEFAULT_STYLE.collision  # red border
    rows = np.nonzero(np.any(frame != render_frame(rollout, navigation=None), axis=(1, 2)))[0]
    assert len(rows) and 20 < rows.min() and rows.max() < 60  # the navigation text is a second line


def test_render_rollout_video(rollout, tmp_path):
    calls = []

    def camera(state, index):
        calls.append(index)
        return np.full((120, 160, 3), 255, np.uint8)

    path = render_rollout_video(rollout, tmp_path / "videos" / "rollout.mp4", fps=10, extra_panels=camera)
    decoded = decode(path)
    assert len(decoded) == len(rollout.log) == 13
    assert decoded[0].shape == (640, 640 + 854, 3)  # camera scaled to 640 high: 853 px, padded to even
    assert calls == list(range(13))
    assert decoded[-1][:, 700:].mean() > 240  # the white camera panel sits right of the BEV
    plain = decode(render_rollout_video(rollout, tmp_path / "plain.mp4", navigation=False))
    assert plain[0].shape == (640, 640, 3)
