"""Where installed data lives: the ament share folder in a ROS install, else the source tree."""
from __future__ import annotations

from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = "fsmde_student"


def share_dir() -> Path:
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            return Path(get_package_share_directory("fsmde_ros"))
        except (PackageNotFoundError, OSError):  # OSError: no AMENT_PREFIX_PATH (pip-only install)
            pass
    except ImportError:
        pass
    return SOURCE_ROOT


def default_model_dir() -> Path:
    return share_dir() / "models" / DEFAULT_MODEL


def default_rig_file() -> Path:
    return share_dir() / "config" / "nuscenes_rig.yaml"
