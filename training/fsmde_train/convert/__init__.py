"""nuScenes-format dataset -> ROS 2 rosbag2 (standard message types only)."""
from .nusc2bag import ConversionError, ConvertConfig, SceneReport, Topics, convert, convert_scene, load_nuscenes

__all__ = ["ConversionError", "ConvertConfig", "SceneReport", "Topics", "convert", "convert_scene", "load_nuscenes"]
