"""Camera rendering: exact geometry, occlusion, clipping behind the camera, appearance, lights and signals.

The scenes are built by hand (a straight two-way road, a LogStep with agents placed in the ego frame) and
rendered in the canonical look (`variety=False`), so pixel positions can be computed by hand.
"""

import numpy as np
import pytest

from cordillera.geometry import Polyline
from cordillera.world.agents import DEFAULT_SIZE, AgentType, Flag
from cordillera.world.render.appearance import sample_appearance
from cordillera.world.render.camera import CameraConfig, render_camera, render_rig
from cordillera.world.render.objects import build_objects
from cordillera.world.render.rig import CameraRig, CameraSpec, default_rig, surround_rig
from cordillera.world.roads import build_map
from cordillera.world.roads.map import Boundary, Lane, RoadMap, SignalState
from cordillera.world.sim import LogStep

PLAIN = sample_appearance(0, variety=False)
EXACT = CameraConfig(variety=False)
# 90 deg, 256x128, 1.2 m above the rear axle, looking forward: fx = fy = 128, principal point (127.5, 63.5)
FRONT = CameraSpec.from_hfov("front", 256, 128, 90.0, (0.0, 0.0, 1.2))
REAR = CameraSpec.from_hfov("rear", 256, 128, 90.0, (0.0, 0.0, 1.2), yaw_deg=180.0)
EGO = (50.0, -1.75, 0.0)  # rear axle pose on the eastbound lane


def two_way_road(length: float = 300.0, width: float = 3.5) -> RoadMap:
    """One lane each way along the x axis: eastbound at y = -w/2, westbound at y = +w/2, double yellow at y = 0."""
    east = Lane(0, Polyline([[0.0, -width / 2], [length, -width / 2]]), width, 13.9,
                left_boundary=Boundary.DOUBLE_YELLOW, right_boundary=Boundary.CURB, left_opposite=1)
    west = Lane(1, Polyline([[length, width / 2], [0.0, width / 2]]), width, 13.9,
                left_boundary=Boundary.DOUBLE_YELLOW, right_boundary=Boundary.CURB, left_opposite=0)
    return RoadMap("two_way", (east, west))


ROAD = two_way_road()


def agent(kind: AgentType, forward: float, left: float, yaw: float = 0.0, ego=EGO) -> list[float]:
    """An agent row [x, y, yaw, v, a, length, width] at (forward, left) of the rear axle, default size."""
    x, y, h = ego
    length, width, _ = DEFAULT_SIZE[kind]
    return [x + np.cos(h) * forward - np.sin(h) * left, y + np.sin(h) * forward + np.cos(h) * left, h + yaw,
            0.0, 0.0, length, width]


def scene(rows=(), kinds=(), flags=None, ego=EGO, t: float = 0.0, signals=()):
    """(LogStep, agent types (N,), agent heights (N,))."""
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 7)
    kinds = np.asarray(kinds, dtype=np.int64)
    flags = np.zeros(len(rows), np.int32) if flags is None else np.asarray(flags, np.int32)
    heights = np.array([DEFAULT_SIZE[AgentType(int(k))][2] for k in kinds])
    step = LogStep(t, np.array([ego[0], ego[1], ego[2], 0.0, 0.0, 0.0, 0.0]), np.asarray(ego, np.float64), rows,
                   np.ones(len(rows), bool), flags, np.asarray(signals, np.int8), None, 0.0, ())
    return step, kinds, heights


def shot(step, kinds, heights, cam=FRONT, road=ROAD, look=PLAIN) -> np.ndarray:
    return render_camera(road, step, kinds, heights, cam, look, config=EXACT)


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.any(a != b, axis=-1)


EMPTY = shot(*scene())


def test_frame_format_and_sky_above_ground():
    img = EMPTY
    assert img.shape == (128, 256, 3) and img.dtype == np.uint8
    sky, road = img[5, 128].astype(int), img[120, 128].astype(int)
    assert sky[2] > sky[0] + 40  # blue sky at the top, grey road at the bottom
    assert abs(road[0] - road[2]) < 15 and road.sum() < sky.sum()


