"""EPDMS sub-metrics on hand-made logs (conftest: straight road, lane 0 along y = -1.75 running +x)."""

from __future__ import annotations

import numpy as np
import pytest

from cordillera.eval.metrics.config import PDMConfig
from cordillera.eval.metrics.pdm import (
    driving_direction_score, drivable_area_compliance, ego_progress, epdms, fallback_reference_progress_m,
    lane_deviation, lane_keeping_score, oncoming_progress, passing_obstruction, red_light_crossings,
    route_progress_m, time_to_collision, traffic_light_compliance,
)
from cordillera.eval.metrics.rollout_log import StepValues
from cordillera.world.agents import AgentType, Flag
from cordillera.world.roads import build_map
from cordillera.world.roads.map import SignalState

CAR = int(AgentType.CAR)
STALLED = int(AgentType.STALLED_VEHICLE)
TRUCK = int(AgentType.TRUCK)


def test_drivable_area_compliance_per_step(kit):
    centers, v = kit.straight_ego(20.0, 10.0, 5)
    centers[3:, 1] = 3.0  # the left side at y = 3.95 is past the edge at 3.55
    dac = drivable_area_compliance(kit.make_log(centers, v))
    assert dac.values.tolist() == [1, 1, 1, 0, 0]


@pytest.mark.parametrize("speed, worst, ddc", [(0.0, 0.0, 1.0), (1.0, 1.1, 1.0), (3.0, 3.3, 0.5), (10.0, 11.0, 0.0)])
def test_driving_direction_compliance_in_the_oncoming_lane(kit, speed, worst, ddc):
    # driving +x in lane 1 (which runs -x): every metre is oncoming; the 1 s window holds 11 steps of v * 0.1 m
    centers, v = kit.straight_ego(20.0, speed, 20, y=1.75)
    log = kit.make_log(centers, v)
    assert log.oncoming.all()
    step = oncoming_progress(log)
    assert step.values.max() == pytest.approx(worst)
    assert driving_direction_score(step) == ddc


def test_own_lane_is_never_oncoming(kit):
    centers, v = kit.straight_ego(20.0, 10.0, 20)
    assert oncoming_progress(kit.make_log(centers, v)).values.max() == 0.0


def _through_intersection(kit, signal_state_at, steps=10):
    """Ego centre driving +y at x = 1.75 from y = -20 at 10 m/s on the 1-lane intersection; its front bumper
    (centre + 2.4 m) crosses the stop line at y = -11 between steps 6 and 7."""
    road = build_map("intersection", {"lanes_per_direction": 1})
    y = -20.0 + np.arange(steps) * 1.0
    centers = np.stack([np.full(steps, 1.75), y, np.full(steps, np.pi / 2)], -1)
    signals = np.array([[signal_state_at(k)] * len(road.signals) for k in range(steps)])
    return kit.make_log(centers, np.full(steps, 10.0), road=road, route_lanes=(0, 9, 5), signals=signals)


@pytest.mark.parametrize("state, tlc", [(SignalState.RED, 0.0), (SignalState.YELLOW, 1.0), (SignalState.GREEN, 1.0)])
def test_traffic_light_compliance_at_the_crossing(kit, state, tlc):
    log = _through_intersection(kit, lambda k: int(state) if k == 7 else int(SignalState.GREEN))
    assert [k for k, _ in log.stop_line_crossings] == [7]
    step = traffic_light_compliance(log)
    assert step.values.min() == tlc and (tlc == 1.0 or np.flatnonzero(step.values == 0).tolist() == [7])


def test_red_before_the_crossing_is_not_a_violation(kit):
    log = _through_intersection(kit, lambda k: int(SignalState.RED) if k < 7 else int(SignalState.GREEN))
    assert red_light_crossings(log) == []


