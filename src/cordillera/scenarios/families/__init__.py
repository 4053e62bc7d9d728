"""The long-tail scenario library: parametric families, each a template plus parameter distributions.

    cordillera scenarios list --json                       # every family with its tags
    cordillera scenarios export occluded_pedestrian --seed 3 > scenario.yaml
    cordillera sim occluded_pedestrian:3 --video out/ped.mp4

    >>> from cordillera.scenarios.families import FAMILIES, sample_family
    >>> scenario = sample_family("construction_zone", 7)   # deterministic; round-trips through YAML

About a third of the families are nominal driving (`nominal`); the rest are the long tail: vulnerable road
users (`vru`), other vehicles doing the unexpected (`vehicles`), obstacles and work zones (`obstacles`) and
junction hazards (`junctions`). Each family says what its scenarios test (tags: category, expected decision,
critical agents) and what the tests check of them (`scenarios.checks`).
"""

from __future__ import annotations

# importing a family module registers its families; this order is the listing order (nominal first)
from cordillera.scenarios.families import nominal, vru, vehicles, obstacles, junctions  # noqa: F401, I001
from cordillera.scenarios.families.base import DECISIONS, REGISTERED, Family
from cordillera.scenarios.schema import Scenario, ScenarioError

__all__ = ["DECISIONS", "FAMILIES", "Family", "family_names", "get_family", "sample_family"]

FAMILIES: dict[str, Family] = {}
for _family in REGISTERED:
    if _family.name in FAMILIES:
        raise RuntimeError(f"two scenario families are named {_family.name!r}")
    FAMILIES[_family.name] = _family


def family_names(longtail: bool | None = None) -> list[str]:
    """Family names in registration order (nominal first); only long-tail or nominal ones when asked."""
    return [name for name, fam in FAMILIES.items() if longtail is None or fam.longtail == longtail]


def get_family(name: str) -> Family:
    """The family called `name`; ScenarioError listing the known names otherwise."""
    if name not in FAMILIES:
        raise ScenarioError(f"unknown scenario family {name!r}; known: {', '.join(sorted(FAMILIES))}")
    return FAMILIES[name]


def sample_family(name: str, seed: int) -> Scenario:
    """`get_family(name).sample(seed)`: the scenario behind FAMILY:SEED."""
    return get_family(name).sample(seed)
