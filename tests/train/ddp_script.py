"""Run by test_distributed.py under torchrun: a few DDP steps of the tiny model on synthetic samples.

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/train/ddp_script.py OUT
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from conftest import make_samples, tiny_train_config  # noqa: E402

from cordillera.train import train  # noqa: E402

if __name__ == "__main__":
    torch.set_num_threads(1)
    config = tiny_train_config(4)
    train(config, make_samples(16), make_samples(4, seed=1), sys.argv[1], progress=False)
