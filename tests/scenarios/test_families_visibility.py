"""The front camera's geometric visibility: field of view, range and occlusion by other agents' boxes, with
hand-made scenes; and a cross-check against the camera renderer on a real occlusion scenario."""

import math

import numpy as np
import pytest

from cordillera.policies import make_policy
from cordillera.scenarios.checks import run_policy
from cordillera.scenarios.families import get_family
from cordillera.scenarios.visibility import (
    CAMERA_AHEAD_M, CAMERA_HEIGHT_M, MAX_RANGE_M, camera_pose, in_view, sample_points, visibility_over_log,
    visible_fraction,
)

CAMERA = np.array([0.0, 0.0, 0.0])  # at the origin looking along +x
PEDESTRIAN = (0.6, 0.6, 1.75)


def _box(x, y, size, yaw=0.0):
    return np.array([x, y, yaw, *size])


def test_camera_sits_ahead_of_the_rear_axle():
    cam = camera_pose(np.array([10.0, 5.0, math.pi / 2, 3.0]))
    assert cam == pytest.approx([10.0, 5.0 + CAMERA_AHEAD_M, math.pi / 2])


def test_sample_points_cover_the_box_at_two_heights():
    pts = sample_points(_box(5.0, 1.0, (4.0, 2.0, 1.0)))
    assert pts.shape == (18, 3)
    assert pts[:, 0].min() == pytest.approx(3.0) and pts[:, 0].max() == pytest.approx(7.0)
    assert pts[:, 1].min() == pytest.approx(0.0) and pts[:, 1].max() == pytest.approx(2.0)
    assert sorted(set(np.round(pts[:, 2], 6))) == [0.5, 0.95]


def test_a_clear_target_ahead_is_fully_visible():
    assert visible_fraction(CAMERA, _box(20.0, 0.0, PEDESTRIAN), np.zeros((0, 6))) == 1.0


@pytest.mark.parametrize("x, y", [(-10.0, 0.0), (5.0, 10.0), (MAX_RANGE_M + 10.0, 0.0)])
def test_targets_behind_beside_or_beyond_range_are_not_seen(x, y):
    # (5, 10) is 63 degrees off the axis: outside the 120 degree field of view
    target = _box(x, y, PEDESTRIAN)
    assert visible_fraction(CAMERA, target, np.zeros((0, 6))) == 0.0
    assert not in_view(CAMERA, sample_points(target)).any()


def test_a_tall_box_in_between_hides_the_target():
    van = _box(15.0, 0.0, (5.5, 2.0, 2.3))
    assert visible_fraction(CAMERA, _box(20.0, 0.0, PEDESTRIAN), van[None]) == 0.0


def test_a_low_box_hides_only_the_lower_half():
    # a 1 m high box just in front of the pedestrian: rays to the sample points at 0.875 m are below its top
    # where they cross it, rays to the points at 1.66 m pass above it
    low = _box(18.5, 0.0, (1.0, 3.0, 1.0))
    assert visible_fraction(CAMERA, _box(20.0, 0.0, PEDESTRIAN), low[None]) == 0.5


def test_a_box_beside_the_line_of_sight_hides_nothing():
    aside = _box(10.0, 3.0, (4.6, 1.9, 1.5))
    assert visible_fraction(CAMERA, _box(20.0, 0.0, PEDESTRIAN), aside[None]) == 1.0


def test_a_box_behind_the_target_hides_nothing():
    behind = _box(30.0, 0.0, (5.5, 2.0, 3.0))
    assert visible_fraction(CAMERA, _box(20.0, 0.0, PEDESTRIAN), behind[None]) == 1.0


def test_rays_over_a_box_lower_than_the_camera_and_target_pass():
    # camera at 1.45 m, the target's top at 1.9 m: a 1.3 m car in between cannot hide the upper points
    car = _box(10.0, 0.0, (4.6, 1.9, 1.3))
    assert visible_fraction(CAMERA, _box(20.0, 0.0, (0.6, 0.6, 2.0)), car[None]) == 0.5
    assert CAMERA_HEIGHT_M > 1.3


def test_occluded_pedestrian_is_hidden_until_it_steps_out():
    scenario = get_family("occluded_pedestrian").sample(0)
    final, fired_at = run_policy(scenario, make_policy("lane_follower"))
    seen, view = visibility_over_log(final, "pedestrian")
    first = int(np.argmax(seen > 0))
    assert view[0] and seen[0] == 0.0  # in the field of view, behind the van
    assert seen[first] > 0 and final.log[first].t > fired_at[0]  # seen only after the dart-out began


def test_geometry_agrees_with_the_camera_renderer():
    """Render the front wide camera with and without the hazard: pixels change iff it is visible."""
    from cordillera.world.render.camera import render_camera
    from cordillera.world.render.rig import default_rig

    camera = next(c for c in default_rig().cameras if c.name == "camera_front_wide_120fov")
    scenario = get_family("occluded_pedestrian").sample(1)
    final, _ = run_policy(scenario, make_policy("lane_follower"))
    k = final.agents.names.index("pedestrian")
    seen, _ = visibility_over_log(final, "pedestrian")
    steps = range(0, len(final.log), 10)
    agree = 0
    for i in steps:
        step = final.log[i]
        with_it = render_camera(final.road, step, final.agents.type, final.agents.height, camera)
        active = step.active.copy()
        active[k] = False
        without = render_camera(final.road, step._replace(active=active), final.agents.type, final.agents.height,
                                camera)
        agree += bool((with_it != without).any()) == bool(seen[i] > 0)
    assert agree >= len(steps) - 1  # a pixel at the edge of sight may go either way
    assert (seen[list(steps)] == 0).any() and (seen[list(steps)] > 0).any()  # both cases were compared
