"""BEV rendering: orientation of the views, colours at known pixels, signals, determinism, tiling."""

from dataclasses import replace

import numpy as np
import pytest

from cordillera.geometry import Polyline
from cordillera.world.agents import AgentType, Flag
from cordillera.world.render import bev
from cordillera.world.render.bev import (
    DEFAULT_STYLE,
    FRAME_VIEW,
    OBSERVATION_VIEW,
    render_bev,
    view_matrix,
)
from cordillera.world.roads import build_map
from cordillera.world.roads.map import Boundary, Lane, RoadMap, SignalState
from cordillera.world.sim import LogStep

STYLE = DEFAULT_STYLE
OBS = OBSERVATION_VIEW
CAR = np.array(STYLE.agents[AgentType.CAR], dtype=np.uint8)
EGO = np.array(STYLE.ego, dtype=np.uint8)


def two_way_road(length: float = 200.0, width: float = 3.5) -> RoadMap:
    """One lane each way along the x axis: eastbound at y = -w/2, westbound at y = +w/2."""
    east = Lane(0, Polyline([[0.0, -width / 2], [length, -width / 2]]), width, 13.9,
                left_boundary=Boundary.DOUBLE_YELLOW, right_boundary=Boundary.CURB, left_opposite=1)
    west = Lane(1, Polyline([[length, width / 2], [0.0, width / 2]]), width, 13.9,
                left_boundary=Boundary.DOUBLE_YELLOW, right_boundary=Boundary.CURB, left_opposite=0)
    return RoadMap("two_way", (east, west))


def make_step(ego=(50.0, -1.75, 0.0), agents=(), types=(), flags=None, t=0.0, signals=(), accel=0.0,
              collisions=()):
    """A LogStep with the ego box centred at `ego` and agents rows [x, y, yaw, v, a, length, width]."""
    ego = np.asarray(ego, dtype=np.float64)
    rear = ego[:2] - 1.4 * np.array([np.cos(ego[2]), np.sin(ego[2])])
    agents = np.asarray(agents, dtype=np.float64).reshape(-1, 7)
    flags = np.zeros(len(agents), np.int32) if flags is None else np.asarray(flags, np.int32)
    step = LogStep(t, np.array([rear[0], rear[1], ego[2], 8.0, accel, 0.0, 0.0]), ego, agents,
                   np.ones(len(agents), bool), flags, np.asarray(signals, np.int8), None, 0.0, tuple(collisions))
    return step, np.asarray(types, dtype=np.int64)


def ego_frame(ego, forward: float, left: float, yaw: float = 0.0, length: float = 4.6, width: float = 1.9):
    """An agent row at (forward, left) [m] in the ego frame, heading `yaw` relative to the ego."""
    x, y, h = ego
    return [x + np.cos(h) * forward - np.sin(h) * left, y + np.sin(h) * forward + np.cos(h) * left, h + yaw,
            5.0, 0.0, length, width]


def observation(road, step, types):
    return render_bev(road, step, types, step.ego_center, OBS.size_px, OBS.meters_per_px, OBS.heading_up,
                      anchor=OBS.anchor)


def reddish(img: np.ndarray) -> np.ndarray:
    """Pixels where brake-light red dominates (nothing else in these scenes is red)."""
    r, g, b = (img[..., k].astype(int) for k in range(3))
    return (r > 170) & (g < 110) & (b < 110)


def mask_centroid(img: np.ndarray, color: np.ndarray) -> tuple[float, float]:
    rows, cols = np.nonzero(np.all(img == color, axis=-1))
    assert len(rows), f"no pixel of colour {color}"
    return float(rows.mean()), float(cols.mean())


def test_view_matrix_heading_up_maps_forward_to_up_and_left_to_left():
    center = np.array([10.0, 5.0, 0.6])
    m = view_matrix(center, (100, 80), 0.5, True, (0.5, 0.5))
    at = lambda p: p @ m[:, :2].T + m[:, 2]  # noqa: E731
    c = at(center[:2])
    fwd = at(center[:2] + [np.cos(0.6), np.sin(0.6)])
    left = at(center[:2] + [-np.sin(0.6), np.cos(0.6)])
    np.testing.assert_allclose(c, [39.5, 49.5])
    np.testing.assert_allclose(fwd - c, [0.0, -2.0], atol=1e-12)  # 1 m = 2 px, up
    np.testing.assert_allclose(left - c, [-2.0, 0.0], atol=1e-12)
    north_up = view_matrix(center, (100, 80), 0.5, False)
    np.testing.assert_allclose(north_up[:, :2], [[2.0, 0.0], [0.0, -2.0]], atol=1e-12)  # east right, north up


def test_observation_shape_and_ego_at_anchor():
    road = two_way_road()
    step, types = make_step()
    img = observation(road, step, types)
    assert img.shape == (384, 192, 3) and img.dtype == np.uint8
    # ego anchor: 64 m ahead / 32 m behind at 0.25 m/px puts it at row 256; 1 m behind the centre is green
    assert np.array_equal(img[256 + 4, 96], EGO)
    row, col = mask_centroid(img, EGO)
    assert abs(row - 255.5) < 2.0 and abs(col - 95.5) < 1.0  # the heading tick hides a few front pixels


