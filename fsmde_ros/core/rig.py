"""The rig file (config/nuscenes_rig.yaml): camera names, frames, topics and fallback extrinsics."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from .geometry import pose_matrix


@dataclass(frozen=True)
class RigCamera:
    name: str
    frame_id: str
    image_topic: str
    camera_info_topic: str
    T_base_camera: np.ndarray  # 4x4, optical frame -> base frame

    def input_topic(self, image_transport: str) -> str:
        """The image topic a subscriber of ``image_transport`` (raw | compressed) reads, as image_transport names
        it: ``image_topic`` for raw, ``image_topic + '/compressed'`` for compressed (node and fsmde-offline alike)."""
        return self.image_topic + ("/compressed" if image_transport == "compressed" else "")


@dataclass(frozen=True)
class Rig:
    base_frame: str
    cameras: tuple[RigCamera, ...]

    def by_frame(self, frame_id: str) -> RigCamera | None:
        return next((c for c in self.cameras if c.frame_id == frame_id), None)


def load_rig(path) -> Rig:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"rig file {p} does not exist")
    d = yaml.safe_load(p.read_text())
    try:
        cams = tuple(RigCamera(c["name"], c.get("frame_id", c["name"]), c["image_topic"], c["camera_info_topic"],
                               pose_matrix(c["translation"], c["rotation_wxyz"])) for c in d["cameras"])
        return Rig(d.get("base_frame", "base_link"), cams)
    except (KeyError, TypeError) as e:
        raise ValueError(f"rig file {p}: expected base_frame and cameras[name, image_topic, camera_info_topic, "
                         f"translation, rotation_wxyz], failed on {e!r}") from e


def default_cameras() -> list[str]:
    """Camera names of the installed default rig file (config/nuscenes_rig.yaml), in its order."""
    from ..resources import default_rig_file

    return [c.name for c in load_rig(default_rig_file()).cameras]
