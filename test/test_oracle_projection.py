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
MS = 1_000_000


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


def test_motion_compensated_cloud_lands_on_surfaces_at_the_set_stamp(world, world_cfg, tiny_model):
    """The whole fused cloud, taken to the world with ONE ego pose (the set's stamp: its first camera), matches each
    view placed with the pose at its own exposure (which lands on the surfaces: the test above) when each view is
    moved by the ego motion of the dataset's ego_pose records (what the converter's /odom carries); without the
    motion a view is off by the distance driven between its exposure and the set stamp."""
    from fsmde_ros.core.motion import EgoMotion

    nusc = NuScenes(world_cfg["version"], str(world), verbose=False)
    wld, extra = load_world(world / "synth" / "worlds" / "scene-0001.npz")
    t0_us = int(extra["t0_us"])
    pre = Preprocessor(load_manifest(tiny_model))
    rig = {c.name: c for c in load_rig(default_rig_file()).cameras}
    motion = EgoMotion("odometry")
    for sd in nusc.sample_data:  # every ego pose of the scene, in time order, as the bag's /odom
        ep = nusc.get("ego_pose", sd["ego_pose_token"])
        motion.add_odometry(ep["timestamp"] * 1000, ep["translation"], ep["rotation"])
    sample = nusc.sample[1]
    views, depths, stamps = [], [], []
    for c in CAMERAS:
        sd = nusc.get("sample_data", sample["data"][c])
        cs = nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
        K, src = np.array(cs["camera_intrinsic"]), (sd["width"], sd["height"])
        K_model = scale_intrinsics(K, src, (pre.w, pre.h))
        t = (sd["timestamp"] - t0_us) / 1e6
        prims = primitives_at(wld, t)
        z = render_camera(wld.ego_pose_local(t) @ pose_from_record(cs), K_model, pre.w, pre.h, prims)[0].numpy()
        z[~np.isfinite(z)] = 0
        depths.append(z / pre.focal_scale(K_model))
        views.append(View(c, cv2.imread(str(world / sd["filename"]))[:, :, ::-1], K, src, rig[c].T_base_camera))
        stamps.append(sd["timestamp"] * 1000)
    t_ref = stamps[0]  # the node stamps the cloud with the first camera in rig order
    spread_ms = (max(stamps) - min(stamps)) / 1e6
    assert spread_ms > 20, "the world's cameras fire over tens of ms, as nuScenes' do"
    pipe = SurroundPipeline(OracleBackend(depths), pre, 0.1, 1000.0, CloudConfig(stride=1, min_range=0.5,
                                                                                 max_range=200.0))
    res = pipe.process(views)
    T_local_ref = wld.ego_pose_local((t_ref / 1000 - t0_us) / 1e6)
    xyz = lambda c: np.stack([c["x"], c["y"], c["z"]], 1).astype(np.float64)  # noqa: E731
    for v, M in zip(views, motion.motions(stamps, t_ref)):
        assert M is not None
        v.T_motion = M
    for i, v in enumerate(views):
        t = (stamps[i] / 1000 - t0_us) / 1e6
        T_local_t = wld.ego_pose_local(t)
        moved = pipe.fuse([res.depth[i]], [res.K_depth[i]], [res.rgb_small[i]], [v])
        still = pipe.fuse([res.depth[i]], [res.K_depth[i]], [res.rgb_small[i]], [View(v.name, None, v.K, v.src_wh,
                                                                                       v.T_base_cam)])
        truth = transform(T_local_t, xyz(still))  # each view placed with the ego pose at its own exposure (above)
        p_local = transform(T_local_ref, xyz(moved))  # the fused cloud, all with the set stamp's pose
        err = np.linalg.norm(p_local - truth, axis=1)
        assert err.max() < 2e-3, f"{v.name}: compensated points off by up to {err.max():.4f} m"
        # uncompensated the view is off by the distance driven between its exposure and the set stamp
        driven = np.linalg.norm(T_local_t[:3, 3] - T_local_ref[:3, 3])
        off = np.linalg.norm(transform(T_local_ref, xyz(still)) - truth, axis=1)
        assert abs(np.median(off) - driven) < 0.02 + 0.1 * driven, (v.name, np.median(off), driven)
        if abs(stamps[i] - t_ref) > 20 * MS:
            assert driven > 0.05, f"{v.name}: {driven:.3f} m driven in {(stamps[i] - t_ref) / 1e6:.0f} ms"