@pytest.mark.parametrize("yaw", [0.0, 0.7, -2.5])
def test_agent_ahead_is_above_and_agent_left_is_left(yaw):
    road = two_way_road()
    ego = (60.0, -1.75, yaw)
    step, types = make_step(ego, [ego_frame(ego, 20.0, 0.0)], [AgentType.CAR])
    row, col = mask_centroid(observation(road, step, types), CAR)
    assert abs(row - (255.5 - 80)) < 2.0 and abs(col - 95.5) < 1.0  # 20 m = 80 px above the ego
    step, types = make_step(ego, [ego_frame(ego, 0.0, 8.0)], [AgentType.CAR])
    row, col = mask_centroid(observation(road, step, types), CAR)
    assert abs(row - 255.5) < 2.0 and abs(col - (95.5 - 32)) < 1.0  # 8 m = 32 px to the left


def test_north_up_frame_puts_east_right_and_north_up():
    road = two_way_road()
    ego = (60.0, -1.75, 2.0)  # heading does not matter north-up
    step, types = make_step(ego, [[75.0, -1.75, 0.0, 5.0, 0.0, 4.6, 1.9]], [AgentType.CAR])
    img = render_bev(road, step, types, step.ego_center, FRAME_VIEW.size_px, FRAME_VIEW.meters_per_px, False)
    row, col = mask_centroid(img, CAR)
    assert abs(row - 319.5) < 1.0 and abs(col - (319.5 + 75.0)) < 2.0  # 15 m east at 0.2 m/px


def test_agent_colours_by_type_and_off_view_agents_ignored():
    road = two_way_road()
    ego = (60.0, -1.75, 0.0)
    kinds = [AgentType.PEDESTRIAN, AgentType.CYCLIST, AgentType.TRUCK, AgentType.CONE, AgentType.CAR]
    rows = [ego_frame(ego, 10.0, 6.0, 0, 0.6, 0.6), ego_frame(ego, 15.0, -6.0, 0, 1.8, 0.7),
            ego_frame(ego, -15.0, 0.0, 0, 8.5, 2.5), ego_frame(ego, 30.0, 1.0, 0, 0.4, 0.4),
            ego_frame(ego, 500.0, 0.0)]
    step, types = make_step(ego, rows, kinds)
    img = observation(road, step, types)
    for kind, (f, left) in zip(kinds[:4], [(10.0, 6.0), (15.0, -6.0), (-15.0, 0.0), (30.0, 1.0)]):
        r, c = int(round(255.5 - f * 4)), int(round(95.5 - left * 4))
        window = img[r - 1 : r + 2, c - 1 : c + 2].astype(int)  # small boxes are all anti-aliased edge
        assert (np.abs(window - STYLE.agents[kind]).max(-1) < 30).any(), (kind, window)
    assert not np.all(img == CAR, axis=-1).any()  # the car 500 m ahead is off the image


def test_static_objects_are_visible_even_when_tiny():
    road = two_way_road()
    ego = (60.0, -1.75, 0.0)
    step, types = make_step(ego, [ego_frame(ego, 12.0, 0.0, 0, 0.05, 0.05)], [AgentType.DEBRIS])
    img = observation(road, step, types)
    assert np.all(img == STYLE.agents[AgentType.DEBRIS], axis=-1).any()


def test_brake_lights_and_inactive_agents():
    road = two_way_road()
    ego = (60.0, -1.75, 0.0)
    step, types = make_step(ego, [ego_frame(ego, 20.0, 0.0)], [AgentType.CAR], flags=[Flag.BRAKE])
    img = observation(road, step, types)
    rows, cols = np.nonzero(reddish(img))
    assert len(rows) and abs(rows.mean() - (255.5 - 80 + 4.6 * 2)) < 2.0  # rear edge, 2.3 m behind the centre
    hidden = step._replace(active=np.zeros(1, bool))
    assert not np.all(observation(road, hidden, types) == CAR, axis=-1).any()


def test_ego_brake_lights_follow_its_deceleration():
    road = two_way_road()
    braking, types = make_step(accel=-3.0)
    cruising, _ = make_step(accel=0.0)
    assert reddish(observation(road, braking, types)).any()
    assert not reddish(observation(road, cruising, types)).any()


def test_map_layer_markings_and_background():
    road = two_way_road()
    step, types = make_step(ego=(100.0, -1.75, 0.0))
    img = render_bev(road, step, types, step.ego_center, (200, 200), 0.05, False)  # north up, 10 m square
    col = 20  # 4.5 m west of the ego, clear of it
    centre_row = 99.5 - 1.75 / 0.05  # y = 0: the double yellow centre line
    yellow = np.array(STYLE.marking_yellow)
    assert np.abs(img[int(round(centre_row - 3)), col].astype(int) - yellow).max() < 40  # line at y = +0.15 m
    assert np.array_equal(img[int(round(centre_row + 20)), col], STYLE.road)  # middle of the eastbound lane
    assert np.array_equal(img[199, col], STYLE.background)  # 5 m south of the ego: off the road
    kerb_row = int(round(99.5 + (3.5 - 1.75) / 0.05))  # y = -3.5: the curb
    assert np.abs(img[kerb_row, col].astype(int) - np.array(STYLE.curb)).max() < 40


