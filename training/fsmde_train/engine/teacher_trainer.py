"""fsmde-teacher: train the learned stand-in teacher (a reduced Depth-Anything-V2, networks/teacher.py).

It learns relative inverse depth with the scale-and-shift-invariant loss (losses/ssi.py) from the dense depth
of its own synthetic world (``make teacher``: seed 400, the "alt" palette, randomised; no student world shares
its seed or palette). Its errors are the network's: limited resolution (14 px patches), capacity and data.

Batches: ``batch_size`` random views (set, camera) per step, drawn from a generator seeded by (seed, step) so
a resumed run sees what an uninterrupted one would; image [B, 3, H, W] at ``input_hw`` (the student's input:
the teacher is used on the student's batches), upsampled inside to ``model_hw``; GT depth [B, 1, H, W].
Random horizontal flips and the trainer's photometric augmentation.

Output folder (written to ``<out>.tmp`` and renamed, so it is whole or absent): ``config.json`` +
``model.safetensors`` (transformers' save_pretrained) and ``teacher_manifest.json`` (sha256 of both, input
size, training settings, the held-out fitted AbsRel when ``val_root`` is set). Checkpoints for resume live in
``<out>.run/`` (atomic, engine/checkpoint.py).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from tqdm import tqdm

from ..data.augment import photometric
from ..files import sha256_file
from ..losses.ssi import ssi_loss
from ..networks.student import StudentConfig
from ..networks.teacher import TEACHER_MANIFEST, learned_teacher_config, run_depth_anything
from .checkpoint import load_checkpoint, save_checkpoint
from .config import _merge, parse_overrides


@dataclass
class TeacherTrainConfig:
    world: str = "../data/teacher/world"
    version: str = "v1.0-synth"
    val_root: str | None = None  # a world with dense GT for the fitted AbsRel in the manifest (None = skip)
    val_sets: int = 24
    out: str = "../data/teacher/learned"
    input_hw: tuple[int, int] = (128, 224)
    model_hw: tuple[int, int] = (182, 322)  # what the ViT sees (multiples of 14): 13 x 23 patches
    hidden: int = 96
    layers: int = 6
    heads: int = 3
    steps: int = 4000
    batch_size: int = 8
    lr: float = 3e-4
    weight_decay: float = 0.05
    warmup_steps: int = 200
    grad_weight: float = 0.5
    augment: float = 1.0
    flip: bool = True
    seed: int = 0
    threads: int = 0
    checkpoint_every: int = 250
    log_every: int = 50
    # Training-time negative slope of the head's inner ReLU (activation1), annealed linearly to 0 at 90 % of the
    # steps so the last tenth trains the architecture as saved (ReLU). 0 = a plain ReLU throughout (v1's recipe).
    # Why: once that ReLU is 0 everywhere, no gradient reaches the network again (TV2A died so by step ~350).
    head_leak: float = 0.0
    # Stop with an error when that ReLU has passed nothing on any view for this many steps (dead: see above).
    collapse_patience: int = 50
    cache_dir: str | None = "../data/cache"


def load_teacher_config(paths=(), overrides: dict | None = None) -> TeacherTrainConfig:
    cfg = TeacherTrainConfig()
    for p in paths:
        _merge(cfg, yaml.safe_load(Path(p).read_text()) or {})
    if overrides:
        _merge(cfg, overrides)
    return cfg


def _batch(ds, cfg: TeacherTrainConfig, step: int, mean, std):
    gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
    n_cam = len(ds.cameras)
    picks = torch.randint(0, len(ds) * n_cam, (cfg.batch_size,), generator=gen).tolist()
    imgs, gts = [], []
    for p in picks:
        b = ds[p // n_cam]
        imgs.append(b["image"][p % n_cam, :3])
        gts.append(b["depth_dense"][p % n_cam])
    img, gt = torch.stack(imgs), torch.stack(gts)
    if cfg.flip:
        flip = torch.rand(len(picks), generator=gen) < 0.5
        img[flip], gt[flip] = img[flip].flip(-1), gt[flip].flip(-1)
    if cfg.augment:
        img = photometric(img, mean, std, gen, cfg.augment)
    return img, gt


@torch.no_grad()
def calibrate_output(model, ds, cfg: TeacherTrainConfig, norm, views: int = 48) -> dict:
    """Fold an affine map into the head's last conv so the output has DA-V2's range: the farthest 0.5 % of
    pixels (sky) at 0, the nearest 1 % at ~10. The SSI loss leaves scale and shift free, and from the positive
    bias start the trained output sits near 1 with its structure in the third decimal: correct, but fragile
    in low precision and unlike the real teacher. relu(a (w x + b - c)) = a (out - c) wherever out > c."""
    gen = torch.Generator().manual_seed(cfg.seed + 77)
    n_cam = len(ds.cameras)
    picks = torch.randint(0, len(ds) * n_cam, (views,), generator=gen).tolist()
    img = torch.stack([ds[p // n_cam]["image"][p % n_cam, :3] for p in picks])
    rel = torch.cat([run_depth_anything(model, img[i:i + 8], tuple(cfg.model_hw))["rel"] for i in range(0, views, 8)])
    lo, hi = torch.quantile(rel.flatten()[::7].double(), torch.tensor([0.005, 0.99], dtype=torch.float64)).tolist()
    a = 10.0 / max(hi - lo, 1e-12)
    conv = model.head.conv3
    conv.weight.mul_(a)
    conv.bias.sub_(lo).mul_(a)
    return {"shift": lo, "scale": a, "views": views}


class TeacherCollapsed(RuntimeError):
    """The network's output became one constant on every view: no gradient can bring it back."""


