"""Shared fixtures: a small real dataset, generated once per session by the teacher (2 short episodes of the `val`
suite, one in each split), for the data, model and benchmark tests that read one; and a loader for the scripts
under benchmarks/ (scripts, not a package)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from cordillera.teacher.datagen import DatagenConfig, generate

# what `cordillera datagen --suite val --episodes 2 --seed 0 --routine-rate 0.3 --duration 3.5 --val-fraction 0.5`
# makes: right_turn_crosswalk:10000 (val) and red_light_runner:10001 (train)
SMALL = DatagenConfig(suite="val", episodes=2, seed=0, routine_rate=0.3, duration_s=3.5, val_fraction=0.5)


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "small"
    info = generate(SMALL, root)
    return root, info


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="session")
def load_benchmark():
    """load_benchmark("policy_latency"): the module of benchmarks/policy_latency.py, freshly executed."""
    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load
