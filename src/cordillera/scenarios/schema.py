"""The declarative, versioned scenario format (pydantic models, stored as YAML).

A Scenario says everything `world.sim.reset` needs: the map (builder + parameters), the ego start and
route, agents with behaviours, scripted events with triggers, background traffic, appearance, how long to
run and what counts as success. Load and save:

    >>> from cordillera.scenarios.schema import load_scenario, dump_scenario
    >>> scenario = load_scenario(open("scenario.yaml").read())
    >>> text = dump_scenario(scenario)          # round-trips exactly

Errors name the offending field by path: `agents[2].speed: Input should be greater than or equal to 0`.
"""

from __future__ import annotations

import math
import numbers
import types
from typing import Annotated, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator,
)

__all__ = [
    "SCHEMA_VERSION",
    "ScenarioError",
    "MapSpec",
    "EgoSpec",
    "AgentSpec",
    "BehaviorSpec",
    "TriggerSpec",
    "ActionSpec",
    "EventSpec",
    "TrafficSpec",
    "AppearanceSpec",
    "SuccessSpec",
    "TagsSpec",
    "Scenario",
    "load_scenario",
    "dump_scenario",
    "format_validation_error",
]

SCHEMA_VERSION = 1
MAX_INT = 2**53  # integers beyond this are no lane index, seed or map parameter (and would not survive JSON)


class _FieldError(ValueError):
    """Raised by a model validator to blame one field: `path` is relative to the model being validated."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path, self.message = path, message


def _lane_ref(value):
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = int(value)  # numpy integers too
        if 0 <= value < MAX_INT:
            return value
    elif isinstance(value, str):
        return value
    raise ValueError("must be a lane name (text) or a lane index (integer >= 0)")


def _param(value):
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        if abs(value) > MAX_INT:
            raise ValueError(f"integer beyond +-{MAX_INT}")
        return int(value)
    if isinstance(value, numbers.Real):
        if not math.isfinite(value):
            raise ValueError("must be finite")
        return float(value)
    raise ValueError("must be a number, a boolean or text")


# Checked before pydantic's union so that a bad value gives one message, not one per union member.
LaneRef = Annotated[int | str, BeforeValidator(_lane_ref)]
ParamValue = Annotated[bool | int | float | str, BeforeValidator(_param)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
NonNeg = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
Point = tuple[Finite, Finite]

AGENT_TYPES = (
    "car", "truck", "bus", "motorcycle", "cyclist", "pedestrian",
    "cone", "barrier", "debris", "parked_car", "stalled_vehicle", "animal",
)  # fmt: skip


class ScenarioError(ValueError):
    """A scenario document is invalid; the message names each bad field by its path."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MapSpec(_Strict):
    builder: str
    params: dict[str, ParamValue] = Field(default_factory=dict)


class EgoSpec(_Strict):
    lane: LaneRef
    s: NonNeg = 10.0  # arc length on the lane [m]
    d: Finite = 0.0  # lateral offset, + left [m]
    speed: NonNeg = 10.0  # [m/s]
    goal_lane: LaneRef | None = None  # route goal; default: follow successors to the end of the map
    route: tuple[LaneRef, ...] | None = None  # explicit lane sequence (overrides goal_lane)


