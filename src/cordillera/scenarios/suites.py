"""Named suites of (family, seed) pairs: the splits every policy is trained and judged on.

    cordillera scenarios list --suite test --json      # {"suite": "test", "hash": "...", "items": [...]}

    >>> from cordillera.scenarios.suites import get_suite
    >>> suite = get_suite("longtail-holdout")
    >>> suite.hash, len(suite), next(suite.scenarios())

`train`, `val` and `test` cover the seen families with disjoint seed ranges; `longtail-holdout` covers long-tail
families that no other suite contains, so a policy meets them for the first time at evaluation. The family
lists and seed ranges are pinned here (version 1): adding a family to the library does not change any suite;
it joins a suite only through a deliberate edit, which changes that suite's hash. `Suite.hash` is the sha256
of the canonical JSON of the item list; `Suite.content_hash()` also covers the sampled scenarios, so it moves
when a family's template changes and keys caches of evaluation results.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Iterator

from cordillera.scenarios.families import FAMILIES, get_family
from cordillera.scenarios.schema import Scenario, ScenarioError, dump_scenario

__all__ = ["SUITES_VERSION", "SEEN_FAMILIES", "HOLDOUT_FAMILIES", "SUITE_SEEDS", "Suite", "suite_names", "get_suite"]

SUITES_VERSION = 1

HOLDOUT_FAMILIES = (
    "wrong_way_driver", "school_bus_stopped", "animal_crossing_night", "reversing_from_driveway",
    "motorcycle_filtering", "left_turn_across_path", "bus_pulling_out",
)  # fmt: skip

SEEN_FAMILIES = (
    # nominal
    "lane_follow_straight", "lane_follow_curved", "stop_and_go", "signalized_straight", "red_light_stop",
    "yellow_dilemma", "protected_left", "unprotected_left", "right_turn_crosswalk", "onramp_merge",
    "lane_change_for_turn", "stop_sign_t_junction",
    # long tail
    "occluded_pedestrian", "child_ball", "cyclist_swerve", "pedestrian_group_crosswalk", "tight_cut_in",
    "lead_emergency_brake", "highway_cut_out_stall", "emergency_vehicle_behind", "stalled_vehicle",
    "construction_zone", "debris_on_road", "car_door_opening", "double_parked_truck", "narrow_road_oncoming",
    "zipper_merge", "red_light_runner", "dark_signal",
)  # fmt: skip

# Disjoint seed ranges per suite: 29 seen families x 20 / 2 / 3 seeds, 7 held-out families x 5 seeds.
SUITE_SEEDS = {
    "train": (SEEN_FAMILIES, range(0, 20)),
    "val": (SEEN_FAMILIES, range(10_000, 10_002)),
    "test": (SEEN_FAMILIES, range(20_000, 20_003)),
    "longtail-holdout": (HOLDOUT_FAMILIES, range(30_000, 30_005)),
}


@dataclass(frozen=True)
class Suite:
    """A named, ordered list of (family, seed) pairs (family-major, seeds ascending)."""

    name: str
    items: tuple[tuple[str, int], ...]

    def __len__(self) -> int:
        return len(self.items)

    @property
    def hash(self) -> str:
        """sha256 (hex) of the canonical JSON of the items: [{"family": ..., "seed": ...}, ...]."""
        return _sha256(json.dumps(self.item_dicts(), sort_keys=True, separators=(",", ":")))

    def item_dicts(self) -> list[dict]:
        return [{"family": family, "seed": seed} for family, seed in self.items]

    def to_json(self) -> dict:
        """What `cordillera scenarios list --suite NAME --json` prints."""
        return {"suite": self.name, "hash": self.hash, "items": self.item_dicts()}

    def scenarios(self) -> Iterator[Scenario]:
        """The suite's scenarios, sampled in order."""
        for family, seed in self.items:
            yield get_family(family).sample(seed)

    def content_hash(self) -> str:
        """sha256 (hex) over the items and the YAML of every sampled scenario (moves with template edits)."""
        digest = hashlib.sha256(self.hash.encode())
        for scenario in self.scenarios():
            digest.update(dump_scenario(scenario).encode())
        return digest.hexdigest()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def suite_names() -> list[str]:
    return list(SUITE_SEEDS)


def get_suite(name: str) -> Suite:
    """The suite called `name`; ScenarioError listing the known names otherwise."""
    if name not in SUITE_SEEDS:
        raise ScenarioError(f"unknown suite {name!r}; known: {', '.join(SUITE_SEEDS)}")
    families, seeds = SUITE_SEEDS[name]
    missing = [f for f in families if f not in FAMILIES]
    if missing:  # a pinned family was renamed or removed: the suite no longer exists as published
        raise ScenarioError(f"suite {name!r} names families that are not in the library: {', '.join(missing)}")
    return Suite(name, tuple((family, seed) for family in families for seed in seeds))
