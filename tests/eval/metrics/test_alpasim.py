"""AlpaSim-style metrics on hand-made logs: sides, cut at the first incident, scene score, km per incident."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cordillera.eval.metrics.alpasim import alpasim_metrics, km_per_incident
from cordillera.world.agents import AgentType

CAR = int(AgentType.CAR)


@pytest.mark.parametrize("reference, progress, score", [(100.0, 0.5, 0.625), (60.0, 50 / 60, 1.0), (3.0, 1.0, 1.0)])
def test_scene_score_from_progress(kit, reference, progress, score):
    centers, v = kit.straight_ego(20.0, 10.0, 51)  # 50 m of progress
    m = alpasim_metrics(kit.make_log(centers, v), reference)
    assert m.progress == pytest.approx(progress) and m.scene_score == pytest.approx(score)
    assert m.incidents == 0 and m.first_incident_s is None and m.distance_m == pytest.approx(50.0)


def test_at_fault_front_collision_zeroes_the_score_and_cuts_the_rollout(kit):
    centers, v = kit.straight_ego(20.0, 10.0, 20)
    agents = np.array([[kit.agent_row(centers[k, 0] + (4.2 if k >= 6 else 30.0), -1.75, v=5.0)] for k in range(20)])
    m = alpasim_metrics(kit.make_log(centers, v, agents, (CAR,)), 100.0)
    assert (m.collision_front, m.collision_rear, m.collision_lateral) == (1, 0, 0)
    assert m.collision_at_fault and m.close_encounter and m.scene_score == 0.0
    assert m.first_incident_s == pytest.approx(0.6) and m.distance_m == pytest.approx(6.0)
    assert (m.incidents, m.incidents_at_fault) == (1, 1)


def test_rear_collision_cuts_the_rollout_but_is_not_at_fault(kit):
    centers, v = kit.straight_ego(20.0, 10.0, 20)
    agents = np.array([[kit.agent_row(centers[k, 0] - (4.2 if k >= 3 else 30.0), -1.75, v=15.0)] for k in range(20)])
    m = alpasim_metrics(kit.make_log(centers, v, agents, (CAR,)), 10.0)
    assert (m.collision_front, m.collision_rear, m.collision_at_fault) == (0, 1, False)
    assert m.progress == pytest.approx(0.3) and m.scene_score == pytest.approx(0.3 / 0.8)
    assert (m.incidents, m.incidents_at_fault) == (1, 0)


def test_ego_entirely_off_the_road_is_offroad(kit):
    centers, v = kit.straight_ego(20.0, 10.0, 10, y=20.0)  # no part of the box touches the road
    m = alpasim_metrics(kit.make_log(centers, v), 50.0)
    assert m.offroad and m.scene_score == 0.0 and m.first_incident_s == 0.0 and m.distance_m == 0.0
    assert m.incidents_at_fault == 1


def test_a_stopped_ego_has_no_progress_and_no_incident(kit):
    centers, v = kit.straight_ego(20.0, 0.0, 30)
    m = alpasim_metrics(kit.make_log(centers, v), 50.0)
    assert m.progress == 0.0 and m.scene_score == 0.0 and m.incidents == 0


def test_km_per_incident_over_a_suite(kit):
    centers, v = kit.straight_ego(20.0, 10.0, 5)
    base = alpasim_metrics(kit.make_log(centers, v), 50.0)
    a = dataclasses.replace(base, distance_m=1000.0, incidents=1, incidents_at_fault=0)
    b = dataclasses.replace(base, distance_m=3000.0, incidents=0, incidents_at_fault=0)
    c = dataclasses.replace(base, distance_m=500.0, incidents=1, incidents_at_fault=1)
    assert km_per_incident([a, b]) == pytest.approx(4.0)
    assert km_per_incident([a, b, c]) == pytest.approx(2.25)
    assert km_per_incident([a, b, c], at_fault=True) == pytest.approx(4.5)
    assert km_per_incident([b]) == float("inf")
