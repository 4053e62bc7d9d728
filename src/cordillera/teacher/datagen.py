"""The data factory: the teacher drives sampled scenarios of a suite in closed loop and its moments become a
versioned dataset (cordillera.data.format).

    cordillera datagen --suite train --episodes 600 --out runs/data/train --workers 2
    cordillera datagen --suite train --episodes 2 --duration 4 --out /tmp/tiny --workers 1      # seconds on a CPU

    >>> from cordillera.teacher.datagen import DatagenConfig, generate
    >>> info = generate(DatagenConfig(suite="train", episodes=4, duration_s=6.0), "runs/data/tiny")

Episodes: episode k drives suite item order[k mod n] (order = a permutation of the suite by `seed`), its
`repeat` is k div n; it owns the random stream SeedSequence([seed, k]) for its perturbations, the choice of
routine moments and the labeler. So the content of an episode depends only on (config, k): never on the worker,
the completion order or whether the run was interrupted; and the number of episodes can grow later.

One episode, all in one worker:
1. Roll out: at every 0.1 s the teacher plans from the current state (`TeacherPlanner.decide`); the controller
   executes that plan, or inside a perturbation window a shifted / turned / re-timed copy of it, or (late
   braking, off by default) the same path at the speed it had when the teacher began to brake
   (teacher.perturb). The clean plan is the label at every state, so the drift and the way back are taught.
   With a student (`student`: a VLA checkpoint; DAgger) the student drives instead, replanning at
   `student_hz` from its own cameras, with no perturbations, until the episode ends or the ego collides; the
   teacher still plans from every state it reaches, and those plans are the labels. So the dataset holds the
   states the student's own mistakes lead to, each with what the teacher would do there.
2. Choose moments (after `warmup_s`, when the 1.6 s ego history is real): every keyframe (teacher.keyframes:
   the decision or the ego's meta-action changes, or a new cause appears), plus each routine step with
   probability `routine_rate`.
3. For each chosen moment, oldest first: render the model rig's 4 cameras x 4 frames at 64 x 128, read the ego
   history / route / navigation the car itself has, fit (acceleration, curvature) actions to the plan, label the
   Chain-of-Causation record (text only at keyframes), and ask the QA pairs.
4. Write the episode's shard atomically (data/episode-NNNNNN.parquet). Resume = skip episodes whose shard is
   there and belongs to this config; at the end the meta files are (re)written (data.writer.finalize).
Episodes run through the evaluation's executor (local process pool by default, Ray when asked). Workers write
their shards themselves (only a small summary travels back), so with Ray `out` must be on a filesystem every
node sees. Wall-clock timings per stage go to meta/timing.jsonl, outside the checksummed dataset.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from cordillera import constants as C
from cordillera.data.format import (DATA_DIR, FORMAT, FORMAT_VERSION, FRAME_CODEC, INFO, DatasetError, config_hash,
                                    read_json, shard_name, split_of)
from cordillera.teacher.perturb import (PerturbConfig, Perturbation, active, brakes, late_brake, perturb_plan,
                                        schedule)

__all__ = ["DatagenConfig", "EpisodeJob", "episode_jobs", "run_episode", "generate", "WORKER_MODULES",
           "student_digest"]

WORKER_MODULES = ("cordillera.world.rollout", "cordillera.scenarios.families", "cordillera.world.render",
                  "cordillera.data.writer", "cordillera.teacher.planner", "cordillera.teacher.reasoning")

Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass(frozen=True)
class DatagenConfig:
    suite: str = "train"  # scenario suite the episodes sample (cordillera.scenarios.suites)
    episodes: int = 10  # episodes to generate (more than the suite's size revisits scenarios with new noise)
    seed: int = 0  # orders the suite and seeds every episode's random stream
    routine_rate: float = 0.1  # probability that a routine (non-keyframe) 10 Hz step becomes a sample (~1 Hz)
    duration_s: float | None = None  # simulated seconds per episode; None: the scenario's own length
    warmup_s: float = 1.5  # [s] no samples before the 16-pose ego history is filled by real driving
    val_fraction: float = 0.1  # share of scenarios (family, seed) in the val split (format.split_of)
    perturb: PerturbConfig = field(default_factory=PerturbConfig)
    image_height: int = 64  # [px] rig resolution, rendered directly (model.config.RigConfig default)
    image_width: int = 128  # [px]
    frames: int = 4  # frames per camera, t0-0.3 s .. t0
    workers: int = 1  # 1: in this process; more: a process pool (or Ray tasks)
    executor: str = "local"  # local | ray
    student: str | None = None  # a VLA checkpoint directory that drives the episodes (DAgger); None: the teacher
    student_hz: float = 2.0  # how often the student replans [Hz] (the evaluation's --policy-hz)

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes: must be >= 1, got {self.episodes}")
        if not 0.0 <= self.routine_rate <= 1.0:
            raise ValueError(f"routine_rate: must be in [0, 1], got {self.routine_rate}")
        if not 0.0 <= self.val_fraction <= 1.0:
            raise ValueError(f"val_fraction: must be in [0, 1], got {self.val_fraction}")
        if self.duration_s is not None and not (np.isfinite(self.duration_s) and self.duration_s > 0):
            raise ValueError(f"duration_s: must be > 0, got {self.duration_s}")
        if self.workers < 1:
            raise ValueError(f"workers: must be >= 1, got {self.workers}")
        if not (np.isfinite(self.student_hz) and 0 < self.student_hz <= 1.0 / C.DT):
            raise ValueError(f"student_hz: must be in (0, {1.0 / C.DT:g}], got {self.student_hz}")

    def identity(self) -> dict:
        """The fields that decide the dataset's content (not how many episodes, workers or which executor)."""
        doc = asdict(self)
        for key in ("episodes", "workers", "executor"):
            doc.pop(key)
        if not doc["perturb"]["late_brake_probability"]:  # off: the identity (and hash) of datasets made before it
            doc["perturb"].pop("late_brake_probability")
        if self.student is None:  # likewise for the student fields
            doc.pop("student")
            doc.pop("student_hz")
        else:  # the weights decide what the student does, not where they lie
            doc["student"] = {"checkpoint": self.student, "weights_sha256": student_digest(self.student)}
        return doc


