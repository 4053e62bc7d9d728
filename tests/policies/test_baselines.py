"""The policy registry and the two baselines, in closed loop on the real simulator."""

import math

import numpy as np
import pytest
import shapely

from cordillera import constants as C
from cordillera.geometry import box_corners
from cordillera.policies import Policy, UnknownPolicyError, make_policy, policy_names, register_policy
from cordillera.policies.baselines import ConstantVelocity, LaneFollower
from cordillera.scenarios.builtin import builtin_scenario
from cordillera.scenarios.schema import load_scenario
from cordillera.world import sim
from cordillera.world.roads import SignalState
from cordillera.world.rollout import rollout, summarize
from cordillera.world.types import Observation, Plan


def _front(step, vehicle) -> np.ndarray:
    """World position of the ego's front bumper centre at a log step."""
    x, y, yaw = step.ego_center
    return np.array([x, y]) + vehicle.length_m / 2.0 * np.array([math.cos(yaw), math.sin(yaw)])


def _route_s(state, xy) -> float:
    return float(state.world.route.path.project(np.asarray(xy)[None])[0][0])


# --- registry --------------------------------------------------------------------------------------------------


def test_registry_knows_the_baselines():
    assert {"constant_velocity", "lane_follower"} <= set(policy_names())
    assert isinstance(make_policy("constant_velocity"), ConstantVelocity)
    follower = make_policy("lane_follower", time_headway_s=2.0)
    assert isinstance(follower, LaneFollower) and follower.headway == 2.0
    assert follower.privileged and not ConstantVelocity.privileged


def test_unknown_policy_lists_the_known_names():
    with pytest.raises(UnknownPolicyError) as info:
        make_policy("autopilot")
    msg = str(info.value)
    assert msg.startswith("unknown policy 'autopilot'")
    assert all(name in msg for name in policy_names())
    assert isinstance(info.value, KeyError)


def test_register_needs_a_name():
    class Nameless(Policy):
        pass

    with pytest.raises(ValueError, match="Nameless needs a non-empty name"):
        register_policy(Nameless)
    assert "" not in policy_names()


# --- constant velocity -----------------------------------------------------------------------------------------


def test_constant_velocity_goes_straight_at_the_current_speed():
    state = sim.reset(builtin_scenario("straight"), seed=0)
    obs = sim.observe(state)
    assert obs.speed == 10.0 and obs.yaw_rate == 0.0
    plan = make_policy("constant_velocity").plan(obs)
    assert isinstance(plan, Plan) and plan.poses.shape == (C.PLAN_STEPS, 3)
    np.testing.assert_allclose(plan.poses[9], [10.0 * 1.0, 0.0, 0.0], atol=1e-12)  # pose 9 is at t = 1.0 s
    np.testing.assert_allclose(plan.poses[-1], [10.0 * 6.4, 0.0, 0.0], atol=1e-12)


def _obs(speed: float, yaw_rate: float) -> Observation:
    return Observation(t=0.0, ego_history=np.zeros((C.HISTORY_STEPS, 3)), speed=speed, acceleration=0.0,
                       yaw_rate=yaw_rate, route_waypoints=np.zeros((C.ROUTE_WAYPOINTS, 2)), navigation="")


def test_constant_velocity_follows_the_yaw_rate():
    plan = make_policy("constant_velocity").plan(_obs(8.0, 0.4))
    # an arc of curvature 0.4 / 8 = 0.05 1/m; after 1 s the ego has turned 0.4 rad over 8 m of arc
    kappa, yaw = 0.05, 0.4
    np.testing.assert_allclose(plan.poses[9], [math.sin(yaw) / kappa, (1 - math.cos(yaw)) / kappa, yaw], atol=1e-12)
    np.testing.assert_allclose(np.diff(plan.poses[:, 2]), 0.8 * kappa, atol=1e-12)  # constant turn rate
    right = make_policy("constant_velocity").plan(_obs(8.0, -0.4))
    np.testing.assert_allclose(right.poses[:, 1], -plan.poses[:, 1], atol=1e-12)


def test_constant_velocity_nearly_stopped_goes_straight():
    plan = make_policy("constant_velocity").plan(_obs(0.3, 0.2))
    np.testing.assert_allclose(plan.poses[:, 1:], 0.0)
    assert plan.poses[-1, 0] == pytest.approx(0.3 * 6.4)


def test_constant_velocity_closed_loop_keeps_speed_and_heading():
    scenario = load_scenario({"map": {"builder": "straight"}, "ego": {"lane": "fwd.0", "s": 20.0, "speed": 9.0}})
    final = rollout(scenario, make_policy("constant_velocity"), seed=0, duration_s=3.0)
    ego = np.array([s.ego for s in final.log])
    np.testing.assert_allclose(ego[:, 3], 9.0, atol=0.05)  # speed
    np.testing.assert_allclose(ego[:, 2], 0.0, atol=1e-3)  # heading along +x
    assert ego[-1, 0] - ego[0, 0] == pytest.approx(27.0, abs=0.2)


