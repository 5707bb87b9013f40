"""fsmde-train: the training loop. torchrun/DDP (world size 1 on CPU included), AMP on CUDA, warm-up + cosine
AdamW, gradient clipping, NaN/inf guard, checksummed atomic checkpoints with exact resume, TensorBoard,
progress bar, validation and export at the end.

Batches are ``[B, N_cam, ...]`` (data/surround.py documents the keys) and are flattened to ``[B * N_cam, ...]``
for the networks; ``optim.batch_size`` is the *global* number of camera sets per step, split evenly over ranks,
so world size 1 and 2 take the same optimizer steps on the same sets (up to BatchNorm statistics, which are
per rank: SyncBatchNorm is CUDA-only).
"""
from __future__ import annotations

import contextlib

import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..data import StepBatchSampler, SurroundDataset
from ..data.surround import SEMANTIC_CLASSES
from ..data.augment import (aspect_jitter, horizon_mix, mirror_sets, photometric, random_convolution,
                            road_retexture)
from ..eval.protocol import evaluate, torch_predictor
from ..losses.objective import Objective
from ..losses.supervised import bin_stats
from ..networks import build_student, build_teacher
from . import distributed as D
from .average import WeightAverage
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TRAINING_DIR, TrainConfig, config_to_dict, resolve_scenes
from .tb import TBLogger


def _flat(batch, device):
    """[B, N, ...] -> [B * N, ...] for every tensor; ``index`` is repeated per view; adds ``n_cam``."""
    batch = dict(batch)
    seq = {}
    if batch["image"].dim() == 6:  # a sequence sample [B, 3 (t-1, t, t+1), N, C, H, W]: the student sees t
        seq = {"seq_image": batch["image"].to(device), "seq_T_ref_cam": batch.pop("T_ref_cam", None)}
        batch["image"] = batch["image"][:, 1]
        seq["seq_stamps_us"] = batch.pop("stamps_us", None)  # [B, 3, N]: each camera's exposure
    n = batch["image"].shape[1]
    out = {k: v.flatten(0, 1).to(device) for k, v in batch.items() if k != "index"}
    out.update({k: (v.to(device) if v is not None else None) for k, v in seq.items()})
    out["index"] = batch["index"].repeat_interleave(n)
    out["n_cam"] = n
    return out


def lr_at(step: int, cfg) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def rng_state() -> dict:
    """Every RNG the step touches, as tensors/numbers (checkpoints load with weights_only=True)."""
    st = np.random.get_state()
    py = random.getstate()
    return {"torch": torch.get_rng_state(), "numpy_keys": torch.from_numpy(st[1].astype(np.int64)),
            "numpy_pos": int(st[2]), "numpy_gauss": [int(st[3]), float(st[4])],
            "python": [py[0], list(py[1]), py[2]]}


def set_rng_state(s: dict) -> None:
    torch.set_rng_state(s["torch"])
    np.random.set_state(("MT19937", s["numpy_keys"].numpy().astype(np.uint32), s["numpy_pos"],
                         s["numpy_gauss"][0], s["numpy_gauss"][1]))
    random.setstate((s["python"][0], tuple(s["python"][1]), s["python"][2]))


