"""The closed-loop evaluation harness: a policy over every scenario of a suite, resumable, in parallel.

    cordillera eval --policy rule-based --suite test --workers 2 --out runs/eval/rule-based-test
    cordillera eval --policy constant-velocity --suite stalled_vehicle:0,child_ball:3 --workers 1 --out out/quick

    >>> from cordillera.eval.runner import EvalConfig, run_eval
    >>> result = run_eval(EvalConfig(policy="rule-based", suite="test", out="runs/eval/rb", workers=2))
    >>> result.summary["epdms"], result.ran, result.skipped

Writes into `out`:
- config.json: what the run is (policy id, suite and its hash, duration, policy rate); a rerun into the same
  directory must match it, and then only scenarios without a result line are run (resume).
- results.jsonl: one line per scenario (episode.run_episode's record: every metric, seed, suite hash, policy
  id, code version, failure reason or traceback, and wall-clock "timing"). Lines are appended and flushed as
  scenarios finish, then the file is rewritten in suite order, so its content does not depend on the number
  of workers or the completion order. A line cut off by a killed run is dropped on resume.
- summary.json (aggregate.summarize_records), videos/ and plots/, report.html (report.write_report).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cordillera import __version__
from cordillera.eval.aggregate import summarize_records
from cordillera.eval.episode import WORKER_MODULES, EpisodeTask, run_episode
from cordillera.eval.executor import make_executor
from cordillera.eval.specs import REFERENCE_POLICY, parse_policy_id, parse_suite
from cordillera.eval.stats import StatsConfig

__all__ = ["EvalConfig", "EvalResult", "EvalError", "run_eval", "code_version", "read_results", "RESULTS_FORMAT",
           "RESULTS", "SUMMARY", "CONFIG", "REPORT"]

RESULTS_FORMAT = 1  # bumped when a result record's layout changes; a rerun refuses older directories
RESULTS, SUMMARY, CONFIG, REPORT = "results.jsonl", "summary.json", "config.json", "report.html"

Progress = Callable[[str, int, int], None]  # (phase, done, total)


class EvalError(ValueError):
    """The output directory holds another run's results (or cannot be used)."""


@dataclass(frozen=True)
class EvalConfig:
    policy: str  # constant-velocity | rule-based | teacher | vla:PATH | a registered policy name
    suite: str  # train | val | test | longtail-holdout | FAMILY:SEED,FAMILY:SEED,...
    out: str  # output directory (created; reused for resuming)
    workers: int = 1  # 1: in this process; more: a process pool (or Ray tasks)
    executor: str = "local"  # local | ray
    duration_s: float | None = None  # simulated seconds per scenario; None: each scenario's own length
    policy_hz: float = 10.0  # how often the policy replans [Hz]
    reasoning: str | None = None  # vla: policies only: always | never | auto; None: the checkpoint's own mode
    samples: int | None = None  # vla: policies only: trajectory samples per decision; None: the policy's default
    videos: bool = True  # render failure and success videos into the report
    max_failure_videos: int | None = None  # None: every failure gets a video (they are ~150 kB each)
    success_videos: int = 2  # the first successes in suite order get one too, to compare against
    stats: StatsConfig = field(default_factory=StatsConfig)


@dataclass(frozen=True)
class EvalResult:
    summary: dict
    out: Path
    ran: int  # scenarios evaluated by this call
    skipped: int  # scenarios whose results were already in the directory
    wall_s: float  # wall-clock seconds of this call (rollouts, videos and report)
    videos: dict = field(default_factory=dict)  # scenario id -> video path relative to out


