"""Exact ray casting against the analytic primitives of a World (torch, vectorised, CPU or GPU).

Primitive ids: 0 is the ground plane z = 0, then boxes, cylinders and spheres in that order; -1 is sky.
Ray parameters are returned as ``t`` with ``hit = o + t * d``: with camera rays whose optical-frame z
component is 1, ``t`` *is* the z-depth (what depth images store); with unit rays it is the range.

Cameras use a screen-space acceleration: each primitive is only tested against the pixels inside the
projection of its bounding box, so the cost follows the pixels primitives cover, not pixels x primitives.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..geometry import yaw_matrix

EPS = 1e-4
INF = float("inf")


@dataclass
class Primitives:
    """Tensor view of a World at one instant (moving boxes already advanced)."""

    boxes: torch.Tensor  # [Nb, 7]
    cyls: torch.Tensor  # [Nc, 5]
    spheres: torch.Tensor  # [Ns, 4]
    corners: np.ndarray  # [Nb + Nc + Ns, 8, 3] bounding-box corners for screen-space culling

    @property
    def offsets(self) -> tuple[int, int, int]:
        """First id of each kind (boxes, cylinders, spheres); id 0 is the ground."""
        nb, nc = len(self.boxes), len(self.cyls)
        return 1, 1 + nb, 1 + nb + nc

    @property
    def count(self) -> int:
        return 1 + len(self.boxes) + len(self.cyls) + len(self.spheres)


def _box_corners(boxes: np.ndarray) -> np.ndarray:
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)
    out = np.empty((len(boxes), 8, 3))
    for i, bx in enumerate(boxes):
        local = signs * bx[3:6]
        out[i] = local @ yaw_matrix(bx[6]).T + bx[:3]
    return out


def _aabb_corners(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    signs = np.array([[sx, sy, sz] for sx in (0, 1) for sy in (0, 1) for sz in (0, 1)], dtype=np.float64)
    return lo[:, None, :] + signs[None] * (hi - lo)[:, None, :]


def make_primitives(boxes: np.ndarray, cyls: np.ndarray, spheres: np.ndarray, device="cpu") -> Primitives:
    c_lo = np.stack([cyls[:, 0] - cyls[:, 4], cyls[:, 1] - cyls[:, 4], cyls[:, 2]], 1) if len(cyls) else np.zeros((0, 3))
    c_hi = np.stack([cyls[:, 0] + cyls[:, 4], cyls[:, 1] + cyls[:, 4], cyls[:, 3]], 1) if len(cyls) else np.zeros((0, 3))
    s_lo, s_hi = spheres[:, :3] - spheres[:, 3:4], spheres[:, :3] + spheres[:, 3:4]
    corners = np.concatenate([_box_corners(boxes), _aabb_corners(c_lo, c_hi), _aabb_corners(s_lo, s_hi)])
    f = lambda a: torch.as_tensor(a, dtype=torch.float32, device=device)  # noqa: E731
    return Primitives(f(boxes), f(cyls), f(spheres), corners)


# --- intersection kernels: o [R, 3] (or [1, 3]), d [R, 3], primitives [M, k] -> t [R, M] (inf = miss) ---

def _safe_inv(x: torch.Tensor) -> torch.Tensor:
    return 1.0 / torch.where(x.abs() < 1e-12, torch.full_like(x, 1e-12), x)


def intersect_boxes(o: torch.Tensor, d: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    c, h, yaw = boxes[:, :3], boxes[:, 3:6], boxes[:, 6]
    cs, sn = torch.cos(yaw)[None], torch.sin(yaw)[None]
    ox, oy, oz = (o[:, None, i] - c[None, :, i] for i in range(3))
    dx, dy, dz = d[:, 0:1], d[:, 1:2], d[:, 2:3]
    lo = (cs * ox + sn * oy, -sn * ox + cs * oy, oz)
    shape = (d.shape[0], boxes.shape[0])
    ld = (cs * dx + sn * dy, -sn * dx + cs * dy, dz.expand(shape))
    tmin = torch.full(shape, -INF, dtype=d.dtype, device=d.device)
    tmax = torch.full(shape, INF, dtype=d.dtype, device=d.device)
    for a in range(3):
        inv = _safe_inv(ld[a])
        t1 = (-h[None, :, a] - lo[a]) * inv
        t2 = (h[None, :, a] - lo[a]) * inv
        tmin = torch.maximum(tmin, torch.minimum(t1, t2))
        tmax = torch.minimum(tmax, torch.maximum(t1, t2))
    hit = (tmax >= tmin) & (tmin > EPS)  # rays starting inside a box see nothing of it
    return torch.where(hit, tmin, torch.full_like(tmin, INF))


def intersect_cylinders(o: torch.Tensor, d: torch.Tensor, cyls: torch.Tensor) -> torch.Tensor:
    ox = o[:, None, 0] - cyls[None, :, 0]
    oy = o[:, None, 1] - cyls[None, :, 1]
    oz = o[:, None, 2]
    dx, dy, dz = d[:, 0:1], d[:, 1:2], d[:, 2:3]
    z0, z1, r = cyls[None, :, 2], cyls[None, :, 3], cyls[None, :, 4]
    a = (dx * dx + dy * dy).clamp_min(1e-12)
    b = 2 * (ox * dx + oy * dy)
    cc = ox * ox + oy * oy - r * r
    disc = b * b - 4 * a * cc
    t_side = (-b - torch.sqrt(disc.clamp_min(0))) / (2 * a)
    z_side = oz + t_side * dz
    ok_side = (disc >= 0) & (t_side > EPS) & (z_side >= z0) & (z_side <= z1)
    t_cap = (z1 - oz) * _safe_inv(dz.expand_as(t_side))
    px, py = ox + t_cap * dx, oy + t_cap * dy
    ok_cap = (t_cap > EPS) & (px * px + py * py <= r * r)
    t = torch.where(ok_side, t_side, torch.full_like(t_side, INF))
    return torch.minimum(t, torch.where(ok_cap, t_cap, torch.full_like(t_cap, INF)))


def intersect_spheres(o: torch.Tensor, d: torch.Tensor, spheres: torch.Tensor) -> torch.Tensor:
    oc = [o[:, None, i] - spheres[None, :, i] for i in range(3)]
    a = (d * d).sum(1, keepdim=True)
    b = 2 * sum(oc[i] * d[:, i:i + 1] for i in range(3))
    cc = sum(x * x for x in oc) - spheres[None, :, 3] ** 2
    disc = b * b - 4 * a * cc
    t = (-b - torch.sqrt(disc.clamp_min(0))) / (2 * a)
    ok = (disc >= 0) & (t > EPS)
    return torch.where(ok, t, torch.full_like(t, INF))


def intersect_ground(o: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    t = -o[:, 2:3] * _safe_inv(d[:, 2:3])
    ok = (d[:, 2:3] < 0) & (t > EPS)
    return torch.where(ok, t, torch.full_like(t, INF)).expand(d.shape[0], 1)


_KERNELS = (("boxes", intersect_boxes), ("cyls", intersect_cylinders), ("spheres", intersect_spheres))


def trace_rays(o: torch.Tensor, d: torch.Tensor, prims: Primitives, chunk: int = 8192):
    """Nearest hit of every ray against every primitive. o: [1, 3] or [R, 3]; d: [R, 3].

    Returns (t [R], id [R] int64; -1 where nothing is hit).
    """
    ts, ids = [], []
    for s in range(0, d.shape[0], chunk):
        dd = d[s:s + chunk]
        oo = o if o.shape[0] == 1 else o[s:s + chunk]
        cols = [intersect_ground(oo, dd)]
        for name, fn in _KERNELS:
            p = getattr(prims, name)
            cols.append(fn(oo, dd, p) if len(p) else dd.new_zeros((dd.shape[0], 0)))
        allt = torch.cat(cols, 1)
        t, idx = allt.min(1)
        ts.append(t)
        ids.append(torch.where(torch.isinf(t), torch.full_like(idx, -1), idx))
    return torch.cat(ts), torch.cat(ids)


def camera_rays(K: np.ndarray, width: int, height: int, device="cpu") -> torch.Tensor:
    """[H, W, 3] optical-frame ray directions with z = 1 through each pixel centre (pixel (u, v) at u, v)."""
    u = torch.arange(width, dtype=torch.float32, device=device)
    v = torch.arange(height, dtype=torch.float32, device=device)
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    x = (uu - float(K[0, 2])) / float(K[0, 0])
    y = (vv - float(K[1, 2])) / float(K[1, 1])
    return torch.stack([x, y, torch.ones_like(x)], -1)


def _screen_rect(corners_cam: np.ndarray, K: np.ndarray, width: int, height: int):
    """Pixel rectangle (v0, v1, u0, u1) covering the projected corners, None if behind or off-screen."""
    z = corners_cam[:, 2]
    if np.all(z <= EPS):
        return None
    if np.any(z <= 0.05):  # straddles the camera plane: its projection is unbounded
        return 0, height, 0, width
    u = K[0, 0] * corners_cam[:, 0] / z + K[0, 2]
    v = K[1, 1] * corners_cam[:, 1] / z + K[1, 2]
    u0, u1 = max(int(np.floor(u.min())) - 1, 0), min(int(np.ceil(u.max())) + 2, width)
    v0, v1 = max(int(np.floor(v.min())) - 1, 0), min(int(np.ceil(v.max())) + 2, height)
    if u0 >= u1 or v0 >= v1:
        return None
    return v0, v1, u0, u1


def sun_visible(p: torch.Tensor, n: torch.Tensor, sun_dir, prims: Primitives) -> torch.Tensor:
    """[N] bool: whether the sun is seen from surface points p [N, 3] with normals n (cast shadows).

    A shadow ray leaves every point towards the sun; a primitive is only tested against the points whose
    projection along the sun direction falls inside its own projection (an orthographic "sun camera"), and only
    if some part of it is nearer the sun than the point, so the cost follows the shadowed area, not points x
    primitives. The ground plane casts no shadow (the sun is above it)."""
    sun = torch.as_tensor(np.asarray(sun_dir, dtype=np.float64) / np.linalg.norm(sun_dir), dtype=torch.float32,
                          device=p.device)
    o = p + 0.02 * n  # off the surface, so a point does not shadow itself
    helper = torch.tensor([1.0, 0.0, 0.0] if abs(float(sun[0])) < 0.9 else [0.0, 1.0, 0.0], device=p.device)
    e1 = torch.linalg.cross(sun, helper)
    e1 = e1 / e1.norm()
    e2 = torch.linalg.cross(sun, e1)
    basis = torch.stack([e1, e2, sun], 1).cpu().numpy().astype(np.float64)  # [3, 3]: across, across, along
    q = o.cpu().numpy().astype(np.float64) @ basis  # [N, 3]
    cq = prims.corners @ basis  # [M, 8, 3]
    lo, hi = cq.min(1), cq.max(1)
    lit = np.ones(len(q), dtype=bool)
    dirs = sun[None].expand(len(q), 3)
    pid = 0
    for name, fn in _KERNELS:
        prm = getattr(prims, name)
        for i in range(len(prm)):
            cand = np.flatnonzero(lit & (q[:, 0] >= lo[pid, 0]) & (q[:, 0] <= hi[pid, 0]) & (q[:, 1] >= lo[pid, 1])
                                  & (q[:, 1] <= hi[pid, 1]) & (q[:, 2] < hi[pid, 2]))
            pid += 1
            if len(cand) == 0:
                continue
            ci = torch.as_tensor(cand, device=p.device)
            t = fn(o[ci], dirs[ci], prm[i:i + 1])[:, 0]
            lit[cand[torch.isfinite(t).cpu().numpy()]] = False
    return torch.as_tensor(lit, device=p.device)


def render_camera(T_local_cam: np.ndarray, K: np.ndarray, width: int, height: int, prims: Primitives):
    """z-depth [H, W] (inf for sky) and primitive id [H, W] of a pinhole camera at pose T_local_cam."""
    device = prims.boxes.device
    R = torch.as_tensor(T_local_cam[:3, :3], dtype=torch.float32, device=device)
    o = torch.as_tensor(T_local_cam[:3, 3], dtype=torch.float32, device=device)[None]
    d = camera_rays(K, width, height, device) @ R.T  # [H, W, 3], still z_cam = 1 along the optical axis
    flat = d.reshape(-1, 3)
    depth = intersect_ground(o, flat).reshape(height, width).clone()
    ids = torch.where(torch.isinf(depth), -1, 0).to(torch.int64)
    T_cam_local = np.linalg.inv(T_local_cam)
    corners_cam = prims.corners @ T_cam_local[:3, :3].T + T_cam_local[:3, 3]
    pid = 1
    for name, fn in _KERNELS:
        p = getattr(prims, name)
        for i in range(len(p)):
            rect = _screen_rect(corners_cam[pid - 1], K, width, height)
            if rect is not None:
                v0, v1, u0, u1 = rect
                t = fn(o, d[v0:v1, u0:u1].reshape(-1, 3), p[i:i + 1]).reshape(v1 - v0, u1 - u0)
                cur = depth[v0:v1, u0:u1]
                closer = t < cur
                cur[closer] = t[closer]
                ids[v0:v1, u0:u1][closer] = pid
            pid += 1
    return depth, ids, d, o
