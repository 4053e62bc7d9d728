"""Collision sides and the nuPlan / NAVSIM at-fault rules, on hand-made logs.

The ego box is 4.8 m x 1.9 m; with its centre at (x, -1.75) heading +x its front bumper is at x + 2.4, its rear
bumper at x - 2.4 and its sides at y = -2.7 and -0.8. A car is 4.6 m x 1.9 m.
"""

from __future__ import annotations

import numpy as np
import pytest

from cordillera.eval.metrics.collisions import (
    at_fault_collisions, bearing, collision_onsets, contacts, no_at_fault_collisions, segment_hits_box, side_counts,
)
from cordillera.world.agents import AgentType

CAR, CONE, STALLED = int(AgentType.CAR), int(AgentType.CONE), int(AgentType.STALLED_VEHICLE)


def one_agent_log(kit, row_at, steps=10, ego_speed=10.0, types=(CAR,), **kw):
    """Ego from x = 20 at ego_speed; the agent row at step k is row_at(k, ego_x[k])."""
    centers, v = kit.straight_ego(20.0, ego_speed, steps)
    agents = np.array([[row_at(k, centers[k, 0])] for k in range(steps)])
    return kit.make_log(centers, v, agents, types, **kw)


def test_segment_hits_box_cases():
    box = np.array([[0.0, 0.0, 0.0, 2.0, 2.0]])  # the square |x|, |y| <= 1
    seg = lambda a, b: segment_hits_box(np.array([a], float), np.array([b], float), box)[0]  # noqa: E731
    assert seg([-3, 0], [3, 0])  # crosses
    assert seg([-0.5, 0.2], [0.5, 0.2])  # fully inside
    assert seg([1.0, -3.0], [1.0, 3.0])  # touches the right edge
    assert not seg([-3, 1.5], [3, 1.5])  # parallel, outside
    assert not seg([2, 2], [3, 0])  # beside a corner
    rotated = np.array([[0.0, 0.0, np.pi / 4, 2.0, 2.0]])  # a diamond reaching x = sqrt(2)
    assert segment_hits_box(np.array([[1.3, -1.0]]), np.array([[1.3, 1.0]]), rotated)[0]
    assert not segment_hits_box(np.array([[1.5, -1.0]]), np.array([[1.5, 1.0]]), rotated)[0]


