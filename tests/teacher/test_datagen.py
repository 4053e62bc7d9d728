"""The data factory: resume equivalence, determinism across executors, perturbations, episode planning."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from cordillera.data import DatasetError
from cordillera.teacher.datagen import DatagenConfig, episode_jobs, generate
from cordillera.teacher.perturb import (PerturbConfig, Perturbation, active, brakes, late_brake, perturb_plan,
                                        schedule)

CONFIG = DatagenConfig(suite="val", episodes=2, seed=1, routine_rate=0.3, duration_s=2.5)


def _checksums(root) -> dict:
    return json.loads((root / "meta" / "checksums.json").read_text())["files"]


class Interrupt(Exception):
    pass


def test_interrupted_generation_resumes_to_the_same_dataset(tmp_path):
    whole = tmp_path / "whole"
    info = generate(CONFIG, whole)
    assert info["episodes"] == 2 and info["samples"] > 0

    cut = tmp_path / "cut"

    def stop_after_one(phase, done, total):
        if done >= 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        generate(CONFIG, cut, stop_after_one)
    assert len(list((cut / "data").glob("episode-*.parquet"))) == 1  # one finished shard, no partial files
    assert not [p for p in (cut / "data").iterdir() if p.name.startswith(".")]
    assert not json.loads((cut / "meta" / "info.json").read_text())["complete"]

    seen = []
    resumed = generate(CONFIG, cut, lambda phase, done, total: seen.append(done))
    assert seen[0] == 1 and seen[-1] == 2  # started from the finished episode
    assert _checksums(cut) == _checksums(whole)
    assert {k: resumed[k] for k in ("samples", "keyframes", "splits")} == \
           {k: info[k] for k in ("samples", "keyframes", "splits")}

    # the same directory with another config is refused, naming it
    with pytest.raises(DatasetError, match="holds another dataset"):
        generate(DatagenConfig(suite="val", episodes=2, seed=2, duration_s=2.5), cut)
    # fewer episodes than shards present: refused rather than silently leaving foreign shards
    with pytest.raises(DatasetError, match="episode-000001.parquet: not a shard of this generation"):
        generate(DatagenConfig(**{**CONFIG.__dict__, "episodes": 1}), cut)


@pytest.mark.slow
def test_process_pool_gives_the_same_dataset(tmp_path):
    one = generate(CONFIG, tmp_path / "one")
    two = generate(DatagenConfig(**{**CONFIG.__dict__, "workers": 2}), tmp_path / "two")
    assert one["samples"] == two["samples"]
    assert _checksums(tmp_path / "one") == _checksums(tmp_path / "two")


def test_episode_plan_is_deterministic_and_revisits_with_new_repeats(tmp_path):
    from cordillera.scenarios.suites import get_suite

    n = len(get_suite("val"))
    config = DatagenConfig(suite="val", episodes=n + 2, seed=5)
    jobs = episode_jobs(config, tmp_path, "h")
    assert jobs == episode_jobs(config, tmp_path, "h")
    assert sorted((j.family, j.seed) for j in jobs[:n]) == sorted(get_suite("val").items)
    assert [(j.family, j.seed) for j in jobs[n:]] == [(j.family, j.seed) for j in jobs[:2]]
    assert [j.repeat for j in jobs[n:]] == [1, 1]
    assert [j.split for j in jobs[n:]] == [j.split for j in jobs[:2]]  # a scenario stays in its split
    other = episode_jobs(DatagenConfig(suite="val", episodes=n, seed=6), tmp_path, "h")
    assert [(j.family, j.seed) for j in other] != [(j.family, j.seed) for j in jobs[:n]]


def test_config_is_validated():
    for bad in ({"episodes": 0}, {"routine_rate": 1.5}, {"duration_s": -1.0}, {"workers": 0}):
        with pytest.raises(ValueError):
            DatagenConfig(**bad)
    with pytest.raises(ValueError):
        PerturbConfig(min_duration_s=2.0, max_duration_s=1.0)


def _straight(v: float = 10.0) -> np.ndarray:
    x = v * 0.1 * np.arange(1, 65)
    return np.stack([x, np.zeros(64), np.zeros(64)], -1)


def test_perturbation_shifts_turns_and_retimes_the_executed_plan():
    plan = _straight()
    same = perturb_plan(plan, Perturbation(0, 10, 0.0, 0.0, 1.0))
    np.testing.assert_allclose(same, plan, atol=1e-12)
    shifted = perturb_plan(plan, Perturbation(0, 10, 0.5, 0.0, 1.0))
    np.testing.assert_allclose(shifted[:, 1], 0.5)
    np.testing.assert_allclose(shifted[:, 0], plan[:, 0])
    turned = perturb_plan(plan, Perturbation(0, 10, 0.0, 0.1, 1.0))
    np.testing.assert_allclose(np.arctan2(turned[:, 1], turned[:, 0]), 0.1, atol=1e-12)
    np.testing.assert_allclose(turned[:, 2], 0.1)
    slow = perturb_plan(plan, Perturbation(0, 10, 0.0, 0.0, 0.8))
    np.testing.assert_allclose(slow[:, 0], 0.8 * plan[:, 0])  # 80 % of the distance at every time
    fast = perturb_plan(plan, Perturbation(0, 10, 0.0, 0.0, 1.2))
    assert fast[-1, 0] == pytest.approx(plan[-1, 0])  # held at the end of the plan
    standing = perturb_plan(np.zeros((64, 3)), Perturbation(0, 10, 0.3, 0.0, 1.2))
    np.testing.assert_allclose(standing[:, 1], 0.3)


def test_perturbation_schedule_is_seeded_and_windows_do_not_overlap():
    config = PerturbConfig(rate_per_s=0.5)
    a = schedule(config, 600, 0.1, np.random.default_rng(3))
    assert a == schedule(config, 600, 0.1, np.random.default_rng(3))
    assert len(a) > 3
    for w, nxt in zip(a, a[1:]):
        assert w.end <= nxt.start
    for w in a:
        assert 0 <= w.start < w.end <= 600
        assert abs(w.lateral_m) <= config.lateral_m and abs(w.heading_rad) <= config.heading_rad
        assert active(a, w.start) is w and active(a, w.end - 1) is w
    assert schedule(PerturbConfig(rate_per_s=0.0), 600, 0.1, np.random.default_rng(3)) == []


def test_perturbations_move_the_ego_and_labels_stay_the_teachers_plan():
    from cordillera.teacher.datagen import _drive
    from cordillera.teacher.planner import TeacherPlanner

    def drive(rate: float):
        config = DatagenConfig(suite="val", episodes=1, seed=1, duration_s=2.0, perturb=PerturbConfig(rate_per_s=rate))
        return _drive(episode_jobs(config, "", "")[0], TeacherPlanner(), np.random.default_rng(0))

    states, results, perturbs = drive(3.0)
    clean_states, _, clean_perturbs = drive(0.0)
    assert any(p is not None for p in perturbs) and all(p is None for p in clean_perturbs)
    deviation = max(float(np.hypot(*(a.ego.pose[:2] - b.ego.pose[:2]))) for a, b in zip(states, clean_states))
    assert deviation > 0.05  # [m] the executed plan was not the teacher's
    planner = TeacherPlanner()
    k = next(i for i, p in enumerate(perturbs) if p is not None)
    np.testing.assert_allclose(results[k].poses, planner.decide(states[k]).poses)  # the clean plan is the label


def test_late_brake_keeps_the_speed_along_the_path_and_past_its_end():
    # a teacher plan that stops: 10 m/s braking at 5 m/s^2 to a stop after 10 m, then standing
    t = 0.1 * np.arange(1, 65)
    s = np.where(t < 2.0, 10.0 * t - 2.5 * t**2, 10.0)
    stop = np.column_stack([s, np.zeros(64), np.zeros(64)])
    assert brakes(stop, 10.0) and not brakes(_straight(), 10.0) and not brakes(stop, 2.0)  # too slow to count
    held = perturb_plan(stop, Perturbation(0, 10, 0.0, 0.0, 1.0, hold_speed=10.0))
    np.testing.assert_allclose(held[:, 0], 10.0 * t)  # 1 m per step, straight on past the 10 m stop
    np.testing.assert_allclose(held[:, 1:], 0.0, atol=1e-12)
    # on a bend the held plan follows the path and then its last heading
    yaw = np.linspace(0.0, 0.3, 64)  # 0.5 m per step, turning left to 0.3 rad
    bend = np.column_stack([np.cumsum(0.5 * np.cos(yaw)), np.cumsum(0.5 * np.sin(yaw)), yaw])
    far = perturb_plan(bend, Perturbation(0, 10, 0.0, 0.0, 1.0, hold_speed=20.0))
    steps = np.hypot(*np.diff(np.vstack([[0, 0], far[:, :2]]), axis=0).T)
    np.testing.assert_allclose(steps[:30], 2.0, rtol=1e-2)  # 20 m/s: 2 m per 0.1 s step
    np.testing.assert_allclose(far[-1, 2], 0.3, atol=1e-9)
    window = late_brake(PerturbConfig(), 40, 12.5, 0.1, np.random.default_rng(0))
    assert window.start == 40 and 45 <= window.end <= 55 and window.hold_speed == 12.5
    assert window.to_dict()["hold_speed"] == 12.5 and "hold_speed" not in Perturbation(0, 1, 0, 0, 1).to_dict()
    with pytest.raises(ValueError, match="late_brake_probability"):
        PerturbConfig(late_brake_probability=1.5)


def test_late_braking_keeps_the_ego_fast_where_the_teacher_slows():
    from cordillera.teacher.datagen import _drive
    from cordillera.teacher.planner import TeacherPlanner

    def drive(probability: float):
        config = DatagenConfig(suite="train", episodes=1, seed=0, duration_s=7.0,
                               perturb=PerturbConfig(rate_per_s=0.0, late_brake_probability=probability))
        job = next(j for j in episode_jobs(replace(config, episodes=60), "", "") if j.family == "stalled_vehicle")
        return _drive(replace(job, config=config), TeacherPlanner(), np.random.default_rng(0))

    states, results, perturbs = drive(1.0)
    clean_states, _, clean_perturbs = drive(0.0)
    held = [p for p in perturbs if p is not None]
    assert held and all(p.hold_speed is not None for p in held) and all(p is None for p in clean_perturbs)
    window = held[0]
    assert brakes(results[window.start].poses, window.hold_speed)  # it began where the teacher began to brake
    end = states[window.end]
    assert end.ego.v >= window.hold_speed - 0.3  # the ego kept its speed through the window ...
    assert clean_states[window.end].ego.v < window.hold_speed - 0.5  # ... where the teacher had slowed
    assert end.ego.x > clean_states[window.end].ego.x  # so it is further on, nearer the stalled car
    np.testing.assert_allclose(results[window.end].poses, TeacherPlanner().decide(end).poses)  # the teacher's label


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """A tiny, untrained VLA checkpoint: a student that drives badly, which is what DAgger is for."""
    import torch

    from cordillera.model import CordilleraVLA, ModelConfig, train_tokenizer

    config = ModelConfig.tiny()
    tokenizer = train_tokenizer(["continue straight", "turn left in 40 m", "Stop for the stalled car ahead"] * 3,
                                config.backbone.vocab_size, config.rig.camera_vocabulary)
    torch.manual_seed(0)
    return CordilleraVLA(config, tokenizer).save_pretrained(tmp_path_factory.mktemp("student") / "ckpt")


def test_student_drives_and_the_teacher_labels_every_state_it_reaches(student):
    from cordillera.teacher.datagen import _drive
    from cordillera.teacher.planner import TeacherPlanner

    config = DatagenConfig(suite="val", episodes=1, seed=1, duration_s=3.0, student=str(student), student_hz=2.0)
    job = episode_jobs(config, "", "")[0]
    states, results, perturbs = _drive(job, TeacherPlanner(), np.random.default_rng(0))
    clean, _, _ = _drive(episode_jobs(replace(config, student=None), "", "")[0], TeacherPlanner(),
                         np.random.default_rng(0))
    assert all(p is None for p in perturbs)  # no perturbation windows on top of the student
    deviation = max(float(np.hypot(*(a.ego.pose[:2] - b.ego.pose[:2]))) for a, b in zip(states, clean))
    assert deviation > 0.5  # [m] the untrained student did not drive the teacher's way
    planner = TeacherPlanner()
    for k in (len(states) // 2, len(states) - 1):
        np.testing.assert_allclose(results[k].poses, planner.decide(states[k]).poses)  # the label: the teacher's
    assert not any(s.log[-1].collisions for s in states if s.log)  # nothing recorded after a crash
    again, _, _ = _drive(job, TeacherPlanner(), np.random.default_rng(0))
    assert all(np.array_equal(a.ego.pose, b.ego.pose) for a, b in zip(states, again)) and len(again) == len(states)


def test_student_dataset_records_the_weights_and_bad_students_are_refused(student, tmp_path):
    from cordillera.model.checkpoint import weights_digest

    config = DatagenConfig(suite="val", episodes=1, seed=1, routine_rate=0.5, duration_s=2.5, student=str(student))
    info = generate(config, tmp_path / "dagger")
    assert info["samples"] > 0
    assert info["config"]["student"] == {"checkpoint": str(student), "weights_sha256": weights_digest(student)}
    assert "student" not in CONFIG.identity() and "student_hz" not in CONFIG.identity()  # old hashes unchanged
    generate(replace(config, workers=2), tmp_path / "again")  # in a worker process, threads limited there
    assert _checksums(tmp_path / "dagger") == _checksums(tmp_path / "again")  # same student, same dataset
    with pytest.raises(DatasetError, match="student: checkpoint file missing"):
        generate(replace(config, student=str(tmp_path / "nowhere")), tmp_path / "x")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(DatasetError, match="cannot load it as a VLA checkpoint"):
        generate(replace(config, student=str(broken)), tmp_path / "y")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
    with pytest.raises(ValueError, match="student_hz"):
        DatagenConfig(student=str(student), student_hz=0.0)
