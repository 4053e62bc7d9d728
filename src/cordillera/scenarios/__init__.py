"""Scenarios: the declarative format and the built-in scenarios."""

from cordillera.scenarios.schema import Scenario, ScenarioError, dump_scenario, load_scenario

__all__ = ["Scenario", "ScenarioError", "dump_scenario", "load_scenario"]