def test_box_ahead_is_centred_in_front_camera_and_absent_from_rear_camera():
    step, kinds, heights = scene([agent(AgentType.CAR, 15.0, 0.0)], [AgentType.CAR])
    mask = changed(shot(step, kinds, heights), EMPTY)
    rows, cols = np.nonzero(mask)
    assert len(cols) > 100
    assert abs(cols.mean() - 127.5) < 1.0 and abs((cols.min() + cols.max()) / 2 - 127.5) <= 1.0
    rear_empty = shot(*scene(), cam=REAR)
    assert not changed(shot(step, kinds, heights, cam=REAR), rear_empty).any()


def test_box_edges_match_hand_computed_pixels():
    # a bus centred 20 m ahead: its rear face is 14 m from the camera, its top 3.2 - 1.2 = 2.0 m above it, its
    # sides 1.3 m either side: top edge at v = 63.5 - 128 * 2.0 / 14 = 45.21, sides at u = 127.5 -+ 11.886.
    # cv2 fills the pixels its outline touches, i.e. edges rounded to the nearest pixel centre.
    step, kinds, heights = scene([agent(AgentType.BUS, 20.0, 0.0)], [AgentType.BUS])
    mask = changed(shot(step, kinds, heights), EMPTY)
    rows, cols = np.nonzero(mask)
    assert rows.min() == 45  # round(45.21)
    top = cols[rows == 45]
    assert top.min() == 116 and top.max() == 139  # round(115.61), round(139.39)
    # and the renderer agrees with CameraSpec.project for the same corner
    uv, _ = FRONT.project([[14.0, 1.3, 3.2]])
    np.testing.assert_allclose(uv[0], [115.614, 45.214], atol=1e-3)


def test_nearer_box_hides_the_box_behind_it_in_any_draw_order():
    near, far = agent(AgentType.CAR, 8.0, 0.0), agent(AgentType.CAR, 25.0, 0.0)
    emergency = int(Flag.EMERGENCY)  # white body and a light bar: very visible if it leaked through
    only_far = shot(*scene([far], [AgentType.CAR], [emergency]))
    assert changed(only_far, EMPTY).sum() > 30
    only_near = shot(*scene([near], [AgentType.CAR]))
    both = shot(*scene([far, near], [AgentType.CAR, AgentType.CAR], [emergency, 0]))
    swapped = shot(*scene([near, far], [AgentType.CAR, AgentType.CAR], [0, emergency]))
    assert np.array_equal(both, only_near) and np.array_equal(swapped, only_near)


def test_partly_hidden_box_shows_around_the_occluder():
    near = agent(AgentType.PEDESTRIAN, 6.0, 0.0)
    far = agent(AgentType.BUS, 30.0, 0.0)
    img = shot(*scene([near, far], [AgentType.PEDESTRIAN, AgentType.BUS]))
    ped = changed(shot(*scene([near], [AgentType.PEDESTRIAN])), EMPTY)
    bus = changed(shot(*scene([far], [AgentType.BUS])), EMPTY)
    alone_ped = shot(*scene([near], [AgentType.PEDESTRIAN]))
    assert np.array_equal(img[ped], alone_ped[ped])  # the pedestrian is in front everywhere it is drawn
    assert (bus & ~ped).sum() > 50  # the bus shows around it


def yellow(img: np.ndarray) -> np.ndarray:
    r, g, b = (img[..., k].astype(int) for k in range(3))
    return (r > 150) & (g > 110) & (b < 90) & (r - b > 100)


def test_lane_marking_crossing_behind_the_camera_does_not_smear():
    # the double yellow runs from x = 0 to 300 m, 1.75 m left of the ego: it passes beside and behind the
    # camera. Projected without clipping, its far-behind part would land mirrored across the image.
    img = EMPTY
    mask = yellow(img)
    rows, cols = np.nonzero(mask)
    assert len(rows) > 50
    assert rows.min() >= 64  # only below the horizon (row 63.5)
    assert cols.max() <= 128  # only left of the centre column
    # each row's yellow pixels sit where the line projects: u = 127.5 - 128 * (1.75 -+ 0.15) / (1.2 / tan) ...
    for row in range(70, 128, 8):
        dist = 1.2 * 128 / (row - 63.5)  # ground distance ahead of the camera for this row [m]
        u_inner, _ = FRONT.project([[dist, 1.75 - 0.25, 0.0]])[0][0], None
        u_outer = FRONT.project([[dist, 1.75 + 0.25, 0.0]])[0][0][0]
        got = cols[rows == row]
        assert len(got) and got.min() >= u_outer - 1.5 and got.max() <= u_inner[0] + 1.5


