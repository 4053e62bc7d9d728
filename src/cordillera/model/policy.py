"""The VLA as a Policy (DESIGN.md contract), and `explain`: the reasoning and the plan of one moment.

    >>> from cordillera.model.policy import VLAPolicy, explain
    >>> policy = VLAPolicy("checkpoints/small", num_samples=6, reasoning="auto", seed=0)
    >>> policy.reset()
    >>> plan = policy.plan(obs)              # Plan: poses (64, 3), samples (6, 64, 3), reasoning
    >>> plan.reasoning.text, plan.reasoning.decision, plan.reasoning.timings
    >>> result = explain(policy, obs, rig)   # text report + camera mosaic with the plan drawn in
    >>> explain_scenario(policy, builtin_scenario("intersection"), seed=0, t=3.0).save_image("out/explain.png")

The policy asks the world for the cameras of its checkpoint's rig at the checkpoint's resolution and frame count
(`sensors` = one CameraRig, `model_rig`), the frames the data factory renders for training. Sampling is
reproducible: `reset()` reseeds the policy's generator from `seed` (and `info["seed"]` when given), so the
same seed and the same observations give the same plans, reasoning included.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from cordillera import constants as C
from cordillera.model.allocator import keep_freed_memory
from cordillera.model.config import RigConfig
from cordillera.model.processor import Sample
from cordillera.model.reasoning import PlanReasoning
from cordillera.model.vla import REASONING_MODES, CordilleraVLA
from cordillera.policies.base import Policy, register_policy
from cordillera.world.types import Observation, Plan

__all__ = ["VLAPolicy", "Explanation", "explain", "explain_scenario", "draw_plan", "select_sample"]


SELECTIONS = ("noise-free", "medoid", "first")


def model_rig(config: RigConfig):
    """The renderer's rig for a checkpoint: its cameras, drawn directly at its resolution, its frame count.

    The data factory renders training frames at the model's resolution (teacher/datagen.py); a larger render
    resized down differs (anti-aliased edges, distant lights and vehicles blended into their background), so
    the policy asks for what the model was trained on rather than for the renderer's default 128 x 256."""
    from cordillera.world.render.camera import sized_rig

    return sized_rig(config.cameras, config.image_height, config.image_width, config.num_frames)


def select_sample(samples: np.ndarray, select: str = "medoid") -> np.ndarray:
    """The plan driven from K trajectory samples (K, 64, 3): "medoid", the sample with the smallest mean
    position distance to the others (a consensus that is still one sampled, feasible trajectory; one
    stray sample cannot pull it the way it pulls a mean); "first" (a plain draw from the model), or
    "noise-free", which is also the first sample: `VLAPolicy` integrates that one from zero noise."""
    if select in ("first", "noise-free") or len(samples) <= 2:
        return samples[0]
    xy = samples[:, :, :2]
    distance = np.linalg.norm(xy[:, None] - xy[None, :], axis=-1).mean(-1)  # (K, K) mean over the horizon
    return samples[int(np.argmin(distance.sum(1)))]


