"""VR-KD on the views' real overlap (issue 12, item 2): the compared cells are one physical point in both views."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fsmde_train.losses.relational import overlap_correspondences, ring_pairs, vr_kd_overlap_loss

HW = (108, 192)


@pytest.fixture(scope="module")
def batch(tiny_world, nusc):
    from fsmde_train.data import SurroundDataset

    ds = SurroundDataset(tiny_world, "v1.0-synth", input_hw=HW, sweeps=True, gt="dense", progress=False, nusc=nusc)
    return ds[len(ds) // 2]


def _reprojection_px(b, src, dst, valid, T):
    """Lift each correspondent in view j with j's exact depth, project into view i: distance to the source cell."""
    K, d = b["K"].double().numpy(), b["depth_dense"][:, 0].double().numpy()
    T = T.double().numpy()
    errs = []
    for k, (i, j) in enumerate(ring_pairs(6)):
        for (xs, ys), (xd, yd), ok in zip(src[0, k].numpy(), dst[0, k].numpy(), valid[0, k].numpy()):
            if not ok:
                continue
            z = d[j, int(round(yd)), int(round(xd))]
            p = np.array([(xd - K[j, 0, 2]) / K[j, 0, 0] * z, (yd - K[j, 1, 2]) / K[j, 1, 1] * z, z, 1.0])
            q = np.linalg.inv(T[i]) @ T[j] @ p
            ui, vi = K[i, 0, 0] * q[0] / q[2] + K[i, 0, 2], K[i, 1, 1] * q[1] / q[2] + K[i, 1, 2]
            errs.append(np.hypot(ui - xs, vi - ys))
    return np.array(errs)


def test_correspondences_are_the_same_point_in_both_views(batch):
    """On the world's exact depth, a source cell and its correspondent re-project onto each other within a pixel or
    two; every pair of the ring overlaps; ignoring the ego motion between exposures, or a wrong extrinsic, is worse."""
    b = batch
    depth = b["depth_dense"]  # [N, 1, H, W] metres at the cameras' focal lengths
    T = b["T_ref_cam"]
    src, dst, valid = overlap_correspondences(depth, b["K"][None], T[None], 6, (27, 48), max_points=32)
    assert valid.sum(-1).min() >= 8, f"a ring pair has too few overlapping cells: {valid.sum(-1).tolist()}"
    err = _reprojection_px(b, src, dst, valid, T)
    assert np.median(err) < 1.0 and np.mean(err < 2.0) > 0.9, f"median {np.median(err):.2f} px"

    # the ego frame of each camera's own timestamp (no ego motion between exposures) is not the common frame
    src2, dst2, valid2 = overlap_correspondences(depth, b["K"][None], b["T_ego_cam"][None], 6, (27, 48))
    err2 = _reprojection_px(b, src2, dst2, valid2, T)
    assert np.median(err2) > np.median(err)

    # a rig error of 3 degrees yaw on one camera breaks its two pairs' correspondences
    bad = T.clone()
    c, s = np.cos(np.radians(3)), np.sin(np.radians(3))
    bad[2, :3, :3] = torch.tensor([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=bad.dtype) @ bad[2, :3, :3]
    src3, dst3, valid3 = overlap_correspondences(depth, b["K"][None], bad[None], 6, (27, 48))
    for k in (1, 2):  # pairs (1, 2) and (2, 3)
        vk = torch.zeros_like(valid3)
        vk[:, k] = valid3[:, k]
        if int(vk.sum()) == 0:  # the occlusion check rejected every cell: nothing wrong is compared
            continue
        e = _reprojection_px(b, src3, dst3, vk, T)
        assert np.median(e) > 2.0, f"pair {k}: median {np.median(e):.2f} px with a wrong extrinsic"


def test_overlap_loss_is_zero_for_equal_relations_and_ignores_feature_width(batch):
    b = batch
    src, dst, valid = overlap_correspondences(b["depth_dense"], b["K"][None], b["T_ref_cam"][None], 6, (27, 48))
    g = torch.Generator().manual_seed(0)
    fs = torch.randn(6, 8, 27, 48, generator=g)
    assert float(vr_kd_overlap_loss(fs, fs, src, dst, valid, 6, HW)) < 1e-6
    # the same features in another width (a linear isometry) relate the same way
    q, _ = torch.linalg.qr(torch.randn(12, 12, generator=g))
    ft = torch.einsum("oc,vchw->vohw", q[:, :8], fs)
    assert float(vr_kd_overlap_loss(fs, ft, src, dst, valid, 6, HW)) < 1e-5
    other = torch.randn(6, 8, 27, 48, generator=g)
    assert float(vr_kd_overlap_loss(other, fs, src, dst, valid, 6, HW)) > 0.05
    # no overlapping cell at all: zero, finite, and gradients still flow
    none = torch.zeros_like(valid)
    other.requires_grad_(True)
    loss = vr_kd_overlap_loss(other, fs, src, dst, none, 6, HW)
    loss.backward()
    assert float(loss) == 0.0 and other.grad is not None


def test_objective_uses_the_overlap_and_skips_views_whose_teacher_fit_failed(batch):
    from fsmde_train.losses.objective import LossConfig, Objective

    b = {k: v for k, v in batch.items() if k != "index"}
    obj = Objective(LossConfig(vr_kd=1.0, silog=0.0, bins=0.0, align_min_points=1), 0.5, 100.0, 6)
    g = torch.Generator().manual_seed(1)
    out = {"features": torch.randn(6, 8, 27, 48, generator=g, requires_grad=True),
           "depth": torch.rand(6, 1, *HW) * 20 + 1, "centers": torch.rand(6, 4) * 10 + 1,
           "logits": torch.randn(6, 4, 27, 48)}
    inv = torch.where(b["depth_dense"] > 0, 1 / b["depth_dense"].clamp_min(1e-3), torch.zeros_like(b["depth_dense"]))
    b["depth_canon"] = b["depth_canon"] if (b["depth_canon"] > 0).any() else b["depth_dense"]
    teacher = {"rel": inv, "features": torch.randn(6, 5, 8, 14, generator=g)}
    total, terms = obj(out, b, teacher)
    assert float(terms["vr_kd"]) > 0
    total.backward()
    assert out["features"].grad.abs().sum() > 0
    with pytest.raises(ValueError, match="vr_overlap"):
        Objective(LossConfig(vr_kd=1.0, vr_overlap="borders"), 0.5, 100.0, 6)(out, b, teacher)
