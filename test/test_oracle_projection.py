"""Oracle: exact depth pushed through the node's own projection code lands on the world's surfaces.

For one key frame of the synthetic world, the exact z-depth is ray-cast at the model resolution with the
intrinsics the node derives from CameraInfo; ``SurroundPipeline`` (focal rescale, back-projection, range
filter, extrinsics from config/nuscenes_rig.yaml, transform to base_link) turns it into the fused cloud.
Each point is taken back to the world frame with the ego pose at its camera's stamp and compared with an
independent ray cast along the same direction: range error < 1 %.
"""
import cv2
import numpy as np
import torch
from nuscenes.nuscenes import NuScenes

from fsmde_ros.backends.base import Backend
from fsmde_ros.core.geometry import scale_intrinsics, transform
from fsmde_ros.core.manifest import load_manifest
from fsmde_ros.core.pipeline import CloudConfig, SurroundPipeline, View
from fsmde_ros.core.preprocess import Preprocessor
from fsmde_ros.core.rig import load_rig
from fsmde_ros.core.rig import default_cameras
from fsmde_ros.resources import default_rig_file
from fsmde_train.geometry import pose_from_record
from fsmde_train.synth.render import primitives_at
from fsmde_train.synth.tracer import render_camera, trace_rays
from fsmde_train.synth.world import load_world

CAMERAS = default_cameras()


class OracleBackend(Backend):
    """Returns exact depth (divided by the focal factor the pipeline multiplies back)."""
    name, device, precision = "oracle", "cpu", "fp32"

    def __init__(self, depths):
        self.depths = depths

    def infer(self, batch):
        return np.stack(self.depths)[:, None].astype(np.float32)


def test_cloud_from_exact_depth_lands_on_surfaces(world, world_cfg, tiny_model):
    nusc = NuScenes(world_cfg["version"], str(world), verbose=False)
    wld, extra = load_world(world / "synth" / "worlds" / "scene-0001.npz")
    t0_us = int(extra["t0_us"])
    manifest = load_manifest(tiny_model)
    pre = Preprocessor(manifest)
    rig = {c.name: c for c in load_rig(default_rig_file()).cameras}
    sample = nusc.sample[1]
    views, depths, cams = [], [], []
    for c in CAMERAS:
        sd = nusc.get("sample_data", sample["data"][c])
        cs = nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
        K = np.array(cs["camera_intrinsic"])
        src = (sd["width"], sd["height"])
        K_model = scale_intrinsics(K, src, (pre.w, pre.h))
        t = (sd["timestamp"] - t0_us) / 1e6
        T_local_cam = wld.ego_pose_local(t) @ pose_from_record(cs)
        prims = primitives_at(wld, t)
        z, _, _, _ = render_camera(T_local_cam, K_model, pre.w, pre.h, prims)
        z = z.numpy()
        z[~np.isfinite(z)] = 0
        depths.append(z / pre.focal_scale(K_model))
        rgb = cv2.imread(str(world / sd["filename"]))[:, :, ::-1]
        views.append(View(c, rgb, K, src, rig[c].T_base_camera))
        cams.append((t, T_local_cam, prims))
    pipe = SurroundPipeline(OracleBackend(depths), pre, 0.1, 1000.0, CloudConfig(stride=1, min_range=0.5,
                                                                                 max_range=200.0))
    res = pipe.process(views)
    total = 0
    for i, (t, T_local_cam, prims) in enumerate(cams):
        one = pipe.fuse([res.depth[i]], [res.K_depth[i]], [res.rgb_small[i]], [views[i]])
        xyz = np.stack([one["x"], one["y"], one["z"]], 1)
        assert len(xyz) > 0.5 * pre.w * pre.h, f"{CAMERAS[i]}: too few points"
        p_local = transform(wld.ego_pose_local(t), xyz).astype(np.float64)
        o = T_local_cam[:3, 3]
        rng = np.linalg.norm(p_local - o, axis=1)
        d = torch.as_tensor((p_local - o) / rng[:, None], dtype=torch.float32)
        hit, ids = trace_rays(torch.as_tensor(o, dtype=torch.float32)[None], d, prims)
        hit = hit.numpy()
        rel = np.abs(rng - hit) / hit
        assert (ids >= 0).all()
        assert np.max(rel) < 0.01, f"{CAMERAS[i]}: worst relative range error {np.max(rel):.4f}"
        total += len(xyz)
    fused = res.cloud
    assert len(fused) == total, "the fused cloud is the union of the per-camera clouds"
