"""A DDAD scene (DGP format) as a self-supervised training source (issue 14: "from nuScenes/DDAD sweeps"), on the
REAL scene of ../shared/real (skipped when it is absent)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

REAL = Path(__file__).resolve().parents[3] / "shared" / "real"
DDAD = REAL / "ddad_scene"
CAMS = ["CAMERA_01", "CAMERA_05", "CAMERA_06"]

needs_real = pytest.mark.skipif(not DDAD.is_dir(), reason="../shared/real is not here (a user's clone has none)")


def test_dgp_timestamps_parse_to_microseconds():
    from fsmde_train.data.ddad_seq import dgp_stamp_us
    from fsmde_train.data.real import RealDataError

    assert dgp_stamp_us("1970-01-01T00:00:01.000002Z") == 1_000_002
    assert dgp_stamp_us("2463-05-15T00:38:59.415230Z") - dgp_stamp_us("2463-05-15T00:38:58.415230Z") == 1_000_000
    with pytest.raises(RealDataError, match="expected ISO 8601"):
        dgp_stamp_us("yesterday")


@needs_real
def test_the_real_ddad_scene_reads_as_a_camera_sequence_with_its_world_poses():
    """Every camera's datum pose composed with its extrinsic gives one vehicle pose per set (the other conventions,
    the inverse extrinsic or the pose on the other side, differ by the cameras' metres of mounting offset), and
    that pose is the LiDAR datum's (DGP's LiDAR extrinsic is the identity). The car is parked in this scene: the
    poses move by under a centimetre between sets, and the images agree (a few grey levels of mean change)."""
    from fsmde_train.data.ddad_seq import DdadSequence
    from fsmde_train.data.real import _dgp_pose
    from fsmde_train.data.sequence import SurroundSequence

    d = DdadSequence(DDAD, CAMS)
    assert d.cameras == tuple(CAMS) and d.images.shape[:2] == (3, 3)
    for s in range(3):
        for c in range(3):
            assert np.abs(d.E[s, c] - d.E[s, 0]).max() < 1e-3
    scene = json.loads(next(DDAD.glob("scene_*.json")).read_text())
    lidar = [_dgp_pose(x["datum"]["point_cloud"]["pose"]) for x in scene["data"] if "point_cloud" in x["datum"]]
    assert np.abs(d.E[0, 0][:3, 3] - lidar[0][:3, 3]).max() < 0.01
    wrong = d.E[0, 1] @ d.T[0, 1] @ d.T[0, 1]  # the datum pose times the extrinsic again: not one vehicle pose
    assert np.abs(wrong[:3, 3] - d.E[0, 0][:3, 3]).max() > 0.5
    assert (np.diff(d.stamps, axis=0) > 900_000).all()
    assert np.linalg.norm(d.E[2, 0][:3, 3] - d.E[0, 0][:3, 3]) < 0.01
    assert np.abs(d.images[2].astype(float) - d.images[0]).mean() < 3.0
    seq = SurroundSequence(d)
    assert len(seq) == 1 and seq.skipped == []
    x = seq[0]
    assert x["image"].shape[:2] == (3, 3) and float(x["depth"].abs().sum()) == 0.0  # no LiDAR in a sample
    np.testing.assert_allclose(x["T_ref_cam"][1, 0].numpy(), d.T[1, 0], atol=1e-3)


@needs_real
def test_fsmde_train_trains_on_the_real_ddad_scene(tmp_path):
    from fsmde_train.engine.config import load_config
    from fsmde_train.engine.trainer import train

    cfg = load_config(None, {
        "out_dir": str(tmp_path / "run"), "threads": 1, "log_every": 1, "image_every": 0, "tensorboard": False,
        "model": {"base_width": 8, "decoder_width": 16, "n_bins": 16, "blocks": [1, 1, 1, 1], "bin_space": "log",
                  "bin_width_floor": 0.5},
        "teacher": {"kind": "none"},
        "loss": {"silog": 0.0, "bins": 0.0, "photo_temporal": 1.0, "photo_spatial": 1.0, "smooth": 0.001},
        "data": {"ddad": [str(DDAD)], "cameras": CAMS, "sequence": True, "input_hw": [64, 96]},
        "optim": {"steps": 12, "batch_size": 1, "lr": 0.002, "warmup_steps": 2}})
    res = train(cfg, progress=False)
    h = res["history"]
    assert res["steps"] == 12 and all(np.isfinite(e["photo_temporal"]) and np.isfinite(e["photo_spatial"]) for e in h)
    first = np.mean([e["photo_spatial"] + e["photo_temporal"] for e in h[:2]])
    last = np.mean([e["photo_spatial"] + e["photo_temporal"] for e in h[-2:]])
    assert last < first, (first, last)
    assert (tmp_path / "run" / "latest.json").is_file()


@needs_real
def test_a_ddad_scene_missing_a_camera_or_with_too_few_samples_gets_one_clear_error(tmp_path):
    from fsmde_train.data.ddad_seq import DdadSequence, expand_ddad
    from fsmde_train.data.real import RealDataError
    from fsmde_train.data.sequence import SurroundSequence

    with pytest.raises(RealDataError, match="sample 0 has no image datum of CAMERA_09"):
        DdadSequence(DDAD, CAMS + ["CAMERA_09"])
    short = tmp_path / "short"
    shutil.copytree(DDAD, short)
    f = next(short.glob("scene_*.json"))
    scene = json.loads(f.read_text())
    scene["samples"] = scene["samples"][:2]
    f.write_text(json.dumps(scene))
    with pytest.raises(ValueError, match="usable .t-1, t, t\\+1. camera-set triples"):
        SurroundSequence(DdadSequence(short, CAMS))
    assert expand_ddad([tmp_path]) == [short]
    with pytest.raises(RealDataError, match="expected a DGP scene folder"):
        expand_ddad([tmp_path / "nothing"])
