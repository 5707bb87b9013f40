"""Real-data readers and the real-frame evaluation on the REAL files in ../shared/real (skipped when absent),
plus the flat-ground reference on exact geometry and the bad-folder messages."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from fsmde_train.data.real import (RealDataError, load_ddad_scene, load_kitti_raw, load_nuscenes_keyframe,
                                   load_real, project)
from fsmde_train.eval.real import ground_prior, scale_K

REAL = Path(__file__).resolve().parents[3] / "shared" / "real"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason="../shared/real is not here (a user's clone has none)")


def test_flat_ground_prior_is_exact_for_a_level_camera():
    """Camera 1.5 m above the road looking along +x: the road at image row v lies at z = h * fy / (v - cy)."""
    K = np.array([[100.0, 0, 79.5], [0, 120.0, 44.5], [0, 0, 1]])
    T = np.eye(4)
    T[:3, :3] = np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]])  # optical (x right, y down, z fwd) -> vehicle
    T[2, 3] = 1.5
    z = ground_prior(K, T, (90, 160), above=33.0, cap=80.0)
    v = np.arange(90)
    want = np.where(v - 44.5 > 0, 1.5 * 120.0 / np.maximum(v - 44.5, 1e-9), np.inf)
    want = np.where(want <= 80.0, want, 33.0)
    np.testing.assert_allclose(z[:, 7], want, rtol=1e-5)
    assert (z[:44] == 33.0).all(), "above the horizon: the given constant"


def test_per_axis_intrinsics_scaling():
    K2 = scale_K(np.array([[721.5, 0, 609.6], [0, 721.5, 172.9], [0, 0, 1]]), (1242, 375), (224, 128))
    assert K2[0, 0] == pytest.approx(721.5 * 224 / 1242) and K2[1, 1] == pytest.approx(721.5 * 128 / 375)


def test_projection_keeps_points_in_front_and_inside():
    K = np.array([[10.0, 0, 4.5], [0, 10.0, 4.5], [0, 0, 1]])
    pts = np.array([[0, 0, 5.0], [0, 0, -5.0], [100, 0, 1.0], [0.2, 0.1, 2.0]])
    uvz = project(pts, K, (10, 10))
    np.testing.assert_allclose(uvz, [[4.5, 4.5, 5.0], [5.5, 5.0, 2.0]])


@needs_real
def test_nuscenes_keyframe_reader_on_the_real_files():
    import yaml

    views = load_nuscenes_keyframe(REAL / "nuscenes_keyframe")
    assert sorted(v.camera for v in views) == sorted(["CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK",
                                                      "CAM_BACK_LEFT", "CAM_FRONT_LEFT"])
    meta = yaml.safe_load((REAL / "nuscenes_keyframe" / "sample0000.yaml").read_text())
    pts = np.fromfile(REAL / "nuscenes_keyframe" / "0.bin", np.float32).reshape(-1, 5)[:, :3].astype(np.float64)
    for v in views:
        assert v.size == (1600, 900) and 1.3 < v.T_vehicle_cam[2, 3] < 1.8 and len(v.gt_uvz) > 2000
        # GT goes through sensor2lidar (motion-compensated); the static chain lidar2ego -> sensor2ego must land
        # within a pixel of it (the cameras fire within ~40 ms of the sweep) and at the same depths
        c = meta["cams"][v.camera]
        from fsmde_train.geometry import make_pose, quat_to_matrix

        T_ego_lidar = make_pose(quat_to_matrix(meta["lidar2ego_rotation"]), meta["lidar2ego_translation"])
        inv = np.linalg.inv(v.T_vehicle_cam) @ T_ego_lidar
        R, t = np.asarray(c["sensor2lidar_rotation"]), np.asarray(c["sensor2lidar_translation"])
        a, b = (pts - t) @ R, pts @ inv[:3, :3].T + inv[:3, 3]
        front = (a[:, 2] > 1) & (b[:, 2] > 1)
        ua = v.K[0, 0] * a[front, 0] / a[front, 2] + v.K[0, 2]
        ub = v.K[0, 0] * b[front, 0] / b[front, 2] + v.K[0, 2]
        inside = (ua >= 0) & (ua < 1600)
        assert np.median(np.abs(ua - ub)[inside]) < 1.0
        assert np.median(np.abs(a[front, 2] - b[front, 2])[inside]) < 0.05


@needs_real
def test_ddad_and_kitti_readers_on_the_real_files():
    ddad = load_ddad_scene(REAL / "ddad_scene")
    assert len(ddad) == 9 and {v.camera for v in ddad} == {"CAMERA_01", "CAMERA_05", "CAMERA_06"}
    for v in ddad:
        assert v.size == (1936, 1216) and 1.2 < v.T_vehicle_cam[2, 3] < 1.6 and len(v.gt_uvz) > 2000
        assert 2.0 < np.median(v.gt_uvz[:, 2]) < 60.0
    kitti = load_kitti_raw(REAL / "kitti_raw_tiny")
    assert len(kitti) == 7 and all(v.size == (1242, 375) for v in kitti)
    assert kitti[0].K[0, 0] == pytest.approx(721.5377) and 1.5 < kitti[0].T_vehicle_cam[2, 3] < 1.8
    d = kitti[0].gt_depth((128, 224))
    assert d.shape == (128, 224) and (d > 0).sum() > 2000 and d.max() <= kitti[0].gt_uvz[:, 2].max()
    assert set(load_real(REAL)) == {"nuscenes", "ddad", "kitti"}


@needs_real
@pytest.mark.parametrize("remove,expect", [("0.bin", r"0\.bin: missing; expected LIDAR_TOP"),
                                           ("imgs/CAM_BACK.jpg", r"CAM_BACK\.jpg: missing; expected the CAM_BACK image"),
                                           ("sample0000.yaml", r"sample0000\.yaml: missing; expected the key frame")])
def test_incomplete_folder_names_the_missing_file(tmp_path, remove, expect):
    root = tmp_path / "nuscenes_keyframe"
    shutil.copytree(REAL / "nuscenes_keyframe", root)
    (root / remove).unlink()
    with pytest.raises(RealDataError, match=expect):
        load_real(root)


def test_unknown_layout_is_one_clear_line(tmp_path):
    (tmp_path / "something").mkdir()
    with pytest.raises(RealDataError, match="none of .*nuscenes_keyframe.* found; expected the layout"):
        load_real(tmp_path)
    with pytest.raises(RealDataError, match="no scene_\\*.json"):
        load_ddad_scene(tmp_path)


@needs_real
def test_fsmde_eval_real_through_the_exported_model(tmp_path):
    """The CLI end to end with the shipped model (ONNX Runtime): per-dataset rows for the model and both
    references, plots written; the torch program agrees with ONNX Runtime within 1 %."""
    import json

    from fsmde_train.eval.cli import main

    model = Path(__file__).resolve().parents[2] / "models" / "fsmde_student"
    rows = {}
    for backend in ("onnxruntime", "torch"):
        out = tmp_path / backend
        assert main(["--model", str(model), "--real", str(REAL), "--backend", backend, "--out", str(out)]) == 0
        res = json.loads((out / "metrics.json").read_text())
        rows[backend] = res["per_dataset"]
        assert {p.name for p in out.glob("*.png")} >= {"mosaic_nuscenes.png", "mosaic_ddad.png", "mosaic_kitti.png",
                                                       "error_vs_distance.png"}
    for ds, methods in rows["onnxruntime"].items():
        assert set(methods) == {"model", "constant", "flat ground"}
        assert methods["constant"]["median_ratio"] == pytest.approx(1.0)
        a, b = methods["model"]["scale_aware"]["abs_rel"], rows["torch"][ds]["model"]["scale_aware"]["abs_rel"]
        assert abs(a - b) <= 0.01 * a
    assert main(["--model", str(model), "--real", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2


@needs_real
def test_real_key_frame_through_the_nuscenes_devkit(tmp_path):
    """The real key frame as a nuScenes dataroot: the devkit loads it, SurroundDataset reads the real JPEGs and
    the real 5-float sweep, and its LiDAR GT (devkit pose chain) matches the reader's (sensor2lidar chain)."""
    from fsmde_train.data import SurroundDataset
    from fsmde_train.data.real import write_nuscenes_dataroot

    root = write_nuscenes_dataroot(REAL / "nuscenes_keyframe", tmp_path / "nusc")
    ds = SurroundDataset(root, "v1.0-real", None, (128, 224), 177.3, gt="lidar", progress=False)
    assert len(ds) == 1
    batch = ds[0]
    assert tuple(batch["image"].shape) == (6, 3, 128, 224)
    views = {v.camera: v for v in load_nuscenes_keyframe(REAL / "nuscenes_keyframe")}
    for j, cam in enumerate(ds.cameras):
        got, want = batch["depth"][j, 0].numpy(), views[cam].gt_depth((128, 224))
        both = (got > 0) & (want > 1.0)  # the devkit drops points nearer than 1 m
        assert both.sum() > 0.9 * (want > 1.0).sum()
        assert np.median(np.abs(got[both] - want[both])) < 0.02
        np.testing.assert_allclose(batch["K"][j].numpy(), scale_K(views[cam].K, (1600, 900), (224, 128)))


