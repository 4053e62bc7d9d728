"""Executors: the local pool shares the cores among its workers instead of oversubscribing them."""

from __future__ import annotations

import os

from cordillera.eval.executor import LocalExecutor, SerialExecutor, make_executor


def test_pool_workers_split_the_cores_between_them():
    expected = str(max(1, (os.cpu_count() or 1) // 2))
    with LocalExecutor(2) as pool:
        seen = list(pool.map_unordered(os.getenv, ["OMP_NUM_THREADS"] * 3))
    assert seen == [expected] * 3


def test_one_worker_runs_in_this_process():
    executor = make_executor("local", 1)
    assert isinstance(executor, SerialExecutor)
    assert list(executor.map_unordered(abs, [-3, 2])) == [3, 2]
