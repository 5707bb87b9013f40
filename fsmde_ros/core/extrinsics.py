"""Camera -> base frame extrinsics for each set, without ROS: TF first, the rig file as the fallback.

``lookup(target, source)`` is whatever resolves transforms (tf2's buffer in the node, the bag's /tf_static in
fsmde-offline, nothing on a pip install); it is asked on every set, so a /tf_static that arrives late, or a
transform that changes, replaces what was used before. The rig file is used for a frame TF cannot resolve.
When TF and the rig file disagree by more than ``tol_m`` / ``tol_deg`` the caller hears it once per frame.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .rig import Rig

Lookup = Callable[[str, str], "np.ndarray | None"]  # (target frame, source frame) -> 4x4 T_target_source


def pose_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(translation distance in m, rotation angle in degrees) between two 4x4 poses."""
    dt = float(np.linalg.norm(a[:3, 3] - b[:3, 3]))
    R = a[:3, :3].T @ b[:3, :3]
    ang = float(np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1.0, 1.0))))
    return dt, ang


class Extrinsics:
    def __init__(self, rig: Rig, base_frame: str, lookup: Lookup | None, warn: Callable[[object, str], None],
                 info: Callable[[str], None] = lambda s: None, tol_m: float = 0.05, tol_deg: float = 1.0):
        self.rig, self.base_frame, self.lookup = rig, base_frame, lookup
        self.warn, self.info, self.tol_m, self.tol_deg = warn, info, tol_m, tol_deg
        self.source: dict[str, str] = {}  # frame -> "tf" | "rig", as last used (changes are logged)
        self._compared: set[str] = set()

    def _tf(self, frame: str) -> np.ndarray | None:
        if self.lookup is None:
            return None
        try:
            return self.lookup(self.base_frame, frame)
        except Exception:  # noqa: BLE001 - tf2 raises several exception types; absence is the normal case
            return None

    def _rig(self, frame: str) -> np.ndarray | None:
        rc = self.rig.by_frame(frame)
        if rc is None:
            return None
        if self.rig.base_frame == self.base_frame:
            return rc.T_base_camera
        # the rig's extrinsics are relative to its own base frame: bring them to ours through TF
        link = self._tf(self.rig.base_frame)
        return None if link is None else link @ rc.T_base_camera

    def get(self, frame: str, topic: str = "") -> np.ndarray | None:
        """T_base_camera for ``frame`` now, or None (logged) when neither TF nor the rig file knows it."""
        T_tf, T_rig = self._tf(frame), self._rig(frame)
        if T_tf is not None and T_rig is not None and frame not in self._compared:
            self._compared.add(frame)
            dt, ang = pose_difference(T_tf, T_rig)
            if dt > self.tol_m or ang > self.tol_deg:
                self.warn(("tf_vs_rig", frame), f"TF {self.base_frame} <- '{frame}' differs from the rig file by "
                                                f"{dt * 100:.1f} cm / {ang:.2f} deg; using TF (update the rig file, "
                                                f"e.g. fsmde-rig --from-bag)")
        T = T_tf if T_tf is not None else T_rig
        src = "tf" if T_tf is not None else "rig" if T_rig is not None else None
        if src != self.source.get(frame):
            if src == "tf" and self.source.get(frame) == "rig":
                self.info(f"TF now resolves {self.base_frame} <- '{frame}': it replaces the rig-file extrinsics")
            elif src == "rig" and self.lookup is not None:
                self.info(f"TF has no {self.base_frame} <- '{frame}' (yet): using the rig file's extrinsics")
            self.source[frame] = src
        if T is None:
            self.warn(("frame", frame), f"{topic}: frame_id '{frame}' is unknown to TF and to the rig file; its "
                                        f"points are left out of the cloud")
        return T

    def reset(self) -> None:
        self._compared.clear()
        self.source.clear()