def test_bearing_ahead_side_behind_and_on_top():
    origin = np.zeros((4, 3))
    pts = np.array([[5.0, 0.0], [0.0, 3.0], [-2.0, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(bearing(origin, pts), [0.0, np.pi / 2, np.pi, 0.0])


def test_front_hit_on_a_moving_car_is_at_fault(kit):
    # the car (moving at 5 m/s) overlaps the ego's front bumper by 0.5 m from step 6 on
    log = one_agent_log(kit, lambda k, x: kit.agent_row(x + 4.2 if k >= 6 else x + 30, -1.75, v=5.0))
    hits = contacts(log)
    assert [c.step for c in hits] == [6, 7, 8, 9] and all(c.side == "front" for c in hits)
    faults = at_fault_collisions(log)
    assert [(f.step, f.kind, f.score) for f in faults][0] == (6, "front", 0.0)
    nc = no_at_fault_collisions(log)
    assert nc.values.tolist() == [1.0] * 6 + [0.0] * 4 and nc.valid.all()


@pytest.mark.parametrize("kind, expected", [(CAR, 0.0), (STALLED, 0.0), (CONE, 0.5)])
def test_hitting_a_stopped_object(kit, kind, expected):
    # nuPlan: a stopped track is at fault whatever its side; NAVSIM: 0.5 for static objects, 0 for vehicles
    # (a stalled vehicle is a vehicle track)
    log = one_agent_log(kit, lambda k, x: kit.agent_row(48.0, -1.75, v=0.0), steps=30, types=(kind,))
    faults = at_fault_collisions(log)
    assert faults and faults[0].kind == "stopped_track" and faults[0].score == expected
    assert no_at_fault_collisions(log).values.min() == expected


def test_rear_end_hit_on_the_ego_is_not_at_fault(kit):
    log = one_agent_log(kit, lambda k, x: kit.agent_row(x - 4.2 if k >= 3 else x - 30, -1.75, v=15.0))
    hits = contacts(log)
    assert hits and all(c.side == "rear" and c.agent_behind for c in hits)
    assert at_fault_collisions(log) == [] and no_at_fault_collisions(log).values.min() == 1.0


def test_collision_while_the_ego_is_stopped_is_not_at_fault(kit):
    log = one_agent_log(kit, lambda k, x: kit.agent_row(x + 4.2 if k >= 2 else x + 30, -1.75, yaw=np.pi, v=8.0),
                        ego_speed=0.0)
    assert contacts(log)[0].ego_stopped and contacts(log)[0].side == "front"
    assert at_fault_collisions(log) == []


def test_lateral_hit_is_at_fault_only_while_straddling_lanes(kit):
    # a car 0.3 m into the ego's side, fully between its bumpers (4.6 m < 4.8 m): a lateral collision
    in_lane = one_agent_log(kit, lambda k, x: kit.agent_row(x, -0.15 if k >= 4 else 5.0, v=10.0))
    assert {c.side for c in contacts(in_lane)} == {"lateral"}
    assert not in_lane.multiple_lanes.any() and at_fault_collisions(in_lane) == []
    # the same hit with the ego centre at y = -0.5: two of its corners are in the oncoming lane
    centers, v = kit.straight_ego(20.0, 10.0, 10, y=-0.5)
    agents = np.array([[kit.agent_row(centers[k, 0], 1.1 if k >= 4 else 6.0, v=10.0)] for k in range(10)])
    straddling = kit.make_log(centers, v, agents, (CAR,))
    assert straddling.multiple_lanes.all()
    assert [f.kind for f in at_fault_collisions(straddling)][0] == "lateral"


def test_overlap_at_the_first_step_is_ignored_for_the_whole_rollout(kit):
    log = one_agent_log(kit, lambda k, x: kit.agent_row(x + 4.2, -1.75, v=10.0))
    assert len(contacts(log)) == 10 and at_fault_collisions(log) == []


def test_collision_at_the_last_step_counts(kit):
    # the ego's front bumper is at 22.4 + k m; the stopped car centred at 33.6 has its rear at 31.3, so only the
    # last step (bumper at 31.4) overlaps
    log = one_agent_log(kit, lambda k, x: kit.agent_row(33.6, -1.75, v=0.0))
    assert [c.step for c in contacts(log)] == [9]
    assert no_at_fault_collisions(log).values.tolist() == [1.0] * 9 + [0.0]


def test_agent_appearing_mid_rollout_collides_only_once_active(kit):
    centers, v = kit.straight_ego(20.0, 10.0, 10)
    agents = np.array([[kit.agent_row(centers[k, 0] + 4.2, -1.75, v=5.0)] for k in range(10)])
    active = np.array([[k >= 5] for k in range(10)])
    log = kit.make_log(centers, v, agents, (CAR,), active=active)
    assert [c.step for c in contacts(log)] == [5, 6, 7, 8, 9]
    assert at_fault_collisions(log)[0].step == 5  # not an overlap "already present at the start"


def test_every_overlapping_actor_is_counted(kit):
    centers, v = kit.straight_ego(20.0, 10.0, 6)
    front = [kit.agent_row(centers[k, 0] + 4.2, -1.75, v=5.0) for k in range(6)]
    rear = [kit.agent_row(centers[k, 0] - 4.2 if k >= 3 else centers[k, 0] - 30.0, -1.75, v=15.0) for k in range(6)]
    far_front = [kit.agent_row(centers[k, 0] + 4.2 if k >= 3 else centers[k, 0] + 40, -1.75, v=5.0) for k in range(6)]
    agents = np.stack([front, rear, far_front], axis=1)
    log = kit.make_log(centers, v, agents, (CAR, CAR, CAR))
    counts = side_counts(log, contacts(log))
    assert counts["front"].tolist() == [1, 1, 1, 2, 2, 2] and counts["rear"].tolist() == [0, 0, 0, 1, 1, 1]


def test_collision_onsets_restart_after_a_gap(kit):
    overlapping = {3, 4, 5, 8}
    log = one_agent_log(kit, lambda k, x: kit.agent_row(x + 4.2 if k in overlapping else x + 30, -1.75, v=10.0))
    assert collision_onsets(log) == [(3, 0), (8, 0)]