@dataclass(frozen=True)
class EpisodeJob:
    """One episode: what a worker needs (plain, picklable data)."""

    index: int
    family: str
    seed: int
    repeat: int
    split: str
    config: DatagenConfig
    root: str
    chash: str

    @property
    def episode(self) -> str:
        return f"{self.family}:{self.seed}:{self.repeat}"


def datagen_rig(config: DatagenConfig):
    """The rig samples are rendered with: the model rig's cameras drawn directly at the dataset's resolution
    (model.policy.model_rig asks the renderer for the same frames at inference)."""
    from cordillera.world.render.camera import sized_rig

    return sized_rig(C.CAMERA_NAMES, config.image_height, config.image_width, config.frames)


def episode_jobs(config: DatagenConfig, root: str | Path, chash: str) -> list[EpisodeJob]:
    from cordillera.scenarios.suites import get_suite

    items = get_suite(config.suite).items
    order = np.random.default_rng(config.seed).permutation(len(items))
    jobs = []
    for k in range(config.episodes):
        family, seed = items[int(order[k % len(items)])]
        jobs.append(EpisodeJob(k, family, seed, k // len(items), split_of(family, seed, config.val_fraction),
                               config, str(root), chash))
    return jobs


def student_digest(checkpoint: str | Path) -> str:
    """The student's weights digest (model.checkpoint.weights_digest); DatasetError when it has none."""
    from cordillera.model.checkpoint import CheckpointError, weights_digest

    try:
        return weights_digest(checkpoint)
    except CheckpointError as exc:
        raise DatasetError(f"student: {exc}") from None


