"""PhysicalAI-AV export round trip: video size, frame error and pose error against the simulator's own log.

    .venv/bin/python benchmarks/pai_av_roundtrip.py --scenario lane_follow_curved:1 --duration 20

Rolls the scenario out with the lane follower, exports it (data.pai_av_write), reads every sample back
(data.pai_av_read) and prints: mp4 bytes per frame, mean / worst mean-absolute frame error at the model's
resolution [grey levels of 255], worst pose error [m], seconds per sample read.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from cordillera.data.pai_av import PaiAvDataset, clip_from_rollout, write_pai_av
from cordillera.geometry import to_frame
from cordillera.policies import make_policy
from cordillera.scenarios.families import sample_family
from cordillera.world.render.camera import render_state
from cordillera.world.render.rig import default_rig
from cordillera.world.rollout import rollout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", default="lane_follow_curved:1")
    parser.add_argument("--duration", type=float, default=20.0)
    args = parser.parse_args()
    family, _, seed = args.scenario.partition(":")
    final = rollout(sample_family(family, int(seed)), make_policy("lane_follower"), duration_s=args.duration)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        root = write_pai_av(Path(tmp) / "out", [clip_from_rollout(final)])
        write_s = time.perf_counter() - start
        video_bytes = sum(p.stat().st_size for p in (root / "camera").rglob("*.zip"))
        frames = len(final.log) * len(default_rig().cameras)
        ds = PaiAvDataset(root, split="all", t0_stride_s=0.5)
        size = (ds.rig.image_width, ds.rig.image_height)
        ego = np.stack([s.ego[:3] for s in final.log])
        errors, pose_error, read_s = [], 0.0, 0.0
        for i in range(len(ds)):
            start = time.perf_counter()
            sample = ds[i]
            read_s += time.perf_counter() - start
            step = ds.record(i)["t0_us"] // 100_000
            truth = to_frame(ego[step + 1: step + 65], ego[step])
            pose_error = max(pose_error, float(np.abs(sample.future - truth).max()))
            for name, images in sample.cameras.items():
                for k, image in enumerate(images):
                    ref = cv2.resize(render_state(final, default_rig(), index=step - 3 + k)[name], size,
                                     interpolation=cv2.INTER_AREA)
                    errors.append(float(np.abs(image.astype(float) - ref).mean()))
    print(f"{args.scenario}, {len(final.log)} steps, {len(ds)} samples")
    print(f"render + write {write_s:.1f} s; mp4 {video_bytes / frames:.0f} bytes per {default_rig().cameras[0].height}"
          f"x{default_rig().cameras[0].width} frame ({video_bytes / 1e6:.2f} MB for {frames} frames)")
    print(f"frame error at {size[1]}x{size[0]}: mean {np.mean(errors):.2f}, worst {np.max(errors):.2f} / 255")
    print(f"worst future pose error {pose_error:.2e}; read {read_s / len(ds) * 1e3:.0f} ms per sample")


if __name__ == "__main__":
    main()
