"""Frames t-1, t, t+1 of every camera, for self-supervised training (issue 14); or t-k, t, t+k with ``strides``.

Built on a ``SurroundDataset`` with ``sweeps=True`` (its camera sets are in time order per scene) or a
``BagSurround`` (data/bag.py: a rosbag2 of the rig). A triple
(t-1, t, t+1) is kept only when the three sets belong to one scene and every camera's stamps increase with
gaps within ``max_gap`` x the scene's median camera period; anything else (a dropped frame, a reordered or
looped recording, a scene boundary) is skipped and reported in ``skipped`` with the reason, never bridged.

Sample keys (N cameras; frame axis F = 3 in the order t-1, t, t+1):

=================  ======================  ================================================================
``image``          [F, N, 3+G, H, W] f32   as SurroundDataset's ``image`` for each frame
``depth_dense``    [N, 1, H, W] f32        dense GT of frame t where the dataset has it (evaluation only)
``depth``          [N, 1, H, W] f32        the supervision GT of frame t (sparse LiDAR / dense; zeros from a
                                           bag); ``depth_canon`` and ``focal_scale`` as in SurroundDataset
``K``              [N, 3, 3] f32           intrinsics at H x W (frame t)
``T_ego_cam``      [N, 4, 4] f32           camera -> ego extrinsics
``T_ref_cam``      [F, N, 4, 4] f32        camera at each frame -> the ego frame of camera 0 at time t: the
                                           ego motion between frames and exposures from the dataset's ego
                                           poses (its odometry, a bag's /tf); identity motion is never
                                           assumed: absent when the source has no poses (pose network)
``stamps_us``      [F, N] i64              sample_data timestamps
``index``          i64                     index of frame t in the base dataset
=================  ======================  ================================================================
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


class SurroundSequence(Dataset):
    """``strides``: the frame spacings k of the triples (t-k, t, t+k); (1,) is the consecutive frames. More than one
    widens the range of motions a pose network trains on (a car's speed range, times k) from the same recording;
    a triple at k > 1 is kept only when every step between its frames passes the checks above."""

    def __init__(self, base, max_gap: float = 1.5, min_triples: int = 1, strides: tuple[int, ...] = (1,)):
        if not strides or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in strides) \
                or len(set(strides)) != len(strides):
            raise ValueError(f"sequence strides must be distinct integers >= 1, e.g. [1] or [1, 2]; got {strides!r}")
        self.base = base
        stamps = base.set_stamps()  # [S, N]
        scenes = base.set_scenes()
        n_sets = len(stamps)
        self.stamps = stamps
        periods = {}
        for sc in set(scenes):
            idx = [i for i in range(n_sets) if scenes[i] == sc]
            d = np.diff(stamps[idx], axis=0)
            periods[sc] = float(np.median(d[d > 0])) if (d > 0).any() else float("nan")
        # step i -> i+1 usable: one scene, every camera's stamp increases by at most max_gap periods
        same_scene = [scenes[i] == scenes[i + 1] for i in range(n_sets - 1)]
        step_ok = []
        for i in range(n_sets - 1):
            gap = stamps[i + 1] - stamps[i]  # [N]
            step_ok.append(same_scene[i] and bool((gap > 0).all()) and bool((gap <= max_gap * periods[scenes[i]]).all()))
        self.triples, self.skipped = [], []
        for i in range(1, n_sets - 1):
            a, b, c = i - 1, i, i + 1
            if not (scenes[a] == scenes[b] == scenes[c]):
                continue  # a scene's first and last sets have no neighbour on one side: not an error
            gaps = np.stack([stamps[b] - stamps[a], stamps[c] - stamps[b]])  # [2, N]
            limit = max_gap * periods[scenes[b]]
            if (gaps <= 0).any():
                self.skipped.append({"index": b, "reason": f"stamps not increasing around set {b} "
                                     f"({scenes[b]}): gaps {gaps.min() / 1e3:.1f} ms (reordered or looped)"})
            elif (gaps > limit).any():
                self.skipped.append({"index": b, "reason": f"gap of {gaps.max() / 1e3:.1f} ms around set {b} "
                                     f"({scenes[b]}), more than {max_gap} x the {periods[scenes[b]] / 1e3:.1f} ms "
                                     f"period (a dropped frame)"})
            elif 1 in strides:
                self.triples.append((a, b, c))
        for k in sorted(strides):
            if k == 1:
                continue
            for b in range(k, n_sets - k):
                if not all(same_scene[j] for j in range(b - k, b + k)):
                    continue  # crosses a scene boundary
                if all(step_ok[j] for j in range(b - k, b + k)):
                    self.triples.append((b - k, b, b + k))
                else:
                    self.skipped.append({"index": b, "reason": f"stride-{k} triple around set {b} ({scenes[b]}) "
                                         f"spans a dropped frame or non-increasing stamps"})
        if len(self.triples) < min_triples:
            raise ValueError(f"{base.root}: {len(self.triples)} usable (t-1, t, t+1) camera-set triples; at least "
                             f"{min_triples} needed (3 consecutive frames per camera"
                             + (f"; first skip: {self.skipped[0]['reason']})" if self.skipped else ")"))

    def __len__(self):
        return len(self.triples)

    def __getitem__(self, k):
        a, b, c = self.triples[k]
        frames = [self.base[i] for i in (a, b, c)]
        mid = frames[1]
        out = {
            "image": torch.stack([f["image"] for f in frames]),
            "depth_dense": mid["depth_dense"], "depth": mid["depth"], "depth_canon": mid["depth_canon"],
            "focal_scale": mid["focal_scale"], "K": mid["K"], "T_ego_cam": mid["T_ego_cam"],
            "stamps_us": torch.from_numpy(self.stamps[[a, b, c]]), "index": torch.tensor(b, dtype=torch.int64),
        }
        if self.base.E is not None:  # no ego poses (a bag without /tf): the pose network supplies the motion
            E, T = self.base.E, self.base.T.astype(np.float64)
            ref_inv = np.linalg.inv(E[b, 0])
            out["T_ref_cam"] = torch.from_numpy(np.stack([ref_inv @ E[i] @ T[i] for i in (a, b, c)]).astype(np.float32))
        return out
