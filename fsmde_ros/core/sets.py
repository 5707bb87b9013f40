"""Camera sets without ROS: approximate sync of the N images, newest CameraInfo per camera, partial sets.

Only the images are synchronised. Camera drivers stamp CameraInfo loosely (a few ms off its image, or latched
once), and a 2N-input synchroniser then forms no set at all; so CameraInfo is cached per camera (newest wins,
a change of K or size is reported) and paired with its camera's image when a set is processed.

Partial sets: when a camera stops (or its stamps never fit the others'), the node serves the live cameras.
``SetAssembler.partial`` picks, among the recent images of the live cameras, the newest stamp window (spread
strictly below the slop, as in the synchroniser) that holds the most cameras: never a fragment of what could
be matched, and never a stamp at or before one already served.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Any

import numpy as np

from .sync import ApproximateSync


@dataclass(frozen=True)
class InfoChange:
    camera: int
    text: str  # e.g. "K changed: fx 252.0 -> 260.0" or "first CameraInfo: 320x180, fx 252.0"
    first: bool


def _k_of(info) -> np.ndarray:
    return np.asarray(info.k, dtype=np.float64).reshape(3, 3)


def describe_info_change(old, new) -> str | None:
    """What differs between two CameraInfo messages in what the node uses (size, K); None when nothing."""
    parts = []
    if (old.width, old.height) != (new.width, new.height):
        parts.append(f"size {old.width}x{old.height} -> {new.width}x{new.height}")
    ko, kn = _k_of(old), _k_of(new)
    for name, (r, c) in (("fx", (0, 0)), ("fy", (1, 1)), ("cx", (0, 2)), ("cy", (1, 2))):
        if not np.isclose(ko[r, c], kn[r, c], rtol=1e-6, atol=1e-9, equal_nan=True):
            parts.append(f"{name} {ko[r, c]:.2f} -> {kn[r, c]:.2f}")
    return ", ".join(parts) or None


class SetAssembler:
    """Images in (per camera index, stamp in ns), complete and partial sets out; CameraInfo cached per camera."""

    def __init__(self, n_cameras: int, queue_size: int, slop_ns: int, history: int = 4):
        self.n = n_cameras
        self.sync = ApproximateSync(n_cameras, queue_size, slop_ns)
        self.slop_ns = int(slop_ns)
        self.recent: list[collections.deque] = [collections.deque(maxlen=max(1, history)) for _ in range(n_cameras)]
        self.infos: list[Any] = [None] * n_cameras  # newest CameraInfo per camera
        self._info_by_stamp: list[collections.OrderedDict] = [collections.OrderedDict() for _ in range(n_cameras)]
        self.exact: list[bool] = [False] * n_cameras  # this camera's CameraInfo has carried its image's stamp

    # ---- inputs ------------------------------------------------------------------------------------------
    def add_image(self, i: int, stamp_ns: int, msg) -> tuple | None:
        """Queue an image; returns the complete set (N images, ring order) when this one completes it."""
        self.recent[i].append((stamp_ns, msg))
        return self.sync.add(i, stamp_ns, msg)

    def add_info(self, i: int, msg) -> InfoChange | None:
        """Cache the newest CameraInfo of camera ``i``; returns what changed (None when nothing did)."""
        old, self.infos[i] = self.infos[i], msg
        st = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        by = self._info_by_stamp[i]
        by[st] = msg
        while len(by) > 16:
            by.popitem(last=False)
        if old is None:
            K = _k_of(msg)
            return InfoChange(i, f"first CameraInfo: {msg.width}x{msg.height}, fx {K[0, 0]:.2f} fy {K[1, 1]:.2f}", True)
        text = describe_info_change(old, msg)
        return InfoChange(i, text, False) if text else None

    @staticmethod
    def _st(msg) -> int:
        return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec

    def awaited_infos(self, images) -> list[int]:
        """Cameras of ``images`` whose CameraInfo is still to come: none cached yet, or (for a camera whose infos
        carry their image's stamp) not yet the one of this image. The node waits a little for them."""
        return [i for i, im in enumerate(images) if im is not None and
                (self.infos[i] is None or (self.exact[i] and self._st(im) not in self._info_by_stamp[i]))]

    def note_pairing(self, images) -> None:
        """Learn, per camera, whether its CameraInfo comes with the image's own stamp (then it is waited for)."""
        for i, im in enumerate(images):
            if im is not None and self.infos[i] is not None:
                self.exact[i] = self._st(im) in self._info_by_stamp[i]

    def infos_for(self, images) -> list:
        """Per camera with an image in ``images``: its CameraInfo of the same stamp when one was received (drivers
        that stamp both alike get the exact one, e.g. across a resolution change), else the newest cached one."""
        out = []
        for i, im in enumerate(images):
            if im is None:
                out.append(None)
                continue
            st = im.header.stamp.sec * 1_000_000_000 + im.header.stamp.nanosec
            out.append(self._info_by_stamp[i].get(st, self.infos[i]))
        return out

    # ---- partial sets ------------------------------------------------------------------------------------
    def partial(self, live: list[int], after_ns: int | None) -> tuple[list, int] | None:
        """(images per camera or None, newest stamp) of the newest window holding the most live cameras.

        A window is anchored at one live image's stamp t and holds, per live camera, its newest image with a
        stamp in (t - slop, t]; only anchors after ``after_ns`` count. None when no live image qualifies.
        """
        best = None  # (count, t, picks)
        anchors = sorted({s for i in live for s, _ in self.recent[i]
                          if after_ns is None or s > after_ns}, reverse=True)
        for t in anchors:
            picks = {}
            for i in live:
                inside = [(s, m) for s, m in self.recent[i] if t - self.slop_ns < s <= t]
                if inside:
                    picks[i] = max(inside, key=lambda sm: sm[0])
            if best is None or len(picks) > best[0]:
                best = (len(picks), t, picks)
            if best[0] == len(live):
                break  # anchors are newest first: nothing later can hold more
        if best is None or best[0] == 0:
            return None
        imgs = [best[2][i][1] if i in best[2] else None for i in range(self.n)]
        return imgs, best[1]

    def reset(self) -> None:
        """Forget queued and recent images (bag loop, re-activation); cached CameraInfo stays valid."""
        self.sync.clear()
        for r in self.recent:
            r.clear()


def stamp_offsets(recent: list[list[int]]) -> list[float | None]:
    """Per camera, how far (s, signed) its stamps sit from the other cameras': for each of its recent stamps the
    median over the other cameras of the signed distance to their nearest stamp, then the smallest in magnitude.
    A camera whose clock is off by 70 ms reads about +0.07; cameras that sync read a few ms (their capture
    offsets). None for a camera without recent stamps, or when no other camera has any."""
    out: list[float | None] = []
    for i, own in enumerate(recent):
        others = [np.asarray(r, dtype=np.int64) for j, r in enumerate(recent) if j != i and len(r)]
        best = None
        for s in own:
            deltas = [int(s - o[np.argmin(np.abs(o - s))]) for o in others]
            if deltas:
                d = float(np.median(deltas)) * 1e-9
                best = d if best is None or abs(d) < abs(best) else best
        out.append(best)
    return out


def classify_set_stamp(stamp_ns: int, last_ns: int | None, now_ns: int, max_future_s: float) -> tuple[str, float]:
    """What to do with a set stamped ``stamp_ns``: ("future", s ahead) drop it (a broken sensor clock would hand
    consumers stamps TF cannot resolve; ``now_ns`` 0 = no clock yet, ``max_future_s`` 0 = off), ("duplicate", 0)
    ignore it, ("backwards", s) serve it after a reset (bag loop, restart: more than 1 s back), or ("ok", 0)."""
    ahead = (stamp_ns - now_ns) * 1e-9
    if now_ns > 0 and max_future_s > 0 and ahead > max_future_s:
        return "future", ahead
    if last_ns is not None and stamp_ns == last_ns:
        return "duplicate", 0.0
    if last_ns is not None and stamp_ns < last_ns - 1_000_000_000:
        return "backwards", (last_ns - stamp_ns) * 1e-9
    return "ok", 0.0