def _prepare_head(model, cfg: TeacherTrainConfig) -> None:
    # The relative head ends in a ReLU: from a random start its output dies at 0 everywhere (a constant map has
    # no gradient through the normalisation; measured: dead by step 250). Training uses a leaky slope there and
    # starts the last conv's bias positive; the saved model is the architecture as is (ReLU at inference).
    model.head.activation2 = torch.nn.LeakyReLU(0.01)
    if cfg.head_leak > 0:
        model.head.activation1 = torch.nn.LeakyReLU(cfg.head_leak)
    with torch.no_grad():
        model.head.conv3.bias.fill_(1.0)


def head_leak_at(cfg: TeacherTrainConfig, step: int) -> float:
    """activation1's negative slope at ``step``: ``head_leak`` falling linearly to 0 at 90 % of the steps."""
    return cfg.head_leak * max(0.0, 1.0 - step / (0.9 * cfg.steps))


class _HeadWatch:
    """Whether the head's inner ReLU passed anything in the last forward pass. With a plain ReLU (slope 0) and no
    positive input on any pixel of any view, conv3 sees zeros, the output is its bias everywhere and no gradient
    reaches the network: dead for good. A young network's near-constant output is not this (its units live)."""

    def __init__(self, act):
        self.act, self.alive = act, True
        act.register_forward_hook(self)

    def __call__(self, module, inputs, output):
        slope = float(getattr(module, "negative_slope", 0.0))
        self.alive = slope > 0 or bool((inputs[0].detach() > 0).any())


