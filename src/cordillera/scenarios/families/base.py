"""What a scenario family is: a template plus distributions over its parameters.

    >>> from cordillera.scenarios.families import get_family
    >>> family = get_family("occluded_pedestrian")
    >>> scenario = family.sample(3)            # deterministic: the same seed gives the same Scenario
    >>> family.draw(3)                         # the parameter values behind it

A family module declares each family with the `family(...)` decorator on its template function. The
template receives the drawn parameters (attribute access: `p.speed`) and returns a scenario document (a
dict in the YAML layout) without name, seed, appearance or tags; `Family.sample` adds those, so every
scenario of the library carries its family, category, long-tail flag, expected decision and the ids of
its critical agents, and is validated by the schema like any user-written YAML.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Literal

import numpy as np

from cordillera.geometry import smoothstep
from cordillera.scenarios.schema import Scenario, load_scenario
from cordillera.world.roads import RoadMap, build_map

__all__ = [
    "DECISIONS", "Uniform", "IntRange", "Choice", "Appearance", "APPEARANCE", "NIGHT", "Evade", "Params",
    "Family", "family", "road_for", "path_along", "shifted_path", "straight_road", "REGISTERED",
]

# The expected decisions a family can name (tags.expected_decision): one vocabulary across the library.
DECISIONS = (
    "follow", "proceed", "stop", "yield", "slow_down", "merge", "keep_lane",
    "nudge_left", "lane_change_left", "lane_change_right", "pull_over",
)  # fmt: skip


# ---- distributions ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Uniform:
    """A float drawn uniformly from [lo, hi], rounded to `digits` decimals (readable, exact in YAML)."""

    lo: float
    hi: float
    digits: int = 2

    def draw(self, rng: np.random.Generator) -> float:
        return round(float(rng.uniform(self.lo, self.hi)), self.digits)


@dataclass(frozen=True)
class IntRange:
    """An integer drawn uniformly from lo..hi inclusive."""

    lo: int
    hi: int

    def draw(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.lo, self.hi + 1))


@dataclass(frozen=True)
class Choice:
    """One of `options`, with optional weights (normalised)."""

    options: tuple
    weights: tuple[float, ...] | None = None

    def draw(self, rng: np.random.Generator):
        p = None if self.weights is None else np.asarray(self.weights, dtype=np.float64) / sum(self.weights)
        return self.options[int(rng.choice(len(self.options), p=p))]


@dataclass(frozen=True)
class Appearance:
    """Time of day and weather, drawn independently; night, rain and fog are the long-tail variants."""

    times: tuple[str, ...] = ("day", "dusk", "night")
    time_weights: tuple[float, ...] = (0.6, 0.15, 0.25)
    weathers: tuple[str, ...] = ("clear", "rain", "fog")
    weather_weights: tuple[float, ...] = (0.7, 0.2, 0.1)

    def draw(self, rng: np.random.Generator) -> dict:
        return {"time_of_day": Choice(self.times, self.time_weights).draw(rng),
                "weather": Choice(self.weathers, self.weather_weights).draw(rng)}


APPEARANCE = Appearance()
NIGHT = Appearance(times=("night",), time_weights=(1.0,))


@dataclass(frozen=True)
class Evade:
    """A hand-written evasive manoeuvre that must clear the hazard (see `scenarios.checks.evading_path`).

    side: which way the ego shifts; None: the way the sample's expected decision says (right for
    "lane_change_right" and "pull_over", else left). shift_m: lateral shift off the route [m]; None: just
    enough to clear the hazards with `margin_m`. hold: stay shifted to the end (a lane change or pulling
    over) instead of returning after the hazard. stop: come to a stop once shifted (pulling over).
    from_start: shift right away instead of shortly before the hazard (a moving hazard such as a
    wrong-way driver).
    """

    side: Literal["left", "right"] | None = None
    shift_m: float | None = None
    margin_m: float = 0.6  # [m] clearance to the hazard's box
    hold: bool = False
    stop: bool = False
    from_start: bool = False
    speed_mps: float | None = None  # cruise speed of the manoeuvre; None: the ego's initial speed


class Params(dict):
    """The drawn parameters of one sample; read them as attributes (`p.speed`)."""

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no parameter {name!r}; drawn: {', '.join(self)}") from None


# ---- the family -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Family:
    """A parametric scenario: `sample(seed)` draws the parameters and fills in the template.

    decisions: the expected decisions its samples may carry, the default first (a template can pick
    another per sample through `tags.expected_decision`). hazards: ids of the critical agents, the
    primary one first. visibility of the primary hazard to the front camera when the rollout starts:
    "visible", "occluded" (in the field of view behind another agent, seen later) or "rear" (outside the
    field of view, seen later or never). solution: how the tests show the scenario is solvable:
    "baseline" (the rule-based lane follower finishes without a collision), "brake" (cruising, then braking
    hard once the hazard is in sight and headed into the ego's path clears it) or "evade" (the `evade`
    manoeuvre clears it). expect: further promises checked on the rollouts (`families.expect`).
    """

    name: str
    template: Callable[[Params], dict]
    category: str
    longtail: bool
    decisions: tuple[str, ...]
    params: dict = field(default_factory=dict)
    hazards: tuple[str, ...] = ()
    visibility: Literal["visible", "occluded", "rear"] | None = None
    solution: Literal["baseline", "brake", "evade"] = "baseline"
    evade: Evade | None = None
    appearance: Appearance = APPEARANCE
    expect: tuple[Callable, ...] = ()  # family-specific promises (`families.expect`): report -> None | problem
    description: str = ""

    def __post_init__(self) -> None:
        unknown = [d for d in self.decisions if d not in DECISIONS]
        if not self.decisions or unknown:
            raise ValueError(f"family {self.name!r}: decisions must be some of {DECISIONS}, got {self.decisions}")
        if (self.solution == "evade") != (self.evade is not None):
            raise ValueError(f"family {self.name!r}: solution 'evade' and an Evade go together")
        if self.visibility is not None and not self.hazards:
            raise ValueError(f"family {self.name!r}: a visibility promise needs a hazard")

    @property
    def tags(self) -> dict:
        """The tags shared by every sample (the listing of `cordillera scenarios list`)."""
        return {"family": self.name, "longtail": self.longtail, "category": self.category,
                "expected_decision": self.decisions[0], "decisions": list(self.decisions)}

    def rng(self, seed: int) -> np.random.Generator:
        """The generator of sample `seed`: seeded by the seed and the family name, so families differ."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        return np.random.default_rng([int(seed), zlib.crc32(self.name.encode())])

    def draw(self, seed: int) -> Params:
        """The parameter values of sample `seed` (in declaration order), plus its appearance."""
        rng = self.rng(seed)
        values = Params((name, dist.draw(rng)) for name, dist in self.params.items())
        values["appearance"] = self.appearance.draw(rng)
        return values

    def sample(self, seed: int) -> Scenario:
        """The concrete scenario of this family for `seed` (validated; equal for equal seeds)."""
        p = self.draw(seed)
        doc = self.template(p)
        tags = doc.pop("tags", {})
        decision = tags.get("expected_decision", self.decisions[0])
        if decision not in self.decisions:
            raise ValueError(f"family {self.name!r}: template chose decision {decision!r}, not in {self.decisions}")
        doc.setdefault("success", {"kind": "survive", "time_s": 15.0})
        doc.update(name=f"{self.name}:{seed}", seed=int(seed), appearance=p["appearance"],
                   tags={"family": self.name, "longtail": self.longtail, "category": self.category,
                         "expected_decision": decision, "critical": list(self.hazards)})
        return load_scenario(doc)


