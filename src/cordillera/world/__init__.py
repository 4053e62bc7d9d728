"""The closed-loop driving world: roads, traffic, ego dynamics, the functional simulator core.

    >>> from cordillera.world import sim
    >>> state = sim.reset(scenario, seed=0)
"""