@register_policy
class VLAPolicy(Policy):
    """The reasoning VLA driving from cameras, ego history and route. Each decision draws `num_samples`
    trajectories and drives one (`select`). The default, "noise-free", drives the sample integrated from zero
    noise (the flow's central plan; the others are drawn and show the spread): measured on the shipped model
    (2 Hz, reasoning always), val EPDMS 0.417 against 0.291 for the medoid of six drawn samples, test 0.433
    against 0.310 (paired p 0.004), with the same collision rate: a drawn plan jitters from one decision to the
    next (extended comfort 0.18 against 0.71 on val)."""

    name = "vla"
    privileged = False

    def __init__(self, checkpoint: str | Path | None = None, model: CordilleraVLA | None = None,
                 reasoning: str | None = None, num_samples: int = 6, temperature: float = 0.6, top_p: float = 0.98,
                 seed: int = 0, noise_scale: float = 1.0, max_reasoning_tokens: int | None = None,
                 select: str = "noise-free"):
        if (checkpoint is None) == (model is None):
            raise ValueError("VLAPolicy needs exactly one of checkpoint or model")
        self.model = model if model is not None else CordilleraVLA.from_pretrained(checkpoint)
        self.model.eval()
        keep_freed_memory()  # ~2 ms a decision of page faults otherwise (model/allocator.py)
        if reasoning is not None and reasoning not in REASONING_MODES:
            raise ValueError(f"reasoning must be one of {REASONING_MODES}, got {reasoning!r}")
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        if select not in SELECTIONS:
            raise ValueError(f"select must be one of {SELECTIONS}, got {select!r}")
        self.select = select
        self.reasoning = reasoning or self.model.config.prompt.reasoning
        self.num_samples = num_samples
        self.temperature = temperature
        self.top_p = top_p
        self.seed = seed
        self.noise_scale = noise_scale
        self.max_reasoning_tokens = max_reasoning_tokens or self.model.config.prompt.max_reasoning_tokens
        self.sensors = (model_rig(self.model.config.rig),)
        self.generator = torch.Generator().manual_seed(seed)

    def reset(self, info: dict | None = None) -> None:
        extra = int((info or {}).get("seed", 0))
        self.generator = torch.Generator().manual_seed(self.seed * 1_000_003 + extra)

    def plan(self, obs: Observation) -> Plan:
        start = time.perf_counter()
        batch = self.model.processor.collate([Sample.from_observation(obs)])
        preprocess = time.perf_counter() - start
        noise = self.noise_scale
        if self.select == "noise-free":  # the driven sample from zero noise; the others are drawn as before
            noise = [0.0] + [self.noise_scale] * (self.num_samples - 1)
        out = self.model.generate(batch, mode=self.reasoning, num_samples=self.num_samples,
                                  temperature=self.temperature, top_p=self.top_p, generator=self.generator,
                                  noise_scale=noise, max_reasoning_tokens=self.max_reasoning_tokens)
        timings = {"preprocess": preprocess, **out.timings, "total": time.perf_counter() - start}
        reasoning = PlanReasoning.from_text(out.reasoning[0], out.gate_probability[0], out.reasoning_tokens[0],
                                            timings)
        return Plan(poses=select_sample(out.poses[0], self.select), samples=out.poses[0], reasoning=reasoning)