def test_route_progress_and_ego_progress_rules(kit):
    centers, v = kit.straight_ego(20.0, 10.0, 11)
    assert route_progress_m(kit.make_log(centers, v)) == pytest.approx(10.0)
    assert ego_progress(50.0, 1.0, 100.0) == 0.5
    assert ego_progress(50.0, 1.0, 40.0) == 1.0  # better than the reference
    assert ego_progress(50.0, 0.5, 100.0) == 0.25  # gated progress
    assert ego_progress(2.0, 1.0, 3.0) == 1.0  # best progress under 5 m
    assert ego_progress(2.0, 0.0, 3.0) == 0.0  # ... unless a gate is 0


def test_a_stopped_ego_makes_no_progress(kit):
    centers, v = kit.straight_ego(20.0, 0.0, 30)
    log = kit.make_log(centers, v)
    assert route_progress_m(log) == 0.0 and ego_progress(0.0, 1.0, 60.0) == 0.0


def test_fallback_reference_is_the_speed_limit_distance_capped_by_the_route(kit):
    # 5 s logged from x = 20 at the 13.9 m/s limit: 69.5 m; 20 s would pass the road's end at x = 200
    centers, v = kit.straight_ego(20.0, 10.0, 51)
    assert fallback_reference_progress_m(kit.make_log(centers, v)) == pytest.approx(13.9 * 5.0)
    centers, v = kit.straight_ego(20.0, 0.0, 201)
    assert fallback_reference_progress_m(kit.make_log(centers, v)) == pytest.approx(180.0)


def test_ttc_flags_a_stopped_car_within_the_one_second_projection(kit):
    # ego front bumper at 22.4 + k m; projected 0.9 s ahead it reaches 31.4 + k; the stopped car's rear is at 40
    centers, v = kit.straight_ego(20.0, 10.0, 30)
    agents = np.array([[kit.agent_row(42.3, -1.75)]] * 30)
    ttc = time_to_collision(kit.make_log(centers, v, agents, (CAR,)))
    assert ttc.valid.tolist() == [True] * 21 + [False] * 9  # a full second of log needed after the step
    assert np.flatnonzero(ttc.values == 0).tolist() == list(range(9, 21))


def test_ttc_ignores_a_car_closing_in_from_behind_and_a_stopped_ego(kit):
    # at constant ego speed the projection k + f is where the ego really is at step k + f; a car rear-ending it
    # from step 12 on is behind the ego's rear axle (bearing 180 deg) at every projection, so never at fault
    centers, v = kit.straight_ego(20.0, 2.0, 30)
    agents = np.array([[kit.agent_row(centers[k, 0] - (4.2 if k >= 12 else 30.0), -1.75, v=2.0)] for k in range(30)])
    log = kit.make_log(centers, v, agents, (CAR,))
    assert log.collisions[12] == (0,)
    assert time_to_collision(log).values.min() == 1.0
    centers, v = kit.straight_ego(20.0, 0.0, 30)
    agents = np.array([[kit.agent_row(26.0 - 0.5 * k, -1.75, yaw=np.pi, v=5.0)] for k in range(30)])
    assert time_to_collision(kit.make_log(centers, v, agents, (CAR,))).values.min() == 1.0


def test_ttc_on_a_log_shorter_than_the_horizon_has_no_valid_step(kit):
    centers, v = kit.straight_ego(20.0, 10.0, 5)
    step = time_to_collision(kit.make_log(centers, v))
    assert not step.valid.any() and step.values.min() == 1.0


def test_lane_keeping_needs_two_seconds_of_continuous_deviation():
    dev = lambda n_off, n_total: StepValues(  # noqa: E731
        np.array([0.6] * n_off + [0.0] * (n_total - n_off)), np.ones(n_total, dtype=bool))
    assert lane_keeping_score(dev(20, 30), 0.1) == 0.0
    assert lane_keeping_score(dev(19, 30), 0.1) == 1.0
    # an invalid stretch (junction, lane change) neither counts nor resets the run: 10 + 10 deviating steps
    values = np.array([0.6] * 10 + [5.0] * 5 + [0.6] * 10)
    valid = np.array([True] * 10 + [False] * 5 + [True] * 10)
    assert lane_keeping_score(StepValues(values, valid), 0.1) == 0.0
    # exactly at the limit is not a deviation
    assert lane_keeping_score(StepValues(np.full(30, 0.5), np.ones(30, dtype=bool)), 0.1) == 1.0