def test_camera_looking_back_sees_the_road_behind_without_artefacts():
    img = shot(*scene(), cam=REAR)
    rows, cols = np.nonzero(yellow(img))
    assert len(rows) > 50 and rows.min() >= 64 and cols.min() >= 127  # the line is on the right when looking back


def test_near_plane_clipping_of_a_box_beside_the_camera():
    # a bus alongside, from 6 m behind to 6 m ahead of the rear axle: its rear half is behind the camera
    step, kinds, heights = scene([agent(AgentType.BUS, 0.0, 3.5)], [AgentType.BUS])
    mask = changed(shot(step, kinds, heights), EMPTY)
    rows, cols = np.nonzero(mask)
    assert len(rows) and cols.max() < 127.5  # only on the left, where the bus is
    corner, _ = FRONT.project([[6.0, 3.5 - 1.3, 3.2]])  # front-right top corner: u = 80.57, v = 20.83
    assert mask[round(corner[0, 1]), round(corner[0, 0])] and not mask[round(corner[0, 1]) - 2, 80]
    upper = cols[rows < 40]  # above the contact shadow, the bus ends at its front-right edge
    assert upper.max() == round(corner[0, 0]) and upper.min() == 0  # and runs off the left of the image


def test_rendering_is_deterministic_and_seeded():
    state_rows = [agent(AgentType.CAR, 12.0, 0.0), agent(AgentType.PEDESTRIAN, 9.0, -3.0)]
    step, kinds, heights = scene(state_rows, [AgentType.CAR, AgentType.PEDESTRIAN], t=1.0)
    rig = default_rig()
    look = sample_appearance(11, "night", "rain")
    a = render_rig(ROAD, step, kinds, heights, rig, look, frame_seed=3)
    b = render_rig(ROAD, step, kinds, heights, rig, sample_appearance(11, "night", "rain"), frame_seed=3)
    assert all(np.array_equal(a[n], b[n]) for n in rig.names)
    other = render_rig(ROAD, step, kinds, heights, rig, sample_appearance(12, "night", "rain"), frame_seed=3)
    assert any(not np.array_equal(a[n], other[n]) for n in rig.names)


@pytest.mark.parametrize("kind, distance, side_on, ratio", [
    (AgentType.PEDESTRIAN, 12.0, False, 2.5),  # tall and thin: height / width > 2.5
    (AgentType.CYCLIST, 12.0, False, 2.0),  # from behind, a rider on a thin bike
    (AgentType.CONE, 6.0, False, 1.4),
    (AgentType.BUS, 20.0, True, 1 / 3.0),  # long: seen side-on, 3 times wider than tall
    (AgentType.TRUCK, 20.0, True, 1 / 2.0),
])
def test_type_proportions(kind, distance, side_on, ratio):
    step, kinds, heights = scene([agent(kind, distance, 0.0, yaw=np.pi / 2 if side_on else 0.0)], [kind])
    rows, cols = np.nonzero(changed(shot(step, kinds, heights), EMPTY))
    h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    assert (h / w > ratio) if ratio > 1 else (h / w < ratio), (kind, h, w)


def reddish(img: np.ndarray) -> np.ndarray:
    r, g, b = (img[..., k].astype(int) for k in range(3))
    return (r > 220) & (g < 80) & (b < 80)


def test_brake_lights_light_up():
    row = [agent(AgentType.CAR, 10.0, 0.0)]
    plain = shot(*scene(row, [AgentType.CAR]))
    braking = shot(*scene(row, [AgentType.CAR], [int(Flag.BRAKE)]))
    assert reddish(braking).sum() >= 4 and not reddish(plain).any()


def test_emergency_light_bar_flashes():
    row = [agent(AgentType.CAR, 10.0, 0.0)]
    a = shot(*scene(row, [AgentType.CAR], [int(Flag.EMERGENCY)], t=0.0))
    b = shot(*scene(row, [AgentType.CAR], [int(Flag.EMERGENCY)], t=0.25))  # half a flash period later
    blue = lambda img: (img[..., 2] > 200) & (img[..., 0] < 90)  # noqa: E731
    assert blue(a).any() and blue(b).any() and not np.array_equal(a, b)


