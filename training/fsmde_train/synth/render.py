"""Sensor simulation: camera images with exact z-depth, and 32-beam LiDAR sweeps."""
from __future__ import annotations

import numpy as np
import torch

from . import shading
from .rig import Sensor
from .tracer import Primitives, make_primitives, render_camera, sun_visible, trace_rays
from .world import World

# Velodyne HDL-32E as on nuScenes' LIDAR_TOP: 32 beams from +10.67 to -30.67 deg, ~1084 azimuth steps.
LIDAR_ELEVATIONS_DEG = np.linspace(10.67, -30.67, 32)
LIDAR_AZIMUTH_STEPS = 1084
LIDAR_MAX_RANGE = 70.0
LIDAR_MIN_RANGE = 1.0
LIDAR_RANGE_NOISE = 0.01  # metres, 1 sigma
SKY_ID = 255  # material map value where a camera ray sees sky


def primitives_at(world: World, t: float, device="cpu") -> Primitives:
    return make_primitives(world.boxes_at(t), world.cyls, world.spheres, device)


def render_image(world: World, prims: Primitives, T_local_ego: np.ndarray, cam: Sensor,
                 gen: torch.Generator, style: shading.Style = shading.Style(),
                 shadows: bool = False, vehicle_looks: float = 0.0, material: dict | None = None,
                 photo_textures: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 [H, W, 3] and z-depth float32 [H, W] in metres (0 where the ray sees sky); ``shadows``: the
    primitives cast sun shadows (tracer.sun_visible); ``vehicle_looks``: the share of vehicles (0..1; True = all)
    with random paint and glossy paint and glass (shading.vehicle_selected, _vehicle_paint, gloss). With a dict as
    ``material``, its key "material" receives the material id per pixel, uint8 [H, W] (world.MATERIAL_NAMES; SKY_ID
    where the ray sees sky); no random draw is added, so the image is the same either way. ``photo_textures`` > 0:
    real photographed grain on the surfaces at that contrast (shading._photo_detail)."""
    T_local_cam = T_local_ego @ cam.T_ego_sensor
    depth, ids, d, o = render_camera(T_local_cam, cam.K, cam.width, cam.height, prims)
    H, W = depth.shape
    d_flat = d.reshape(-1, 3)
    d_unit = d_flat / d_flat.norm(dim=1, keepdim=True)
    rgb = shading.sky(d_unit, style)
    hit = ids.reshape(-1) >= 0
    mat_px = torch.full((H * W,), SKY_ID, dtype=torch.uint8)
    if hit.any():
        z = depth.reshape(-1)[hit]
        p = o + z[:, None] * d_flat[hit]
        dist = z * d_flat[hit].norm(dim=1)
        ray = (d_unit[hit], dist, 1.0 / float(cam.K[0, 0])) if photo_textures else None
        n, albedo, mat = shading.surface(world, prims, p, ids.reshape(-1)[hit], float(vehicle_looks),
                                         float(photo_textures), ray)
        mat_px[hit.cpu()] = mat.cpu().to(torch.uint8)
        lit = None
        if shadows and style.sun > 0:
            facing = (n @ torch.as_tensor(world.sun_dir, dtype=torch.float32, device=n.device)) > 0
            lit = facing.clone()
            lit[facing] = sun_visible(p[facing], n[facing], world.sun_dir, prims)
        rgb[hit] = shading.shade(albedo, n, d_unit[hit], dist, world.sun_dir, style, lit,
                                 shading.gloss(prims, ids.reshape(-1)[hit], mat, world, float(vehicle_looks))
                                 if vehicle_looks else None)
    lo, hi = style.gain
    gain = float(lo + (hi - lo) * torch.rand((), generator=gen))
    img = shading.to_srgb8(rgb.reshape(H, W, 3), gain, style.noise_std, gen, style.white)
    if style.blur_px > 0.05:
        import cv2

        img = cv2.GaussianBlur(img, (0, 0), style.blur_px)
    depth_np = depth.cpu().numpy().astype(np.float32)
    depth_np[~np.isfinite(depth_np)] = 0.0
    if material is not None:
        material["material"] = mat_px.reshape(H, W).numpy()
    return img, depth_np


def _lidar_dirs(device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Unit ray directions in the LIDAR_TOP frame [32 * steps, 3] and their ring index."""
    el = torch.as_tensor(np.radians(LIDAR_ELEVATIONS_DEG), dtype=torch.float32, device=device)
    az = torch.arange(LIDAR_AZIMUTH_STEPS, dtype=torch.float32, device=device) * (2 * np.pi / LIDAR_AZIMUTH_STEPS)
    ee, aa = torch.meshgrid(el, az, indexing="ij")
    dirs = torch.stack([torch.cos(ee) * torch.cos(aa), torch.cos(ee) * torch.sin(aa), torch.sin(ee)], -1)
    ring = torch.arange(32, device=device)[:, None].expand(32, LIDAR_AZIMUTH_STEPS)
    return dirs.reshape(-1, 3), ring.reshape(-1)


def _near_subset(world: World, prims: Primitives, center: np.ndarray, radius: float) -> tuple[Primitives, torch.Tensor]:
    """Primitives whose bounding box comes within ``radius`` of ``center`` (xy), and their global ids."""
    lo, hi = prims.corners.min(1), prims.corners.max(1)
    gap = np.maximum(np.maximum(lo[:, :2] - center[:2], center[:2] - hi[:, :2]), 0)
    near = np.hypot(gap[:, 0], gap[:, 1]) <= radius
    nb, nc = len(prims.boxes), len(prims.cyls)
    kb, kc, ks = near[:nb], near[nb:nb + nc], near[nb + nc:]
    sub = Primitives(prims.boxes[torch.as_tensor(kb)], prims.cyls[torch.as_tensor(kc)],
                     prims.spheres[torch.as_tensor(ks)], prims.corners[near])
    ids = np.concatenate([[0], 1 + np.flatnonzero(near)])
    return sub, torch.as_tensor(ids, device=prims.boxes.device)


def lidar_sweep(world: World, prims: Primitives, T_local_ego: np.ndarray, lidar: Sensor,
                rng: np.random.Generator) -> np.ndarray:
    """One sweep in the LIDAR_TOP frame as nuScenes stores it: float32 [N, 5] = x, y, z, intensity, ring.

    The sweep is cast from one pose (no rolling-shutter motion within the 50 ms rotation); intensity
    (0-255) follows albedo x reflectivity x incidence cosine.
    """
    T_local_lidar = T_local_ego @ lidar.T_ego_sensor
    sub, id_map = _near_subset(world, prims, T_local_lidar[:3, 3], LIDAR_MAX_RANGE)
    dirs_s, ring = _lidar_dirs(prims.boxes.device)
    R = torch.as_tensor(T_local_lidar[:3, :3], dtype=torch.float32)
    o = torch.as_tensor(T_local_lidar[:3, 3], dtype=torch.float32)[None]
    d = dirs_s @ R.T
    t, ids = trace_rays(o, d, sub)
    keep = (ids >= 0) & (t >= LIDAR_MIN_RANGE) & (t <= LIDAR_MAX_RANGE)
    t, ids, d, dirs_s, ring = t[keep], id_map[ids[keep]], d[keep], dirs_s[keep], ring[keep]
    p = o + t[:, None] * d
    n, albedo, mat = shading.surface(world, prims, p, ids)
    cos = (n * d).sum(1).abs()
    inten = (albedo.mean(1) * shading.REFLECTIVITY[mat] * cos * 255 * 1.6).clamp(0, 255)
    noisy_t = t + torch.as_tensor(rng.normal(0, LIDAR_RANGE_NOISE, len(t)), dtype=torch.float32)
    xyz = dirs_s * noisy_t[:, None]
    return torch.cat([xyz, inten[:, None], ring[:, None].float()], 1).cpu().numpy().astype(np.float32)