def test_lane_deviation_from_the_lane_centre_and_lane_change_steps_skipped(kit):
    centers, v = kit.straight_ego(20.0, 10.0, 6, y=-1.75 + 0.6)
    centers[3:, 1] = -0.5  # straddling the centre line
    step = lane_deviation(kit.make_log(centers, v))
    np.testing.assert_allclose(step.values[:3], 0.6)
    assert step.valid.tolist() == [True] * 3 + [False] * 3


def test_lane_deviation_is_infinite_in_the_oncoming_lane_and_skipped_in_junctions(kit):
    centers, v = kit.straight_ego(20.0, 10.0, 4, y=1.75)
    log = kit.make_log(centers, v)
    assert np.isinf(lane_deviation(log).values).all() and log.oncoming.all()
    # through the 1-lane intersection (junction box |x|, |y| <= 6.5) on the straight connector, centre on it
    road = build_map("intersection", {"lanes_per_direction": 1})
    y = np.array([-12.0, -8.0, -4.0, 0.0, 4.0, 8.0, 12.0])
    centers = np.stack([np.full(7, 1.75), y, np.full(7, np.pi / 2)], -1)
    step = lane_deviation(kit.make_log(centers, 10.0, road=road, route_lanes=(0, 9, 5)))
    assert step.valid.tolist() == [True, True, False, False, False, True, True]
    np.testing.assert_allclose(step.values, 0.0, atol=1e-9)


def test_epdms_aggregation_on_a_clean_log(kit):
    # 5 s at 10 m/s on the lane centre: every multiplier and every weighted metric but EP is 1
    centers, v = kit.straight_ego(20.0, 10.0, 51)
    result = epdms(kit.make_log(centers, v), reference_progress_m=100.0)
    assert (result.nc, result.dac, result.ddc, result.tlc) == (1.0, 1.0, 1.0, 1.0)
    assert (result.ttc, result.lk, result.hc, result.ec) == (1.0, 1.0, 1.0, 1.0)
    assert result.progress_m == pytest.approx(50.0) and result.ep == pytest.approx(0.5)
    assert result.score == pytest.approx((5 * 0.5 + 5 + 2 + 2 + 2) / 16)


def test_epdms_is_zero_after_an_at_fault_collision(kit):
    centers, v = kit.straight_ego(20.0, 10.0, 30)
    agents = np.array([[kit.agent_row(42.3, -1.75)]] * 30)
    result = epdms(kit.make_log(centers, v, agents, (CAR,)), reference_progress_m=30.0)
    assert result.nc == 0.0 and result.score == 0.0 and result.ep == 0.0


def test_weights_sum_to_sixteen():
    assert PDMConfig().weight_sum == 16.0


# ---- passing a standing obstruction -------------------------------------------------------------------------
# A 4.6 m stalled car centred at x = 40 on lane 0 (the route): its box spans route s 37.7 .. 42.3, d -0.95 .. 0.95.
# The ego's front bumper is its centre x + 2.4, its rear x - 2.4. It is being passed while 37.7 - (x + 2.4) <= 25
# and (x - 2.4) - 42.3 <= 15, i.e. for centre x in [10.3, 59.7].

def _blocker_log(kit, speed, steps, x0=15.0, y=1.75, kind=STALLED, v=0.0, flags=0, agent_y=-1.75):
    """Ego driving +x from x0 at `speed` (oncoming lane by default) with one agent standing at x = 40."""
    centers, ego_v = kit.straight_ego(x0, speed, steps, y=y)
    agents = np.array([[kit.agent_row(40.0, agent_y, v=v)]] * steps)
    return kit.make_log(centers, ego_v, agents, (kind,), flags=np.full((steps, 1), flags))