_STUDENTS: dict[str, object] = {}  # checkpoint -> VLAPolicy, loaded once per worker process


def _student(checkpoint: str):
    if checkpoint not in _STUDENTS:
        from cordillera.model.policy import VLAPolicy

        _STUDENTS[checkpoint] = VLAPolicy(checkpoint=checkpoint)
    return _STUDENTS[checkpoint]


# ---- one episode ------------------------------------------------------------------------------------------------

def _drive(job: EpisodeJob, planner, rng: np.random.Generator):
    """Closed loop with perturbations: (states, plan results, active perturbation) per 10 Hz step."""
    from cordillera.scenarios.families import sample_family
    from cordillera.world import sim
    from cordillera.world.types import Plan

    scenario = sample_family(job.family, job.seed)
    state = sim.reset(scenario, job.seed, sim.SimConfig(duration_s=job.config.duration_s))
    if job.config.student is not None:
        return _drive_student(job, planner, state)
    dt = state.world.config.dt
    steps = int(round(state.world.duration_s / dt))
    config = job.config.perturb
    windows = schedule(config, steps, dt, rng)
    states, results, perturbs = [], [], []
    braking = False
    while not state.done:
        result = planner.decide(state)
        p = active(windows, state.step)
        if config.late_brake_probability > 0.0:  # (no draw when off: the stream stays as it was)
            was_braking, braking = braking, brakes(result.poses, float(state.ego.v), dt)
            if braking and not was_braking and p is None and rng.random() < config.late_brake_probability:
                p = late_brake(config, state.step, float(state.ego.v), dt, rng)
                windows = sorted([*windows, p], key=lambda w: w.start)  # active() finds it on the next steps
        states.append(state)
        results.append(result)
        perturbs.append(p)
        state = sim.step(state, Plan(perturb_plan(result.poses, p, dt) if p is not None else result.poses))
    return states, results, perturbs


def _drive_student(job: EpisodeJob, planner, state):
    """DAgger: the student drives (replanning every 1 / student_hz s, the controller tracking its last plan in
    between) and the teacher plans from every state as the label; ends at the first collision. The student runs
    on one thread, so its plans (and the dataset) do not depend on how many workers share the machine."""
    import torch

    from cordillera.world.rollout import rollout

    student = _student(job.config.student)
    student.reset({"scenario": job.episode, "seed": job.index})
    states = [state]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:  # what follows a crash teaches nothing
        rollout(state.world.scenario, student, policy_hz=job.config.student_hz, stop_on_collision=True,
                on_step=states.append, state=state)
    finally:
        torch.set_num_threads(threads)
    states = states[:-1]  # the last one (the collision, or the end) is not a moment to plan from
    return states, [planner.decide(s) for s in states], [None] * len(states)


def _keyframes(states, results) -> set[int]:
    """Step positions that are keyframes (teacher.keyframes: decision or meta-action changes, new causes)."""
    from cordillera.teacher.keyframes import keyframe_steps

    return set(keyframe_steps(states, results))


