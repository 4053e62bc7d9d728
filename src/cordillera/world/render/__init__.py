"""Rendering of the world: top-down BEV images (policy input and video frames) and video writing.

    >>> from cordillera.world.render import render_bev_observation, render_rollout_video
    >>> bev = render_bev_observation(state)                  # (384, 192, 3) uint8 RGB
    >>> render_rollout_video(final_state, "runs/demo.mp4")   # one frame per simulation step
"""

from cordillera.world.render.bev import (
    DEFAULT_STYLE,
    FRAME_VIEW,
    OBSERVATION_VIEW,
    BevStyle,
    BevView,
    render_bev,
    render_bev_observation,
    render_frame,
    view_matrix,
)
from cordillera.world.render.video import mosaic, render_rollout_video, write_video

__all__ = [
    "BevStyle",
    "BevView",
    "DEFAULT_STYLE",
    "OBSERVATION_VIEW",
    "FRAME_VIEW",
    "view_matrix",
    "render_bev",
    "render_bev_observation",
    "render_frame",
    "mosaic",
    "write_video",
    "render_rollout_video",
]