def code_version() -> str:
    """The package version plus the git commit of the source tree when there is one, e.g. "0.1.0+a2570ce"
    ("+a2570ce.dirty" with uncommitted changes to tracked files); just the version without git."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "--short=12", "HEAD")
    if not commit:
        return __version__
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{__version__}+{commit}{'.dirty' if dirty else ''}"


def read_results(path: str | Path) -> list[dict]:
    """Records of a results.jsonl; a trailing line cut off mid-write is ignored, any other bad line is an
    EvalError."""
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    out = []
    for k, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if k == len(lines) - 1:
                break
            raise EvalError(f"{path}:{k + 1}: not a JSON line") from None
    return out


def _write_json(path: Path, doc) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, path)


def _write_lines(path: Path, records: list[dict]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
    os.replace(tmp, path)


def _run_config(config: EvalConfig, spec, suite) -> dict:
    return {"format": RESULTS_FORMAT, "policy": spec.id, "suite": suite.name, "suite_hash": suite.hash,
            "n_scenarios": len(suite), "duration_s": config.duration_s, "policy_hz": config.policy_hz,
            "reasoning": config.reasoning, "reference_policy": REFERENCE_POLICY,
            "inference_precision": spec.precision,  # a VLA's configured bf16 / float32 products change its plans
            "samples": config.samples}


def _check_directory(out: Path, run: dict) -> None:
    path = out / CONFIG
    if not path.exists():
        if (out / RESULTS).exists():
            raise EvalError(f"{out} holds {RESULTS} but no {CONFIG}; not an evaluation directory of this version")
        return
    try:
        before = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise EvalError(f"{path} is not valid JSON") from None
    differs = [k for k in run if before.get(k) != run[k]]
    if differs:
        what = ", ".join(f"{k} {before.get(k)!r} (now {run[k]!r})" for k in differs)
        raise EvalError(f"{out} holds another evaluation ({what}); choose another --out or delete it")


def run_eval(config: EvalConfig, progress: Progress | None = None) -> EvalResult:
    """Evaluate config.policy on config.suite into config.out (see the module docstring). Raises
    specs.PolicyIdError / specs.SuiteError for bad names, EvalError for a directory of another run,
    executor.ExecutorError when the executor cannot run."""
    start = time.perf_counter()
    if config.workers < 1:
        raise EvalError(f"workers must be >= 1, got {config.workers}")
    spec = parse_policy_id(config.policy, reasoning=config.reasoning, samples=config.samples)
    suite = parse_suite(config.suite)
    out = Path(config.out)
    run = _run_config(config, spec, suite)
    _check_directory(out, run)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / CONFIG, run)

    results_path = out / RESULTS
    items = set(suite.items)
    keep = {(r["family"], r["seed"]): r for r in read_results(results_path) if (r["family"], r["seed"]) in items}
    _write_lines(results_path, sorted(keep.values(), key=lambda r: r["index"]))  # drops a cut-off last line
    version = code_version()
    every = [EpisodeTask(k, family, seed, spec, suite.name, suite.hash, version, config.duration_s, config.policy_hz)
             for k, (family, seed) in enumerate(suite.items)]
    tasks = [t for t in every if (t.family, t.seed) not in keep]
    done = len(keep)
    report = progress or (lambda phase, n, total: None)
    report("scenarios", done, len(suite))
    with make_executor(config.executor, config.workers, WORKER_MODULES) as executor:
        with results_path.open("a") as sink:
            for record in executor.map_unordered(run_episode, tasks):
                sink.write(json.dumps(record) + "\n")
                sink.flush()
                keep[(record["family"], record["seed"])] = record
                done += 1
                report("scenarios", done, len(suite))
        records = sorted(keep.values(), key=lambda r: r["index"])
        _write_lines(results_path, records)
        summary = summarize_records(records, suite.name, suite.hash, spec.id, config.stats, REFERENCE_POLICY)
        _write_json(out / SUMMARY, summary)
        videos = {}
        if config.videos:
            from cordillera.eval.videos import render_videos

            videos = render_videos(records, every, out, executor, config.max_failure_videos,
                                   config.success_videos, report)
    from cordillera.eval.report import write_report

    write_report(out, summary, records, videos)
    return EvalResult(summary, out, len(tasks), len(suite) - len(tasks), time.perf_counter() - start, videos)
