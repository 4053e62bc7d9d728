"""How to store camera frames in a dataset: size and load speed of PNG, JPEG, raw + zstd and H.264 video,
measured on real rendered frames (the model rig: 4 cameras at 64 x 128).

    .venv/bin/python benchmarks/frame_formats.py            # ~30 s on a laptop CPU

A training sample holds 16 frames (4 cameras x 4 history frames). "decode / sample" is the time to get those
16 frames back for one randomly chosen moment: per-frame codecs decode exactly 16 images; a video must seek
to the keyframe before the moment and decode forward from it, so it pays for the GOP as well. Medians of 5
repeats; results vary with the machine, so compare rows of one run only.
"""

from __future__ import annotations

import io
import time

import av
import cv2
import numpy as np
import pyarrow as pa

from cordillera import constants as C
from cordillera.policies import make_policy
from cordillera.scenarios.families import sample_family
from cordillera.world import sim
from cordillera.world.render.camera import render_state
from cordillera.world.render.rig import default_rig
from cordillera.world.rollout import rollout

STEPS = 120
ZSTD = pa.Codec("zstd")
FAMILIES = ("signalized_straight", "stalled_vehicle", "pedestrian_group_crosswalk")


def frames() -> np.ndarray:
    """(cameras, steps, 64, 128, 3) uint8 frames of real rollouts (several families, concatenated in time)."""
    rig = default_rig().select(C.CAMERA_NAMES).with_resolution(64, 128)
    out = []
    for family in FAMILIES:
        final = rollout(sample_family(family, 0), make_policy("lane_follower"), seed=0,
                        config=sim.SimConfig(duration_s=STEPS * C.DT / len(FAMILIES)))
        per_step = [render_state(final, rig, k) for k in range(len(final.log))]
        out.append(np.stack([[s[name] for s in per_step] for name in rig.names]))
    return np.concatenate(out, axis=1)


def median(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def per_frame(name, encode, decode, images) -> dict:
    flat = images.reshape(-1, *images.shape[2:])
    blobs = [encode(f) for f in flat]
    enc = median(lambda: [encode(f) for f in flat[:64]]) / 64
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(flat) - 16, size=20)
    dec = median(lambda: [[decode(blobs[p + j]) for j in range(16)] for p in picks]) / len(picks)
    lossless = all(np.array_equal(decode(b), f) for b, f in zip(blobs[:32], flat[:32]))
    return {"format": name, "bytes_per_frame": float(np.mean([len(b) for b in blobs])), "encode_ms": enc * 1e3,
            "decode_sample_ms": dec * 1e3, "lossless": lossless}


def stacked(images: np.ndarray, level: int) -> dict:
    """What the dataset stores: per camera, the 4 history frames of a sample as one zstd-compressed array."""
    codec = pa.Codec("zstd", compression_level=level)
    shape = (4, *images.shape[2:])
    blobs = [[codec.compress(cam[t0 - 3:t0 + 1].tobytes(), asbytes=True) for cam in images]
             for t0 in range(3, images.shape[1])]
    enc = median(lambda: [codec.compress(cam[t0 - 3:t0 + 1].tobytes()) for t0 in range(3, 19) for cam in images])
    enc /= 16 * len(images) * 4  # per frame
    picks = np.random.default_rng(0).integers(0, len(blobs), size=20)

    def decode(sample):
        return [np.frombuffer(ZSTD.decompress(b, decompressed_size=int(np.prod(shape)), asbytes=True),
                              np.uint8).reshape(shape) for b in sample]

    dec = median(lambda: [decode(blobs[p]) for p in picks]) / len(picks)
    lossless = all(np.array_equal(d, cam[t0 - 3:t0 + 1]) for t0, sample in zip(range(3, 13), blobs)
                   for d, cam in zip(decode(sample), images))
    return {"format": f"4-frame stack per camera + zstd {level}", "bytes_per_frame":
            float(np.mean([len(b) for s in blobs for b in s])) / 4, "encode_ms": enc * 1e3,
            "decode_sample_ms": dec * 1e3, "lossless": lossless}


def video(images: np.ndarray, gop: int) -> dict:
    def encode_one(seq: np.ndarray) -> bytes:
        buf = io.BytesIO()
        with av.open(buf, "w", format="mp4") as box:
            stream = box.add_stream("libx264", rate=10)
            stream.width, stream.height, stream.pix_fmt = seq.shape[2], seq.shape[1], "yuv420p"
            stream.options = {"g": str(gop), "crf": "18", "preset": "fast"}
            for f in seq:
                for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                    box.mux(packet)
            for packet in stream.encode():
                box.mux(packet)
        return buf.getvalue()

    blobs = [encode_one(cam) for cam in images]
    enc = median(lambda: encode_one(images[0]), repeats=3) / images.shape[1]
    steps = images.shape[1]
    rng = np.random.default_rng(0)
    picks = rng.integers(4, steps, size=10)

    def sample(t0: int) -> None:  # 4 frames t0-3..t0 of every camera: decode from the GOP start
        for blob in blobs:
            with av.open(io.BytesIO(blob)) as box:
                for k, frame in enumerate(box.decode(video=0)):
                    if k >= t0:
                        frame.to_ndarray(format="rgb24")
                        break

    dec = median(lambda: [sample(int(p)) for p in picks], repeats=3) / len(picks)
    return {"format": f"H.264 mp4 per camera (crf 18, GOP {gop})",
            "bytes_per_frame": sum(map(len, blobs)) / (images.shape[0] * steps),
            "encode_ms": enc * 1e3, "decode_sample_ms": dec * 1e3, "lossless": False}


def png_encode(f: np.ndarray) -> bytes:
    return cv2.imencode(".png", np.ascontiguousarray(f[..., ::-1]))[1].tobytes()


def jpeg_encode(f: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", np.ascontiguousarray(f[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def image_decode(b: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]


def zstd_row(images: np.ndarray, level: int) -> dict:
    codec = pa.Codec("zstd", compression_level=level)

    def decode(b: bytes) -> np.ndarray:
        raw = ZSTD.decompress(b, decompressed_size=int(np.prod(images.shape[2:])), asbytes=True)
        return np.frombuffer(raw, np.uint8).reshape(images.shape[2:])

    return per_frame(f"raw + zstd level {level} (pyarrow)", lambda f: codec.compress(f.tobytes(), asbytes=True),
                     decode, images)


def main() -> None:
    images = frames()
    rows = [per_frame("PNG (cv2, level 6)", png_encode, image_decode, images),
            per_frame("JPEG q90 (cv2)", jpeg_encode, image_decode, images),
            *[zstd_row(images, level) for level in (1, 3, 9)],
            stacked(images, level=9),
            video(images, gop=10)]
    raw = 64 * 128 * 3
    print(f"{images.shape[0]} cameras x {images.shape[1]} steps of 64x128 frames from {', '.join(FAMILIES)}")
    print(f"{'format':<40}{'bytes/frame':>12}{'ratio':>8}{'encode ms/frame':>17}{'decode ms/sample':>18}"
          f"{'lossless':>10}")
    for r in rows:
        print(f"{r['format']:<40}{r['bytes_per_frame']:>12.0f}{raw / r['bytes_per_frame']:>8.1f}"
              f"{r['encode_ms']:>17.3f}{r['decode_sample_ms']:>18.2f}{str(r['lossless']):>10}")


if __name__ == "__main__":
    main()
