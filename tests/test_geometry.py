"""Property tests for the shared planar geometry: frames, angles, polylines, curvature, speed profiles, boxes."""

import math

import numpy as np
import pytest
import shapely
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cordillera.geometry import (
    Polyline,
    box_corners,
    boxes_overlap,
    curvature,
    from_frame,
    smoothstep,
    speed_profile,
    to_frame,
    wrap_angle,
)

PROPS = settings(max_examples=200, deadline=None)

coord = st.floats(-1e4, 1e4, allow_nan=False)
angle = st.floats(-20.0, 20.0, allow_nan=False)
pose = st.tuples(coord, coord, angle)


def _same_angle(a, b, atol=1e-9):
    return np.allclose(np.cos(a), np.cos(b), atol=atol) and np.allclose(np.sin(a), np.sin(b), atol=atol)


# --- frames and angles -----------------------------------------------------------------------------------------


@PROPS
@given(st.lists(pose, min_size=1, max_size=8), pose)
def test_to_frame_from_frame_round_trip(poses, origin):
    poses, origin = np.array(poses), np.array(origin)
    local = to_frame(poses, origin)
    back = from_frame(local, origin)
    assert local.shape == back.shape == poses.shape
    np.testing.assert_allclose(back[:, :2], poses[:, :2], atol=1e-7)
    assert _same_angle(back[:, 2], poses[:, 2])
    np.testing.assert_allclose(from_frame(to_frame(local, origin), origin), local, atol=1e-7)  # and the other way
    assert np.all((local[:, 2] >= -math.pi) & (local[:, 2] < math.pi))


@PROPS
@given(pose)
def test_origin_is_zero_in_its_own_frame_and_distances_are_kept(origin):
    origin = np.array(origin)
    np.testing.assert_allclose(to_frame(origin, origin), [0.0, 0.0, 0.0], atol=1e-9)
    ahead = from_frame(np.array([5.0, 0.0, 0.0]), origin)  # 5 m straight ahead of the origin
    np.testing.assert_allclose(ahead[:2], origin[:2] + 5.0 * np.array([math.cos(origin[2]), math.sin(origin[2])]),
                               atol=1e-9)


def test_to_frame_hand_checked():
    # a point 1 m north of an origin facing north is 1 m ahead; facing east it is 1 m to the left
    np.testing.assert_allclose(to_frame([0.0, 1.0, 0.0], [0.0, 0.0, math.pi / 2]), [1.0, 0.0, -math.pi / 2], atol=1e-12)
    np.testing.assert_allclose(to_frame([0.0, 1.0, 0.0], [0.0, 0.0, 0.0]), [0.0, 1.0, 0.0], atol=1e-12)


@PROPS
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_wrap_angle_range(x):
    w = wrap_angle(x)
    assert -math.pi <= w < math.pi
    if abs(x) < 1e6:
        assert _same_angle(w, x, atol=1e-6)


def test_wrap_angle_edges():
    assert wrap_angle(math.pi) == -math.pi
    assert wrap_angle(-math.pi) == -math.pi
    assert wrap_angle(np.nextafter(-math.pi, -4.0)) == -math.pi  # rounds onto the closed end, never +pi
    np.testing.assert_allclose(wrap_angle([0.0, 2 * math.pi, 3 * math.pi / 2]), [0.0, 0.0, -math.pi / 2], atol=1e-12)


# --- polylines -------------------------------------------------------------------------------------------------


def _normal(heading):
    return np.stack([-np.sin(heading), np.cos(heading)], -1)


@PROPS
@given(pose, st.floats(5.0, 500.0), st.floats(0.0, 1.0), st.floats(-20.0, 20.0))
def test_project_straight_inverts_interpolate(origin, length, frac, d):
    x, y, yaw = origin
    line = Polyline([[x, y], [x + length * math.cos(yaw), y + length * math.sin(yaw)]])
    s = frac * line.length
    xy, heading = line.interpolate(s)
    got_s, got_d, seg = line.project((xy + d * _normal(heading))[None])
    assert got_s[0] == pytest.approx(s, abs=1e-6)
    assert got_d[0] == pytest.approx(d, abs=1e-6)
    assert seg[0] == 0


def _arc(radius, start, sweep, n, center=(0.0, 0.0)):
    a = start + np.linspace(0.0, sweep, n)
    return np.stack([center[0] + radius * np.cos(a), center[1] + radius * np.sin(a)], -1)


@PROPS
@given(st.floats(10.0, 200.0), st.floats(-math.pi, math.pi), st.integers(4, 30), st.floats(0.0, 1.0),
       st.floats(-1.0, 1.0), st.booleans())
def test_project_convex_inverts_interpolate(radius, start, n, frac, d, clockwise):
    sweep = -2.0 if clockwise else 2.0  # [rad] about 115 deg, convex either way
    line = Polyline(_arc(radius, start, sweep, n))
    s = frac * line.length
    # inside a bend the nearest point jumps to the next segment within |d| tan(turn / 2) of a vertex
    turn = abs(sweep) / (n - 1)
    assume(np.min(np.abs(line.s - s)) > abs(d) * math.tan(turn / 2) + 1e-3 or s in (0.0, line.length))
    xy, heading = line.interpolate(s)
    got_s, got_d, _ = line.project((xy + d * _normal(heading))[None])
    assert got_s[0] == pytest.approx(s, abs=1e-6)
    assert got_d[0] == pytest.approx(d, abs=1e-6)


