"""Surround pose network (issue 14): one vehicle motion from all cameras, mapped to each camera by its extrinsics.

Where a bag has no odometry or TF for the ego motion, the temporal reconstruction needs a learned motion. The
cameras of a rig do not move independently: they share the vehicle's motion M, and camera c moves by
inv(T_ego_cam[c]) @ M @ T_ego_cam[c]. So the network predicts M once, from every camera's view of the motion
(forward motion is expansion in the front camera and lateral flow in the side ones), and the per-camera motions
are consistent by construction (SurroundDepth / Semi-SMD share the motion across views the same way).

Shapes: frames a, b [B, N, 3, H, W] (normalised RGB); output ``M`` [B, 4, 4] maps points of the ego frame at b
into the ego frame at a; ``axis_angle`` [B, 3], ``translation`` [B, 3] (metres only as far as the training
signal is metric: the spatial term or odometry gives it scale).

``depth_input`` (with the student's metric depth of frame a [B, N, 1, H, W], no gradient into the student): an
image flow alone says translation / depth, not translation. Without the depth a network must guess the scene's
depth from its appearance to turn flow into metres, and a new layout shifts that guess (measured: the motion
0.78 x too short on the boulevard world; RESULTS.md).
- "inverse": one more channel, the inverse depth (1/m).
- "scaled_difference": also the frame difference times the depth. By brightness constancy b - a ~ -grad(a) . flow,
  and a translation's flow is A(u) T / z, so (b - a) z ~ -grad(a) . A(u) T is linear in T whatever the scene's
  depth: the layout drops out of what the network has to read (the plain difference keeps the rotation, whose
  flow does not depend on depth).
Both orders of the antisymmetric pair get frame a's depth, so swapping the frames still negates the motion.

``iterations`` > 1 (needs the depth, K and the extrinsics): a learned iterative refinement, as RAFT or DeepV2D's
motion module do it. Frame b is warped into a's view through the motion so far and a's depth, and the same network
predicts what is left, composed on the left: M <- dM @ M. The input to each pass is detached (the gradient
reaches every pass through its own output). Each pass is the same fixed feed-forward network, not an optimisation;
a regressor that shrinks a motion by a factor k leaves (1 - k) of it, which the next pass sees as a small flow.
Only the first pass is antisymmetric. ``M_passes`` lists the motion after every pass (for a loss on each, RAFT's
sequence loss). ``jitter`` j > 0 (training only) scales the motion handed to each later pass by a factor drawn per
sample from U(1 - j, 1 + j): a corrector learns the residuals it is shown, and one network's own residuals on its
training data are smaller than those it meets on a new layout.

``align`` (needs the depth, K and the extrinsics): the regressed motion is the start of a direct alignment of all
cameras through frame a's depth (pose_align.py, Gauss-Newton, no learned parameters). Its value replaces ``M``;
the gradient passes to the network's motion unchanged (straight through), and ``M_network`` keeps the regression.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..losses.photometric import warp


@dataclass(frozen=True)
class PoseConfig:
    n_cam: int = 6
    width: int = 16  # channels of the first conv; stages double it
    hidden: int = 256
    stages: int = 5  # stride-2 conv stages (receptive field to see a few pixels of flow at 128 x 224)
    grid: tuple[int, int] = (2, 4)  # pooled cells kept per camera: WHERE a flow is tells expansion from
    #                                 contraction (a global average of a front camera's flow is zero either way)
    rot_scale: float = 0.01  # radians per unit output (Monodepth2's pose decoder scales by 0.01)
    trans_scale: float = 0.1  # metres per unit output (a frame at 12 Hz is ~0.5 m at driving speed)
    depth_input: str = "none"  # DEPTH_INPUTS: none | inverse | scaled_difference (the student's depth of frame a)
    iterations: int = 1  # passes of the network, each on frame b warped by the motion so far (needs depth_input)
    # direct alignment after the passes (pose_align.py): ((downsampling factor, Gauss-Newton iterations), ...),
    # coarse to fine; () is off. Needs depth_input (it aligns through frame a's depth).
    align: tuple[tuple[int, int], ...] = ()
    # radius r of a local correlation volume between frame a's and frame b's features at 1/4 resolution
    # ((2r + 1)^2 channels, displacements up to 4r input pixels; PWC-Net's cost volume); 0 is off. With it the
    # encoder reads measured displacements, not only the frames and their difference (a flow's size per sample
    # had to be inferred by plain convolutions before; results/selfsup_bag_pose_capacity)
    correlation: int = 0
    # one head shared by the cameras: each camera's pooled cells alone give that camera's motion in its own frame and
    # a confidence per axis; the vehicle motion is their information-weighted mean, each mapped to the ego frame by
    # its extrinsics (first order in the lever arm; needs T_ego_cam). Flow -> motion is one function in a camera's
    # frame, so six cameras are six examples of it, not six slots of one MLP input to memorise scenes with
    per_camera: bool = False


DEPTH_INPUTS = {"none": 0, "inverse": 1, "scaled_difference": 4}  # mode -> extra input channels


def axis_angle_to_matrix(r: torch.Tensor) -> torch.Tensor:
    """Rodrigues: [B, 3] -> [B, 3, 3] (exact at 0)."""
    theta = r.norm(dim=1, keepdim=True).clamp_min(1e-12)
    k = r / theta
    K = torch.zeros(r.shape[0], 3, 3, dtype=r.dtype, device=r.device)
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 0] = -k[:, 2], k[:, 1], k[:, 2]
    K[:, 1, 2], K[:, 2, 0], K[:, 2, 1] = -k[:, 0], -k[:, 1], k[:, 0]
    t = theta[:, :, None]
    eye = torch.eye(3, dtype=r.dtype, device=r.device).expand_as(K)
    return eye + torch.sin(t) * K + (1 - torch.cos(t)) * (K @ K)


def matrix_to_axis_angle(R: torch.Tensor) -> torch.Tensor:
    """[B, 3, 3] rotation -> [B, 3] rotation vector (the inverse of ``axis_angle_to_matrix`` below pi)."""
    w = torch.stack([R[:, 2, 1] - R[:, 1, 2], R[:, 0, 2] - R[:, 2, 0], R[:, 1, 0] - R[:, 0, 1]], 1) / 2
    s = w.norm(dim=1, keepdim=True)
    c = ((R.diagonal(dim1=1, dim2=2).sum(1, keepdim=True) - 1) / 2)
    theta = torch.atan2(s, c)
    return w * torch.where(s > 1e-8, theta / s.clamp_min(1e-12), torch.ones_like(s))


def motion_matrix(axis_angle: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    M = torch.eye(4, dtype=axis_angle.dtype, device=axis_angle.device).repeat(axis_angle.shape[0], 1, 1)
    M[:, :3, :3] = axis_angle_to_matrix(axis_angle)
    M[:, :3, 3] = translation
    return M


def motion_fraction(axis_angle: torch.Tensor, translation: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """The fraction ``alpha`` [B, K] of a motion (axis_angle, translation [B, 3]) at constant velocity: [B, K, 4, 4]
    (rotation vector and translation scaled; exact for the small rotations of one frame to first order)."""
    B, K = alpha.shape
    a = alpha.to(axis_angle.dtype)[..., None]
    return motion_matrix((a * axis_angle[:, None]).flatten(0, 1), (a * translation[:, None]).flatten(0, 1)).view(B, K, 4, 4)


def exposure_poses(prev: tuple[torch.Tensor, torch.Tensor], nxt: tuple[torch.Tensor, torch.Tensor],
                   stamps_us: torch.Tensor) -> torch.Tensor:
    """The ego pose at every camera's exposure of frames t-1, t, t+1 in the ego frame of camera 0's exposure at t:
    [B, 3, N, 4, 4].

    A rig's cameras do not fire together: nuScenes triggers each when the spinning LiDAR sweeps its field of view,
    so one set's six stamps spread over ~40-50 ms, 0.3-0.7 m of travel at 8-15 m/s. ``prev`` / ``nxt``: the pose
    network's (axis_angle, translation) for ego(t-1) -> ego(t) and ego(t+1) -> ego(t) between camera 0's exposures;
    ``stamps_us`` [B, 3, N]. At constant velocity an exposure tau after camera 0's at t sees the fraction
    tau / (its interval) of the next motion, one before it the fraction of the previous motion."""
    s = stamps_us.double()
    t0 = s[:, 1, :1]  # [B, 1]
    dn, dp = s[:, 2, :1] - t0, t0 - s[:, 0, :1]
    if bool((dn <= 0).any()) or bool((dp <= 0).any()):
        raise ValueError("exposure_poses: camera 0's stamps of frames t-1, t, t+1 must increase")
    tau = s.flatten(1) - t0  # [B, 3N]
    P_next = motion_fraction(*nxt, (tau / dn).clamp_min(0))
    P_prev = motion_fraction(*prev, (-tau / dp).clamp_min(0))
    P = torch.where((tau >= 0)[..., None, None], P_next, P_prev)
    return P.view(s.shape[0], 3, s.shape[2], 4, 4)


def camera_motions(M: torch.Tensor, T_ego_cam: torch.Tensor) -> torch.Tensor:
    """Vehicle motion [B, 4, 4] -> each camera's [B, N, 4, 4] (camera at b -> camera at a) by the extrinsics."""
    E = T_ego_cam
    return torch.linalg.inv(E) @ M[:, None] @ E