class BehaviorSpec(_Strict):
    """How an agent moves.

    idm:    follows lanes along its route with IDM, obeys signals and right of way.
    static: does not move (cones, parked cars, debris, waiting pedestrians until an event).
    walk:   pedestrians/animals walking `path` at `desired_speed`, waiting at signalised crosswalks.
    path:   drives `path` at constant speed ignoring everyone (wrong-way driver, scripted manoeuvres).
    replay: follows `trajectory` (x, y, yaw per step at `replay_dt`) non-reactively.
    """

    kind: Literal["idm", "static", "walk", "path", "replay"] = "idm"
    desired_speed: NonNeg | None = None  # [m/s]; idm default: the lane speed limit
    time_headway_s: Positive = 1.5
    min_gap_m: NonNeg = 2.0
    max_accel: Positive = 1.5  # [m/s^2]
    comfort_decel: Positive = 2.5  # [m/s^2]
    goal_lane: LaneRef | None = None
    route: tuple[LaneRef, ...] | None = None
    path: tuple[Point, ...] | None = None  # world frame [m]
    trajectory: tuple[tuple[Finite, Finite, Finite], ...] | None = None
    replay_dt: Positive = 0.1  # [s]
    ignore_signals: bool = False
    lane_changes: bool = False  # MOBIL discretionary lane changes

    @model_validator(mode="after")
    def _needs(self):
        if self.kind in ("walk", "path") and (self.path is None or len(self.path) < 2):
            raise _FieldError("path", f"kind {self.kind!r} needs a path of at least 2 points")
        if self.kind == "replay" and (self.trajectory is None or len(self.trajectory) < 2):
            raise _FieldError("trajectory", "kind 'replay' needs a trajectory of at least 2 poses")
        return self


class AgentSpec(_Strict):
    id: str
    type: Literal[AGENT_TYPES] = "car"  # type: ignore[valid-type]
    lane: LaneRef | None = None  # place by lane + s + d ...
    s: NonNeg = 0.0
    d: Finite = 0.0
    position: Point | None = None  # ... or by world position + heading
    heading: Finite | None = None  # [rad]
    speed: NonNeg = 0.0
    size: tuple[Positive, Positive, Positive] | None = None  # length, width, height [m]; default per type
    behavior: BehaviorSpec = Field(default_factory=BehaviorSpec)
    active: bool = True  # inactive agents appear through an `appear` event
    flags: tuple[Literal["hazard", "emergency", "school_bus"], ...] = ()

    @model_validator(mode="after")
    def _placed(self):
        if (self.lane is None) == (self.position is None):
            raise ValueError("give exactly one of lane or position")
        return self


class TriggerSpec(_Strict):
    """When an event fires: at a time, when the ego is within a distance, or within a time-to-arrival."""

    kind: Literal["time", "ego_distance", "ego_time_to_arrival"]
    time_s: NonNeg | None = None
    distance_m: Positive | None = None
    tta_s: Positive | None = None

    @model_validator(mode="after")
    def _value(self):
        need = {"time": "time_s", "ego_distance": "distance_m", "ego_time_to_arrival": "tta_s"}[self.kind]
        if getattr(self, need) is None:
            raise _FieldError(need, f"required when kind is {self.kind!r}")
        return self


class ActionSpec(_Strict):
    """What happens when an event fires.

    cut_in / lane_change: move to the `direction` neighbour lane over `duration_s`.
    hard_brake: decelerate at `decel` until stopped.   stop: come to a stop at comfort deceleration.
    start_walking / dart_out: a static or waiting walker starts its path at `speed`.
    door_open: the agent's left door opens (box widens by `width_m`).
    run_red_light: the agent ignores signals from now on.   appear: an inactive agent appears.
    pull_out: a parked/static vehicle starts following its route (IDM).
    set_speed: a path/idm agent's desired speed becomes `speed`.
    """

    kind: Literal[
        "cut_in", "lane_change", "hard_brake", "stop", "start_walking", "dart_out", "door_open",
        "run_red_light", "appear", "pull_out", "set_speed",
    ]  # fmt: skip
    direction: Literal["left", "right"] | None = None
    duration_s: Positive = 2.0
    decel: Positive = 6.0  # [m/s^2]
    speed: NonNeg | None = None  # [m/s]
    width_m: Positive = 0.9

    @model_validator(mode="after")
    def _params(self):
        if self.kind in ("cut_in", "lane_change") and self.direction is None:
            raise _FieldError("direction", f"action {self.kind!r} needs direction: left or right")
        if self.kind in ("start_walking", "dart_out", "set_speed") and self.speed is None:
            raise _FieldError("speed", f"action {self.kind!r} needs speed")
        return self


class EventSpec(_Strict):
    agent: str
    trigger: TriggerSpec
    action: ActionSpec