def train_teacher(cfg: TeacherTrainConfig, progress: bool = True, log=print) -> Path:
    from transformers import DepthAnythingForDepthEstimation

    from ..data import SurroundDataset

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    norm = StudentConfig()
    ds = SurroundDataset(cfg.world, cfg.version, None, tuple(cfg.input_hw), sweeps=True, gt="dense",
                         progress=progress, depth_dtype=np.float16, cache_dir=cfg.cache_dir)
    if len(ds) == 0:
        raise ValueError(f"teacher world {cfg.world} has no camera sets")
    model = DepthAnythingForDepthEstimation(learned_teacher_config(cfg.hidden, cfg.layers, cfg.heads))
    _prepare_head(model, cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, cfg.warmup_steps)) * 0.5 * (
        1 + math.cos(math.pi * min(1.0, s / max(1, cfg.steps)))))  # python floats: the state loads weights_only
    out = Path(cfg.out)
    run = out.with_name(out.name + ".run")
    start = 0
    state = load_checkpoint(run, log=log)
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        start = int(state["step"])
        log(f"fsmde-teacher: resumed from step {start} ({run})")
    model.train()
    bar = tqdm(range(start, cfg.steps), desc="fsmde-teacher", disable=not progress, initial=start, total=cfg.steps)
    ema, t0, dead_since = None, time.time(), None
    watch = _HeadWatch(model.head.activation1)
    for step in bar:
        if cfg.head_leak > 0:
            model.head.activation1.negative_slope = head_leak_at(cfg, step)
        img, gt = _batch(ds, cfg, step, norm.mean, norm.std)
        rel = run_depth_anything(model, img, tuple(cfg.model_hw))["rel"]
        if not bool(torch.isfinite(rel).all()):
            raise TeacherCollapsed(f"the network's output is not finite at step {step + 1}; nothing was written "
                                   f"past the last checkpoint in {run} (lower lr)")
        dead_since = None if watch.alive else (dead_since or step + 1)
        if dead_since is not None and step + 1 - dead_since >= cfg.collapse_patience:
            raise TeacherCollapsed(
                f"the DPT head's inner ReLU has been 0 on every pixel of every view since step {dead_since}: the "
                f"output is one constant and no gradient reaches the network, it cannot recover; no weights were "
                f"written. Remove {run} and retrain with head_leak > 0 (e.g. --set head_leak=0.1) or a lower lr")
        loss = ssi_loss(rel, gt.float(), cfg.grad_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        bar.set_postfix(loss=f"{ema:.3f}")
        if not progress and (step + 1) % cfg.log_every == 0:
            log(f"step {step + 1}/{cfg.steps} ssi {ema:.4f} ({time.time() - t0:.0f} s)")
        if (step + 1) % cfg.checkpoint_every == 0 and step + 1 < cfg.steps and dead_since is None:
            save_checkpoint(run, {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                                  "step": step + 1}, step + 1)
    if dead_since is not None:
        raise TeacherCollapsed(f"the DPT head's inner ReLU has been 0 everywhere since step {dead_since}, up to "
                               f"the last step: the output is one constant; no weights were written (retrain with "
                               f"head_leak > 0)")
    if start < cfg.steps:  # the finished weights are safe before the evaluation runs
        save_checkpoint(run, {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                              "step": cfg.steps}, cfg.steps)
    model.eval()
    calibration = calibrate_output(model, ds, cfg, norm)
    manifest = {"format": "fsmde-learned-teacher", "version": 1, "architecture": "DepthAnythingForDepthEstimation",
                "input_hw": list(cfg.model_hw), "output": "relative inverse depth (affine-invariant), sky ~ 0",
                "output_calibration": calibration, "train": {**asdict(cfg), "final_ssi_ema": ema}}
    if cfg.val_root:
        from ..eval.teacher_eval import evaluate_teacher
        from ..networks.teacher import DepthAnythingTeacher

        val = SurroundDataset(cfg.val_root, cfg.version, None, tuple(cfg.input_hw), sweeps=True, gt="lidar",
                              progress=False)
        teacher = DepthAnythingTeacher(config=model.config, input_hw=cfg.model_hw)
        teacher.model.load_state_dict(model.state_dict())
        r = evaluate_teacher(teacher, val, cfg.val_sets)
        manifest["val"] = {"root": cfg.val_root, **{k: v for k, v in r.items() if k != "examples"}}
        log(f"fsmde-teacher: fitted AbsRel on {cfg.val_root}: {r['abs_rel']:.3f} (δ1 {r['delta1']:.3f})")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    manifest["files"] = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
    (tmp / TEACHER_MANIFEST).write_text(json.dumps(manifest, indent=1))
    old = out.with_name(out.name + ".old")
    if out.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(run, ignore_errors=True)
    log(f"fsmde-teacher: wrote {out} ({cfg.steps} steps, final SSI {ema:.4f})")
    return out


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="fsmde-teacher", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", nargs="*", default=[], help="YAML overrides of TeacherTrainConfig, in order")
    ap.add_argument("--set", nargs="*", default=[], help="extra overrides as key=yaml_value")
    ap.add_argument("--quiet", action="store_true", help="log lines instead of a progress bar")
    a = ap.parse_args(argv)
    try:
        cfg = load_teacher_config(a.config, parse_overrides(a.set))
        train_teacher(cfg, progress=not a.quiet)
    except (ValueError, OSError, TeacherCollapsed) as e:
        print(f"fsmde-teacher: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