def _moment(state, result, perturbation: Perturbation | None, rig, coc, qa) -> dict:
    """One sample's fields. keyframe / reasoning follow the CoC record: a keyframe whose decision turned out
    routine is stored as a routine moment (no reasoning text), so the gate label and the text agree."""
    from cordillera.model.action_space import trajectory_to_actions
    from cordillera.world import sim
    from cordillera.world.render.camera import object_depth, observe_cameras
    from cordillera.data.format import encode_codes, encode_frames

    obs = sim.observe(state)
    cameras, _ = observe_cameras(state, rig)
    frames = [encode_frames(cameras[name]) for name in rig.names]
    codes = object_depth(state, rig)  # the t0 frame's, from the frame cache observe_cameras just filled
    depth = [encode_codes(codes[name]) for name in rig.names]
    actions = trajectory_to_actions(result.poses, float(state.ego.v), C.DT)
    decision = result.decision.to_dict()
    return {
        "step": int(state.step), "t": float(state.t), "frames": frames,
        "ego_history": obs.ego_history, "speed": float(obs.speed), "acceleration": float(obs.acceleration),
        "yaw_rate": float(obs.yaw_rate), "route_waypoints": obs.route_waypoints, "navigation": obs.navigation,
        "future": result.poses, "actions": actions, "proposal": result.proposal,
        "decision_longitudinal": decision["longitudinal"], "decision_lateral": decision["lateral"],
        "keyframe": bool(coc.keyframe), "reasoning": coc.text if coc.keyframe else None,
        "coc": json.dumps(coc.to_dict(), sort_keys=True),
        "qa": json.dumps([list(pair) for pair in qa]),
        "perturbation": json.dumps(perturbation.to_dict(), sort_keys=True) if perturbation is not None else None,
        "depth": depth,
    }


def run_episode(job: EpisodeJob) -> dict:
    """Generate and write one episode's shard; returns its EPISODE_SCHEMA fields plus wall-clock "timing" per
    stage (appended to meta/timing.jsonl; not part of the dataset)."""
    from cordillera.data.writer import to_row, write_shard
    from cordillera.teacher.planner import TeacherPlanner
    from cordillera.teacher.qa import qa_pairs
    from cordillera.teacher.reasoning import label_moment

    clock = {"drive_s": 0.0, "keyframes_s": 0.0, "coc_s": 0.0, "qa_s": 0.0, "render_s": 0.0, "write_s": 0.0}
    mark = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        clock[stage] += now - mark
        mark = now

    streams = np.random.SeedSequence([job.config.seed, job.index]).spawn(3)
    drive_rng, pick_rng, label_rng = (np.random.default_rng(s) for s in streams)
    planner = TeacherPlanner()
    states, results, perturbs = _drive(job, planner, drive_rng)
    lap("drive_s")
    keyframes = _keyframes(states, results)
    lap("keyframes_s")
    draws = pick_rng.random(len(states))  # one draw per step, used or not: the picks do not shift each other
    chosen = [k for k in range(len(states)) if states[k].t >= job.config.warmup_s - 1e-9
              and (k in keyframes or draws[k] < job.config.routine_rate)]
    rig = datagen_rig(job.config)
    rows, previous = [], None
    for k in chosen:
        state, result = states[k], results[k]
        coc = label_moment(state, result, planner, previous, label_rng, keyframe=k in keyframes)
        previous = coc
        lap("coc_s")
        qa = qa_pairs(state, label_rng)
        lap("qa_s")
        row = _moment(state, result, perturbs[k], rig, coc, qa)
        rows.append(to_row({**row, "episode": job.episode, "episode_index": job.index, "family": job.family,
                            "seed": job.seed, "repeat": job.repeat, "split": job.split}))
        lap("render_s")
    write_shard(Path(job.root), job.index, job.episode, rows, job.chash)
    lap("write_s")
    return {"episode_index": job.index, "episode": job.episode, "family": job.family, "seed": job.seed,
            "repeat": job.repeat, "split": job.split, "samples": len(rows),
            "keyframes": sum(1 for r in rows if r["keyframe"]), "shard": shard_name(job.index),
            "timing": {**clock, "total_s": sum(clock.values()), "steps": len(states)}}


# ---- the whole run --------------------------------------------------------------------------------------------

def _info(config: DatagenConfig, identity: dict, chash: str, rig) -> dict:
    from cordillera.eval.runner import code_version
    from cordillera.scenarios.suites import get_suite

    return {"format": FORMAT, "version": FORMAT_VERSION, "dt": C.DT, "horizon": C.PLAN_STEPS,
            "history": C.HISTORY_STEPS, "complete": False, "config": identity, "config_hash": chash,
            "suite": config.suite, "suite_hash": get_suite(config.suite).hash, "code_version": code_version(),
            "rig": {"cameras": list(rig.names), "frames": rig.frames, "height": config.image_height,
                    "width": config.image_width, "frame_format": FRAME_CODEC, "spec": rig.to_dict()}}