def test_signal_heads_show_the_lit_lamp():
    road = build_map("intersection", {"lanes_per_direction": 2})
    lane = road.lanes[road.lane_id("south_in.1")]
    (x, y), heading = lane.centerline.interpolate(lane.length - 30.0)
    tele = CameraSpec.from_hfov("tele", 256, 128, 30.0, (1.8, 0.0, 1.45), pitch_deg=-6.0)
    images = {}
    for state in (SignalState.RED, SignalState.GREEN):
        step, kinds, heights = scene(ego=(x, y, heading), signals=[int(state)] * len(road.signals))
        images[state] = shot(step, kinds, heights, cam=tele, road=road)
    r, g, b = (images[SignalState.RED][..., k].astype(int) for k in range(3))
    assert ((r > 200) & (g < 90)).sum() >= 3
    r, g, b = (images[SignalState.GREEN][..., k].astype(int) for k in range(3))
    assert ((g > 200) & (r < 120)).sum() >= 3


def test_night_is_dark_with_headlights_and_fog_lowers_contrast():
    step, kinds, heights = scene([agent(AgentType.CAR, 15.0, 0.0)], [AgentType.CAR])
    day = shot(step, kinds, heights)
    night = shot(step, kinds, heights, look=sample_appearance(0, "night", variety=False))
    fog = shot(step, kinds, heights, look=sample_appearance(0, "day", "fog", variety=False))
    assert night.mean() < 0.5 * day.mean()
    assert night[100:, 100:156].mean() > 2.0 * night[100:, :30].mean()  # the road ahead is lit by the low beams
    assert fog[64:].std() < day[64:].std()


def test_objects_build_once_for_all_cameras_and_seven_cameras_render():
    step, kinds, heights = scene([agent(AgentType.TRUCK, 12.0, 0.0), agent(AgentType.CAR, -12.0, 0.0)],
                                 [AgentType.TRUCK, AgentType.CAR])
    objs = build_objects(ROAD, step, kinds, heights, PLAIN)
    assert objs.count > 0 and len(objs.starts) == objs.count + 1
    images = render_rig(ROAD, step, kinds, heights, surround_rig(), PLAIN, config=EXACT)
    assert len(images) == 7
    empty = render_rig(ROAD, *scene(), surround_rig(), PLAIN, config=EXACT)
    assert changed(images["camera_rear_tele_30fov"], empty["camera_rear_tele_30fov"]).any()  # the car behind
    assert changed(images["camera_front_wide_120fov"], empty["camera_front_wide_120fov"]).any()  # the truck ahead


def test_single_camera_rig():
    rig = CameraRig((FRONT,), frames=1)
    images = render_rig(ROAD, *scene(), rig, PLAIN, config=EXACT)
    assert list(images) == ["front"] and np.array_equal(images["front"], EMPTY)


def test_render_codes_give_each_object_pixel_its_distance():
    # the bus of the test above: its rear face 14 m from the camera covers exactly the pixels that changed,
    # and their codes say 14 m (depth_code rounds down to 0.5 m steps); the rest is ground or sky
    from cordillera.world.render.appearance import DEPTH_STEP_M, GROUND_CODE, SKY_CODE

    step, kinds, heights = scene([agent(AgentType.BUS, 20.0, 0.0)], [AgentType.BUS])
    codes: dict = {}
    images = render_rig(ROAD, step, kinds, heights, CameraRig((FRONT,), name="single"), PLAIN, config=EXACT,
                        codes=codes)
    code = codes["front"]
    assert code.shape == (128, 256) and code.dtype == np.uint8
    mask = changed(images["front"], EMPTY)
    objects = (code >= 1) & (code <= 253)
    assert (objects == mask).mean() > 0.995  # anti-aliasing aside, the object pixels are the bus
    distances = (code[objects].astype(float) - 1.0) * DEPTH_STEP_M
    assert np.median(distances) == pytest.approx(14.0, abs=DEPTH_STEP_M)
    assert set(np.unique(code[~objects])) <= {GROUND_CODE, SKY_CODE}

