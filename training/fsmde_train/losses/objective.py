"""The training objective: weighted sum of the supervised and distillation terms, one place for all of them.

Batch (views flattened to B * N): ``depth_canon`` supervision GT [B*N, 1, H, W] (sparse LiDAR or dense),
student outputs (``depth``, ``centers``, ``logits``, ``features``), teacher outputs (``rel``, ``features``).
A weight of 0 switches a term off (and its teacher work is skipped).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .curvature import curvature_loss
from .distill import align_to_metric, ci_kd_loss, plain_kd_loss
from .photometric import smoothness_loss, surround_reconstruction, surround_warps
from .relational import depth_encoding, overlap_correspondences, vr_kd_loss, vr_kd_overlap_loss
from .ssi import teacher_ssi_loss
from .supervised import bin_centre_loss, semantic_loss, silog_loss, validity_loss


@dataclass(frozen=True)
class LossConfig:
    silog: float = 1.0
    # SILog's weight per distance band of the GT (losses/supervised.py band_weights): 0 = per pixel, 1 = each of
    # < 5, 5-10, 10-20, 20-40, 40-80, > 80 m (canonical focal) alike
    silog_balance: float = 0.0
    bins: float = 0.1  # bin-centre chamfer (log depth)
    plain_kd: float = 0.0  # SILog to the GT-aligned teacher depth (the baseline KD)
    ci_kd: float = 0.0  # cross-interaction KD (KL over the student's bins)
    vr_kd: float = 0.0  # view-relational KD (adjacent-view relation matrices)
    # self-supervised (issue 14; need data.sequence: true): photometric reconstruction from the same camera at
    # t-1/t+1 and from the ring neighbours at t (losses/photometric.py), edge-aware smoothness
    photo_temporal: float = 0.0
    photo_spatial: float = 0.0
    photo_spatio_temporal: float = 0.0  # from the ring neighbours at t-1/t+1 (where neighbours overlap little at t)
    # downsampling factors the photometric terms are averaged over (losses/photometric.py): (1,) = full
    # resolution only; (1, 2, 4, 8) reaches inside untextured surfaces
    photo_scales: tuple[int, ...] = (1,)
    photo_scale_mode: str = "upsample"  # coarse depth warps full-resolution images | "pyramid": both downsampled
    smooth: float = 0.0
    curvature: float = 0.0  # teacher-guided curvature (losses/curvature.py): the teacher's shape, not its scale
    # the teacher's relative inverse depth, scale-and-shift invariant (losses/ssi.py teacher_ssi_loss): its near
    # structure, never its scale; for runs without depth GT (issue 14)
    teacher_ssi: float = 0.0
    validity: float = 0.0  # sky/validity head (needs model.validity_head and dense GT: the synthetic world)
    # class balancing of the validity BCE per image, beta in [0, 1] (losses/supervised.py validity_loss): 1 equal
    # total weight per class; 0 plain per-pixel BCE, which does not push ambiguous pixels of images with little sky
    # toward 'sky' (results/validity_plain/PLAN.md, results/validity_partial/PLAN.md)
    validity_balance: float = 1.0
    # the auxiliary semantic head (needs model.semantic_classes and material maps: the synthetic world rendered
    # since 2026-12-06): per-pixel cross-entropy over the labelled frames (losses/supervised.py semantic_loss)
    semantic: float = 0.0
    ci_tau: float = 0.05
    ci_space: str = "log"
    ci_target: str = "softmax"  # softmax (the paper's reading, training/README.md) | two_hot (expectation-preserving; RESULTS.md)
    vr_tau: float = 0.1
    vr_kind: str = "kl"
    # which locations VR-KD relates (losses/relational.py): "geometric" = cells that really overlap under the
    # rig's K and poses (found with the teacher's aligned depth), "strip" = fixed border strips (first version)
    vr_overlap: str = "geometric"
    vr_points: int = 32  # overlapping cells per pair (geometric)
    vr_strip: float = 0.2  # border strip width, fraction of the image width (strip)
    vr_grid: tuple[int, int] = (8, 2)  # pooled locations per strip (rows, cols) (strip)
    align_min_points: int = 20

    @property
    def needs_teacher(self) -> bool:
        return ((self.plain_kd > 0) or (self.ci_kd > 0) or (self.vr_kd > 0) or (self.curvature > 0)
                or (self.teacher_ssi > 0))


class Objective:
    def __init__(self, cfg: LossConfig, min_depth: float, max_depth: float, n_cam: int, mean=(0.485, 0.456, 0.406),
                 std=(0.229, 0.224, 0.225)):
        self.cfg, self.lo, self.hi, self.n_cam = cfg, min_depth, max_depth, n_cam
        self.mean, self.std = torch.tensor(mean).view(1, 1, 3, 1, 1), torch.tensor(std).view(1, 1, 3, 1, 1)

    def __call__(self, out: dict, batch: dict, teacher: dict | None = None) -> tuple[torch.Tensor, dict]:
        c, gt = self.cfg, batch["depth_canon"]
        terms = {}
        if c.silog:
            terms["silog"] = silog_loss(out["depth"], gt, min_depth=self.lo, max_depth=self.hi, balance=c.silog_balance)
        if c.bins:
            terms["bins"] = bin_centre_loss(out["centers"], gt, self.lo, self.hi)
        if c.validity:
            if "valid_logit" not in out:
                raise ValueError("loss.validity > 0 needs model.validity_head: true")
            terms["validity"] = validity_loss(out["valid_logit"], batch.get("validity_gt", batch["depth_dense"]),
                                              balance=c.validity_balance)
        if c.semantic:
            if "semantic_logits" not in out:
                raise ValueError("loss.semantic > 0 needs model.semantic_classes > 0")
            if "semantic" not in batch:
                raise ValueError("loss.semantic > 0 needs the batch key 'semantic' (data/surround.py: material maps)")
            terms["semantic"] = semantic_loss(out["semantic_logits"], batch["semantic"])
        if c.photo_temporal or c.photo_spatial or c.photo_spatio_temporal or c.smooth:
            terms.update(self._self_supervised(out, batch))
        if c.needs_teacher:
            if teacher is None:
                raise ValueError("loss weights plain_kd/ci_kd/vr_kd/curvature/teacher_ssi > 0 need a teacher "
                                 "(teacher.kind)")
            t_depth, valid = align_to_metric(teacher["rel"], gt, self.lo, self.hi, c.align_min_points)
            terms["teacher_aligned_frac"] = valid.float().mean()
            if c.curvature:
                terms["curvature"] = curvature_loss(out["depth"], teacher["rel"])
            if c.teacher_ssi:
                terms["teacher_ssi"] = teacher_ssi_loss(out["depth"], teacher["rel"])
            if c.plain_kd:
                terms["plain_kd"] = plain_kd_loss(out["depth"], t_depth, valid, self.lo, self.hi)
            if c.ci_kd:
                terms["ci_kd"], _ = ci_kd_loss(out["logits"], out["centers"], t_depth, valid, c.ci_tau, c.ci_space,
                                             c.ci_target)
            if c.vr_kd:
                tf = teacher.get("features")
                if tf is None:
                    tf = depth_encoding(t_depth, out["features"].shape[-2:], self.lo, self.hi)
                terms["vr_kd"] = self._vr_kd(out, batch, tf, t_depth, valid)
        total = sum(getattr(c, k) * v for k, v in terms.items() if k != "teacher_aligned_frac")
        return total, {k: v.detach() for k, v in terms.items()}

    def _vr_kd(self, out: dict, batch: dict, teacher_feats, t_depth, valid) -> torch.Tensor:
        c, n = self.cfg, self.n_cam
        if c.vr_overlap == "strip":
            return vr_kd_loss(out["features"], teacher_feats, n, c.vr_strip, tuple(c.vr_grid), c.vr_tau, c.vr_kind)
        if c.vr_overlap != "geometric":
            raise ValueError(f"loss.vr_overlap must be 'geometric' or 'strip', got {c.vr_overlap!r}")
        depth_m = t_depth * batch["focal_scale"].reshape(-1, 1, 1, 1)  # canonical focal -> the camera's own
        T = batch["T_ref_cam"] if "T_ref_cam" in batch else batch["T_ego_cam"]
        K = batch["K"].reshape(-1, n, 3, 3)
        src, dst, ok = overlap_correspondences(depth_m, K, T.reshape(-1, n, 4, 4), n, out["features"].shape[-2:],
                                               c.vr_points, view_ok=valid)
        return vr_kd_overlap_loss(out["features"], teacher_feats, src, dst, ok, n, depth_m.shape[-2:], c.vr_tau)

    def _rgb_and_metric_depth(self, out: dict, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """([B, 3, N, 3, H, W] RGB in [0, 1], [B*N, 1, H, W] depth at the cameras' real focal lengths)."""
        if batch.get("seq_image") is None:
            raise ValueError("loss.photo_temporal/photo_spatial/smooth need sequence samples (data.sequence: true)")
        seq = batch["seq_image"][:, :, :, :3]  # [B, 3, N, 3, H, W] normalised
        rgb = (seq * self.std.to(seq.device)[None] + self.mean.to(seq.device)[None]).clamp(0, 1)
        return rgb, (out["depth"] * batch["focal_scale"].reshape(-1, 1, 1, 1)).clamp(self.lo, self.hi)

    @torch.no_grad()
    def reconstructions(self, out: dict, batch: dict) -> dict | None:
        """The warps behind the photometric terms (losses/photometric.py ``surround_warps``), for TensorBoard;
        None when the batch has no sequence or no ego motion."""
        if batch.get("seq_image") is None or batch.get("seq_T_ref_cam") is None:
            return None
        rgb, depth = self._rgb_and_metric_depth(out, batch)
        B, n = rgb.shape[0], self.n_cam
        return surround_warps(rgb, depth.view(B, n, 1, *depth.shape[-2:]), batch["K"].view(B, n, 3, 3),
                              batch["seq_T_ref_cam"])

    def temporal_term(self, out: dict, batch: dict) -> torch.Tensor:
        """The temporal photometric term alone (unweighted), as ``__call__`` computes it, for the batch's
        ``seq_T_ref_cam`` (the pose network's sequence loss scores each pass's motion with it)."""
        c, n = self.cfg, self.n_cam
        rgb, depth = self._rgb_and_metric_depth(out, batch)
        B = rgb.shape[0]
        return surround_reconstruction(rgb, depth.view(B, n, 1, *depth.shape[-2:]), batch["K"].view(B, n, 3, 3),
                                       batch["seq_T_ref_cam"], scales=c.photo_scales,
                                       scale_mode=c.photo_scale_mode)["temporal"]

    def _self_supervised(self, out: dict, batch: dict) -> dict:
        c, n = self.cfg, self.n_cam
        rgb, depth = self._rgb_and_metric_depth(out, batch)
        terms = {}
        if c.photo_temporal or c.photo_spatial or c.photo_spatio_temporal:
            T = batch.get("seq_T_ref_cam")
            if T is None:
                raise ValueError("the photometric terms need the ego motion (T_ref_cam from the dataset's poses or a "
                                 "bag's /tf); this data has none")
            B = rgb.shape[0]
            r = surround_reconstruction(rgb, depth.view(B, n, 1, *depth.shape[-2:]), batch["K"].view(B, n, 3, 3), T,
                                        spatio_temporal=bool(c.photo_spatio_temporal), scales=c.photo_scales,
                                        scale_mode=c.photo_scale_mode)
            if c.photo_spatio_temporal:
                terms["photo_spatio_temporal"] = r["spatio_temporal"]
            if c.photo_temporal:
                terms["photo_temporal"] = r["temporal"]
            if c.photo_spatial:
                terms["photo_spatial"] = r["spatial"]
        if c.smooth:
            terms["smooth"] = smoothness_loss(out["depth"], rgb[:, 1].flatten(0, 1))
        return terms
