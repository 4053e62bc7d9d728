"""The declarative, versioned scenario format (pydantic models, stored as YAML).

A Scenario says everything `world.sim.reset` needs: the map (builder + parameters), the ego start and
route, agents with behaviours, scripted events with triggers, background traffic, appearance, how long to
run and what counts as success. Load and save:

    >>> from cordillera.scenarios.schema import load_scenario, dump_scenario
    >>> scenario = load_scenario(open("scenario.yaml").read())
    >>> text = dump_scenario(scenario)          # round-trips exactly

Errors name the offending field by path: `agents[2].speed: must be >= 0`.
"""

from __future__ import annotations

from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

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

LaneRef = int | str
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
    params: dict[str, bool | int | float | str] = Field(default_factory=dict)


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
            raise ValueError(f"kind {self.kind!r} needs a path of at least 2 points")
        if self.kind == "replay" and (self.trajectory is None or len(self.trajectory) < 2):
            raise ValueError("kind 'replay' needs a trajectory of at least 2 poses")
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
            raise ValueError(f"trigger kind {self.kind!r} needs {need}")
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
            raise ValueError(f"action {self.kind!r} needs direction: left or right")
        if self.kind in ("start_walking", "dart_out", "set_speed") and self.speed is None:
            raise ValueError(f"action {self.kind!r} needs speed")
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

    @field_validator("speed_range")
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


class Scenario(_Strict):
    version: Literal[1] = SCHEMA_VERSION
    name: str = "scenario"
    seed: Annotated[int, Field(ge=0)] = 0
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
                raise ValueError(f"agents[{i}].id: duplicate id {aid!r}")
            seen.add(aid)
        for i, ev in enumerate(self.events):
            if ev.agent not in seen:
                raise ValueError(f"events[{i}].agent: unknown agent id {ev.agent!r}")
        return self


def format_validation_error(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        path = ""
        for part in e["loc"]:
            if isinstance(part, int):
                path += f"[{part}]"
            elif part and not str(part).startswith("function-"):
                path += ("." if path else "") + str(part)
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"{path or '(document)'}: {msg}" + (f" (got {e['input']!r})" if _short(e) else ""))
    return "; ".join(lines)


def _short(e) -> bool:
    return e["type"] not in ("missing", "extra_forbidden") and len(repr(e.get("input"))) < 60


def load_scenario(source: str | dict) -> Scenario:
    """Parse and validate a scenario from YAML text or a dict; ScenarioError on any problem."""
    if isinstance(source, str):
        try:
            data = yaml.safe_load(source)
        except yaml.YAMLError as exc:
            raise ScenarioError(f"malformed YAML: {exc}") from None
    else:
        data = source
    if not isinstance(data, dict):
        raise ScenarioError(f"(document): a scenario must be a mapping, got {type(data).__name__}")
    version = data.get("version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise ScenarioError(f"version: unsupported scenario version {version!r} (this build reads {SCHEMA_VERSION})")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(format_validation_error(exc)) from None


def dump_scenario(scenario: Scenario) -> str:
    """YAML text that `load_scenario` turns back into an equal Scenario."""
    data = scenario.model_dump(mode="json")
    return yaml.safe_dump(data, sort_keys=False)
