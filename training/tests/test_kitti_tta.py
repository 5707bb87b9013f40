"""KITTI raw as a stereo sequence and test-time adaptation on it (issue 14), on the REAL frames of ../shared/real
(skipped when absent). The LiDAR is read only to evaluate; no training sample carries it."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

REAL = Path(__file__).resolve().parents[3] / "shared" / "real"
KITTI = REAL / "kitti_raw_tiny"
MODEL = Path(__file__).resolve().parents[2] / "models" / "fsmde_student"
needs_real = pytest.mark.skipif(not KITTI.is_dir(), reason="../shared/real is not here (a user's clone has none)")


@needs_real
def test_oxts_motion_and_the_stereo_extrinsics_warp_real_frames():
    """With the drive's LiDAR as depth, frame t±1 (oxts motion) and the right camera (extrinsics) warp onto the left
    image at t with a fraction of the raw difference: the poses and the rig are right on real data."""
    from fsmde_train.data.kitti_seq import KittiStereoSequence
    from fsmde_train.data.sequence import SurroundSequence
    from fsmde_train.losses.photometric import warp

    k = KittiStereoSequence(KITTI, (128, 416))
    seq = SurroundSequence(k)
    assert len(seq) == 5 and not seq.skipped
    img = lambda f, c: torch.from_numpy(k.images[f, c]).permute(2, 0, 1)[None].float() / 255  # noqa: E731
    for tri in range(len(seq)):
        s = seq[tri]
        assert float(s["depth"].abs().sum()) == 0  # no LiDAR in a sample
        t = int(s["index"])
        gt = torch.from_numpy(k.views[t][0].gt_depth((128, 416)))[None, None]
        for f, c in ((0, 0), (2, 0), (1, 1)):
            T = torch.linalg.inv(s["T_ref_cam"][f, c].double()) @ s["T_ref_cam"][1, 0].double()
            w, v = warp(img(t + f - 1, c), gt, s["K"][:1], s["K"][c:c + 1], T.float()[None])
            m = v & (gt > 0)
            err = (w - img(t, 0)).abs().mean(1, keepdim=True)[m].median()
            raw = (img(t + f - 1, c) - img(t, 0)).abs().mean(1, keepdim=True)[m].median()
            assert err < 0.5 * raw, (t, f, c, float(err), float(raw))


@needs_real
@pytest.mark.skipif(not (MODEL / "manifest.json").is_file(), reason="no shipped model")
def test_test_time_adaptation_on_kitti_lowers_absrel_against_its_lidar(tmp_path, capsys):
    from fsmde_train.engine.adapt import main

    rc = main(["--kitti", str(KITTI), "--model", str(MODEL), "--out", str(tmp_path / "tta"), "--steps", "20",
               "--quiet"])
    text = capsys.readouterr().out
    assert rc == 0, text
    before = float(text.split("before: AbsRel ")[1].split()[0])
    after = float(text.split("after: AbsRel ")[1].split()[0])
    assert after < 0.8 * before, text