class TrafficSpec(_Strict):
    """Background traffic spawned at reset from the scenario seed."""

    vehicles: Annotated[int, Field(ge=0, le=1000)] = 0
    lanes: tuple[LaneRef, ...] | None = None  # default: every driving lane that is not in a junction
    min_gap_m: Positive = 12.0
    speed_range: tuple[NonNeg, NonNeg] = (8.0, 14.0)  # [m/s]
    truck_fraction: Annotated[float, Field(ge=0.0, le=1.0)] = 0.1
    lane_changes: bool = True
    keep_clear_of_ego_m: NonNeg = 15.0
    pedestrians: Annotated[int, Field(ge=0, le=500)] = 0  # walkers on the sidewalks, crossing at crosswalks
    walking_speed_range: tuple[Positive, Positive] = (1.0, 1.6)  # [m/s]

    @field_validator("speed_range", "walking_speed_range")
    @classmethod
    def _ordered(cls, v):
        if v[0] > v[1]:
            raise ValueError("must be (low, high) with low <= high")
        return v


class AppearanceSpec(_Strict):
    time_of_day: Literal["day", "dusk", "night"] = "day"
    weather: Literal["clear", "rain", "fog"] = "clear"


class SuccessSpec(_Strict):
    kind: Literal["reach_goal", "survive"] = "survive"
    time_s: Positive = 20.0  # also the rollout length unless overridden [s]
    goal_distance_m: Positive = 5.0  # reach_goal: within this distance of the route's end


class TagsSpec(_Strict):
    family: str = ""
    longtail: bool = False
    category: str = ""
    expected_decision: str = ""
    critical: tuple[str, ...] = ()  # ids of the agents the expected decision is about (hazard first)


class Scenario(_Strict):
    version: Literal[1] = SCHEMA_VERSION
    name: str = "scenario"
    seed: Annotated[int, Field(ge=0, le=MAX_INT)] = 0
    map: MapSpec
    ego: EgoSpec
    agents: tuple[AgentSpec, ...] = ()
    events: tuple[EventSpec, ...] = ()
    traffic: TrafficSpec = Field(default_factory=TrafficSpec)
    appearance: AppearanceSpec = Field(default_factory=AppearanceSpec)
    signals_dark: bool = False  # every signal is out of order (treat as all-way stop)
    success: SuccessSpec = Field(default_factory=SuccessSpec)
    tags: TagsSpec = Field(default_factory=TagsSpec)

    @model_validator(mode="after")
    def _references(self):
        ids = [a.id for a in self.agents]
        seen: set[str] = set()
        for i, aid in enumerate(ids):
            if aid in seen:
                raise _FieldError(f"agents[{i}].id", f"duplicate id {aid!r}")
            seen.add(aid)
        for i, ev in enumerate(self.events):
            if ev.agent not in seen:
                raise _FieldError(f"events[{i}].agent", f"unknown agent id {ev.agent!r}")
        for i, aid in enumerate(self.tags.critical):
            if aid not in seen:
                raise _FieldError(f"tags.critical[{i}]", f"unknown agent id {aid!r}")
        return self


