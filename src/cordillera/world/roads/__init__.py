"""Road maps: the lane graph (`map`), procedural builders (`builders`, `junctions`; by name: `catalog`) and
routes (`routes`).

    >>> from cordillera.world.roads import build_map, plan_route, navigation_text
    >>> road = build_map("intersection", {"protected_left": True})
    >>> route = plan_route(road, "south_in.0", "east_out.0")
    >>> navigation_text(road, route, 0.0)  # 'turn right in 80 m'
"""

from cordillera.world.roads.builders import (
    CurvedParams,
    HighwayMergeParams,
    HighwayParams,
    IntersectionParams,
    StraightParams,
    TJunctionParams,
)
from cordillera.world.roads.catalog import BUILDERS, build_map
from cordillera.world.roads.map import (
    Boundary,
    Control,
    Crosswalk,
    Junction,
    Lane,
    MapError,
    ProjectResult,
    RoadMap,
    Sidewalk,
    Signal,
    SignalState,
    StopLine,
)
from cordillera.world.roads.routes import (
    Route,
    navigation_text,
    plan_route,
    plan_route_by_turns,
    route_from_lanes,
    route_from_pose,
    route_waypoints,
)

__all__ = [
    "route_from_lanes",
    "Boundary",
    "Control",
    "Crosswalk",
    "Junction",
    "Lane",
    "MapError",
    "ProjectResult",
    "RoadMap",
    "Sidewalk",
    "Signal",
    "SignalState",
    "StopLine",
    "BUILDERS",
    "build_map",
    "StraightParams",
    "CurvedParams",
    "IntersectionParams",
    "TJunctionParams",
    "HighwayParams",
    "HighwayMergeParams",
    "Route",
    "plan_route",
    "plan_route_by_turns",
    "route_from_pose",
    "route_waypoints",
    "navigation_text",
]
