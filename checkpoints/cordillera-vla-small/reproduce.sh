#!/bin/sh
# Every command from an empty runs/ to these weights, on 2 CPU cores (~2 h 20 min here), from the repository root
# with the project installed (.venv/bin on PATH). Each step resumes when rerun (datagen, train --resume, rl --resume).
set -e
cordillera datagen --suite train --episodes 580 --workers 2 --routine-rate 0.3 --out runs/data/train-v3
OMP_NUM_THREADS=1 torchrun --nproc_per_node 2 -m cordillera train --config configs/train/vla-small-perception.yaml --data runs/data/train-v3 --out runs/train/vla-small-v11
OMP_NUM_THREADS=1 torchrun --nproc_per_node 2 -m cordillera train --config configs/train/vla-small-dagger.yaml --data runs/data/train-v3 --init runs/train/vla-small-v11/final --out runs/train/vla-small-speed2
cordillera rl --checkpoint runs/train/vla-small-speed2/final --config configs/rl/grpo-small.yaml --out runs/rl/speed2-f
mkdir -p checkpoints/cordillera-vla-small && cp runs/rl/speed2-f/final/* checkpoints/cordillera-vla-small/
cp runs/train/vla-small-speed2/final/train_config.json checkpoints/cordillera-vla-small/   # the SFT recipe, as run
