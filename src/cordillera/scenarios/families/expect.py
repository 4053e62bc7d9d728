"""Family-specific promises, checked on a rollout after the generic ones (events, visibility, solvability).

    @family("red_light_stop", ..., expect=never_past_stop_line)

An expectation takes a `checks.SampleReport` (the sampled scenario, the lane follower's final state and,
for brake / evade families, the scripted plan's) and returns None when the promise holds, else a problem.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FRONT_M", "past_stop_line", "agent_xy", "never_past_stop_line", "stops_iff_labelled", "serves_stop_sign",
           "reaches_goal", "stays_behind", "agent_beyond", "away_from", "near"]

FRONT_M = 2.4  # [m] ego box centre to front bumper (VehicleParams: 4.8 m, centred box)


def past_stop_line(final) -> np.ndarray:
    """(T,) how far the ego's front bumper is past the end of its route's first lane (its stop line) [m]."""
    route = final.world.route
    centres = np.array([s.ego_center[:2] for s in final.log])
    return route.path.project(centres)[0] + FRONT_M - route.lane_end_on_path(0)


def agent_xy(final, name: str) -> np.ndarray:
    """(2,) where agent `name` is at the end of a rollout [m]."""
    k = final.agents.names.index(name)
    return final.log[-1].agents[k, :2]


def never_past_stop_line(report) -> str | None:
    past = float(past_stop_line(report.rollout).max())
    return None if past < 0.5 else f"the ego's front went {past:.1f} m past the stop line"


def stops_iff_labelled(report) -> str | None:
    """The ego stops before the line exactly when the expected decision is "stop"."""
    stopped = past_stop_line(report.rollout).max() < 0.5
    wanted = report.scenario.tags.expected_decision == "stop"
    return None if stopped == wanted else f"labelled {report.scenario.tags.expected_decision!r} but stopped={stopped}"


def serves_stop_sign(report) -> str | None:
    """A full stop held for 1 s with the front bumper within 6 m of the stop line."""
    final = report.rollout
    past, v = past_stop_line(final), np.array([s.ego[3] for s in final.log])
    held = any((v[i:i + 10] < 0.3).all() and -6.0 < past[i] < 0.5 for i in range(len(v) - 10))
    return None if held else "no full stop at the stop sign"


def reaches_goal(report) -> str | None:
    outcome = report.baseline["outcome"]
    return None if outcome == "reached_goal" else f"route not completed in time ({outcome})"


def stays_behind(agent: str, margin_m: float):
    """The ego's centre ends more than `margin_m` short (in x) of `agent`'s centre: it waited behind it."""

    def check(report) -> str | None:
        gap = float(agent_xy(report.rollout, agent)[0] - report.rollout.log[-1].ego_center[0])
        return None if gap > margin_m else f"the ego passed {agent} (x gap {gap:.1f} m)"

    return check


def agent_beyond(agent: str, axis: int, value: float, above: bool = True, solution: bool = False):
    """Agent `agent` ends with coordinate `axis` above (or below) `value` [m], in the lane follower's
    rollout or (solution=True) in the scripted plan's; value "ego" compares with the ego's centre."""

    def check(report) -> str | None:
        final = report.solution_rollout if solution else report.rollout
        limit = final.log[-1].ego_center[axis] if value == "ego" else value
        got = float(agent_xy(final, agent)[axis])
        ok = got > limit if above else got < limit
        return None if ok else f"{agent} ended at {'xy'[axis]} = {got:.1f}, wanted {'>' if above else '<'} {limit:.1f}"

    return check


def away_from(agent: str, y: float, distance_m: float):
    """Agent `agent` ends more than `distance_m` from the line y = `y` (it left that lane)."""

    def check(report) -> str | None:
        got = float(agent_xy(report.rollout, agent)[1])
        return None if abs(got - y) > distance_m else f"{agent} still within {distance_m} m of y = {y} (y = {got:.1f})"

    return check


def near(agent: str, y: float, distance_m: float):
    """Agent `agent` ends within `distance_m` of the line y = `y` (it moved into that lane)."""

    def check(report) -> str | None:
        got = float(agent_xy(report.rollout, agent)[1])
        if abs(got - y) <= distance_m:
            return None
        return f"{agent} ended at y = {got:.1f}, not within {distance_m} m of {y}"

    return check
