"""Project-wide constants: the timing contract shared by the world, the policies and the model."""

DT = 0.1  # simulation and plan step [s]
PLAN_STEPS = 64  # plan horizon: 64 poses at DT = 6.4 s
HISTORY_STEPS = 16  # ego history: 16 poses at DT = 1.6 s (the last is t0)
ROUTE_WAYPOINTS = 20  # route points given to policies
ROUTE_SPACING_M = 2.0  # spacing of those points [m]

CAMERA_NAMES = (
    "camera_cross_left_120fov",
    "camera_front_wide_120fov",
    "camera_cross_right_120fov",
    "camera_front_tele_30fov",
)

# a VLA's reasoning modes: write the reasoning at every decision, never, or when its learned gate says
REASONING_MODES = ("always", "never", "auto")
