"""The compiled camera kernels: frustum culling, exact clipping at the near plane, fixed-point projection."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cordillera.world.render.clip import SHIFT, clip_project, frustum_planes, transform_cull

FX = FY = 100.0
CX, CY, W, H = 99.5, 49.5, 200, 100
NEAR = 0.5
PLANES = frustum_planes(FX, FY, CX, CY, W, H, NEAR)
K = np.array([FX, FY, CX, CY])


def clip(polygons: list[np.ndarray]) -> list[np.ndarray]:
    """Clip optical-frame polygons; returns each kept polygon's pixels (float, fixed point undone)."""
    verts = np.concatenate(polygons).astype(np.float64)
    starts = np.cumsum([0] + [len(p) for p in polygons]).astype(np.int64)
    n = len(polygons)
    px = np.empty((2 * len(verts) + 16 * n + 16, 2), np.int32)
    px_s, idx = np.empty(n + 1, np.int64), np.empty(n, np.int64)
    count = clip_project(verts, starts, n, PLANES, K, px, px_s, idx)
    return [px[px_s[k]:px_s[k + 1]] / float(1 << SHIFT) for k in range(count)]


def test_polygon_inside_is_projected_exactly():
    square = np.array([[-1.0, -1.0, 10.0], [1.0, -1.0, 10.0], [1.0, 1.0, 10.0], [-1.0, 1.0, 10.0]])
    (out,) = clip([square])
    np.testing.assert_allclose(out, [[89.5, 39.5], [109.5, 39.5], [109.5, 59.5], [89.5, 59.5]], atol=1 / 16)


def test_polygon_behind_the_camera_is_dropped():
    behind = np.array([[-1.0, 0.5, -5.0], [1.0, 0.5, -5.0], [1.0, 0.5, -1.0], [-1.0, 0.5, -1.0]])
    assert clip([behind]) == []


def test_ground_strip_from_behind_to_ahead_is_cut_at_the_near_plane():
    # a strip on the ground 1.5 m below the camera (optical y down), from 10 m behind to 40 m ahead
    strip = np.array([[-0.2, 1.5, -10.0], [0.2, 1.5, -10.0], [0.2, 1.5, 40.0], [-0.2, 1.5, 40.0]])
    (out,) = clip([strip])
    # nothing above the horizon (v = 49.5) and nothing wider than the strip at the bottom edge of the image:
    # the strip meets the bottom side plane (v = 99.5 + guard) at z = 1.5 * 100 / 52 = 2.88 m, where it is
    # 0.2 * 100 / 2.88 = 6.9 px either side of the centre column
    assert out[:, 1].min() >= 49.5 + 1.5 * 100 / 40 - 0.1
    assert out[:, 1].max() <= 99.5 + 2.5 + 0.1
    assert np.abs(out[:, 0] - 99.5).max() <= 0.2 * 100 / (1.5 * 100 / 52.5) + 0.1


def test_transform_cull_skips_far_outside_and_back_facing_polygons():
    verts = np.array([[5, -1, 0], [5, 1, 0], [5, 1, 2], [5, -1, 2],  # a wall ahead facing the camera (-x)
                      [-9, -1, 0], [-9, 1, 0], [-9, 1, 2], [-9, -1, 2],  # the same behind the camera
                      [500, -1, 0], [500, 1, 0], [500, 1, 2], [500, -1, 2],  # beyond far
                      [5, -1, 0], [5, -1, 2], [5, 1, 2], [5, 1, 0]], dtype=np.float64)  # ahead, facing away
    starts = np.arange(0, 17, 4, dtype=np.int64)
    centre = np.array([[5, 0, 1], [-9, 0, 1], [500, 0, 1], [5, 0, 1]], dtype=np.float64)
    radius = np.full(4, 1.5)
    normal = np.array([[-1, 0, 0], [-1, 0, 0], [-1, 0, 0], [1, 0, 0]], dtype=np.float64)
    # camera at the world origin, 1 m up, looking along +x: optical x = -y, y = -(z - 1), z = x
    matrix = np.array([[0, -1, 0, 0], [0, 0, -1, 1], [1, 0, 0, 0]], dtype=np.float64)
    out_v, out_s, out_src = np.empty((16, 3)), np.empty(5, np.int64), np.empty(4, np.int64)
    kept = transform_cull(verts, starts, np.arange(4), centre, radius, normal, matrix, np.array([0.0, 0.0, 1.0]),
                          PLANES, 250.0, out_v, out_s, out_src)
    assert kept == 1 and out_src[0] == 0
    np.testing.assert_allclose(out_v[:4], [[1, 1, 5], [-1, 1, 5], [-1, -1, 5], [1, -1, 5]])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-20, 20), st.floats(-5, 5), st.floats(-20, 20)), min_size=3, max_size=8))
def test_clipped_polygons_stay_in_front_and_inside_the_guard_band(points):
    poly = np.array(points, dtype=np.float64)
    for out in clip([poly]):
        assert np.all(np.isfinite(out))
        assert out[:, 0].min() >= -0.5 - 2.0 - 0.2 and out[:, 0].max() <= W - 0.5 + 2.0 + 0.2
        assert out[:, 1].min() >= -0.5 - 2.0 - 0.2 and out[:, 1].max() <= H - 0.5 + 2.0 + 0.2


def test_specks_are_found_and_splatted_in_order():
    from cordillera.world.render.clip import splat, tiny

    s = 1 << SHIFT
    pixels = np.array([[10, 10], [11, 10], [11, 11],  # under 2 px: a speck
                       [0, 0], [40, 0], [40, 30],  # a real triangle
                       [11, 11], [12, 11], [12, 12],  # a speck overlapping the first one at (11, 11)
                       [999, 999]], np.int32) * s  # unused capacity after the last polygon
    starts = np.array([0, 3, 6, 9], np.int64)
    assert tiny(pixels, starts).tolist() == [True, False, True]
    image = np.zeros((20, 20, 3), np.uint8)
    splat(image, pixels, starts, np.array([0, 2]), np.array([[1, 1, 1], [2, 2, 2]], np.uint8))
    assert image[10, 10].tolist() == [1, 1, 1] and image[11, 11].tolist() == [2, 2, 2]  # the later one wins
    assert image[12, 12].tolist() == [2, 2, 2] and image.any(axis=2).sum() == 7  # two 2x2 blocks, one shared
