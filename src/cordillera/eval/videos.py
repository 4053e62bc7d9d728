"""Report videos: the bird's-eye view and the camera rig side by side, with a subtitle band that carries the
scenario, the outcome and the policy's reasoning at that moment.

    >>> from cordillera.eval.videos import VideoTask, render_video
    >>> render_video(VideoTask(episode_task, "runs/eval/x/videos/0003.mp4", "runs/eval/x/videos/0003.jpg",
    ...                        failure="at-fault front collision with lead (car) at 4.1 s"))

A video re-runs the scenario (rollouts are deterministic, so it is the rollout that was scored) in the worker
that renders it, instead of shipping world states between processes. Frames: BEV 360 x 360 px at 0.25 m/px
next to the default rig's four cameras at 180 x 320 px each, above a 3-line subtitle band; H.264 at CRF 28
keeps a 15 s video near 150 kB. A JPEG poster (a failure's first contact or off-road step, a success's middle
frame) is shown in the report before the video plays. Files are written beside their destination and
renamed into place, so a video that exists is complete (resumed runs skip it).
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from cordillera.eval.episode import EpisodeTask, replay

__all__ = ["VideoTask", "render_video", "render_videos", "subtitle_band", "reasoning_text", "VIDEO_DIR"]

VIDEO_DIR = "videos"
BEV_SIZE_PX = 360  # square BEV panel; the camera panel (2 x 2 tiles) is scaled to the same height
BEV_M_PER_PX = 0.25  # 90 m across: a junction and its approaches fit, cars stay ~20 px long
CAMERA_SIZE = (180, 320)  # (H, W) of each camera tile [px]
SUBTITLE_LINES = 3  # header line + up to two lines of reasoning
LINE_PX = 18
CRF = 28  # x264 quality: thin lane lines stay readable at ~10 kB per second of video
FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.45


@dataclass(frozen=True)
class VideoTask:
    episode: EpisodeTask
    video: str  # mp4 path
    poster: str  # jpeg path
    failure: str | None = None  # the failure reason shown in the header; None for a success


def reasoning_text(reasoning) -> str | None:
    """The text of a plan's reasoning (PlanReasoning.text, a str, or a mapping's "text"); None if empty."""
    if reasoning is None:
        return None
    if isinstance(reasoning, str):
        text = reasoning
    elif isinstance(reasoning, dict):
        text = reasoning.get("text") or ""
    else:
        text = getattr(reasoning, "text", None) or ""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in str(text)).split())
    return text or None


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode()


def _fit(text: str, width_px: int) -> str:
    """Cut text with "..." to fit width_px when drawn in FONT at FONT_SCALE."""
    if cv2.getTextSize(text, FONT, FONT_SCALE, 1)[0][0] <= width_px:
        return text
    while text and cv2.getTextSize(text + "...", FONT, FONT_SCALE, 1)[0][0] > width_px:
        text = text[:-1]
    return text + "..."


def subtitle_band(width: int, header: str, body: str | None, alert: bool) -> np.ndarray:
    """(SUBTITLE_LINES * LINE_PX + 6, width, 3) uint8: a header line (red when alert) and the body wrapped."""
    band = np.zeros((SUBTITLE_LINES * LINE_PX + 6, width, 3), dtype=np.uint8)
    colour = (255, 110, 110) if alert else (140, 230, 140)
    cv2.putText(band, _fit(_ascii(header), width - 12), (6, LINE_PX - 2), FONT, FONT_SCALE, colour, 1, cv2.LINE_AA)
    chars = max(20, int(width / (cv2.getTextSize("x", FONT, FONT_SCALE, 1)[0][0] + 0.5)))
    lines = textwrap.wrap(_ascii(body or "(this policy gives no reasoning)"), chars)[: SUBTITLE_LINES - 1]
    for k, line in enumerate(lines):
        cv2.putText(band, _fit(line, width - 12), (6, (k + 2) * LINE_PX - 2), FONT, FONT_SCALE, (235, 235, 235), 1,
                    cv2.LINE_AA)
    return band


def _write_whole(path: Path, write: Callable[[Path], object]) -> None:
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def render_video(task: VideoTask) -> dict:
    """Render one video and its poster; returns {"scenario", "video", "poster"}, or {"scenario", "error"}."""
    from cordillera.world.render.bev import BevView, render_frame
    from cordillera.world.render.camera import camera_panel
    from cordillera.world.render.rig import default_rig
    from cordillera.world.render.video import mosaic, write_video
    from cordillera.world.roads.routes import navigation_text
    from cordillera.world.rollout import offroad_steps

    state, exc = replay(task.episode)
    if state is None:
        return {"scenario": task.episode.scenario_id,
                "error": f"nothing to show: the policy raised before the first step ({exc!r})"}
    log = state.log
    route = state.world.route
    s, _, _ = route.path.project(np.array([step.ego[:2] for step in log]))
    view = BevView((BEV_SIZE_PX, BEV_SIZE_PX), BEV_M_PER_PX, False)
    rig = default_rig()
    outcome = f"FAILURE: {task.failure}" if task.failure else "success"
    name = f"{task.episode.scenario_id} | {task.episode.policy.id}"
    reasoning, current = [], None  # the latest reasoning text at each step
    for step in log:
        current = reasoning_text(step.reasoning) or current
        reasoning.append(current)

    def frame(i: int) -> np.ndarray:
        bev = render_frame(state, i, view=view, navigation=navigation_text(state.road, route, float(s[i])))
        image = mosaic([bev, camera_panel(state, i, rig, camera_size=CAMERA_SIZE)])
        header = f"{name} | t {log[i].t:4.1f} s | {outcome}"
        return np.concatenate([image, subtitle_band(image.shape[1], header, reasoning[i], task.failure is not None)])

    incident = np.flatnonzero(offroad_steps(state) | np.array([bool(step.collisions) for step in log]))
    poster_at = (int(incident[0]) if len(incident) else len(log) - 1) if task.failure else len(log) // 2
    video, poster = Path(task.video), Path(task.poster)
    video.parent.mkdir(parents=True, exist_ok=True)
    _write_whole(poster, lambda tmp: cv2.imwrite(str(tmp), cv2.cvtColor(frame(poster_at), cv2.COLOR_RGB2BGR),
                                                 [cv2.IMWRITE_JPEG_QUALITY, 85]))
    _write_whole(video, lambda tmp: write_video((frame(i) for i in range(len(log))), tmp, crf=CRF))
    return {"scenario": task.episode.scenario_id, "video": str(video), "poster": str(poster)}


def _run(task: VideoTask) -> dict:
    try:
        return render_video(task)
    except Exception as exc:  # noqa: BLE001  (a video that cannot be made must not sink the report)
        return {"scenario": task.episode.scenario_id, "error": f"{type(exc).__name__}: {exc}"}


def render_videos(records: list[dict], tasks: list[EpisodeTask], out: Path, executor, max_failures: int | None,
                  successes: int, progress: Callable[[str, int, int], None]) -> dict:
    """Videos for the failures (the first max_failures in suite order; None: all) and the first `successes`
    successes; files already there are kept. Returns scenario id -> {"kind", "video", "poster"} (paths
    relative to out) or {"kind", "error"}."""
    by_index = {t.index: t for t in tasks}
    failed = [r for r in records if not r["success"]]
    chosen = [(r, "failure") for r in (failed if max_failures is None else failed[:max_failures])]
    chosen += [(r, "success") for r in [r for r in records if r["success"]][:successes]]
    chosen.sort(key=lambda pair: pair[0]["index"])
    todo, result = [], {}
    for record, kind in chosen:
        stem = f"{record['index']:04d}_{record['family']}_{record['seed']}"
        rel_video, rel_poster = f"{VIDEO_DIR}/{stem}.mp4", f"{VIDEO_DIR}/{stem}.jpg"
        result[record["scenario"]] = {"kind": kind, "video": rel_video, "poster": rel_poster}
        if not ((out / rel_video).exists() and (out / rel_poster).exists()):
            todo.append(VideoTask(by_index[record["index"]], str(out / rel_video), str(out / rel_poster),
                                  record["failure"] if kind == "failure" else None))
    progress("videos", 0, len(todo))
    for done, outcome in enumerate(executor.map_unordered(_run, todo), start=1):
        if "error" in outcome:
            name = outcome["scenario"]
            result[name] = {"kind": result[name]["kind"], "error": outcome["error"]}
        progress("videos", done, len(todo))
    return result
