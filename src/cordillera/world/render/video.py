"""Videos of rollouts: H.264 mp4 writing with PyAV, side-by-side panels, one frame per simulation step.

    >>> from cordillera.world.render import render_rollout_video, write_video, mosaic
    >>> render_rollout_video(final_state, "runs/demo/rollout.mp4")          # BEV following the ego
    >>> write_video((mosaic([bev, cam]) for bev, cam in pairs), "out.mp4", fps=10)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from cordillera.world.render.bev import DEFAULT_STYLE, FRAME_VIEW, BevStyle, BevView, render_frame

if TYPE_CHECKING:
    from cordillera.world.render.rig import CameraRig
    from cordillera.world.sim import WorldState

__all__ = ["write_video", "mosaic", "render_rollout_video"]


def _even(frame: np.ndarray) -> np.ndarray:
    """Pad (H, W, 3) with black on the bottom / right to even H and W (yuv420p halves both)."""
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)))


def _rgb(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frames must be (H, W, 3) RGB or (H, W) grey, got shape {frame.shape}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frame.dtype}")
    return frame


def write_video(frames: Iterable[np.ndarray], path: str | Path, fps: float = 10, crf: int = 20) -> Path:
    """Encode RGB frames (H, W, 3) uint8 as an H.264 (libx264, yuv420p) mp4 at `path`; returns the path.

    Odd sizes are padded with a black row / column. Every frame must have the first frame's size. The parent
    directory is created. crf: x264 constant rate factor (lower is better quality; 20 keeps thin lines).
    """
    import av  # imported here: the simulator imports this package and rarely writes videos

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1001)
    if rate <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    count = 0
    with av.open(str(path), mode="w") as container:
        stream = None
        for k, frame in enumerate(frames):
            frame = _even(_rgb(frame))
            if stream is None:
                size = frame.shape[:2]
                stream = container.add_stream("libx264", rate=rate)
                stream.height, stream.width = size
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(int(crf))}
            elif frame.shape[:2] != size:
                raise ValueError(f"frame {k} has size {frame.shape[:2]}, the first frame had {size} (after padding)")
            video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            container.mux(stream.encode(video_frame))
            count += 1
        if stream is None:
            raise ValueError("write_video: no frames")
        container.mux(stream.encode(None))
    return path


def mosaic(panels: list[np.ndarray], height: int | None = None, gap: int = 0) -> np.ndarray:
    """Tile images side by side: each panel is scaled to `height` (default: the first panel's) keeping its
    aspect ratio, grey panels become RGB, and `gap` black columns separate them. Returns (H, W, 3) uint8."""
    if not len(panels):
        raise ValueError("mosaic: no panels")
    panels = [_rgb(p) for p in panels]
    height = int(height or panels[0].shape[0])
    row = []
    for k, p in enumerate(panels):
        h, w = p.shape[:2]
        if h != height:
            width = max(1, int(round(w * height / h)))
            interp = cv2.INTER_AREA if h > height else cv2.INTER_LINEAR
            p = cv2.resize(p, (width, height), interpolation=interp)
        if k and gap:
            row.append(np.zeros((height, gap, 3), dtype=np.uint8))
        row.append(p)
    return np.concatenate(row, axis=1)


def _navigation_texts(state: "WorldState") -> list[str | None]:
    """The navigation text the ego was given at every log step (from its route position)."""
    from cordillera.world.roads.routes import navigation_text

    route = state.world.route
    positions = np.array([s.ego[:2] for s in state.log])
    s, _, _ = route.path.project(positions)
    return [navigation_text(state.road, route, float(v)) for v in s]


def render_rollout_video(
    final_state: "WorldState",
    path: str | Path,
    fps: float = 10,
    extra_panels: Callable[["WorldState", int], np.ndarray | list[np.ndarray]] | None = None,
    *,
    view: BevView = FRAME_VIEW,
    navigation: bool = True,
    style: BevStyle = DEFAULT_STYLE,
    cameras: "CameraRig | None" = None,
) -> Path:
    """Render every log step of a rollout (the BEV follows the ego, with plan and past path) to an mp4.

    extra_panels(state, index) -> image or list of images placed to the right of the BEV at that step
    (scaled to its height), e.g. camera frames. navigation: print the route instruction on each frame.
    cameras: a rig whose images, tiled (`camera.camera_panel`), go right of the BEV (after extra_panels).
    Returns the path written.
    """
    texts = _navigation_texts(final_state) if navigation else [None] * len(final_state.log)

    def frames():
        for i in range(len(final_state.log)):
            bev = render_frame(final_state, i, view=view, navigation=texts[i], style=style)
            if extra_panels is None and cameras is None:
                yield bev
                continue
            extra = [] if extra_panels is None else extra_panels(final_state, i)
            extra = [extra] if isinstance(extra, np.ndarray) else list(extra)
            if cameras is not None:
                from cordillera.world.render.camera import camera_panel

                extra.append(camera_panel(final_state, i, cameras))
            yield mosaic([bev, *extra]) if extra else bev

    return write_video(frames(), path, fps)