REGISTERED: list[Family] = []


def family(name: str, *, category: str, longtail: bool, decisions: tuple[str, ...] | str, params: dict | None = None,
           hazards: tuple[str, ...] | str = (), visibility=None, solution="baseline", evade: Evade | None = None,
           appearance: Appearance = APPEARANCE, expect: tuple[Callable, ...] | Callable = ()):
    """Decorator: register the template function as a Family (its docstring becomes the description)."""

    def wrap(template: Callable[[Params], dict]) -> Family:
        fam = Family(
            name=name, template=template, category=category, longtail=longtail,
            decisions=(decisions,) if isinstance(decisions, str) else tuple(decisions), params=dict(params or {}),
            hazards=(hazards,) if isinstance(hazards, str) else tuple(hazards), visibility=visibility,
            solution=solution, evade=evade, appearance=appearance,
            expect=(expect,) if callable(expect) else tuple(expect),
            description=" ".join((template.__doc__ or "").split()),
        )
        REGISTERED.append(fam)
        return fam

    return wrap


# ---- geometry helpers for templates ---------------------------------------------------------------------
@lru_cache(maxsize=64)
def _cached_road(builder: str, items: tuple) -> RoadMap:
    return build_map(builder, dict(items))


def road_for(map_doc: dict) -> RoadMap:
    """The RoadMap a scenario's `map` section builds (cached: templates place agents on it)."""
    return _cached_road(map_doc["builder"], tuple(sorted(map_doc.get("params", {}).items())))


def path_along(road: RoadMap, lanes: list[str], start_s: float = 0.0, end_s: float | None = None,
               spacing_m: float = 2.0, d: float = 0.0) -> list[list[float]]:
    """Points [[x, y], ...] following the centrelines of consecutive lanes (offset d), every `spacing_m`,
    from start_s on the first lane to end_s on the last (default: its end). For `path` agents."""
    pts: list[np.ndarray] = []
    for k, name in enumerate(lanes):
        lane = road.lanes[road.lane_id(name)]
        a = start_s if k == 0 else 0.0
        b = lane.length if end_s is None or k < len(lanes) - 1 else end_s
        n = max(2, int(np.ceil((b - a) / spacing_m)) + 1)
        xy, _ = road.pose_at(lane.id, np.linspace(a, b, n), d)
        pts.append(xy if not pts else xy[1:])
    out = np.round(np.concatenate(pts), 3)
    keep = np.concatenate([[True], np.hypot(*np.diff(out, axis=0).T) > 1e-3])
    return out[keep].tolist()


def shifted_path(road: RoadMap, lane: str, start_s: float, end_s: float, shift_at: float, shift_len: float,
                 shift: float, spacing_m: float = 1.0) -> list[list[float]]:
    """Points along a lane from start_s to end_s that move `shift` [m] sideways (+ left) over `shift_len`
    starting at `shift_at`, on a smooth S-curve: a scripted lane change or swerve for a `path` agent."""
    lane_id = road.lane_id(lane)
    s = np.linspace(start_s, end_s, max(2, int(np.ceil(abs(end_s - start_s) / spacing_m)) + 1))
    d = shift * smoothstep((s - shift_at) / shift_len)
    xy, _ = road.pose_at(lane_id, np.clip(s, 0.0, road.lanes[lane_id].length), d)
    return np.round(xy, 3).tolist()


def straight_road(lanes: int = 1, parking: bool = False, length: float = 400.0, speed: float = 13.9,
                  lane_width: float = 3.5, sidewalks: bool = True) -> dict:
    """The `map` section of a straight road along +x (forward lanes "fwd.i" south of y = 0)."""
    return {"builder": "straight", "params": {"length_m": length, "lanes_per_direction": lanes, "parking_lane": parking,
                                              "speed_limit": speed, "lane_width": lane_width, "sidewalks": sidewalks}}
