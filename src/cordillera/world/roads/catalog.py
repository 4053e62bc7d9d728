"""The registry of map builders: `build_map(name, params)` by name, with a cache of built maps.

    >>> from cordillera.world.roads import build_map, BUILDERS
    >>> sorted(BUILDERS)   # ['curved', 'highway', 'highway_merge', 'intersection', 'straight', 't_junction']
"""

from __future__ import annotations

import functools
from typing import Callable

from cordillera.world.roads.builders import curved, highway, highway_merge, straight
from cordillera.world.roads.junctions import intersection, t_junction
from cordillera.world.roads.map import MapError, RoadMap

__all__ = ["BUILDERS", "build_map"]

BUILDERS: dict[str, Callable[[dict | None], RoadMap]] = {
    "straight": straight,
    "curved": curved,
    "intersection": intersection,
    "t_junction": t_junction,
    "highway": highway,
    "highway_merge": highway_merge,
}


def build_map(name: str, params: dict | None = None) -> RoadMap:
    """Build a registered map by name; MapError listing the known names for an unknown one.

    Maps are immutable, so the same (name, parameters) returns the same RoadMap object from a small
    cache: episode resets then reuse its lazily built drivable area, segment tables and raster tiles.
    """
    if name not in BUILDERS:
        raise MapError(f"unknown map builder {name!r}; known: {', '.join(sorted(BUILDERS))}")
    key = tuple(sorted((params or {}).items()))
    try:
        return _cached_build(name, key)
    except TypeError:  # unhashable parameter values: let the builder report them
        return BUILDERS[name](params)


@functools.lru_cache(maxsize=64)
def _cached_build(name: str, key: tuple) -> RoadMap:
    return BUILDERS[name](dict(key))