# --- lane follower ---------------------------------------------------------------------------------------------


def test_lane_follower_drives_the_straight_builtin():
    scenario = builtin_scenario("straight")
    final = rollout(scenario, make_policy("lane_follower"), seed=0)
    summary = summarize(final)
    assert final.t == pytest.approx(20.0)
    assert summary["outcome"] == "survived" and "first_collision" not in summary
    assert summary["offroad_steps"] == 0
    limit = final.road.lanes[final.world.route.lanes[0]].speed_limit
    speeds = np.array([s.ego[3] for s in final.log])
    assert speeds.max() <= limit + 0.1  # never speeds
    assert speeds.max() >= limit - 0.5  # and gets there on a free lane
    assert speeds[-1] == pytest.approx(limit, abs=1.0)


def test_lane_follower_waits_at_a_red_light_and_goes_on_green():
    scenario = load_scenario({
        "name": "red_light",
        "map": {"builder": "intersection",
                "params": {"lanes_per_direction": 1, "green_s": 10.0, "yellow_s": 1.0, "all_red_s": 1.0}},
        "ego": {"lane": "east_in.0", "s": 35.0, "speed": 8.0, "goal_lane": "west_out.0"},
        "success": {"kind": "reach_goal", "time_s": 18.0},
    })
    state = sim.reset(scenario, seed=0)
    road, vehicle = state.road, state.world.config.vehicle
    approach = road.lane_id("east_in.0")
    stop_line = road.stop_line_by_lane[approach]
    signal = road.signals[stop_line.signal]
    (stop_xy,), _ = road.pose_at(approach, [stop_line.s])
    stop_s = _route_s(state, stop_xy)
    green_at = next(k * C.DT for k in range(400) if signal.state_at(k * C.DT) == SignalState.GREEN)
    assert signal.state_at(0.0) == SignalState.RED and 8.0 < green_at < 16.0  # the scenario's premise

    final = rollout(scenario, make_policy("lane_follower"), state=state)
    assert not any(s.collisions for s in final.log)
    gaps = np.array([stop_s - _route_s(final, _front(s, vehicle)) for s in final.log])
    speeds = np.array([s.ego[3] for s in final.log])
    times = np.array([s.t for s in final.log])
    red = times < green_at - 1e-9
    assert np.all(gaps[red] > 0.0)  # the front never crosses the stop line while red
    assert speeds[red].min() < 0.05  # it came to a full stop
    assert gaps[red][-1] < 5.0  # close to the line, not far back
    assert gaps[-1] < -10.0 and speeds[-1] > 5.0  # after green it went through the junction


def test_lane_follower_stops_behind_a_stalled_vehicle():
    scenario = load_scenario({
        "map": {"builder": "straight", "params": {"length_m": 300.0}},
        "ego": {"lane": "fwd.0", "s": 20.0, "speed": 12.0},
        "agents": [{"id": "stalled", "type": "stalled_vehicle", "lane": "fwd.0", "s": 90.0,
                    "behavior": {"kind": "static"}}],
        "success": {"time_s": 15.0},
    })
    final = rollout(scenario, make_policy("lane_follower"), seed=0)
    assert not any(s.collisions for s in final.log)
    vehicle = final.world.config.vehicle
    last = final.log[-1]
    assert last.ego[3] < 0.05
    x, y, yaw = last.ego_center
    ego_box = shapely.Polygon(box_corners(x, y, yaw, vehicle.length_m, vehicle.width_m))
    ax, ay, ayaw, _, _, length, width = last.agents[0]
    stalled = shapely.Polygon(box_corners(ax, ay, ayaw, length, width))
    gap = ego_box.distance(stalled)
    assert 0.5 < gap < 8.0  # stopped behind it, close enough to be queueing
    assert x < ax  # behind, not beside or past


def test_lane_follower_stops_at_the_end_of_its_route():
    scenario = load_scenario({
        "map": {"builder": "straight", "params": {"length_m": 120.0}},
        "ego": {"lane": "fwd.0", "s": 20.0, "speed": 10.0},
        "success": {"time_s": 20.0},
    })
    final = rollout(scenario, make_policy("lane_follower"), seed=0)
    vehicle = final.world.config.vehicle
    end = final.world.route.path.length
    fronts = np.array([_route_s(final, _front(s, vehicle)) for s in final.log])
    assert final.log[-1].ego[3] < 0.05
    assert fronts.max() < end  # never past the end of the route
    assert fronts[-1] > end - 6.0  # and it used the road up to there
    assert summarize(final)["offroad_steps"] == 0


def test_lane_follower_needs_a_privileged_observation():
    state = sim.reset(builtin_scenario("straight"), seed=0)
    policy = make_policy("lane_follower")
    with pytest.raises(TypeError, match="privileged"):
        policy.plan(sim.observe(state))
    plan = policy.plan(sim.observe(state, privileged=True))
    assert plan.poses.shape == (C.PLAN_STEPS, 3)