def make_datasets(cfg: TrainConfig, progress: bool, base_dir=TRAINING_DIR) -> tuple[SurroundDataset, SurroundDataset | None]:
    d = cfg.data
    if d.kitti:
        from ..data.kitti_seq import KittiStereoSequence
        from ..data.sequence import SurroundSequence

        if not d.sequence:
            raise ValueError("data.kitti needs data.sequence: true (the photometric terms train; its LiDAR is never read)")
        ds = SurroundSequence(KittiStereoSequence(d.kitti, d.input_hw, d.canonical_focal_px, cfg.model.geometry_inputs,
                                                  cfg.model.mean, cfg.model.std), strides=d.sequence_strides)
    elif d.ddad:
        from torch.utils.data import ConcatDataset

        from ..data.ddad_seq import DdadSequence, expand_ddad
        from ..data.sequence import SurroundSequence

        if not d.sequence:
            raise ValueError("data.ddad needs data.sequence: true (the photometric terms train; its LiDAR is never read)")
        ds = ConcatDataset([SurroundSequence(DdadSequence(r, d.cameras, d.input_hw, d.canonical_focal_px,
                                                          cfg.model.geometry_inputs, cfg.model.mean, cfg.model.std),
                                             strides=d.sequence_strides)
                            for r in expand_ddad(d.ddad)])
    elif d.bags:
        from torch.utils.data import ConcatDataset

        from ..data.bag import BagSurround, expand_bags
        from ..data.sequence import SurroundSequence

        if not d.sequence:
            raise ValueError("data.bags needs data.sequence: true (a bag has no depth GT; the photometric terms train)")
        ds = ConcatDataset([SurroundSequence(BagSurround(b, d.cameras, d.input_hw, mean=cfg.model.mean,
                                                         std=cfg.model.std, canonical_focal_px=d.canonical_focal_px,
                                                         require_motion=not cfg.pose_net,
                                                         geometry_inputs=cfg.model.geometry_inputs),
                                             strides=d.sequence_strides)
                            for b in expand_bags(d.bags)])
    else:
        ds = SurroundDataset(d.root, d.version, resolve_scenes(d.train_scenes, base_dir), d.input_hw,
                             d.canonical_focal_px, d.sweeps, d.gt, d.lidar_sweeps, progress,
                             depth_dtype=np.float16 if d.sweeps else np.float32, cache_dir=d.cache_dir,
                             cameras=d.cameras, mean=cfg.model.mean, std=cfg.model.std,
                             geometry_inputs=cfg.model.geometry_inputs, lidar_objects=d.lidar_objects)
        if cfg.loss.semantic:
            _check_semantic(cfg, ds)
        if d.road_retexture and not (ds.semantic == SEMANTIC_CLASSES.index("road")).any():
            raise ValueError(f"data.road_retexture > 0 but {ds.root} has no road in its material maps (npz key "
                             "'material' beside the dense depth: a world rendered by fsmde-synth since 2026-12-06)")
        if d.sequence:
            from ..data.sequence import SurroundSequence

            ds = SurroundSequence(ds, strides=d.sequence_strides)
    val = None
    if d.val_root:
        val = SurroundDataset(d.val_root, d.version, resolve_scenes(d.val_scenes, base_dir), d.input_hw,
                              d.canonical_focal_px, False, d.gt, d.lidar_sweeps, progress, cache_dir=d.cache_dir,
                              cameras=d.cameras, mean=cfg.model.mean, std=cfg.model.std,
                              geometry_inputs=cfg.model.geometry_inputs, lidar_objects=d.lidar_objects)
    return ds, val


def _check_semantic(cfg: TrainConfig, ds) -> None:
    """loss.semantic needs the head with one logit per class and a world that carries material maps."""
    from ..data.surround import SEMANTIC_CLASSES, SEMANTIC_IGNORE

    if cfg.model.semantic_classes != len(SEMANTIC_CLASSES):
        raise ValueError(f"loss.semantic > 0 needs model.semantic_classes: {len(SEMANTIC_CLASSES)} "
                         f"({', '.join(SEMANTIC_CLASSES)}), got {cfg.model.semantic_classes}")
    if not (ds.semantic != SEMANTIC_IGNORE).any():
        raise ValueError(f"loss.semantic > 0 but {ds.root} has no material maps (npz key 'material' beside the dense "
                         "depth: a world rendered by fsmde-synth since 2026-12-06, e.g. make data/weights/train-dr8)")


def _amp(cfg: TrainConfig, dev: torch.device):
    """(autocast context factory, GradScaler or None): bf16 where supported, else fp16 with loss scaling."""
    if not (cfg.amp and dev.type == "cuda"):
        return (lambda: torch.autocast("cpu", enabled=False)), None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return (lambda: torch.autocast("cuda", dtype=dtype)), scaler


def train(cfg: TrainConfig, progress: bool = True, base_dir=TRAINING_DIR) -> dict:
    """Train (or resume) the run in ``cfg.out_dir``; returns steps, skipped steps, history and validation.

    Resume restores weights, optimizer moments, step (the LR schedule is a pure function of it), history and
    every RNG; batches are a pure function of (seed, step), so a killed and resumed run takes the same
    optimizer steps on the same batches as an uninterrupted one.
    """
    dd = D.setup(cfg.device)
    try:
        return _train(cfg, dd, progress and dd.main, base_dir)
    finally:
        D.teardown(dd)