def test_project_beyond_the_ends_extends_the_end_segments():
    line = Polyline([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]])
    s, d, seg = line.project([[-3.0, 1.0], [11.0, 14.0]])
    np.testing.assert_allclose(s, [-3.0, 24.0])
    np.testing.assert_allclose(d, [1.0, -1.0])
    np.testing.assert_array_equal(seg, [0, 1])


@PROPS
@given(st.floats(-10.0, 60.0))
def test_interpolate_clamps_and_follows_headings(s):
    line = Polyline([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]])
    xy, heading = line.interpolate(s)
    c = min(max(s, 0.0), 20.0)
    expected = [c, 0.0] if c < 10.0 else [10.0, c - 10.0]
    np.testing.assert_allclose(xy, expected, atol=1e-12)
    assert heading == (0.0 if c < 10.0 else pytest.approx(math.pi / 2))


@pytest.mark.parametrize(
    "points",
    [
        [[0.0, 0.0]],  # one point
        [],
        [[0.0, 0.0], [1.0, math.nan]],
        [[0.0, 0.0], [math.inf, 1.0]],
        [[0.0, 0.0], [1.0, 1.0], [1.0, 1.0], [2.0, 0.0]],  # repeated point
        [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]],  # not 2D
        [0.0, 1.0],
    ],
)
def test_bad_polylines_raise_value_error(points):
    with pytest.raises(ValueError):
        Polyline(points)


# --- curvature and speed profiles ------------------------------------------------------------------------------


@PROPS
@given(st.floats(1.0, 1000.0), st.floats(-math.pi, math.pi), st.floats(0.2, 6.0), st.integers(3, 200),
       st.tuples(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3)), st.booleans())
def test_curvature_of_a_sampled_circle(radius, start, sweep, n, center, clockwise):
    assume(radius * sweep / (n - 1) > 1e-2)  # vertices at least 1 cm apart
    points = _arc(radius, start, -sweep if clockwise else sweep, n, center)
    np.testing.assert_allclose(curvature(points), 1.0 / radius, rtol=1e-5)


def test_curvature_of_a_straight_line_and_short_inputs():
    np.testing.assert_allclose(curvature([[0.0, 0.0], [1.0, 1.0], [3.0, 3.0], [4.0, 4.0]]), 0.0, atol=1e-12)
    np.testing.assert_array_equal(curvature([[0.0, 0.0], [1.0, 0.0]]), [0.0, 0.0])


_walk = st.lists(st.tuples(st.floats(0.5, 8.0), st.floats(-0.6, 0.6)), min_size=2, max_size=40)


def _random_walk(steps):
    heading, p, points = 0.0, np.zeros(2), [np.zeros(2)]
    for length, turn in steps:
        heading += turn
        p = p + length * np.array([math.cos(heading), math.sin(heading)])
        points.append(p)
    return np.array(points)


@PROPS
@given(_walk, st.floats(0.5, 4.0), st.floats(0.5, 8.0), st.floats(5.0, 50.0))
def test_speed_profile_respects_lateral_and_braking_limits(steps, lateral, decel, cap):
    points = _random_walk(steps)
    v = speed_profile(points, lateral, decel, cap)
    k = curvature(points)
    s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(points, axis=0).T))])
    assert v.shape == (len(points),) and np.all(v >= 0.0) and np.all(v <= cap + 1e-9)
    assert np.all(v**2 * k <= lateral * (1 + 1e-9) + 1e-9)  # lateral acceleration bound
    # every later vertex is reachable braking at `decel`: v_i^2 <= v_j^2 + 2 decel (s_j - s_i) for j > i
    i, j = np.triu_indices(len(points), 1)
    assert np.all(v[i] ** 2 <= v[j] ** 2 + 2.0 * decel * (s[j] - s[i]) + 1e-6)
    # and it is the fastest such profile: each vertex is held down by its own bound or one ahead
    own = np.minimum(np.sqrt(lateral / np.maximum(k, 1e-9)), cap)
    ahead = np.array([np.min(own[m:] ** 2 + 2.0 * decel * (s[m:] - s[m])) for m in range(len(points))])
    np.testing.assert_allclose(v**2, np.minimum(own**2, ahead), rtol=1e-9, atol=1e-6)


def test_speed_profile_on_a_circle_is_the_lateral_limit():
    points = _arc(50.0, 0.0, 3.0, 60)
    np.testing.assert_allclose(speed_profile(points, 2.0, 3.0), math.sqrt(2.0 * 50.0), rtol=1e-6)


