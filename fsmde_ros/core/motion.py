"""The vehicle's motion between the exposures of one camera set, without ROS: motion compensation of the cloud.

A nuScenes-style rig fires its six cameras over ~40-50 ms while the vehicle moves (0.7 m at 15 m/s). The fused
cloud is stamped with the set's reference camera (the first in rig order), so each view's points are placed with

    p_base(t_ref) = T_base(t_ref)<-base(t_cam) @ T_base_cam @ p_cam

``PoseHistory`` keeps the base frame's poses in a fixed frame (nav_msgs/Odometry, or any pose stream) and
interpolates them at any stamp (linear translation, slerp rotation), as tf2 interpolates /tf. Unlike tf2 it also
extrapolates a little past the newest pose (``max_extrapolation_s``, constant velocity): odometry for the last
camera of a set can arrive just after its image. ``EgoMotion`` picks the source per set (odometry when poses
arrive, else tf2's ``lookup_transform_full`` through a fixed frame, which the node wires in) and reports once why
a set could not be compensated.
"""
from __future__ import annotations

import bisect
import threading
import time
from typing import Callable

import numpy as np

from .geometry import pose_matrix

MODES = ("auto", "odometry", "tf", "none")  # not "off": YAML (ros2 -p, launch) reads off as false


def matrix_to_wxyz(R: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z), w >= 0, of a 3x3 rotation (Shepperd's method: stable for any angle)."""
    R = np.asarray(R, np.float64)
    tr = np.trace(R)
    if tr > 0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q = [0.25 * s, (R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s]
    else:
        i = int(np.argmax(np.diag(R)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + R[i, i] - R[j, j] - R[k, k])
        q = [0.0] * 4
        q[0] = (R[k, j] - R[j, k]) / s
        q[1 + i] = 0.25 * s
        q[1 + j] = (R[j, i] + R[i, j]) / s
        q[1 + k] = (R[k, i] + R[i, k]) / s
    q = np.asarray(q)
    return q * (1.0 if q[0] >= 0 else -1.0) / np.linalg.norm(q)


def slerp(q0: np.ndarray, q1: np.ndarray, s: float) -> np.ndarray:
    """Spherical interpolation of unit quaternions (w, x, y, z); s outside [0, 1] extrapolates the same rotation."""
    q0, q1 = np.asarray(q0, np.float64), np.asarray(q1, np.float64)
    d = float(np.dot(q0, q1))
    if d < 0:  # the shorter way round
        q1, d = -q1, -d
    if d > 0.9999995:  # (nearly) the same rotation: linear is exact to float precision
        q = q0 + s * (q1 - q0)
        return q / np.linalg.norm(q)
    th = np.arccos(min(d, 1.0))
    q = (np.sin((1 - s) * th) * q0 + np.sin(s * th) * q1) / np.sin(th)
    return q / np.linalg.norm(q)


class PoseHistory:
    """T_fixed_base(t) from timed samples: interpolated inside them, extrapolated up to ``max_extrapolation_s``
    past either end, None across a gap longer than ``max_gap_s`` (a dropout is not bridged) or farther out.
    Keeps ``span_s`` of history; a sample more than ``loop_s`` older than the newest (a bag loop, a restarted
    source) clears what came before."""

    def __init__(self, span_s: float = 5.0, max_gap_s: float = 0.5, max_extrapolation_s: float = 0.1,
                 loop_s: float = 1.0):
        self.span, self.max_gap = int(span_s * 1e9), int(max_gap_s * 1e9)
        self.max_extra, self.loop = int(max_extrapolation_s * 1e9), int(loop_s * 1e9)
        self.t: list[int] = []
        self.trans: list[np.ndarray] = []
        self.quat: list[np.ndarray] = []
        self.resets = 0

    def __len__(self) -> int:
        return len(self.t)

    def clear(self) -> None:
        self.t, self.trans, self.quat = [], [], []

    def add(self, t_ns: int, translation, wxyz) -> None:
        q = np.asarray(wxyz, np.float64)
        n = float(np.linalg.norm(q))
        if not np.isfinite(n) or n < 1e-6 or not np.all(np.isfinite(translation)):
            raise ValueError(f"pose at {t_ns * 1e-9:.3f} s is not finite or its quaternion is zero: {wxyz}")
        if self.t and t_ns < self.t[-1] - self.loop:
            self.clear()
            self.resets += 1
        k = bisect.bisect_left(self.t, t_ns)
        if k < len(self.t) and self.t[k] == t_ns:  # the same stamp again: the newer value wins
            self.trans[k], self.quat[k] = np.asarray(translation, np.float64), q / n
        else:
            self.t.insert(k, int(t_ns))
            self.trans.insert(k, np.asarray(translation, np.float64))
            self.quat.insert(k, q / n)
        while self.t[-1] - self.t[0] > self.span:
            del self.t[0], self.trans[0], self.quat[0]

    def _between(self, a: int, b: int, t_ns: int) -> np.ndarray | None:
        if self.t[b] - self.t[a] > self.max_gap:
            return None
        s = (t_ns - self.t[a]) / (self.t[b] - self.t[a])
        tr = self.trans[a] + s * (self.trans[b] - self.trans[a])
        return pose_matrix(tr, slerp(self.quat[a], self.quat[b], s))

    def at(self, t_ns: int) -> np.ndarray | None:
        """4x4 T_fixed_base at ``t_ns``, or None where the samples do not say."""
        n = len(self.t)
        if n == 0:
            return None
        k = bisect.bisect_left(self.t, t_ns)
        if k < n and self.t[k] == t_ns:
            return pose_matrix(self.trans[k], self.quat[k])
        if 0 < k < n:
            return self._between(k - 1, k, t_ns)
        if n < 2:
            return None
        if k == n and t_ns - self.t[-1] <= self.max_extra:
            return self._between(n - 2, n - 1, t_ns)
        if k == 0 and self.t[0] - t_ns <= self.max_extra:
            return self._between(0, 1, t_ns)
        return None

    def between(self, t_ref_ns: int, t_ns: int) -> np.ndarray | None:
        """T_base(t_ref) <- base(t): the vehicle's motion from t to t_ref in the base frame at t_ref."""
        P_ref, P = self.at(t_ref_ns), self.at(t_ns)
        if P_ref is None or P is None:
            return None
        return np.linalg.inv(P_ref) @ P

    def span_text(self) -> str:
        return "none yet" if not self.t else f"{self.t[0] * 1e-9:.3f}-{self.t[-1] * 1e-9:.3f} s"


# (t_ref_ns, t_ns) -> T_base(t_ref)<-base(t) or None; tf2's lookup_transform_full through a fixed frame in the node
TfBetween = Callable[[int, int], "np.ndarray | None"]


class EgoMotion:
    """Per set: the motion of every view's exposure to the set's reference stamp, from the configured source.

    ``mode``: ``odometry`` (poses given to ``add_odometry``), ``tf`` (``tf_between``), ``auto`` (odometry once
    any pose has arrived, else tf when wired), ``off``. ``warn(key, text)`` hears once per cause why a view is
    placed without compensation (the node's throttled warning)."""

    def __init__(self, mode: str, tf_between: TfBetween | None = None,
                 warn: Callable[[object, str], None] = lambda k, s: None, history: PoseHistory | None = None):
        if mode not in MODES:
            raise ValueError(f"motion_compensation must be one of {list(MODES)}, got {mode!r}")
        self.mode, self.tf_between, self.warn = mode, tf_between, warn
        self.history = history if history is not None else PoseHistory()
        self.last_source: str | None = None  # what placed the newest set: odometry | tf | None (uncompensated)
        self.sets_compensated = self.sets_uncompensated = 0
        # odometry arrives on the executor, sets are placed on the node's worker; the condition wakes a worker that
        # waits for the poses of a set's last exposures
        self._lock = threading.Condition()

    def add_odometry(self, t_ns: int, translation, wxyz) -> None:
        with self._lock:
            self.history.add(t_ns, translation, wxyz)
            self._lock.notify_all()

    def _wait_for_poses(self, t_ns: int, wait_s: float) -> None:
        """Block up to ``wait_s`` until a pose at or after ``t_ns`` has arrived (call with the lock held). Odometry
        at ~100 Hz can trail 12 Hz images in a busy executor (each wait cycle takes one message per subscription),
        as tf2's MessageFilter waits for a transform; a pose already there returns at once."""
        deadline = time.monotonic() + wait_s
        # poses that trail by more than the wait (plus the extrapolation) will not catch up in it: no wait, so odometry
        # that lags or has stopped does not cost every set ``wait_s``
        reach = int(wait_s * 1e9) + self.history.max_extra
        while len(self.history) and self.history.t[-1] < t_ns <= self.history.t[-1] + reach:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._lock.wait(left)

    def reset(self) -> None:
        with self._lock:
            self.history.clear()

    def source(self) -> str | None:
        if self.mode == "none":
            return None
        if self.mode == "odometry" or (self.mode == "auto" and len(self.history) > 0):
            return "odometry"
        if self.tf_between is not None and self.mode in ("tf", "auto"):
            return "tf"
        return None

    def _tf(self, t_ref: int, t: int) -> np.ndarray | None:
        try:
            return self.tf_between(t_ref, t)
        except Exception:  # noqa: BLE001 - tf2 raises several exception types; absence is reported by the caller
            return None

    def motions(self, stamps_ns: list[int | None], t_ref_ns: int, wait_s: float = 0.0) -> list[np.ndarray | None]:
        """T_base(t_ref)<-base(t_i) per view (None: that view stays uncompensated; None stamps are absent views).
        With odometry, waits up to ``wait_s`` for the poses of the set's last exposure."""
        src = self.source()
        if src is None:
            if self.mode not in ("none", "auto"):  # auto without odometry or tf2 is a setup, said once at start
                self.warn("motion_none", "no ego motion (no odometry poses heard and no TF lookup available): the "
                                         "cloud's views are placed at their static extrinsics, uncompensated")
            self.last_source = None
            self.sets_uncompensated += 1
            return [None] * len(stamps_ns)
        if src == "odometry":
            with self._lock:
                if wait_s > 0:
                    self._wait_for_poses(max(t for t in stamps_ns + [t_ref_ns] if t is not None), wait_s)
                out = [None if t is None else self.history.between(t_ref_ns, t) for t in stamps_ns]
        else:
            out = [None if t is None else self._tf(t_ref_ns, t) for t in stamps_ns]
        missing = [i for i, (t, T) in enumerate(zip(stamps_ns, out)) if t is not None and T is None]
        if missing:
            where = (f"odometry poses cover {self.history.span_text()}" if src == "odometry"
                     else "TF has no fixed-frame transform at those stamps")
            self.warn(("motion_gap", src), f"no ego motion at {len(missing)} of the set's exposures "
                                           f"({where}); those views are placed uncompensated")
        ok = any(T is not None for T in out)
        self.last_source = src if ok else None
        if ok:
            self.sets_compensated += 1
        else:
            self.sets_uncompensated += 1
        return out
