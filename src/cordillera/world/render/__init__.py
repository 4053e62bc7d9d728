"""Rendering of the world: pinhole cameras of a rig, top-down BEV images, and video writing.

    >>> from cordillera.world.render import default_rig, observe_cameras, render_bev_observation
    >>> frames, stamps = observe_cameras(state, default_rig())  # name -> (4, H, W, 3) uint8, (4,) s
    >>> bev = render_bev_observation(state)                     # (384, 192, 3) uint8 RGB
    >>> render_rollout_video(final_state, "runs/demo.mp4", cameras=default_rig())
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
from cordillera.world.render.camera import observe_cameras, render_rig, render_state
from cordillera.world.render.rig import CameraRig, CameraSpec, RigError, default_rig, load_rig, save_rig, surround_rig
from cordillera.world.render.video import mosaic, render_rollout_video, write_video

__all__ = [
    "CameraRig",
    "CameraSpec",
    "RigError",
    "default_rig",
    "surround_rig",
    "load_rig",
    "save_rig",
    "observe_cameras",
    "render_rig",
    "render_state",
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
