"""The compiled traffic kernels agree with plain numpy reference computations."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cordillera.world.agents import PathTable
from cordillera.world.kernels import interpolate_paths
from cordillera.world.roads import build_map
from cordillera.world.traffic import occupancy

ROAD = build_map("intersection", {"lanes_per_direction": 2})


def brute_force_occupancy(road, xy, half_w, slack=0.2):
    out = set()
    for m, (p, hw) in enumerate(zip(xy, half_w)):
        for lane in road.lanes:
            s, d, seg = lane.centerline.project(p[None])
            cl = lane.centerline
            k = int(seg[0])
            t = s[0] - cl.s[k]
            if -0.25 <= t <= cl._seg_len[k] + 0.25 and abs(d[0]) < lane.width / 2 + hw - slack:
                out.add((m, lane.id))
    return out


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-60, 60), st.floats(-60, 60), st.floats(0.2, 1.5)), min_size=1, max_size=12))
def test_occupancy_pairs_match_brute_force(points):
    arr = np.array(points)
    m, lane, s, d, _ = occupancy(ROAD, arr[:, :2], arr[:, 2])
    got = set(zip(m.tolist(), lane.tolist()))
    want = brute_force_occupancy(ROAD, arr[:, :2], arr[:, 2])
    # the kernel keeps the segment with the smallest |d| per lane, the brute force the nearest one; both
    # agree on which lanes are occupied except within a hair of a lane edge at a vertex
    assert len(got ^ want) <= max(1, len(want) // 10)
    for k in range(len(m)):
        back, _ = ROAD.pose_at(int(lane[k]), s[k], d[k])
        assert np.hypot(*(back - arr[m[k], :2])) < 0.3


@settings(max_examples=50, deadline=None)
@given(st.floats(-5.0, 200.0))
def test_packed_path_interpolation_matches_polyline(u):
    lines = [ROAD.lanes[k].centerline for k in (0, 19, 31)]
    table = PathTable.pack([pl.points for pl in lines])
    for k, pl in enumerate(lines):
        xy, heading = interpolate_paths(table.points, table.s, table.start, table.end, table.base, table.length,
                                        np.array([k]), np.array([u]))
        want_xy, want_h = pl.interpolate(u)
        np.testing.assert_allclose(xy[0], want_xy, atol=1e-9)
        np.testing.assert_allclose(heading[0], want_h, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-8, 8), st.floats(-8, 8), st.floats(-3.2, 3.2), st.floats(0.3, 9.0),
                          st.floats(0.3, 3.0)), min_size=1, max_size=15),
       st.floats(-3.2, 3.2))
def test_compiled_box_hits_agree_with_the_numpy_separating_axis_test(boxes, ego_yaw):
    from cordillera.geometry import box_corners, boxes_overlap
    from cordillera.world.kernels import box_hits

    b = np.array(boxes)
    ego = np.array([0.0, 0.0, ego_yaw, 0.0, 4.8, 1.9])
    hits = box_hits(ego, np.ones(len(b), bool), b[:, 0], b[:, 1], b[:, 2], b[:, 3], b[:, 4])
    want = np.flatnonzero(boxes_overlap(box_corners(0.0, 0.0, ego_yaw, 4.8, 1.9)[None],
                                        box_corners(b[:, 0], b[:, 1], b[:, 2], b[:, 3], b[:, 4])))
    np.testing.assert_array_equal(hits, want)


def test_a_box_across_a_lane_reaches_half_its_length_into_it():
    from cordillera.world.roads import build_map

    road = build_map("straight", {"lanes_per_direction": 1, "length_m": 100.0})
    lane = road.lane_id("fwd.0")  # centre y = -1.75, 3.5 m wide: its left edge is y = 0
    # a 4.6 x 1.9 m car centred 3.5 m left of the lane centre (y = 1.75, in the oncoming lane)
    along = occupancy(road, np.array([[50.0, 1.75]]), np.array([0.95]), half_length=np.array([2.3]),
                      yaw=np.array([0.0]))
    across = occupancy(road, np.array([[50.0, 1.75]]), np.array([0.95]), half_length=np.array([2.3]),
                       yaw=np.array([np.pi / 2]))
    assert lane not in along[1].tolist()  # parallel: it stays in its own lane
    assert lane in across[1].tolist()  # sideways: its nose reaches 0.55 m into fwd.0
