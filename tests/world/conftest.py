"""Shared helpers for world tests: small scenarios built from dicts."""

from __future__ import annotations

import pytest

from cordillera.scenarios.schema import load_scenario


def make_scenario(builder="straight", params=None, ego=None, agents=(), events=(), traffic=None, duration=10.0, **extra):
    doc = {
        "name": "test",
        "map": {"builder": builder, "params": params or {}},
        "ego": ego or {"lane": "fwd.0", "s": 10.0, "speed": 10.0},
        "agents": list(agents),
        "events": list(events),
        "traffic": traffic or {"vehicles": 0},
        "success": {"kind": "survive", "time_s": duration},
        **extra,
    }
    return load_scenario(doc)


@pytest.fixture
def scenario_factory():
    return make_scenario