def test_speed_profile_brakes_ahead_of_a_bend():
    straight = np.stack([np.linspace(-100.0, 0.0, 101), np.zeros(101)], -1)  # 1 m spacing up to the bend
    bend = _arc(10.0, -math.pi / 2, math.pi / 2, 30, (0.0, 10.0))  # a 10 m radius left bend starting at (0, 0)
    points = np.concatenate([straight, bend[1:]])
    v = speed_profile(points, 2.0, 5.0, v_cap=30.0)
    v_bend2 = 2.0 * 10.0  # [m^2/s^2] lateral limit on the bend
    chord = float(np.hypot(*(bend[1] - bend[0])))  # the first vertex wholly on the circle is one chord in
    np.testing.assert_allclose(v[101:-1], math.sqrt(v_bend2), rtol=1e-6)
    assert v[80] == pytest.approx(math.sqrt(v_bend2 + 2.0 * 5.0 * (20.0 + chord)), rel=1e-9)
    assert v[0] == pytest.approx(30.0)  # 100 m out there is room to brake from the cap
    assert np.all(np.diff(v[:101]) <= 1e-9)  # monotone braking into the bend


# --- boxes -----------------------------------------------------------------------------------------------------

box = st.tuples(st.floats(-6.0, 6.0), st.floats(-6.0, 6.0), st.floats(-4.0, 4.0), st.floats(0.2, 6.0),
                st.floats(0.2, 3.0))


@PROPS
@given(box)
def test_box_corners_against_shapely(b):
    x, y, yaw, length, width = b
    corners = box_corners(x, y, yaw, length, width)
    poly = shapely.Polygon(corners)
    assert corners.shape == (4, 2)
    assert poly.is_valid and poly.exterior.is_ccw
    assert poly.area == pytest.approx(length * width, rel=1e-9)
    assert (poly.centroid.x, poly.centroid.y) == (pytest.approx(x, abs=1e-9), pytest.approx(y, abs=1e-9))
    # front-left, rear-left, rear-right, front-right in the box's own frame
    local = to_frame(np.concatenate([corners, np.zeros((4, 1))], -1), np.array([x, y, yaw]))[:, :2]
    hl, hw = length / 2, width / 2
    np.testing.assert_allclose(local, [[hl, hw], [-hl, hw], [-hl, -hw], [hl, -hw]], atol=1e-9)


@settings(max_examples=400, deadline=None)
@given(box, box)
def test_boxes_overlap_against_shapely(a, b):
    ca, cb = box_corners(*a), box_corners(*b)
    pa, pb = shapely.Polygon(ca), shapely.Polygon(cb)
    area = pa.intersection(pb).area
    gap = pa.distance(pb)
    overlap = bool(boxes_overlap(ca, cb))
    assert overlap == bool(boxes_overlap(cb, ca))
    if area > 1e-6:
        assert overlap
    elif gap > 1e-6:
        assert not overlap
    # else: touching within rounding, either answer is right


@given(hnp.arrays(np.float64, (5, 2, 5), elements=st.floats(0.2, 5.0)))
@settings(max_examples=50, deadline=None)
def test_boxes_overlap_is_vectorised(params):
    a = box_corners(*params[:, 0].T)  # (5, 4, 2)
    b = box_corners(*params[:, 1].T)
    batched = boxes_overlap(a, b)
    assert batched.shape == (5,)
    np.testing.assert_array_equal(batched, [boxes_overlap(a[i], b[i]) for i in range(5)])
    # broadcasting one box against all
    np.testing.assert_array_equal(boxes_overlap(a[0][None], b), [boxes_overlap(a[0], b[i]) for i in range(5)])


def test_touching_boxes_do_not_overlap():
    a = box_corners(0.0, 0.0, 0.0, 2.0, 2.0)
    assert not boxes_overlap(a, box_corners(2.0, 0.0, 0.0, 2.0, 2.0))
    assert boxes_overlap(a, box_corners(1.99, 0.0, 0.0, 2.0, 2.0))
    assert boxes_overlap(a, box_corners(0.0, 0.0, math.pi / 4, 0.5, 0.5))  # one inside the other


def test_smoothstep_hand_values_and_clipping():
    x = np.array([-1.0, 0.0, 0.25, 0.5, 1.0, 2.0])
    np.testing.assert_allclose(smoothstep(x), [0.0, 0.0, 0.15625, 0.5, 1.0, 1.0])  # 3/16 - 2/64 at 0.25


def test_plan_speed_is_the_step_ending_at_that_time():
    from cordillera.geometry import plan_speed

    t = 0.1 * np.arange(1, 65)
    braking = np.column_stack([10.0 * t - 1.0 * t * t, np.zeros(64), np.zeros(64)])  # 10 m/s, -2 m/s^2
    # pose 20 (t = 2.1 s) minus pose 19 (2.0 s): (21 - 4.41) - (20 - 4) = 0.59 m in 0.1 s, the speed at 2.05 s
    assert plan_speed(braking, 2.0) == pytest.approx(5.9)
    diagonal = np.column_stack([3.0 * t, 4.0 * t, np.zeros(64)])  # 5 m/s along (3, 4)
    assert plan_speed(diagonal, 1.0) == pytest.approx(5.0)
