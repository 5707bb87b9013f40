"""``fsmde-rig --from-bag BAG``: a rig file from a bag's own conventions (no ROS install needed).

Cameras are the bag's sensor_msgs/CameraInfo topics; each one's image topic is the Image / CompressedImage topic
beside it (``<prefix>/camera_info`` -> ``<prefix>/image_rect`` preferred, ``/compressed`` stripped as
image_transport names it); its frame is the CameraInfo's ``header.frame_id``; its extrinsics come from the bag's
/tf_static (composed down to ``base_frame``). Cameras are ordered as a ring, clockwise from the most forward
one (nuScenes order). ``rig_from_bag`` is also what fsmde-offline uses when the rig file does not fit the bag.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import yaml
from rosbags.highlevel import AnyReader

from ..core.rig import Rig, RigCamera
from ..core.tf_tree import StaticTfTree

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
PREFERRED_IMAGES = ("image_rect", "image_rect_color", "image_color", "image_raw", "image")


class RigFromBagError(ValueError):
    """The bag lacks what a rig needs (camera_info topics, TF for a camera frame...); the message says which."""


def read_static_tf(reader) -> StaticTfTree:
    tree = StaticTfTree()
    for conn, _, raw in reader.messages(connections=[c for c in reader.connections if c.topic == "/tf_static"]):
        tree.add_message(reader.deserialize(raw, conn.msgtype))
    return tree


def _matrix_to_wxyz(R: np.ndarray) -> list[float]:
    w = math.sqrt(max(0.0, 1 + R[0, 0] + R[1, 1] + R[2, 2])) / 2
    x = math.copysign(math.sqrt(max(0.0, 1 + R[0, 0] - R[1, 1] - R[2, 2])) / 2, R[2, 1] - R[1, 2])
    y = math.copysign(math.sqrt(max(0.0, 1 - R[0, 0] + R[1, 1] - R[2, 2])) / 2, R[0, 2] - R[2, 0])
    z = math.copysign(math.sqrt(max(0.0, 1 - R[0, 0] - R[1, 1] + R[2, 2])) / 2, R[1, 0] - R[0, 1])
    q = np.array([w, x, y, z])
    return (q / np.linalg.norm(q)).tolist()


def _image_topic(prefix: str, image_topics: list[str]) -> str | None:
    """The image topic beside ``<prefix>/camera_info``, without a '/compressed' suffix."""
    bases = sorted({t[: -len("/compressed")] if t.endswith("/compressed") else t for t in image_topics
                    if t.startswith(prefix + "/")})
    for name in PREFERRED_IMAGES:
        if f"{prefix}/{name}" in bases:
            return f"{prefix}/{name}"
    return bases[0] if bases else None


def rig_from_bag(bag, base_frame: str | None = None) -> Rig:
    bag = Path(bag)
    if not bag.exists():
        raise RigFromBagError(f"bag {bag} does not exist")
    with AnyReader([bag]) as reader:
        infos = [c for c in reader.connections if c.msgtype == "sensor_msgs/msg/CameraInfo"]
        if not infos:
            raise RigFromBagError(f"{bag}: no sensor_msgs/CameraInfo topic (has {sorted(c.topic for c in reader.connections)})")
        images = [c.topic for c in reader.connections if c.msgtype in IMAGE_TYPES]
        tree = read_static_tf(reader)
        if not tree.parent:
            raise RigFromBagError(f"{bag}: no /tf_static transforms; the camera extrinsics cannot be read from it")
        if base_frame is None:
            base_frame = "base_link" if "base_link" in tree.frames() else None
        cams = []
        for conn in infos:
            prefix = conn.topic.rsplit("/", 1)[0]
            img = _image_topic(prefix, images)
            if img is None:
                raise RigFromBagError(f"{bag}: no Image/CompressedImage topic beside {conn.topic} "
                                      f"(expected {prefix}/image_rect or similar)")
            first = next(reader.messages(connections=[conn]), None)
            if first is None:
                raise RigFromBagError(f"{bag}: {conn.topic} has no messages")
            frame = reader.deserialize(first[2], conn.msgtype).header.frame_id.lstrip("/")
            if base_frame is None:  # the root of the camera's TF chain
                base_frame = tree._to_root(frame)[0][-1]
            T = tree.lookup(base_frame, frame)
            if T is None:
                raise RigFromBagError(f"{bag}: /tf_static does not connect camera frame '{frame}' ({conn.topic}) to "
                                      f"'{base_frame}' (frames: {sorted(tree.frames())})")
            cams.append(RigCamera(prefix.rsplit("/", 1)[-1], frame, img.lstrip("/"), conn.topic.lstrip("/"), T))

    def yaw(c: RigCamera) -> float:  # of the optical axis in the base frame, degrees
        ax = c.T_base_camera[:3, 2]
        return math.degrees(math.atan2(ax[1], ax[0]))

    # clockwise from the most forward camera: yaw 0, -56, -111, 180, 109, 55 on nuScenes
    front = min(cams, key=lambda c: abs(yaw(c)))
    return Rig(base_frame, tuple(sorted(cams, key=lambda c: (yaw(front) - yaw(c)) % 360.0)))


def rig_to_yaml(rig: Rig, source: str = "") -> str:
    cams = [{"name": c.name, "frame_id": c.frame_id, "image_topic": c.image_topic,
             "camera_info_topic": c.camera_info_topic,
             "translation": [round(float(v), 9) for v in c.T_base_camera[:3, 3]],
             "rotation_wxyz": [round(v, 12) for v in _matrix_to_wxyz(c.T_base_camera[:3, :3])]} for c in rig.cameras]
    head = f"# Rig file written by fsmde-rig --from-bag {source}\n" if source else ""
    return head + yaml.safe_dump({"base_frame": rig.base_frame, "cameras": cams}, sort_keys=False)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="fsmde-rig", description=__doc__.split("\n\n")[0])
    ap.add_argument("--from-bag", required=True, help="rosbag2 folder with camera_info topics and /tf_static")
    ap.add_argument("--out", help="rig YAML to write (default: print it)")
    ap.add_argument("--base-frame", help="frame of the extrinsics (default: base_link if in TF, else the TF root)")
    a = ap.parse_args(argv)
    try:
        rig = rig_from_bag(a.from_bag, a.base_frame)
    except (RigFromBagError, OSError) as e:
        print(f"fsmde-rig: error: {e}", file=sys.stderr)
        return 2
    text = rig_to_yaml(rig, str(a.from_bag))
    if a.out:
        out = Path(a.out)
        tmp = out.with_suffix(out.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(out)  # never a half-written rig file
        print(f"{out}: {len(rig.cameras)} cameras {[c.name for c in rig.cameras]}, base frame {rig.base_frame}")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
