"""Built-in scenarios, one per road builder, and `resolve_scenario` for the CLI.

    cordillera sim intersection --seed 3 --video out/intersection.mp4

`resolve_scenario` accepts a YAML path, a built-in scenario name, or FAMILY:SEED once a family library
is registered (`cordillera.scenarios.families`).
"""

from __future__ import annotations

from pathlib import Path

from cordillera.scenarios.schema import Scenario, ScenarioError, load_scenario

__all__ = ["BUILTIN", "builtin_scenario", "resolve_scenario"]

BUILTIN: dict[str, dict] = {
    "straight": {
        "map": {"builder": "straight", "params": {"length_m": 400.0, "lanes_per_direction": 2}},
        "ego": {"lane": "fwd.0", "s": 20.0, "speed": 10.0},
        "traffic": {"vehicles": 10},
        "success": {"kind": "survive", "time_s": 20.0},
    },
    "curved": {
        "map": {"builder": "curved", "params": {"radius_m": 60.0, "angle_deg": 90.0}},
        "ego": {"lane": "fwd.0", "s": 10.0, "speed": 8.0},
        "traffic": {"vehicles": 6},
        "success": {"kind": "survive", "time_s": 20.0},
    },
    "intersection": {
        "map": {"builder": "intersection", "params": {"lanes_per_direction": 2, "protected_left": False}},
        "ego": {"lane": "south_in.1", "s": 30.0, "speed": 8.0, "goal_lane": "west_out.1"},
        "traffic": {"vehicles": 14},
        "agents": [
            {"id": "walker", "type": "pedestrian", "position": [-12.0, -10.0],
             "behavior": {"kind": "walk", "desired_speed": 1.3, "path": [[-12.0, -10.0], [-12.0, 10.0], [-30.0, 10.0]]}},
        ],
        "success": {"kind": "reach_goal", "time_s": 40.0},
    },
    "t_junction": {
        "map": {"builder": "t_junction", "params": {"control": "stop"}},
        "ego": {"lane": "south_in.0", "s": 30.0, "speed": 8.0, "goal_lane": "east_out.0"},
        "traffic": {"vehicles": 6},
        "success": {"kind": "reach_goal", "time_s": 40.0},
    },
    "highway_merge": {
        "map": {"builder": "highway_merge", "params": {}},
        "ego": {"lane": "ramp.entry", "s": 5.0, "speed": 18.0, "goal_lane": "main.0"},
        "traffic": {"vehicles": 16, "speed_range": [20.0, 28.0], "min_gap_m": 20.0},
        "success": {"kind": "survive", "time_s": 25.0},
    },
    "highway": {
        "map": {"builder": "highway", "params": {"lanes": 3, "length_m": 1000.0}},
        "ego": {"lane": "main.1", "s": 100.0, "speed": 25.0},
        "traffic": {"vehicles": 20, "speed_range": [20.0, 30.0], "min_gap_m": 15.0},
        "success": {"kind": "survive", "time_s": 30.0},
    },
}


def builtin_scenario(name: str, seed: int = 0) -> Scenario:
    if name not in BUILTIN:
        raise ScenarioError(f"unknown built-in scenario {name!r}; known: {', '.join(sorted(BUILTIN))}")
    return load_scenario({"name": name, "seed": seed, **BUILTIN[name]})


def resolve_scenario(arg: str) -> Scenario:
    """A scenario from a YAML path, a built-in name, or FAMILY:SEED."""
    path = Path(arg)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        try:
            text = path.read_text()
        except OSError as exc:
            raise ScenarioError(f"cannot read scenario file {arg!r}: {exc.strerror}") from None
        return load_scenario(text)
    if arg in BUILTIN:
        return builtin_scenario(arg)
    if ":" in arg:
        family, _, seed = arg.rpartition(":")
        try:
            from cordillera.scenarios.families import sample_family
        except ImportError:
            raise ScenarioError(f"{arg!r}: no scenario family library is installed yet") from None
        if not seed.isdigit():
            raise ScenarioError(f"{arg!r}: FAMILY:SEED needs an integer seed")
        return sample_family(family, int(seed))
    raise ScenarioError(f"unknown scenario {arg!r}: not a YAML file, a built-in ({', '.join(sorted(BUILTIN))}) or FAMILY:SEED")