@dataclass
class _Run:
    """Everything one training run holds between steps (what a checkpoint saves, plus the built objects)."""
    cfg: TrainConfig
    dd: D.Dist
    out: Path
    ds: SurroundDataset
    val: SurroundDataset | None
    net: torch.nn.Module
    model: torch.nn.Module  # net, or its DDP wrapper
    teacher: torch.nn.Module | None
    objective: Objective
    opt: torch.optim.Optimizer
    autocast: object
    scaler: object
    step: int = 0
    skipped: int = 0
    history: list = field(default_factory=list)
    teacher_cache: dict | None = None  # sample index -> teacher outputs of its views (CPU)
    pose: torch.nn.Module | None = None  # the surround pose network (cfg.pose_net)
    pose_model: torch.nn.Module | None = None  # pose, or its DDP wrapper
    pose_motion: torch.Tensor | None = None  # the pose network's seq_T_ref_cam of the last step
    pose_distill: torch.Tensor | None = None  # the regression's distance to the aligned motion (pose_align_distill)
    pose_compose: torch.Tensor | None = None  # the two-frame motion's distance to the composed one (pose_composition)
    pose_earlier: list = field(default_factory=list)  # (weight, T_ref_cam) of earlier passes (pose_sequence_gamma)
    average: WeightAverage | None = None  # optim.average_from: the running mean of the weights

    def teacher_outputs(self, b: dict) -> dict | None:
        """The frozen teacher on the batch's RGB. It is a function of the image alone, so without augmentation its
        outputs are cached per camera set (``teacher.cache``): a 1500-step run sees each set ~7 times, and the
        teacher's forward is most of a step's cost on CPU. Stored as computed (float32: a relative map's
        structure can sit in its low bits), so the values are the same either way."""
        if self.teacher is None:
            return None
        if self.teacher_cache is None:
            return self.teacher(b["image"][:, :3], b)
        n = b["n_cam"]
        sets = b["index"][::n].tolist()
        if any(i not in self.teacher_cache for i in sets):
            out = self.teacher(b["image"][:, :3], b)
            for k, i in enumerate(sets):
                self.teacher_cache[i] = {key: (None if v is None else v[k * n:(k + 1) * n].detach().float().cpu())
                                         for key, v in out.items()}
        dev = b["image"].device
        return {key: (None if self.teacher_cache[sets[0]][key] is None else
                      torch.cat([self.teacher_cache[i][key] for i in sets]).to(dev))
                for key in self.teacher_cache[sets[0]]}


