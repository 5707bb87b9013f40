"""fsmde_train: offline data, training, evaluation and export for full-surround monocular depth.

No ROS imports anywhere in this package: it runs on any machine with the pinned pip dependencies.
"""

__version__ = "0.1.0"

CAMERAS = (
    "CAM_FRONT",
    "CAM_FRONT_RIGHT",
    "CAM_BACK_RIGHT",
    "CAM_BACK",
    "CAM_BACK_LEFT",
    "CAM_FRONT_LEFT",
)
"""Ring order used everywhere (batches are ``[B, N_cam, ...]`` in this order; adjacent entries overlap)."""