def _existing(root: Path, job: EpisodeJob) -> dict | None:
    """The episode summary of a finished shard of this config, or None when it must be (re)generated."""
    import pyarrow.parquet as pq

    path = root / shard_name(job.index)
    if not path.is_file():
        return None
    try:
        file = pq.ParquetFile(path)
        meta = file.schema_arrow.metadata or {}
        keyframes = sum(file.read(columns=["keyframe"]).column("keyframe").to_pylist())
    except Exception:  # noqa: BLE001  (a damaged shard is regenerated)
        return None
    if meta.get(b"cordillera.config_hash", b"").decode() != job.chash or \
            meta.get(b"cordillera.episode", b"").decode() != job.episode:
        return None
    return {"episode_index": job.index, "episode": job.episode, "family": job.family, "seed": job.seed,
            "repeat": job.repeat, "split": job.split, "samples": file.metadata.num_rows, "keyframes": keyframes,
            "shard": shard_name(job.index)}


def generate(config: DatagenConfig, out: str | Path, progress: Progress | None = None) -> dict:
    """Generate (or resume) the dataset in `out`; returns the final meta/info.json. DatasetError when `out`
    holds another dataset; scenarios.schema.ScenarioError for an unknown suite."""
    from cordillera.data.writer import finalize, write_json
    from cordillera.eval.executor import make_executor

    root = Path(out)
    rig = datagen_rig(config)
    identity = config.identity()  # (with a student: the digest of its weights; DatasetError when it has none)
    if config.student is not None:  # a checkpoint that does not load fails here, not in every worker
        try:
            _student(config.student)
        except Exception as exc:  # noqa: BLE001  (any loader error is the user's checkpoint to fix)
            raise DatasetError(f"student {config.student}: cannot load it as a VLA checkpoint: {exc}") from None
    chash = config_hash(identity | {"format_version": FORMAT_VERSION})
    info = _info(config, identity, chash, rig)
    if (root / INFO).exists():
        before = read_json(root / INFO)
        if before.get("config_hash") != chash:
            raise DatasetError(f"{root} holds another dataset (config {before.get('config')}); choose another "
                               f"--out or delete it")
        versions = before.get("code_versions", [before.get("code_version")])
        info["code_versions"] = sorted(set(versions) | {info["code_version"]})
    jobs = episode_jobs(config, root, chash)
    expected = {Path(shard_name(job.index)).name for job in jobs}
    data = root / DATA_DIR
    for path in sorted(data.iterdir()) if data.is_dir() else []:
        if path.name.startswith(".episode-") and path.name.endswith(".tmp"):
            path.unlink()  # a shard whose writer was killed before its rename
        elif path.name not in expected:
            raise DatasetError(f"{path}: not a shard of this generation (beyond --episodes {config.episodes}, or "
                               f"a foreign file); generate at least as many episodes as before, or use another --out")
    root.mkdir(parents=True, exist_ok=True)
    write_json(root / INFO, info)
    done = {job.index: summary for job in jobs if (summary := _existing(root, job)) is not None}
    todo = [job for job in jobs if job.index not in done]
    report = progress or (lambda phase, n, total: None)
    report("episodes", len(done), len(jobs))
    timing = root / "meta" / "timing.jsonl"
    with make_executor(config.executor, config.workers, WORKER_MODULES) as executor, timing.open("a") as log:
        for summary in executor.map_unordered(run_episode, todo):
            log.write(json.dumps({"episode_index": summary["episode_index"], **summary.pop("timing")}) + "\n")
            log.flush()
            done[summary["episode_index"]] = summary
            report("episodes", len(done), len(jobs))
    return finalize(root, done.values())