def test_passing_window_around_a_standing_obstruction(kit):
    log = _blocker_log(kit, 10.0, 81, x0=0.0)  # centre x = k at step k
    assert passing_obstruction(log).tolist() == [11 <= k <= 59 for k in range(81)]
    # an obstruction appearing at step 30 is passed from then on
    active = np.arange(81)[:, None] >= 30
    agents = np.array([[kit.agent_row(40.0, -1.75)]] * 81)
    late = kit.make_log(log.ego_center, log.speed, agents, (STALLED,), active=active)
    assert passing_obstruction(late).tolist() == [30 <= k <= 59 for k in range(81)]


@pytest.mark.parametrize("speed, ddc_alone", [(3.0, 0.5), (10.0, 0.0)])
def test_passing_a_stalled_car_through_the_oncoming_lane_keeps_ddc_and_lk(kit, speed, ddc_alone):
    # x from 15 to 15 + 40 * speed * 0.1: inside the passing window throughout (x <= 55 at 10 m/s)
    log = _blocker_log(kit, speed, 41)
    assert log.oncoming.all() and passing_obstruction(log).all()
    assert oncoming_progress(log).values.max() == 0.0
    assert driving_direction_score(oncoming_progress(log)) == 1.0
    assert not lane_deviation(log).valid.any()  # LK skips the steps, it does not see 4 s off its lane
    result = epdms(log, reference_progress_m=0.0)
    assert (result.nc, result.ddc, result.lk, result.ttc) == (1.0, 1.0, 1.0, 1.0)
    # the same driving with the obstruction removed: 11 steps of speed * 0.1 m in the 1 s window; LK fails
    centers, v = kit.straight_ego(15.0, speed, 41, y=1.75)
    alone = kit.make_log(centers, v)
    assert oncoming_progress(alone).values.max() == pytest.approx(11 * speed * 0.1)
    assert epdms(alone, reference_progress_m=0.0).ddc == ddc_alone
    assert epdms(alone, reference_progress_m=0.0).lk == 0.0


@pytest.mark.parametrize("kind, v, flags, agent_y, exempt", [
    (STALLED, 0.0, 0, -1.75, True),  # a static kind
    (TRUCK, 0.0, int(Flag.HAZARD), -1.75, True),  # a double-parked truck: hazard lights on
    (TRUCK, 0.4, int(Flag.HAZARD), -1.75, True),  # creeping below 0.5 m/s is still standing
    (STALLED, 1.0, 0, -1.75, False),  # a moving lead is overtaken, not passed
    (CAR, 0.0, 0, -1.75, False),  # a car waiting in a queue: no hazard lights
    (TRUCK, 0.0, int(Flag.HAZARD | Flag.SCHOOL_BUS), -1.75, False),  # never pass a loading school bus
    (STALLED, 0.0, 0, -4.3, True),  # reaches 0.15 m into the lane (d up to -1.6, the band ends at -1.75)
    (STALLED, 0.0, 0, -4.5, False),  # reaches 0.05 m in: less than obstruction_intrusion_m, room beside it
])
def test_what_counts_as_a_standing_obstruction(kit, kind, v, flags, agent_y, exempt):
    log = _blocker_log(kit, 10.0, 41, kind=kind, v=v, flags=flags, agent_y=agent_y)
    assert passing_obstruction(log).all() == exempt and passing_obstruction(log).any() == exempt
    assert driving_direction_score(oncoming_progress(log)) == (1.0 if exempt else 0.0)


def test_lane_keeping_skips_an_offset_held_beside_a_standing_obstruction(kit):
    # 3 s at 0.6 m left of the lane centre, inside the window of a stalled car standing 0.6 m right of it
    log = _blocker_log(kit, 10.0, 31, y=-1.75 + 0.6, agent_y=-1.75 - 1.5)
    assert not log.oncoming.any() and passing_obstruction(log).all()
    assert lane_keeping_score(lane_deviation(log), log.dt) == 1.0
    centers, v = kit.straight_ego(15.0, 10.0, 31, y=-1.75 + 0.6)
    assert lane_keeping_score(lane_deviation(kit.make_log(centers, v)), 0.1) == 0.0