def test_real_metrics_report_the_lidar_points_a_nan_prediction_leaves_out(tmp_path):
    """A model that abstains (NaN) on the upper half is scored on the lower half only, and the table says how many
    of the LiDAR points it predicted."""
    import cv2
    import torch

    from fsmde_train.data.real import RealView
    from fsmde_train.eval.real import evaluate_real, real_table

    cv2.imwrite(str(tmp_path / "im.png"), np.full((64, 112, 3), 128, np.uint8))
    v, u = np.mgrid[0:64:2, 0:112:2]
    gt_uvz = np.stack([u.ravel(), v.ravel(), np.full(u.size, 10.0)], 1).astype(np.float64)
    K = np.array([[60.0, 0, 56], [0, 60.0, 32], [0, 0, 1]])
    T = np.eye(4)
    T[:3, :3] = [[0, 0, 1], [-1, 0, 0], [0, -1, 0]]
    T[2, 3] = 1.6
    view = RealView("nuscenes", "f0", "CAM_FRONT", tmp_path / "im.png", K, (112, 64), T, gt_uvz)
    manifest = {"input": {"height": 32, "width": 56, "mean": [0.5] * 3, "std": [0.25] * 3, "scale": 1 / 255},
                "canonical_focal_px": 30.0}

    def predict(x):  # 12 m (AbsRel 0.2) below the middle row, no prediction above it
        out = torch.full((1, 1, 32, 56), 12.0)
        out[..., :16, :] = float("nan")
        return out

    res = evaluate_real(predict, manifest, [view], progress=False)
    model = res["per_dataset"]["nuscenes"]["model"]
    assert model["scale_aware"]["abs_rel"] == pytest.approx(0.2, abs=1e-6)
    assert model["coverage"] == pytest.approx(0.5, abs=0.02)
    assert res["per_dataset"]["nuscenes"]["constant"]["coverage"] == 1.0
    assert "| 50.0 % |" in real_table(res) or "| 49." in real_table(res)