@dataclass(frozen=True)
class Explanation:
    """The reasoning and plan of one moment: a text report and an RGB picture (H, W, 3) uint8."""

    text: str
    plan: Plan
    image: np.ndarray
    observation: Observation | None = None  # what the policy read (for follow-up questions, model.qa)

    def save_image(self, path: str | Path) -> Path:
        """Write the picture as PNG (or any format cv2 knows from the suffix)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), cv2.cvtColor(self.image, cv2.COLOR_RGB2BGR)):
            raise OSError(f"could not write image {path}")
        return path


def explain_scenario(policy: VLAPolicy, scenario, seed: int, t: float, rig=None, driver: Policy | None = None,
                     policy_hz: float = 2.0) -> Explanation:
    """Roll `scenario` forward from `sim.reset(scenario, seed)` to time t [s] and explain that moment.

    driver: the policy that drives up to t (default: the VLA itself), replanning at policy_hz (the plan is
    tracked in between). rig: the CameraRig to draw into (default: the renderer's rig for the policy's
    cameras). The library function behind `cordillera explain --checkpoint C --scenario FAMILY:SEED --t T`.
    """
    from cordillera.world import sim

    driver = driver or policy
    policy.reset({"seed": seed})
    if driver is not policy:
        driver.reset({"seed": seed})
    state = sim.reset(scenario, seed=seed)
    every = max(1, round(1.0 / (policy_hz * state.world.config.dt)))
    step = 0
    while state.t < t - 1e-9 and not state.done:
        plan = None
        if step % every == 0:
            plan = driver.plan(sim.observe(state, driver.sensors, privileged=driver.privileged))
        state = sim.step(state, plan)
        step += 1
    from cordillera.world.render.camera import observe_cameras, rig_for_sensors

    if rig is None:
        rig = rig_for_sensors(policy.model.config.rig.cameras)
    pictures, _ = observe_cameras(state, rig)  # drawn at the rig's size; the model reads its own (policy.sensors)
    return explain(policy, sim.observe(state, policy.sensors), rig, {n: f[-1] for n, f in pictures.items()})


def explain(policy: VLAPolicy, obs: Observation, rig=None, pictures: dict | None = None) -> Explanation:
    """Plan once and describe it: the reasoning, decision, gate, timings and the plan's shape, plus the
    newest frame of every camera (in the rig's order) with the plan projected onto the ground. rig: a
    `world.render.rig.CameraRig` with the cameras' intrinsics/extrinsics (without it, or for cameras it
    lacks, frames are shown without the overlay). pictures: camera name -> (H, W, 3) image to draw on instead
    of the observation's newest frame (a larger render of the same moment). The library function behind
    `cordillera explain`."""
    plan = policy.plan(obs)
    info: PlanReasoning = plan.reasoning
    end = plan.poses[-1]
    speeds = np.linalg.norm(np.diff(np.vstack([[0.0, 0.0, 0.0], plan.poses])[:, :2], axis=0), axis=1) / C.DT
    lines = [
        f"t = {obs.t:.1f} s, speed {obs.speed:.1f} m/s, navigation: {obs.navigation or '-'}",
        f"reasoning ({'written' if info.reasoned else 'skipped'}, gate P = {info.gate_probability:.2f}): "
        f"{info.text or '-'}",
        f"decision: longitudinal {info.decision['longitudinal'] or '-'}, lateral {info.decision['lateral'] or '-'}",
        f"plan: end ({end[0]:.1f}, {end[1]:.1f}) m, heading {np.degrees(end[2]):.0f} deg, speed "
        f"{speeds[0]:.1f} -> {speeds[-1]:.1f} m/s, {len(plan.samples)} samples",
        "timings [ms]: " + ", ".join(f"{k} {1000 * v:.1f}" for k, v in info.timings.items()),
    ]
    specs = {} if rig is None else {c.name: c for c in rig.cameras}
    tiles = []
    for name, frames in obs.cameras.items():
        image = (pictures or {}).get(name, frames[-1]).copy()  # never draw into the observation
        if name in specs:
            spec = specs[name]
            if (spec.height, spec.width) != image.shape[:2]:
                spec = spec.scaled(*image.shape[:2])
            draw_plan(image, plan, spec)
        cv2.putText(image, name.removeprefix("camera_"), (3, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1,
                    cv2.LINE_AA)
        tiles.append(image)
    if not tiles:
        tiles = [np.zeros((128, 256, 3), dtype=np.uint8)]
    height = max(t.shape[0] for t in tiles)
    tiles = [np.pad(t, ((0, height - t.shape[0]), (0, 0), (0, 0))) for t in tiles]
    return Explanation("\n".join(lines), plan, np.concatenate(tiles, axis=1), obs)


def draw_plan(image: np.ndarray, plan: Plan, camera) -> None:
    """Draw the plan's samples (thin) and poses (thick) on the ground plane into `image` (in place), seen by
    `camera` (a world.render.rig.CameraSpec at the image's resolution)."""
    paths = [(s, (90, 170, 255), 1) for s in (plan.samples if plan.samples is not None else [])]
    for poses, colour, width in [*paths, (plan.poses, (0, 255, 120), 2)]:
        points = np.column_stack([poses[:, :2], np.zeros(len(poses))])
        points = np.vstack([[0.0, 0.0, 0.0], points])
        uv, depth = camera.project(points)
        visible = (depth > 0.5) & np.all(np.isfinite(uv), axis=1)
        uv = uv[visible]
        if len(uv) >= 2:
            cv2.polylines(image, [np.round(uv * 16).astype(np.int32)], False, colour, width, cv2.LINE_AA, shift=4)