def _setup(cfg: TrainConfig, dd: D.Dist, progress: bool, base_dir) -> _Run:
    """Seeds, data, networks, objective, optimizer; resumed from the newest good checkpoint when there is one."""
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    if cfg.optim.batch_size % dd.world:
        raise ValueError(f"optim.batch_size {cfg.optim.batch_size} must be a multiple of the world size {dd.world}")
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ds, val = make_datasets(cfg, progress, base_dir)
    net = build_student(cfg.model).to(dd.device)
    teacher = build_teacher(cfg.teacher) if cfg.loss.needs_teacher else None
    if teacher is not None:
        teacher = teacher.to(dd.device)
    objective = Objective(cfg.loss, cfg.model.min_depth, cfg.model.max_depth, len(cfg.data.cameras),
                          mean=cfg.model.mean, std=cfg.model.std)
    pose = None
    if cfg.pose_net:
        from ..networks.pose import PoseConfig, SurroundPoseNet

        if not cfg.data.sequence:
            raise ValueError("pose_net: true needs data.sequence: true (it predicts the motion between frames)")
        pose = SurroundPoseNet(PoseConfig(n_cam=len(cfg.data.cameras), depth_input=cfg.pose_depth_input,
                                          iterations=cfg.pose_iterations, align=cfg.pose_align,
                                          correlation=cfg.pose_correlation,
                                          per_camera=cfg.pose_per_camera)).to(dd.device)
    params = list(net.parameters()) + (list(pose.parameters()) if pose is not None else [])
    opt = torch.optim.AdamW(params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    autocast, scaler = _amp(cfg, dd.device)
    run = _Run(cfg, dd, out, ds, val, net, net, teacher, objective, opt, autocast, scaler)
    run.pose = run.pose_model = pose
    # the cache holds the teacher's output for a set as stored: any augmentation that changes the images turns it off
    if (teacher is not None and cfg.teacher.cache and not cfg.data.augment and not cfg.data.randconv
            and not cfg.data.aspect_jitter and not cfg.data.mirror and not cfg.data.horizon_mix
            and not cfg.data.road_retexture):
        run.teacher_cache = {}
    state = load_checkpoint(out)
    if state is None and cfg.init_from:  # a fresh run from given weights (a resumed one has its own)
        _init_weights(net, cfg)
    if state is not None:
        net.load_state_dict(state["model"])
        if pose is not None:
            pose.load_state_dict(state["pose"])
        opt.load_state_dict(state["optim"])
        if scaler is not None and "scaler" in state:
            scaler.load_state_dict(state["scaler"])
        run.step, run.skipped, run.history = state["step"], state.get("skipped", 0), json.loads(state["history"])
        set_rng_state(state["rng"])
        if cfg.optim.average_from and "average" not in state and run.step >= cfg.optim.average_from:
            raise ValueError(f"{out}: its checkpoint at step {run.step} has no weight average, so optim.average_from "
                             f"{cfg.optim.average_from} cannot be honoured on resume (use a step > {run.step})")
        if "average" in state:
            run.average = WeightAverage(state["average"])
        if dd.main:
            print(f"resumed from {out} at step {run.step}")
    if dd.world > 1:
        run.model = torch.nn.parallel.DistributedDataParallel(
            net, device_ids=[dd.local_rank] if dd.device.type == "cuda" else None)
        if pose is not None:
            run.pose_model = torch.nn.parallel.DistributedDataParallel(
                pose, device_ids=[dd.local_rank] if dd.device.type == "cuda" else None)
    return run


def _init_weights(net, cfg: TrainConfig) -> None:
    src = Path(cfg.init_from)
    if (src / "manifest.json").is_file():
        from ..export.load import load_exported_student

        other, _ = load_exported_student(src)
    else:
        from ..eval.cli import load_run

        other, _ = load_run(src)
    # switching fusion on is the one allowed difference: its blocks start as the identity (zero gate / last conv)
    fusion_keys = ("cross_view", "n_cam", "cross_view_heads", "temporal")
    base = lambda c: {k: v for k, v in c.__dict__.items() if k not in fusion_keys}  # noqa: E731
    if base(other.cfg) != base(net.cfg) or any(getattr(other.cfg, k) and not getattr(net.cfg, k)
                                               for k in ("cross_view", "temporal")):
        raise ValueError(f"init_from {src}: its model config differs from this run's model (use the same model: ...)")
    missing, unexpected = net.load_state_dict(other.state_dict(), strict=False)
    if unexpected or any(not k.startswith(("cross_view.", "temporal.")) for k in missing):
        raise ValueError(f"init_from {src}: weights do not match this model (missing {missing}, unexpected {unexpected})")


def _checkpoint(run: _Run) -> None:
    if run.dd.main:
        st = {"model": run.net.state_dict(), "optim": run.opt.state_dict(), "step": run.step, "skipped": run.skipped,
              "history": json.dumps(run.history), "rng": rng_state(), "config": json.dumps(config_to_dict(run.cfg))}
        if run.scaler is not None:
            st["scaler"] = run.scaler.state_dict()
        if run.pose is not None:
            st["pose"] = run.pose.state_dict()
        if run.average is not None:
            st["average"] = run.average.state_dict()
        save_checkpoint(run.out, st, run.step)
    D.barrier(run.dd)


def pose_distill_loss(M_net: torch.Tensor, M_target: torch.Tensor) -> torch.Tensor:
    """L1 between two motions [B, 4, 4] in the pose network's output units (0.01 rad, 0.1 m): mean over the
    rotation vector of R_target^T R_net and the translation difference."""
    from ..networks.pose import matrix_to_axis_angle

    dr = matrix_to_axis_angle(M_target[:, :3, :3].transpose(1, 2) @ M_net[:, :3, :3]) / 0.01
    dt = (M_net[:, :3, 3] - M_target[:, :3, 3]) / 0.1
    return torch.cat([dr, dt], 1).abs().mean()


def composition_loss(t_direct: torch.Tensor, t_composed: torch.Tensor, min_length: float = 0.1) -> torch.Tensor:
    """How far the two-frame translation [B, 3] is from the composition of the one-frame ones [B, 3], in scale-free
    terms: |log length ratio| + L1 of the unit directions, mean over the samples where both are at least
    ``min_length`` m (0 with no such sample).

    Scale-free because both sides come from the same network: an L1 in metres toward a detached composition feeds
    back (a larger two-frame answer makes every answer, and so the target, larger; measured: the term rose from 0.03
    to 87 in 60 steps), and one through both sides pulls every motion toward zero. A ratio is blind to the network's
    overall scale, which the photometric terms set, and sees only whether twice the flow gives twice the motion (a
    speed prior scores log 2 = 0.69). Samples below ``min_length`` are left out, not floored: a floored length makes
    the term an L1 between the two motions that pulls both to zero, and it kept a pose network at ~0.02 m a frame
    (2000 steps, two seeds; results/selfsup_bag_pose_compose/PLAN.md)."""
    la, lb = t_direct.norm(dim=1), t_composed.norm(dim=1)
    ok = (la >= min_length) & (lb >= min_length)
    if not bool(ok.any()):
        return (t_direct * 0).sum() + (t_composed * 0).sum()  # keeps the graph (DDP) with no pull
    la, lb, a, b = la[ok], lb[ok], t_direct[ok], t_composed[ok]
    direction = (a / la[:, None] - b / lb[:, None]).abs().sum(1)
    return ((la.log() - lb.log()).abs() + direction).mean()


@contextlib.contextmanager
def _frozen_bn_statistics(net):
    """Batch norm as in training (batch statistics) without updating its running statistics: an extra forward
    (frame t-1 for pose_composition) leaves them to frame t's, as in runs without it."""
    bns = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    for m in bns:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m in bns:
            m.track_running_stats = True


def _pose_net_motion(run: _Run, b: dict, s_out: dict) -> torch.Tensor:
    """T_ref_cam [B, 3, N, 4, 4] from the pose network: camera at t-1 / t / t+1 -> the ego frame at t (each camera
    at its own exposure with pose_stagger, else one set taken as simultaneous; the vehicle motion M maps ego(t±1)
    points into ego(t)).
    ``s_out``: the student's outputs for frame t (its depth is the pose network's input with pose_depth_input)."""
    seq = b["seq_image"]
    B, _, N = seq.shape[:3]
    Tec = b["T_ego_cam"].view(B, N, 4, 4)
    # a third pair: frame t-1 -> frame t+1 (twice the motion), from step pose_composition_from
    compose = run.cfg.pose_composition > 0 and run.step >= run.cfg.pose_composition_from
    depth = None
    if run.cfg.pose_depth_input != "none":
        fs = b["focal_scale"].reshape(-1, 1, 1, 1)
        d = (s_out["depth"].detach().float() * fs).view(B, N, 1, *s_out["depth"].shape[-2:])
        depth = [d, d]
        if compose:  # frame t-1's depth: the student without gradient (the pair trains the pose network only)
            with torch.no_grad(), run.autocast(), _frozen_bn_statistics(run.net):
                dp = run.net(seq[:, 0].flatten(0, 1))["depth"].float()
            depth.append((dp * fs).view_as(d))
        depth = torch.cat(depth)
    # one forward for all pairs (DDP allows one forward per backward)
    a, src = [seq[:, 1], seq[:, 1]], [seq[:, 0], seq[:, 2]]
    if compose:
        a.append(seq[:, 0])
        src.append(seq[:, 2])
    n_pairs = len(a)
    K = b["K"].view(B, N, 3, 3)
    passes = 1 if run.step < run.cfg.pose_iterations_from else run.cfg.pose_iterations
    align = () if run.step < run.cfg.pose_align_from else run.cfg.pose_align
    jitter = run.cfg.pose_iteration_jitter if passes > 1 else 0.0
    gen = torch.Generator().manual_seed(run.cfg.seed * 5_000_011 + run.step * 17 + run.dd.rank) if jitter else None
    out = run.pose_model(torch.cat(a), torch.cat(src), depth, torch.cat([K] * n_pairs), torch.cat([Tec] * n_pairs),
                         passes, align, jitter=jitter, generator=gen)
    run.pose_compose = None
    if compose:  # ego(t+1) -> ego(t-1) = inv(ego(t-1) -> ego(t)) @ (ego(t+1) -> ego(t))
        M3 = out["M"]
        composed = torch.linalg.inv(M3[:B].double()) @ M3[B:2 * B].double()
        run.pose_compose = composition_loss(M3[2 * B:, :3, 3], composed[:, :3, 3].to(M3.dtype))
        out = {k: (v[:2 * B] if torch.is_tensor(v) else [x[:2 * B] for x in v] if isinstance(v, list) else v)
               for k, v in out.items()}
    M = out["M"]
    run.pose_distill = None
    if "M_network" in out and run.cfg.pose_align_distill > 0:  # the regression toward the aligned motion
        run.pose_distill = pose_distill_loss(out["M_network"], M.detach())
    # the earlier passes' motions, for the sequence loss: (weight, T_ref_cam [B, 3, N, 4, 4])
    g = run.cfg.pose_sequence_gamma
    run.pose_earlier = [] if not g or passes == 1 else [
        (g ** (passes - 1 - i), _motion_to_T_ref_cam(run, b, Mi, Tec)) for i, Mi in enumerate(out["M_passes"][:-1])]
    return _motion_to_T_ref_cam(run, b, M, Tec, (out["axis_angle"], out["translation"]))


def _motion_to_T_ref_cam(run: _Run, b: dict, M: torch.Tensor, Tec: torch.Tensor, rt=None) -> torch.Tensor:
    """The vehicle motions M [2B, 4, 4] (ego(t-1) -> ego(t), then ego(t+1) -> ego(t)) as T_ref_cam [B, 3, N, 4, 4];
    ``rt``: M's (rotation vector, translation) when the network gave them."""
    B, N = Tec.shape[:2]
    if run.cfg.pose_stagger:  # each camera at its own exposure (networks/pose.py exposure_poses)
        if b.get("seq_stamps_us") is None:
            raise ValueError("pose_stagger: the batch has no stamps_us (each camera's exposure time)")
        from ..networks.pose import exposure_poses, matrix_to_axis_angle

        r, t = rt if rt is not None else (matrix_to_axis_angle(M[:, :3, :3]), M[:, :3, 3])
        P = exposure_poses((r[:B], t[:B]), (r[B:], t[B:]), b["seq_stamps_us"].to(r.device))
        return P @ Tec[:, None]
    Mp, Mn = M[:B], M[B:]
    return torch.stack([Mp[:, None] @ Tec, Tec.expand(B, N, 4, 4), Mn[:, None] @ Tec], 1)


def _temporal_inputs(run: _Run, b: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(prev_state, prev_valid) for a temporal student: the state of the same cameras at t-1 (no gradient, as the
    node's stored state) and 1 per view, except for 20 % of the sets (seeded per step) that train the reset case."""
    seq = b["seq_image"]  # [B, 3, N, C, H, W]
    B, N = seq.shape[0], seq.shape[2]
    with torch.no_grad():
        prev = run.net.state_of(seq[:, 0].flatten(0, 1))
    gen = torch.Generator().manual_seed(run.cfg.seed * 7_000_003 + run.step * 13 + run.dd.rank)
    keep = (torch.rand(B, generator=gen) >= 0.2).float().repeat_interleave(N)
    return prev, keep.to(prev.device)


def _step(run: _Run, b: dict):
    """One optimisation step on batch ``b``; returns (loss, terms, grad norm, why it was skipped or None, outputs).

    A non-finite loss or gradient skips the step with weights, BN statistics and optimizer moments unchanged."""
    net, opt, scaler = run.net, run.opt, run.scaler
    for g in opt.param_groups:
        g["lr"] = lr_at(run.step, run.cfg.optim)
    buffers = [t.detach().clone() for t in net.buffers()]  # BN statistics move in the forward pass
    if run.cfg.data.aspect_jitter:  # first: the photometric terms below see the resampled views
        gen = torch.Generator().manual_seed(run.cfg.seed * 3_000_017 + run.step * 107 + run.dd.rank)
        b, _ = aspect_jitter(b, gen, run.cfg.data.aspect_jitter, tuple(run.cfg.data.aspect_range),
                             run.cfg.data.canonical_focal_px, run.cfg.model.geometry_inputs)
    if run.cfg.data.mirror:  # before the teacher and the losses: all of them see the mirror world
        gen = torch.Generator().manual_seed(run.cfg.seed * 4_000_037 + run.step * 109 + run.dd.rank)
        b, _ = mirror_sets(b, gen, run.cfg.data.mirror)
    if run.cfg.data.horizon_mix:  # labels move with the pixels: before the teacher, the losses and the camera effects
        gen = torch.Generator().manual_seed(run.cfg.seed * 6_000_007 + run.step * 127 + run.dd.rank)
        b, _ = horizon_mix(b, gen, run.cfg.data.horizon_mix)
    if run.cfg.data.road_retexture:  # before the camera effects below, which apply to the new surface too
        gen = torch.Generator().manual_seed(run.cfg.seed * 5_000_011 + run.step * 113 + run.dd.rank)
        image, _ = road_retexture(b["image"], b["semantic"], run.cfg.model.mean, run.cfg.model.std, gen,
                                  run.cfg.data.road_retexture)
        b = {**b, "image": image}
    if run.cfg.data.augment:
        gen = torch.Generator().manual_seed(run.cfg.seed * 1_000_003 + run.step * 101 + run.dd.rank)
        b = {**b, "image": photometric(b["image"], run.cfg.model.mean, run.cfg.model.std, gen, run.cfg.data.augment)}
    if run.cfg.data.randconv:
        gen = torch.Generator().manual_seed(run.cfg.seed * 2_000_003 + run.step * 103 + run.dd.rank)
        image, convolved = random_convolution(b["image"], run.cfg.model.mean, run.cfg.model.std, gen,
                                              run.cfg.data.randconv, len(run.cfg.data.cameras))
        b = {**b, "image": image}
        if run.cfg.data.randconv_validity == "rendered":  # no dense GT = no validity term for the convolved views
            b["validity_gt"] = b["depth_dense"] * (~convolved).view(-1, 1, 1, 1)
    # the teacher in full precision: a relative map's structure can sit in bits bf16 does not keep
    t_out = run.teacher_outputs(b)  # RGB only
    with run.autocast():
        s_out = run.model(b["image"], *_temporal_inputs(run, b)) if run.cfg.model.temporal else run.model(b["image"])
    s_out = {k: v.float() for k, v in s_out.items()}
    if run.pose is not None:  # after the student: with pose_depth_input its depth of frame t is an input
        b = {**b, "seq_T_ref_cam": _pose_net_motion(run, b, s_out)}
        run.pose_motion = b["seq_T_ref_cam"].detach()  # for the TensorBoard reconstructions
    loss, terms = run.objective(s_out, b, t_out)
    if run.pose is not None and run.pose_earlier:  # the sequence loss: the temporal term of each earlier pass
        s_det = {**s_out, "depth": s_out["depth"].detach()}  # it trains the pose network, not the depth
        seq_terms = [w * run.objective.temporal_term(s_det, {**b, "seq_T_ref_cam": T}) for w, T in run.pose_earlier]
        terms = {**terms, "pose_sequence": sum(seq_terms).detach()}
        loss = loss + run.cfg.loss.photo_temporal * sum(seq_terms)
    if run.pose is not None and run.pose_distill is not None:
        terms = {**terms, "pose_align_distill": run.pose_distill.detach()}
        loss = loss + run.cfg.pose_align_distill * run.pose_distill
    if run.pose is not None and run.pose_compose is not None:
        terms = {**terms, "pose_composition": run.pose_compose.detach()}
        loss = loss + run.cfg.pose_composition * run.pose_compose
    opt.zero_grad(set_to_none=True)
    # Always backward (DDP needs every rank in the all-reduce); a non-finite loss on any rank makes the
    # reduced gradient non-finite on all ranks, so every rank skips the same step.
    (scaler.scale(loss) if scaler is not None else loss).backward()
    if scaler is not None:
        scaler.unscale_(opt)
    gnorm = torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], run.cfg.optim.grad_clip)
    why = (f"non-finite loss {loss.item()}" if not torch.isfinite(loss) else
           f"non-finite gradient norm {gnorm.item()}" if not torch.isfinite(gnorm) else None)
    if why:
        run.skipped += 1
        opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            for t, saved in zip(net.buffers(), buffers):
                t.copy_(saved)
        if scaler is not None:
            scaler.update()  # lowers the loss scale after an overflow
        print(f"warning: {why} at step {run.step}; step skipped, weights untouched ({run.skipped} skipped so far)")
    elif scaler is not None:
        scaler.step(opt)
        scaler.update()
    else:
        opt.step()
    run.step += 1
    return loss, terms, gnorm, why, s_out


def _finish(run: _Run, tb: TBLogger, progress: bool) -> dict:
    """Result (+ validation on the main rank), result.json and the export."""
    cfg, dd, net, step = run.cfg, run.dd, run.net, run.step
    if run.average is not None:  # validated and exported: the tail's mean (the checkpoint keeps the last step's too)
        net.load_state_dict(run.average.avg)
        if dd.main:
            print(f"weights: the mean of the last {run.average.n} steps' (optim.average_from {cfg.optim.average_from})")
    result = {"steps": step, "skipped_steps": run.skipped, "history": run.history, "world_size": dd.world,
              "weights_by_rank": D.gather_floats(sum(float(p.detach().double().sum()) for p in net.parameters()), dd)}
    if run.average is not None:
        result["averaged_steps"] = run.average.n
    if run.pose is not None:  # DDP keeps the pose network's ranks in step too
        result["pose_weights_by_rank"] = D.gather_floats(sum(float(p.detach().double().sum())
                                                             for p in run.pose.parameters()), dd)
    if dd.main and run.val is not None:
        ev = evaluate(torch_predictor(net, dd.device), run.val, gt=cfg.data.eval_gt, progress=progress)
        result["val"] = ev
        m = ev["nuscenes"]["scale_aware"]["mean"]
        print("val (scale-aware, nuScenes protocol): " + ", ".join(f"{k} {v:.3f}" for k, v in m.items()) +
              f", cross-view {ev['cross_view']['pred']:.3f}")
        tb.scalars(step, {f"val/{k}": v for k, v in m.items()} | {"val/cross_view": ev["cross_view"]["pred"]})
    tb.close()
    if dd.main:
        (run.out / "result.json").write_text(json.dumps(result, indent=2))
    if dd.main and cfg.export_dir:
        from ..export import export_model

        net.eval().cpu()
        export_model(net, cfg.export_dir, name=cfg.name, input_hw=tuple(cfg.data.input_hw),
                     canonical_focal_px=cfg.data.canonical_focal_px, cameras=list(cfg.data.cameras),
                     training={"config": config_to_dict(cfg), "recipe": recipe(cfg), "cpu_numerics": cpu_numerics()},
                     metrics=result.get("val", {}).get("nuscenes", {}).get("scale_aware", {}).get("mean", {}))
        print(f"exported to {cfg.export_dir}")
    D.barrier(dd)
    return result


def _train(cfg: TrainConfig, dd: D.Dist, progress: bool, base_dir) -> dict:
    run = _setup(cfg, dd, progress, base_dir)
    sampler = StepBatchSampler(len(run.ds), cfg.optim.batch_size // dd.world, cfg.seed, run.step, cfg.optim.steps,
                               dd.rank, dd.world)
    it = iter(DataLoader(run.ds, batch_sampler=sampler))
    tb = TBLogger(run.out / "tb", cfg.tensorboard and dd.main)
    run.model.train()
    bar = tqdm(total=cfg.optim.steps, initial=run.step, desc="fsmde-train", disable=not progress)
    t0, step0 = time.time(), run.step
    end = cfg.optim.stop_at or cfg.optim.steps  # the lr schedule and the sampler still span optim.steps
    while run.step < end:
        b = _flat(next(it), dd.device)
        loss, terms, gnorm, why, s_out = _step(run, b)
        step = run.step
        if cfg.optim.average_from and step >= cfg.optim.average_from:
            run.average = run.average or WeightAverage()
            run.average.update(run.net)
        bar.update(1)
        if not why and (step % cfg.log_every == 0 or step == cfg.optim.steps):
            stats = {f"bins_{k}": v for k, v in bin_stats(s_out["centers"], b["depth_canon"], cfg.model.min_depth,
                                                          cfg.model.max_depth).items()}
            vals = {k: D.mean_over_ranks(v.float(), dd).item()
                    for k, v in {"loss": loss.detach(), **terms, **stats}.items()}
            run.history.append({"step": step, **vals, "lr": lr_at(step - 1, cfg.optim), "time_s": time.time() - t0})
            bar.set_postfix(loss=f"{vals['loss']:.3f}")
            tb.scalars(step, {(f"bins/{k[5:]}" if k.startswith("bins_") else f"train/{k}"): v for k, v in vals.items()} |
                       {"train/lr": lr_at(step - 1, cfg.optim), "train/grad_norm": gnorm.item(),
                        "train/steps_per_s": (step - step0) / max(1e-9, time.time() - t0)})
        if cfg.image_every and step % cfg.image_every == 0:
            tb.depth_images(step, s_out["depth"], b["depth_dense"] if b["depth_dense"].any() else b["depth_canon"],
                            b["n_cam"])
            if cfg.data.sequence and dd.main:
                warps = run.objective.reconstructions(
                    s_out, b if run.pose_motion is None else {**b, "seq_T_ref_cam": run.pose_motion})
                if warps is not None:
                    tb.reconstructions(step, warps, b["n_cam"])
        if step % cfg.checkpoint_every == 0 or step == end:
            _checkpoint(run)
    bar.close()
    return _finish(run, tb, progress)


# Environment variables that pick the CPU kernels (SIMD width) of ATen, oneDNN and MKL: each changes the float sums
# of a training run, and 3000 steps grow that into another model (RESULTS.md); make weights pins all three.
ISA_PINS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR")


def cpu_numerics() -> dict:
    """What decided this process's CPU float arithmetic: the ATen kernel set in use, the thread count and the
    ISA pins (unset: the machine's widest), recorded in the manifest so a re-made model can be compared."""
    import os

    return {"aten_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
            "pins": {k: os.environ.get(k) for k in ISA_PINS}}


def recipe(cfg: TrainConfig) -> str:
    lc = cfg.loss
    terms = [f"{k} x{getattr(lc, k)}" for k in ("silog", "bins", "plain_kd", "ci_kd", "vr_kd", "photo_temporal",
                                                "photo_spatial", "photo_spatio_temporal", "smooth", "curvature")
             if getattr(lc, k)]
    return f"{cfg.data.gt} GT; " + ", ".join(terms) + f"; teacher {cfg.teacher.kind}"


def main(argv=None) -> int:
    import argparse

    from .config import load_config, parse_overrides

    ap = argparse.ArgumentParser(prog="fsmde-train", description="train the surround depth student "
                                 "(torchrun --nproc_per_node=N -m fsmde_train.engine.trainer ... for DDP)")
    ap.add_argument("--config", nargs="*", default=[], help="YAML overrides of the typed defaults, applied in order")
    ap.add_argument("--set", nargs="*", default=[], help="extra overrides as dotted.key=yaml_value")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    a = ap.parse_args(argv)
    try:
        cfg = load_config(a.config, parse_overrides(a.set))
    except (ValueError, OSError) as e:
        print(f"fsmde-train: error: {e}")
        return 2
    train(cfg, progress=not a.quiet)
    D.end_rank(0)  # torchrun ranks only: no interpreter finalisation racing the gloo threads
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
