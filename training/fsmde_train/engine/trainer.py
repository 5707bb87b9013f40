"""The training loop (single process; DDP arrives with the training issue): AdamW, warm-up + cosine,
gradient clipping, NaN/inf guard, checksummed atomic checkpoints with exact resume, progress bar, optional
export at the end."""
from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from .. import CAMERAS
from ..data import StepBatchSampler, SurroundDataset
from ..eval.metrics import average, depth_metrics
from ..losses import silog_loss
from ..networks import build_student
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig, config_to_dict


def _flat(batch):
    """[B, N, ...] -> [B * N, ...] for every tensor."""
    return {k: v.flatten(0, 1) for k, v in batch.items()}


def lr_at(step: int, cfg) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


@torch.no_grad()
def evaluate(net, ds: SurroundDataset, protocol="nuscenes") -> dict:
    """Scale-aware metrics per camera, then the mean over cameras (nuScenes convention)."""
    net.eval()
    per_cam = {c: [] for c in CAMERAS}
    for i in range(len(ds)):
        b = ds[i]
        pred = net(b["image"])["depth"][:, 0] * b["focal_scale"][:, None, None]
        for j, c in enumerate(CAMERAS):
            per_cam[c].append(depth_metrics(pred[j].numpy(), b["depth"][j, 0].numpy(), protocol))
    cams = {c: average(rows) for c, rows in per_cam.items()}
    mean = {k: float(np.mean([cams[c][k] for c in CAMERAS if cams[c]])) for k in next(iter(cams.values()))}
    net.train()
    return {"mean": mean, "per_camera": cams}


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


def train(cfg: TrainConfig, progress: bool = True) -> dict:
    """Train (or resume) the run in ``cfg.out_dir``; returns steps, skipped steps, history and validation.

    Resume restores weights, optimizer moments, step (the LR schedule is a pure function of it), history and
    every RNG; batches are a pure function of (seed, step), so a killed and resumed run takes the same
    optimizer steps on the same batches as an uninterrupted one.
    """
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    d = cfg.data
    ds = SurroundDataset(d.root, d.version, d.train_scenes, d.input_hw, d.canonical_focal_px, d.sweeps, d.dense,
                         progress)
    val = (SurroundDataset(d.val_root, d.version, d.val_scenes, d.input_hw, d.canonical_focal_px, False, d.dense,
                           progress) if d.val_root else None)
    net = build_student(cfg.model)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    step, skipped, history = 0, 0, []
    state = load_checkpoint(out)
    if state is not None:
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optim"])
        step, skipped, history = state["step"], state.get("skipped", 0), json.loads(state["history"])
        set_rng_state(state["rng"])
        print(f"resumed from {out} at step {step}")

    def checkpoint():
        save_checkpoint(out, {"model": net.state_dict(), "optim": opt.state_dict(), "step": step,
                              "skipped": skipped, "history": json.dumps(history), "rng": rng_state(),
                              "config": json.dumps(config_to_dict(cfg))}, step)

    sampler = StepBatchSampler(len(ds), cfg.optim.batch_size, cfg.seed, step, cfg.optim.steps)
    loader = DataLoader(ds, batch_sampler=sampler)
    net.train()
    it = iter(loader)
    bar = tqdm(total=cfg.optim.steps, initial=step, desc="fsmde-train", disable=not progress)
    t0 = time.time()
    while step < cfg.optim.steps:
        b = _flat(next(it))
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg.optim)
        buffers = [t.detach().clone() for t in net.buffers()]  # BN statistics move in the forward pass
        out_ = net(b["image"])
        loss = silog_loss(out_["depth"], b["depth_canon"], min_depth=cfg.model.min_depth,
                          max_depth=cfg.model.max_depth)
        opt.zero_grad(set_to_none=True)
        why = None
        if not torch.isfinite(loss):
            why = f"non-finite loss {loss.item()}"
        else:
            loss.backward()
            gnorm = torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.optim.grad_clip)
            if not torch.isfinite(gnorm):
                why = f"non-finite gradient norm {gnorm.item()}"
        if why:  # weights, BN statistics and optimizer moments stay as they were
            skipped += 1
            opt.zero_grad(set_to_none=True)
            with torch.no_grad():
                for t, saved in zip(net.buffers(), buffers):
                    t.copy_(saved)
            print(f"warning: {why} at step {step}; step skipped, weights untouched ({skipped} skipped so far)")
        else:
            opt.step()
        step += 1
        bar.update(1)
        if not why and (step % cfg.log_every == 0 or step == cfg.optim.steps):
            history.append({"step": step, "loss": loss.item(), "lr": lr_at(step - 1, cfg.optim),
                            "time_s": time.time() - t0})
            bar.set_postfix(loss=f"{loss.item():.3f}")
        if step % cfg.checkpoint_every == 0 or step == cfg.optim.steps:
            checkpoint()
    bar.close()
    result = {"steps": step, "skipped_steps": skipped, "history": history}
    if val is not None:
        result["val"] = evaluate(net, val)
        print("val (scale-aware, nuScenes protocol): " +
              ", ".join(f"{k} {v:.3f}" for k, v in result["val"]["mean"].items()))
    (out / "result.json").write_text(json.dumps(result, indent=2))
    if cfg.export_dir:
        from ..export import export_model

        net.eval()
        export_model(net, cfg.export_dir, name=cfg.name, input_hw=tuple(d.input_hw),
                     canonical_focal_px=d.canonical_focal_px, cameras=list(CAMERAS),
                     training={"config": config_to_dict(cfg), "recipe": "dense-GT SILog (bootstrap weights)"},
                     metrics=result.get("val", {}).get("mean", {}))
        print(f"exported to {cfg.export_dir}")
    return result


def main(argv=None) -> int:
    import argparse

    from .config import load_config

    ap = argparse.ArgumentParser(prog="fsmde-train", description="train the surround depth student")
    ap.add_argument("--config", help="YAML overrides of the typed defaults (see configs/)")
    ap.add_argument("--set", nargs="*", default=[], help="extra overrides as dotted.key=yaml_value")
    a = ap.parse_args(argv)
    import yaml

    over: dict = {}
    for kv in a.set:
        key, _, val = kv.partition("=")
        cur = over
        parts = key.split(".")
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
        cur[parts[-1]] = yaml.safe_load(val)
    train(load_config(a.config, over))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
