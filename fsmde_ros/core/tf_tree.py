"""A static transform tree from TFMessage contents (e.g. a bag's /tf_static), without tf2.

Edges are parent -> child transforms (geometry_msgs/TransformStamped: T_parent_child); ``lookup(target,
source)`` composes the chain through the common ancestor, as tf2's lookup_transform does for static frames.
"""
from __future__ import annotations

import numpy as np

from .geometry import pose_matrix


class StaticTfTree:
    def __init__(self):
        self.parent: dict[str, tuple[str, np.ndarray]] = {}  # child -> (parent, T_parent_child)

    def add(self, parent: str, child: str, T_parent_child: np.ndarray) -> None:
        self.parent[child.lstrip("/")] = (parent.lstrip("/"), np.asarray(T_parent_child, dtype=np.float64))

    def add_message(self, tf_message) -> None:
        """Any object with ``transforms[*].header.frame_id / child_frame_id / transform`` (rclpy or rosbags)."""
        for ts in tf_message.transforms:
            t, r = ts.transform.translation, ts.transform.rotation
            self.add(ts.header.frame_id, ts.child_frame_id, pose_matrix([t.x, t.y, t.z], [r.w, r.x, r.y, r.z]))

    def _to_root(self, frame: str) -> tuple[list[str], np.ndarray]:
        """(chain of frames from ``frame`` to its root, T_root_frame)."""
        chain, T, seen = [frame], np.eye(4), {frame}
        while chain[-1] in self.parent:
            p, T_pc = self.parent[chain[-1]]
            if p in seen:
                raise ValueError(f"TF cycle through '{p}'")
            T = T_pc @ T
            chain.append(p)
            seen.add(p)
        return chain, T

    def lookup(self, target: str, source: str) -> np.ndarray | None:
        """T_target_source (4x4), or None when the two frames are not connected."""
        target, source = target.lstrip("/"), source.lstrip("/")
        ct, T_rt = self._to_root(target)
        cs, T_rs = self._to_root(source)
        if ct[-1] != cs[-1]:
            return None
        return np.linalg.inv(T_rt) @ T_rs

    def frames(self) -> set[str]:
        return set(self.parent) | {p for p, _ in self.parent.values()}
