"""Static map geometry for the cameras: layers, pieces, heights, kerb faces, caching."""

import numpy as np
import pytest
import shapely

from cordillera.world.render.ground import CURB_HEIGHT_M, LAYERS, ground_geometry
from cordillera.world.roads import build_map


@pytest.fixture(scope="module")
def junction():
    road = build_map("intersection", {"lanes_per_direction": 2})
    return road, ground_geometry(road)


def test_every_layer_of_a_signalised_junction_is_present(junction):
    _, g = junction
    present = {LAYERS[k] for k in np.unique(g.layer)}
    assert present >= {"road", "crosswalk", "stop_line", "marking_white", "marking_yellow", "curb_face", "sidewalk",
                       "curb"}
    assert np.all(np.diff(g.layer) >= 0)  # drawn in layer order
    assert np.all(np.diff(g.starts) >= 3)  # every polygon has 3+ vertices


def test_heights_and_kerb_normals(junction):
    _, g = junction
    for k in range(g.count):
        z = g.vertices[g.starts[k]:g.starts[k + 1], 2]
        name = LAYERS[g.layer[k]]
        if name == "curb_face":
            assert set(np.round(z, 6)) == {0.0, CURB_HEIGHT_M}
            assert abs(np.linalg.norm(g.normal[k]) - 1.0) < 1e-9 and g.normal[k, 2] == 0.0
        else:
            expected = CURB_HEIGHT_M if name in ("sidewalk", "curb") else 0.0
            assert np.allclose(z, expected) and not g.normal[k].any()


def test_kerb_faces_look_at_the_road(junction):
    road, g = junction
    faces = np.flatnonzero(g.layer == LAYERS.index("curb_face"))
    probe = g.centre[faces, :2] + g.normal[faces, :2] * 0.5  # half a metre in front of each face
    assert road.in_drivable_area(probe).mean() > 0.95


def test_pieces_cover_the_road_without_overlap(junction):
    road, g = junction
    pieces = [shapely.Polygon(g.vertices[g.starts[k]:g.starts[k + 1], :2]) for k in np.flatnonzero(g.layer == 0)]
    union = shapely.union_all(pieces)
    assert abs(union.area - road.drivable_area.area) < 0.01 * road.drivable_area.area
    assert abs(sum(p.area for p in pieces) - union.area) < 1.0  # pieces do not overlap
    radius = g.radius[g.layer == 0]
    assert radius.max() < 25.0  # cut by the 25 m grid: a bounding sphere spans at most one cell


def test_geometry_is_cached_per_map(junction):
    road, g = junction
    assert ground_geometry(road) is g
    other = build_map("intersection", {"lanes_per_direction": 1})
    assert ground_geometry(other) is not g and ground_geometry(other).count < g.count


@pytest.mark.parametrize("builder", ["straight", "curved", "t_junction", "highway", "highway_merge"])
def test_every_builder_makes_ground(builder):
    g = ground_geometry(build_map(builder, {}))
    assert g.count > 10 and np.isfinite(g.vertices).all()
