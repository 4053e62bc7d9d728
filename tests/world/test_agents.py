"""Agents-as-arrays and the packed path table."""

from __future__ import annotations

import numpy as np

from cordillera.world.agents import PathTable


def _paths():
    t = np.linspace(0, np.pi / 2, 30)
    return [np.array([[0.0, 0.0], [50.0, 0.0]]), np.stack([20 * np.sin(t), 20 * (1 - np.cos(t))], -1),
            np.array([[5.0, 5.0], [5.0, 25.0], [30.0, 25.0]])]


def test_append_equals_packing_everything_at_once():
    paths = _paths()
    grown = PathTable.pack(paths[:2]).append(paths[2])
    whole = PathTable.pack(paths)
    for name in ("points", "s", "start", "end", "base", "length", "speed_cap"):
        np.testing.assert_allclose(getattr(grown, name), getattr(whole, name), rtol=0, atol=1e-12)
    for k, p in enumerate(paths):
        np.testing.assert_array_equal(whole.points[whole.start[k]:whole.end[k]], p)


def test_packed_paths_never_touch():
    table = PathTable.pack(_paths())
    ends = table.base + table.length
    assert np.all(table.base[1:] >= ends[:-1] + 1.0 - 1e-12)


def test_speed_caps_respect_the_curve():
    radius = 20.0
    theta = np.linspace(0, np.pi / 2, 60)
    arc = np.stack([radius * np.sin(theta), radius * (1 - np.cos(theta))], -1)
    table = PathTable.pack([np.concatenate([[[-100.0, 0.0]], arc])])
    caps = table.speed_cap
    assert np.all(caps[1:] <= np.sqrt(2.0 * radius) + 0.2)  # 2 m/s^2 lateral in the bend
    assert caps[0] > 15.0  # 100 m before the bend the cap is much higher