def test_signal_discs_show_each_state_at_the_stop_lines():
    road = build_map("intersection", {"lanes_per_direction": 2})
    sl = next(s for s in road.stop_lines if s.signal is not None)
    (xy,), (yaw,) = road.pose_at(sl.lane, [sl.s - 30.0])
    center = np.array([xy[0], xy[1], yaw])
    stop_xy, _ = road.pose_at(sl.lane, sl.s)
    m = view_matrix(center, OBS.size_px, OBS.meters_per_px, True, OBS.anchor)
    col, row = np.round(stop_xy @ m[:, :2].T + m[:, 2]).astype(int)
    for state in SignalState:
        signals = np.full(len(road.signals), int(state), np.int8)
        step, types = make_step(ego=center, signals=signals)
        img = observation(road, step, types)
        assert np.array_equal(img[row, col], STYLE.signals[state]), (state, img[row, col])
    red = np.full(len(road.signals), SignalState.RED, np.int8)
    step, types = make_step(ego=center, signals=red)
    green = np.full(len(road.signals), SignalState.GREEN, np.int8)
    override = render_bev(road, step, types, center, OBS.size_px, OBS.meters_per_px, True, signals=green,
                          anchor=OBS.anchor)
    assert np.array_equal(override[row, col], STYLE.signals[SignalState.GREEN])


def test_plan_and_history_are_drawn():
    road = two_way_road()
    ego = (60.0, -1.75, 0.0)
    step, types = make_step(ego)
    plan = np.stack([60.0 + np.arange(1, 65) * 0.5, np.full(64, -1.75), np.zeros(64)], -1)
    history = np.stack([60.0 - np.arange(20) * 0.5, np.full(20, -1.75)], -1)[::-1]
    img = render_bev(road, step, types, step.ego_center, (200, 200), 0.2, True, plan, history)
    assert np.all(img == STYLE.plan, axis=-1)[:80, 95:105].any()  # ahead: above the ego
    assert not np.all(img == STYLE.plan, axis=-1)[110:].any()
    behind = img[115:140, 95:105, 1].astype(int) > STYLE.road[1] + 40  # the pale green line, anti-aliased
    assert behind.any()


def test_rendering_is_deterministic_and_independent_of_the_cache():
    road = build_map("intersection", {"lanes_per_direction": 2})
    lane = road.lanes[0]
    (xy,), (yaw,) = road.pose_at(0, [lane.length - 10.0])
    ego = (xy[0], xy[1], yaw)
    rows = [ego_frame(ego, 12.0, 0.0), ego_frame(ego, 20.0, 3.5, 1.0, 0.6, 0.6)]
    step, types = make_step(ego, rows, [AgentType.CAR, AgentType.PEDESTRIAN], signals=np.zeros(4), t=1.3)
    first = observation(road, step, types)
    assert np.array_equal(first, observation(road, step, types))
    bev._CACHE.clear()
    assert np.array_equal(first, observation(road, step, types))
    assert np.array_equal(first, observation(build_map("intersection", {"lanes_per_direction": 2}), step, types))


def test_tiles_match_one_big_raster_on_a_long_map():
    road = build_map("highway", {})
    small, big = replace(STYLE, tile_px=512), replace(STYLE, tile_px=8192)
    lane = road.lanes[0]
    for s in (20.0, 250.0, lane.length / 2, lane.length - 20.0):
        (xy,), (yaw,) = road.pose_at(0, [s])
        step, types = make_step((xy[0], xy[1], yaw))
        kw = dict(anchor=OBS.anchor)
        a = render_bev(road, step, types, step.ego_center, OBS.size_px, OBS.meters_per_px, True, style=small, **kw)
        b = render_bev(road, step, types, step.ego_center, OBS.size_px, OBS.meters_per_px, True, style=big, **kw)
        assert np.abs(a.astype(int) - b).max() <= 2, s  # warpAffine's 1/32 px rounding depends on the offset
    assert len(bev._raster(road, OBS.meters_per_px, OBS.size_px, small).tiles) > 1


@pytest.mark.parametrize("name", ["straight", "curved", "intersection", "t_junction", "highway_merge", "highway"])
def test_every_builder_map_renders_road_under_the_ego(name):
    road = build_map(name, {})
    lane = next(la for la in road.lanes if la.junction is None)
    (xy,), (yaw,) = road.pose_at(lane.id, [lane.length / 2])
    step, types = make_step((xy[0], xy[1], yaw))
    img = observation(road, step, types)
    road_px = np.all(img == STYLE.road, axis=-1)
    assert road_px[180:330, 80:112].mean() > 0.3  # the ego's lane runs under and around it
    assert np.all(img == EGO, axis=-1).sum() > 50