def format_validation_error(err: ValidationError) -> str:
    """One line naming every bad field by its path: `agents[1].speed: Input should be ... (got -1.0)`."""
    lines = []
    for e in err.errors():
        loc = tuple(e["loc"])
        cause = (e.get("ctx") or {}).get("error")
        msg = e["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        got = _brief(e.get("input"))
        if len(loc) >= 2 and loc[-1] == "[key]" and e["type"] == "string_type":  # a non-text dict key: blame the dict
            loc, got, msg = loc[:-2], None, f"keys must be text, got {_brief(loc[-2]) or type(loc[-2]).__name__}"
        elif e["type"] == "invalid_key":
            loc, got, msg = loc[:-1], None, f"keys must be text, got {_brief(loc[-1]) or type(loc[-1]).__name__}"
        path, model = _path(loc)
        if isinstance(cause, _FieldError):
            path = path + ("" if not path or cause.path.startswith("[") else ".") + cause.path
            msg, got = cause.message, None
        elif e["type"] == "extra_forbidden":
            msg, got = "unknown field", None
            if model is not None:
                msg += f" (expected one of: {', '.join(model.model_fields)})"
        elif e["type"] == "missing":
            got = None
        lines.append(f"{path or '(document)'}: {msg}" + (f" (got {got})" if got is not None else ""))
    return "; ".join(lines)


def _brief(value) -> str | None:
    """repr(value) when it is short enough to quote in a message, else None."""
    try:
        text = repr(value)
    except Exception:  # e.g. ints beyond Python's digit limit for str()
        return None
    return text if len(text) < 60 else None


def _unwrap(node):
    """Strip Annotated and Optional from a type annotation."""
    while True:
        origin = get_origin(node)
        if origin is Annotated:
            node = get_args(node)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(node) if a is not type(None)]
            if len(members) != 1:
                return node
            node = members[0]
        else:
            return node


def _path(loc: tuple) -> tuple[str, type[BaseModel] | None]:
    """`agents[1].behavior.path` for a pydantic error location, and the model holding its last part.

    The location is walked alongside the Scenario's type annotations, so tuple indexes print as `[i]`,
    dict keys as `.key` and pydantic's internal steps (union members, validator functions) are dropped.
    """
    node, path, owner = Scenario, "", None
    for part in loc:
        node = _unwrap(node)
        origin = get_origin(node)
        if isinstance(node, type) and issubclass(node, BaseModel):
            owner = node
            field = node.model_fields.get(part) if isinstance(part, str) else None
            node = field.annotation if field is not None else None
            path += _key(part, path)
        elif origin is tuple and isinstance(part, int):
            args = get_args(node)
            node = args[0] if len(args) == 2 and args[1] is Ellipsis else (args[part] if part < len(args) else None)
            path += f"[{part}]"
        elif origin is dict:
            node = get_args(node)[1]
            path += _key(part, path)
        elif isinstance(part, int):
            path += f"[{part}]"
        # anything else is a union member or validator tag: not part of the user's document
    return path, owner


def _key(part, path: str) -> str:
    """A mapping key as a path step: `.name` when it reads plainly, else `['odd key']`."""
    if isinstance(part, str) and part and all(c.isalnum() or c in "_-" for c in part) and part.isascii():
        return ("." if path else "") + part
    return f"[{_brief(part) or '...'}]"


def load_scenario(source: str | dict) -> Scenario:
    """Parse and validate a scenario from YAML text or a dict; ScenarioError on any problem."""
    if isinstance(source, str):
        data = _parse_yaml(source)
    else:
        data = source
    if not isinstance(data, dict):
        raise ScenarioError(f"(document): a scenario must be a mapping, got {type(data).__name__}")
    version = data.get("version", SCHEMA_VERSION)
    if type(version) is not int or version != SCHEMA_VERSION:
        shown = _brief(version) or type(version).__name__
        raise ScenarioError(f"version: unsupported scenario version {shown} (this build reads {SCHEMA_VERSION})")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(exc)) from None


def _parse_yaml(text: str):
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = ": ".join(" ".join(str(x).split()) for x in (exc.context, exc.problem) if x) or "unreadable"
        raise ScenarioError(f"malformed YAML{where}: {what}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"malformed YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise ScenarioError("malformed YAML: nested too deeply") from None
    except Exception as exc:  # PyYAML's constructors fail on some scalars with plain builtin errors:
        # ValueError (timestamp 2021-13-01, a 5000-digit int), IndexError (`!!int ''`), AttributeError (`!!timestamp`)
        raise ScenarioError(f"malformed YAML: {' '.join(str(exc).split())}") from None


def dump_scenario(scenario: Scenario) -> str:
    """YAML text that `load_scenario` turns back into an equal Scenario."""
    data = scenario.model_dump(mode="json")
    return yaml.safe_dump(data, sort_keys=False)
