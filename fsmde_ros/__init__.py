"""fsmde_ros: full surround monocular depth estimation for ROS 2 (node, ROS-free core, backends, tools)."""

__version__ = "0.1.0"
