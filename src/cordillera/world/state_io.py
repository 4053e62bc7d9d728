"""Save a WorldState to one .npz file and load it back, bit for bit.

The file holds arrays only (numpy's npz, loaded with allow_pickle=False) plus a JSON header with the
scenario, the sim config and the scalar state. Loading rebuilds the static world from the scenario
(deterministic) and restores every dynamic array, so a loaded state continues exactly as the original.

    >>> save_state(state, "moment.npz"); again = load_state("moment.npz")
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from cordillera.world.agents import Agents, PathTable
from cordillera.world.dynamics import EgoState

__all__ = ["STATE_FORMAT_VERSION", "StateFileError", "save_state", "load_state", "config_to_dict", "config_from_dict"]

STATE_FORMAT_VERSION = 1


class StateFileError(ValueError):
    """A state file is missing, corrupt, or from another format version."""


def config_to_dict(config) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(config)))


def config_from_dict(cls, data: dict):
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        default = getattr(cls(), f.name) if f.default_factory is not dataclasses.MISSING or f.default is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(default):
            value = config_from_dict(type(default), value)
        elif isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        kwargs[f.name] = value
    return cls(**kwargs)


def _jsonable(value):
    """Reasoning as JSON-ready data: kept as is when it already is, dataclasses as dicts, else its text.

    (A loaded state carries this plain form; the objects themselves are never pickled.)
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return str(value)


def save_state(state, path) -> Path:
    """Write `state` (a sim.WorldState) to `path` (.npz). Returns the path."""
    from cordillera.scenarios.schema import dump_scenario

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    log = state.log
    n_plan = np.array([s.plan is not None for s in log])
    max_c = max((len(s.collisions) for s in log), default=0)
    collisions = np.full((len(log), max(max_c, 1)), -1, dtype=np.int64)
    for k, s in enumerate(log):
        collisions[k, : len(s.collisions)] = s.collisions
    zero_plan = np.zeros((64, 3))
    sampled = [k for k, s in enumerate(log) if s.samples is not None]
    header = {
        "format_version": STATE_FORMAT_VERSION,
        "scenario_yaml": dump_scenario(state.world.scenario),
        "config": config_to_dict(state.world.config),
        "seed": state.world.seed,
        "t": state.t,
        "step": state.step,
        "fired": list(state.fired),
        "plan_t0": state.plan_t0,
        "routes": [list(r) for r in state.routes],
        "names": list(state.agents.names),
        "reasoning": {str(k): _jsonable(s.reasoning) for k, s in enumerate(log) if s.reasoning is not None},
        "sample_steps": sampled,
    }
    arrays = {
        "header": np.array(json.dumps(header)),
        "ego": state.ego.as_array(),
        "plan": state.plan if state.plan is not None else np.zeros((0, 3)),
        "paths.points": state.paths.points, "paths.s": state.paths.s, "paths.start": state.paths.start,
        "paths.end": state.paths.end, "paths.base": state.paths.base, "paths.length": state.paths.length,
        "paths.speed_cap": state.paths.speed_cap,
        "log.t": np.array([s.t for s in log]),
        "log.ego": np.stack([s.ego for s in log]),
        "log.ego_center": np.stack([s.ego_center for s in log]),
        "log.agents": np.stack([s.agents for s in log]),
        "log.active": np.stack([s.active for s in log]),
        "log.flags": np.stack([s.flags for s in log]),
        "log.signals": np.stack([s.signals for s in log]),
        "log.has_plan": n_plan,
        "log.plan": np.stack([s.plan if s.plan is not None else zero_plan for s in log]),
        "log.plan_t0": np.array([s.plan_t0 for s in log]),
        "log.collisions": collisions,
        "log.sample_counts": np.array([len(log[k].samples) for k in sampled], dtype=np.int64),
        "log.samples": np.concatenate([log[k].samples for k in sampled]) if sampled else np.zeros((0, 64, 3)),
        **state.agents.to_npz_dict(),
    }
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)  # never leave a half-written file under the real name
    return path


def load_state(path):
    """Load a WorldState written by `save_state`; StateFileError with the reason if it cannot."""
    from cordillera.scenarios.schema import load_scenario
    from cordillera.world import sim

    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
        header = json.loads(str(data["header"]))
    except FileNotFoundError:
        raise StateFileError(f"{path}: no such state file") from None
    except Exception as exc:  # zipfile, json and numpy errors all mean "not a state file"
        raise StateFileError(f"{path}: not a Cordillera state file ({type(exc).__name__}: {exc})") from None
    if header.get("format_version") != STATE_FORMAT_VERSION:
        raise StateFileError(f"{path}: state format {header.get('format_version')!r}, this build reads {STATE_FORMAT_VERSION}")
    scenario = load_scenario(header["scenario_yaml"])
    config = config_from_dict(sim.SimConfig, header["config"])
    world = sim.reset(scenario, header["seed"], config).world
    try:
        names = tuple(header["names"])
        agents = Agents.from_npz_dict(data, names)
        paths = PathTable(*(np.array(data[f"paths.{k}"]) for k in ("points", "s", "start", "end", "base", "length", "speed_cap")))
        coll = data["log.collisions"]
        samples: dict[int, np.ndarray] = {}
        if header.get("sample_steps"):
            cuts = np.cumsum(np.array(data["log.sample_counts"]))[:-1]
            samples = dict(zip(header["sample_steps"], np.split(np.array(data["log.samples"]), cuts)))
        reasoning = {int(k): v for k, v in header.get("reasoning", {}).items()}
        log = tuple(
            sim.LogStep(
                t=float(data["log.t"][k]), ego=data["log.ego"][k], ego_center=data["log.ego_center"][k],
                agents=data["log.agents"][k], active=data["log.active"][k], flags=data["log.flags"][k],
                signals=data["log.signals"][k], plan=data["log.plan"][k] if data["log.has_plan"][k] else None,
                plan_t0=float(data["log.plan_t0"][k]), collisions=tuple(int(c) for c in coll[k] if c >= 0),
                reasoning=reasoning.get(k), samples=samples.get(k),
            )
            for k in range(len(data["log.t"]))
        )
        plan = np.array(data["plan"])
    except KeyError as exc:
        raise StateFileError(f"{path}: missing array {exc}") from None
    return sim.WorldState(
        world=world, t=header["t"], step=header["step"], ego=EgoState.from_array(data["ego"]), agents=agents,
        paths=paths, routes=tuple(tuple(r) for r in header["routes"]), fired=tuple(header["fired"]),
        plan=plan if plan.shape == (64, 3) else None, plan_t0=header["plan_t0"], log=log,
    )
