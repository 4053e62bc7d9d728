"""Where evaluation work runs: in this process, a local process pool, or a Ray cluster, behind one interface.

    >>> from cordillera.eval.executor import make_executor
    >>> with make_executor("local", workers=2) as ex:
    ...     for result in ex.map_unordered(run_episode, tasks):   # results as they complete
    ...         write(result)

`map_unordered(fn, tasks)` yields `fn(task)` for every task in completion order; callers sort afterwards, so
the result of a task never depends on where or when it ran. `fn` must be a module-level function and the
tasks plain picklable data. One task is one scenario: scenarios differ a lot in cost, so finer work items
balance the workers better than chunks.

The local pool starts workers with "forkserver" (Linux) or "spawn": a plain fork of a parent that has
already run numba-compiled code (and its threads) is not safe. The forkserver imports the evaluation
modules the caller names once (`preload`), so each worker forks a warm interpreter instead of importing
numpy, shapely, numba and the compiled kernels again. Each worker gets cpu_count // workers math threads
(OMP_NUM_THREADS, and torch's when it is loaded): left at torch's default, 2 workers of a learned policy ran
4 spinning threads on 2 cores: ~120 s per 20 s demo scenario, against ~22 s held to one thread each.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Callable, Iterable, Iterator

__all__ = ["Executor", "SerialExecutor", "LocalExecutor", "RayExecutor", "ExecutorError", "EXECUTORS",
           "make_executor"]

EXECUTORS = ("local", "ray")


class ExecutorError(RuntimeError):
    """The requested executor cannot run here (e.g. Ray is not installed)."""


class Executor:
    """Runs fn over tasks; subclasses implement map_unordered. Use as a context manager."""

    workers: int = 1

    def map_unordered(self, fn: Callable, tasks: Iterable) -> Iterator:
        raise NotImplementedError

    def close(self) -> None:
        """Release workers (a no-op where there are none)."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SerialExecutor(Executor):
    """Everything in this process, in task order (one worker; also what tests use for in-test policies)."""

    def map_unordered(self, fn: Callable, tasks: Iterable) -> Iterator:
        for task in tasks:
            yield fn(task)


def _context(preload: tuple[str, ...]) -> multiprocessing.context.BaseContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(preload))  # only takes effect before the server first starts
        return ctx
    return multiprocessing.get_context("spawn")


def _limit_threads(threads: int) -> None:
    """Worker initializer: at most `threads` math-library threads in this process."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


class LocalExecutor(Executor):
    """A local process pool of `workers` processes. At most 2 x `workers` tasks are submitted ahead, so an
    interrupted run has little in flight and results stream back while the rest waits to be submitted."""

    def __init__(self, workers: int, preload: tuple[str, ...] = ()) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        threads = max(1, (os.cpu_count() or 1) // workers)
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=_context(preload),
                                         initializer=_limit_threads, initargs=(threads,))

    def map_unordered(self, fn: Callable, tasks: Iterable) -> Iterator:
        pending = set()
        todo = iter(tasks)
        try:
            for task in todo:
                pending.add(self._pool.submit(fn, task))
                if len(pending) >= 2 * self.workers:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield future.result()
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor(Executor):
    """The same interface over Ray tasks (`ray.init()` joins the cluster Ray is configured for, or starts a
    local one). At most 2 x `workers` tasks are in flight."""

    def __init__(self, workers: int) -> None:
        try:
            import ray
        except ImportError:
            raise ExecutorError("--executor ray needs Ray (pip install 'ray[default]'); it is not installed") from None
        self._ray = ray
        self.workers = workers
        if not ray.is_initialized():
            ray.init()

    def map_unordered(self, fn: Callable, tasks: Iterable) -> Iterator:
        ray = self._ray
        remote = ray.remote(num_cpus=1)(fn)
        pending = []
        for task in tasks:
            pending.append(remote.remote(task))
            if len(pending) >= 2 * self.workers:
                done, pending = ray.wait(pending, num_returns=1)
                yield ray.get(done[0])
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])


def make_executor(kind: str, workers: int, preload: tuple[str, ...] = ()) -> Executor:
    """"local" with one worker runs in this process; more workers make a process pool (whose forkserver
    imports `preload` first). "ray": Ray tasks."""
    if kind == "local":
        return SerialExecutor() if workers == 1 else LocalExecutor(workers, preload)
    if kind == "ray":
        return RayExecutor(workers)
    raise ExecutorError(f"unknown executor {kind!r}; known: {', '.join(EXECUTORS)}")