def test_distance_profile_shows_depth_squeezed_toward_the_middle():
    """Near overestimated and far underestimated: the per-bin median pred/GT says which way, skips NaN, and counts
    the LiDAR points per bin."""
    from fsmde_train.eval.real import distance_profile, distance_table

    gt = np.zeros((8, 8), np.float32)
    gt[0, :4], gt[1, :4], gt[2, :4] = 2.0, 15.0, 60.0  # 4 LiDAR points each near, middle, far
    pred = np.full_like(gt, np.nan)
    pred[0, :4], pred[1, :4], pred[2, :4] = 2.6, 15.0, 30.0
    pred[2, 3] = np.nan  # abstained: not a point of the profile
    res = {"per_dataset": {"ddad": {}}, "per_view": [{"dataset": "ddad"}], "arrays": [{"gt": gt, "pred": pred}]}
    prof = distance_profile(res, bins=(0.5, 5, 40, 80))["ddad"]
    assert prof["points"] == [4, 4, 3]
    assert prof["median_ratio"] == pytest.approx([1.3, 1.0, 0.5])
    assert prof["abs_rel"] == pytest.approx([0.3, 0.0, 0.5])
    prof_empty = distance_profile(res, bins=(0.5, 5, 40, 80, 200))["ddad"]
    assert prof_empty["points"][-1] == 0 and prof_empty["median_ratio"][-1] is None
    table = distance_table({"ddad": prof_empty})
    assert "×1.30 (4)" in table and "×0.50 (3)" in table and table.splitlines()[-1].endswith("| – |")
