"""Plan and observation types: validation and construction."""

from __future__ import annotations

import numpy as np
import pytest

from cordillera import constants as C
from cordillera.world.types import Plan, PlanError, validate_plan_array


def test_plan_from_speed_profile_straight_and_arc():
    straight = Plan.from_speed_profile(np.full(C.PLAN_STEPS, 10.0))
    np.testing.assert_allclose(straight.poses[9], [10.0, 0.0, 0.0])  # 1 s at 10 m/s
    radius = 20.0
    arc = Plan.from_speed_profile(np.full(C.PLAN_STEPS, 5.0), curvature=1.0 / radius)
    end = arc.poses[-1]
    assert np.hypot(end[0], end[1] - radius) == pytest.approx(radius)  # on the circle through the origin
    assert end[2] == pytest.approx(5.0 * 6.4 / radius)


def test_plan_validation_names_the_problem():
    with pytest.raises(PlanError, match=r"shape \(64, 3\), got \(3, 3\)"):
        Plan(np.zeros((3, 3)))
    bad = np.zeros((64, 3))
    bad[7, 1] = np.nan
    with pytest.raises(PlanError, match="NaN or inf at index 7"):
        validate_plan_array(bad)
    with pytest.raises(PlanError, match="samples"):
        Plan(np.zeros((64, 3)), samples=np.zeros((2, 10, 3)))
    assert isinstance(PlanError("x"), ValueError)
