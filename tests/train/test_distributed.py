"""Two DDP processes (gloo on CPU) train a few steps and keep bit-identical replicas.

The default-suite test forks the two ranks from this process (no second import of torch and transformers,
which costs more than the training); the slow test launches tests/train/ddp_script.py with torchrun, the
way a user runs it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from cordillera.model import CordilleraVLA
from cordillera.train import train

from .conftest import make_samples, tiny_train_config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, out: str, port: int) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    train(tiny_train_config(4), make_samples(16), make_samples(4, seed=1), out, progress=False)


def _check_run(out: Path) -> None:
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in lines if r["split"] == "val"]
    assert len(val) == 1 and val[0]["step"] == 4
    digests = val[0]["replica_digests"]
    assert len(digests) == 2 and digests[0] == digests[1]  # every parameter bit-identical across the ranks
    train_lines = [r for r in lines if r["split"] == "train"]
    assert [r["step"] for r in train_lines] == [1, 2, 3, 4]
    assert json.loads((out / "run.json").read_text())["world_size"] == 2
    CordilleraVLA.from_pretrained(out / "final")


def test_two_ddp_processes_keep_replicas_identical(tmp_path):
    out = tmp_path / "run"
    mp.start_processes(_rank_main, args=(str(out), _free_port()), nprocs=2, start_method="fork", join=True)
    _check_run(out)


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(Path(__file__).with_name("ddp_script.py")), str(out)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    _check_run(out)
