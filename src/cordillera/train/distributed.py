"""Process group of a `torchrun` launch (DDP over gloo on CPU, NCCL on GPU) and the replica check.

    torchrun --nproc_per_node 2 -m cordillera train --config configs/train/vla-small.yaml --data DIR --out RUN

A plain `cordillera train` is one process (world size 1) and never touches torch.distributed. Under
torchrun the launcher's RANK / WORLD_SIZE / MASTER_ADDR variables are read when training starts (not at
import) and every rank runs the same loop on its share of each step's batches.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["Context", "start", "stop", "parameter_digest", "replicas_identical"]


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def start() -> Context:
    """Join the torchrun process group when launched by torchrun (WORLD_SIZE > 1), else a 1-process context."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Context()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    cores = os.cpu_count() or 1
    torch.set_num_threads(max(1, cores // world))  # the ranks share this machine's cores
    return Context(dist.get_rank(), dist.get_world_size())


def stop(context: Context) -> None:
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()


def parameter_digest(module: nn.Module) -> int:
    """A 63-bit digest of every parameter's bytes, in name order (equal digests: bit-identical weights)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return int.from_bytes(digest.digest()[:8], "little") & ((1 << 63) - 1)


def replicas_identical(context: Context, module: nn.Module) -> tuple[bool, list[int]]:
    """Whether every rank holds bit-identical parameters, and each rank's digest."""
    mine = parameter_digest(module)
    if not context.distributed:
        return True, [mine]
    gathered = [torch.zeros(1, dtype=torch.int64) for _ in range(context.world_size)]
    dist.all_gather(gathered, torch.tensor([mine], dtype=torch.int64))
    digests = [int(t.item()) for t in gathered]
    return len(set(digests)) == 1, digests