class SurroundPoseNet(nn.Module):
    def __init__(self, cfg: PoseConfig = PoseConfig()):
        super().__init__()
        self.cfg = cfg
        w = cfg.width

        def block(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1), nn.GroupNorm(4, cout), nn.ReLU(inplace=True))

        if cfg.depth_input not in DEPTH_INPUTS:
            raise ValueError(f"pose depth_input must be one of {sorted(DEPTH_INPUTS)}, got {cfg.depth_input!r}")
        if cfg.align and (cfg.depth_input == "none" or any(f < 1 or n < 1 for f, n in cfg.align)):
            raise ValueError(f"pose align needs a depth_input and (factor >= 1, iterations >= 1) pairs; got "
                             f"{cfg.align} with depth_input {cfg.depth_input!r}")
        if cfg.iterations < 1 or (cfg.iterations > 1 and cfg.depth_input == "none"):
            raise ValueError(f"pose iterations must be >= 1, and > 1 needs a depth_input (it warps through the "
                             f"depth); got {cfg.iterations} with depth_input {cfg.depth_input!r}")
        if cfg.correlation < 0 or (cfg.correlation and cfg.stages < 3):
            raise ValueError(f"pose correlation must be >= 0 and needs stages >= 3, got {cfg.correlation}, "
                             f"{cfg.stages} stages")
        # input: frame a, frame b, b - a [, 1 / depth of a [, (b - a) x depth of a]]
        widths = [9 + DEPTH_INPUTS[cfg.depth_input]] + [w * 2 ** min(i, 3) for i in range(cfg.stages)]
        skip = 0
        if cfg.correlation:  # a feature net to 1/4 resolution replaces the first two stages; the rest read the
            #                  cost volume, frame a's features and the extra depth channels there
            self.features = nn.Sequential(block(3, w), block(w, w), nn.Conv2d(w, w, 3, 1, 1))
            widths[2] = (2 * cfg.correlation + 1) ** 2 + w + DEPTH_INPUTS[cfg.depth_input]
            skip = 2
        self.encoder = nn.Sequential(*[block(widths[i], widths[i + 1]) for i in range(skip, cfg.stages)],
                                     nn.AdaptiveAvgPool2d(cfg.grid))
        # each camera's pooled cells in their own slots: the MLP knows which camera saw which flow, and where
        feat = widths[-1] * cfg.grid[0] * cfg.grid[1]
        self.head = nn.Sequential(nn.Linear(feat if cfg.per_camera else cfg.n_cam * feat, cfg.hidden),
                                  nn.ReLU(inplace=True), nn.Linear(cfg.hidden, 12 if cfg.per_camera else 6))
        # default init: the antisymmetric output below is exactly zero for equal frames and small otherwise; a
        # smaller last layer (tried: x 0.1) only lengthens the plateau before the motion is learned

    def _correlation_input(self, fa, fb, a, b, depth):
        """Frames' features fa, fb [B*N, C, H/4, W/4] -> [B*N, (2r+1)^2 + C (+ the depth channels, pooled), H/4,
        W/4]: the cosine similarity of each pixel of a with b's pixels within r cells, a's features, 1/depth."""
        r = self.cfg.correlation
        H, W = fa.shape[-2:]
        fbp = torch.nn.functional.pad(fb, (r, r, r, r))
        cost = torch.stack([(fa * fbp[:, :, dy:dy + H, dx:dx + W]).sum(1)
                            for dy in range(2 * r + 1) for dx in range(2 * r + 1)], 1)
        parts = [cost, fa]
        if depth is not None:
            extra = [1.0 / depth.clamp_min(0.5)]
            if self.cfg.depth_input == "scaled_difference":
                extra.append((b - a) * depth.clamp(0.5, 50.0) / 10.0)
            parts.append(torch.nn.functional.adaptive_avg_pool2d(torch.cat(extra, 2).flatten(0, 1), (H, W)))
        return torch.cat(parts, 1)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """[B, N, 3, H, W] -> unit-length features [B*N, C, H/4, W/4] for the correlation."""
        f = self.features(x.flatten(0, 1))
        return f / f.norm(dim=1, keepdim=True).clamp_min(1e-6)

    def _raw(self, a: torch.Tensor, b: torch.Tensor, depth: torch.Tensor | None) -> torch.Tensor:
        B = a.shape[0]
        parts = [a, b, b - a]  # the difference makes small flows easy to see
        if depth is not None:
            parts.append(1.0 / depth.clamp_min(0.5))  # 1/m, at most 2: near structure, where flow is largest
            if self.cfg.depth_input == "scaled_difference":  # depth capped at 50 m: sky and far walls barely move
                parts.append((b - a) * depth.clamp(0.5, 50.0) / 10.0)
        x = torch.cat(parts, 2).flatten(0, 1)
        return self.head(self.encoder(x).view(B * a.shape[1] if self.cfg.per_camera else B, -1))

    def forward(self, a: torch.Tensor, b: torch.Tensor, depth: torch.Tensor | None = None,
                K: torch.Tensor | None = None, T_ego_cam: torch.Tensor | None = None,
                iterations: int | None = None, align=None, jitter: float = 0.0,
                generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """``K`` [B, N, 3, 3] at the images' size and ``T_ego_cam`` [B, N, 4, 4]: only for ``iterations`` > 1
        (default ``cfg.iterations``) or ``align`` (default ``cfg.align``; () for the regression alone).
        ``jitter`` / ``generator``: the later passes' start perturbed (module docstring); 0 at evaluation."""
        if not 0.0 <= jitter < 1.0:
            raise ValueError(f"pose jitter must be in [0, 1), got {jitter}")
        B, N = a.shape[:2]
        if N != self.cfg.n_cam:
            raise ValueError(f"the pose network was built for {self.cfg.n_cam} cameras, got {N}")
        uses_depth = self.cfg.depth_input != "none"
        if uses_depth != (depth is not None):
            raise ValueError("this pose network takes frame a's depth [B, N, 1, H, W]" if uses_depth else
                             "this pose network was built without depth_input; do not pass a depth")
        a, b = a[:, :, :3], b[:, :, :3]  # RGB only
        dd = None
        if depth is not None:
            depth = depth.detach()
            if depth.shape[-2:] != a.shape[-2:]:
                depth = torch.nn.functional.interpolate(depth.flatten(0, 1), size=a.shape[-2:], mode="bilinear",
                                                        align_corners=False).view(B, N, 1, *a.shape[-2:])
            dd = torch.cat([depth, depth])
        # Antisymmetric by construction: swapping the frames negates the motion parameters (the inverse of a
        # small motion). Without it a network that cannot yet tell t-1 from t+1 sits at one constant motion
        # for both, a plateau the photometric loss does not leave (measured: 100 % translation error).
        r, t = self._pass(a, b, dd, T_ego_cam)
        M = motion_matrix(r, t)
        iterations = self.cfg.iterations if iterations is None else iterations
        if iterations > 1 and (depth is None or K is None or T_ego_cam is None):
            raise ValueError("more than one pose iteration needs frame a's depth, K [B, N, 3, 3] and T_ego_cam")
        passes = [M]
        for _ in range(iterations - 1):
            if jitter > 0:  # scale the motion so far (rotation vector and translation) by U(1 - j, 1 + j)
                f = 1.0 + jitter * (2.0 * torch.rand(B, 1, generator=generator) - 1.0)
                M = motion_fraction(matrix_to_axis_angle(M[:, :3, :3]), M[:, :3, 3], f.to(M.device))[:, 0]
            with torch.no_grad():  # frame b as seen from a through the motion so far
                E = T_ego_cam.to(M.dtype)
                T_ba = (torch.linalg.inv(E) @ torch.linalg.inv(M.detach())[:, None] @ E).flatten(0, 1)
                Kf = K.flatten(0, 1)
                wb, valid = warp(b.flatten(0, 1), depth.flatten(0, 1), Kf, Kf, T_ba)
                wb = torch.where(valid, wb, a.flatten(0, 1)).view_as(b)  # nothing to see where b has no pixel
            M = motion_matrix(*self._pass(a, wb, dd, T_ego_cam)) @ M
            passes.append(M)
        align = self.cfg.align if align is None else tuple(align)
        if not align:
            if iterations == 1:
                return {"axis_angle": r, "translation": t, "M": M, "M_passes": passes}
            return {"axis_angle": matrix_to_axis_angle(M[:, :3, :3]), "translation": M[:, :3, 3], "M": M,
                    "M_passes": passes}
        if depth is None or K is None or T_ego_cam is None:
            raise ValueError("pose alignment needs frame a's depth, K [B, N, 3, 3] and T_ego_cam")
        from .pose_align import align_motion

        M_al = align_motion(a, b, depth, K, T_ego_cam, M, tuple(f for f, _ in align), tuple(n for _, n in align))["M"]
        M_out = M + (M_al.to(M.dtype) - M).detach()  # the aligned value, the regression's gradient
        return {"axis_angle": matrix_to_axis_angle(M_out[:, :3, :3]), "translation": M_out[:, :3, 3], "M": M_out,
                "M_network": M}

    def _pass(self, a: torch.Tensor, b: torch.Tensor, dd: torch.Tensor | None,
              T_ego_cam: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One antisymmetric pass: (rotation vector [B, 3], translation [B, 3])."""
        B = a.shape[0]
        if self.cfg.correlation:  # each frame's features once for both orders
            fa, fb = self._features(a), self._features(b)
            x = torch.cat([self._correlation_input(fa, fb, a, b, dd[:B] if dd is not None else None),
                           self._correlation_input(fb, fa, b, a, dd[B:] if dd is not None else None)])
            ab = self.head(self.encoder(x).view(2 * B * (a.shape[1] if self.cfg.per_camera else 1), -1))
        else:
            ab = self._raw(torch.cat([a, b]), torch.cat([b, a]), dd)
        if self.cfg.per_camera:
            return self._fuse_cameras(ab.view(2, B, a.shape[1], 12), T_ego_cam)
        out = ab[:B] - ab[B:]
        return out[:, :3] * self.cfg.rot_scale, out[:, 3:] * self.cfg.trans_scale

    def _fuse_cameras(self, ab: torch.Tensor, T_ego_cam: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[2 (a->b, b->a), B, N, 12] per-camera outputs -> the vehicle's (rotation vector, translation) [B, 3] each.

        Camera c's motion (r_c, t_c) in its frame is the vehicle's seen through E_c = (R, p): r_v = R r_c and
        t_v = R t_c + p x r_v (M_v = E M_c E^-1 to first order in the rotation: ~0.2 mm at 0.5 deg and 2 m of lever
        arm). Each axis of a camera's estimate has a weight w (the symmetric part of the two orders, so the fused
        motion stays antisymmetric); the fused vector is (sum R W R^T)^-1 sum R W R^T x_v,c."""
        if T_ego_cam is None:
            raise ValueError("a per_camera pose network needs T_ego_cam [B, N, 4, 4] (it fuses the cameras' motions)")
        mot = (ab[0, ..., :6] - ab[1, ..., :6])
        w = torch.exp(((ab[0, ..., 6:] + ab[1, ..., 6:]) / 2).clamp(-5.0, 5.0))  # [B, N, 6]
        R, p = T_ego_cam[..., :3, :3].to(mot.dtype), T_ego_cam[..., :3, 3].to(mot.dtype)

        def fuse(x_ego, w3):  # x_ego [B, N, 3] in the ego frame, w3 [B, N, 3] per camera axis
            info = R @ torch.diag_embed(w3) @ R.transpose(-1, -2)  # [B, N, 3, 3]
            return torch.linalg.solve(info.sum(1), (info @ x_ego[..., None]).sum(1))[..., 0]

        r_v = fuse((R @ mot[..., :3, None])[..., 0] * self.cfg.rot_scale, w[..., :3])
        t_v = (R @ mot[..., 3:, None])[..., 0] * self.cfg.trans_scale + torch.cross(p, r_v[:, None].expand_as(p), dim=-1)
        return r_v, fuse(t_v, w[..., 3:])
