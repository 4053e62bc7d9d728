"""The map registry (roads/catalog.py): builders by name, unknown names, the cache of built maps."""

from __future__ import annotations

import pytest

from cordillera.world.roads import BUILDERS, MapError, build_map


def test_unknown_builder_lists_the_known_ones():
    with pytest.raises(MapError, match="unknown map builder 'roundabout'; known: curved, highway, highway_merge"):
        build_map("roundabout")


def test_registry_names_every_builder_and_caches_built_maps():
    assert sorted(BUILDERS) == ["curved", "highway", "highway_merge", "intersection", "straight", "t_junction"]
    assert build_map("straight", {"lanes_per_direction": 2}) is build_map("straight", {"lanes_per_direction": 2})
    assert build_map("straight", {"lanes_per_direction": 1}) is not build_map("straight", {"lanes_per_direction": 2})
