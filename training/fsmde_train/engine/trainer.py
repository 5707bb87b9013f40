"""The training loop (single process; DDP arrives with the training issue): AdamW, warm-up + cosine,
gradient clipping, NaN guard, atomic checkpoints with resume, progress bar, optional export at the end."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from .. import CAMERAS
from ..data import SurroundDataset
from ..eval.metrics import average, depth_metrics
from ..losses import silog_loss
from ..networks import build_student
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig, config_to_dict


def _flat(batch):
    """[B, N, ...] -> [B * N, ...] for every tensor."""
    return {k: v.flatten(0, 1) for k, v in batch.items()}


def _infinite(loader):
    while True:
        yield from loader


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


def train(cfg: TrainConfig, progress: bool = True) -> dict:
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
    loader = DataLoader(ds, batch_size=cfg.optim.batch_size, shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(cfg.seed))
    net = build_student(cfg.model)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    step, history = 0, []
    ckpt_path = out / "last.pt"
    state = load_checkpoint(ckpt_path)
    if state is not None:
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optim"])
        step, history = state["step"], json.loads(state["history"])
        torch.set_rng_state(state["rng"])
        print(f"resumed from {ckpt_path} at step {step}")

    def checkpoint():
        save_checkpoint(ckpt_path, {"model": net.state_dict(), "optim": opt.state_dict(), "step": step,
                                    "history": json.dumps(history), "rng": torch.get_rng_state(),
                                    "config": json.dumps(config_to_dict(cfg))})

    net.train()
    it = _infinite(loader)
    bar = tqdm(total=cfg.optim.steps, initial=step, desc="fsmde-train", disable=not progress)
    t0, skipped = time.time(), 0
    while step < cfg.optim.steps:
        b = _flat(next(it))
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg.optim)
        out_ = net(b["image"])
        loss = silog_loss(out_["depth"], b["depth_canon"], min_depth=cfg.model.min_depth,
                          max_depth=cfg.model.max_depth)
        if not torch.isfinite(loss):
            skipped += 1
            print(f"warning: non-finite loss at step {step}; step skipped")
            opt.zero_grad(set_to_none=True)
            step += 1
            continue
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.optim.grad_clip)
        opt.step()
        step += 1
        bar.update(1)
        if step % cfg.log_every == 0 or step == cfg.optim.steps:
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
