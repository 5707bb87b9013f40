"""A diagnostic, not a training method: can the pose network's architecture regress a motion's size per sample?

    python results/selfsup_bag_pose_capacity/probe.py cache --run RUN --data-root WORLD --out CACHE.pt [--every 2]
    python results/selfsup_bag_pose_capacity/probe.py fit --train CACHE.pt --eval CACHE.pt [...] --variant V --out R.json
        [--extra-train CACHE.pt ...]   # more training scenes from other worlds (results/selfsup_bag_pose_scenes)

Measured before (RESULTS.md): fitted to its own refined motions, a trained pose network keeps a ~9 % per-motion size
scatter on its training triples and on new worlds. This probe asks whether that is the architecture: pose networks
are fitted to the world's EXACT motions (a supervised upper bound; never a product path: a user has no such labels)
on 12 scenes of the training world and scored on its 4 other scenes and on a fresh world. If even exact labels
leave the held-out error above 5 %, a better pseudo-label cannot close the pose line with that architecture.

``cache``: every ``--every``-th triple at strides 1 and 2 of a world: frame t, frames t-k and t+k (RGB, normalised,
float16), the run's student depth of frame t (what the pose network reads), the exact motions ego(t±k) -> ego(t),
the scene and the stride. ``fit``: a SurroundPoseNet (one pass) of a variant, L1 in its output units
(trainer.py ``pose_distill_loss``), AdamW; prints / writes the median translation error (stride 1, motions
>= 0.1 m) on the held-out scenes and on every --eval cache, at a few steps.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np
import torch


SKY_M = 200.0  # exact depth's sky (0 in the dense GT) as far away; the network reads 1 / depth clamped at 0.5 m


def build_cache(run, root, out, every, depth_source="student"):
    from fsmde_train.data import SurroundDataset
    from fsmde_train.data.sequence import SurroundSequence
    from fsmde_train.eval.cli import load_run
    from tqdm import tqdm

    student, cfg = load_run(run)
    d, m = cfg["data"], cfg["model"]
    base = SurroundDataset(root, "v1.0-synth", None, tuple(d["input_hw"]), d["canonical_focal_px"], sweeps=True,
                           gt="dense" if depth_source == "exact" else "lidar", progress=True, cameras=d["cameras"], mean=m["mean"], std=m["std"],
                           cache_dir=d.get("cache_dir"), geometry_inputs=tuple(m.get("geometry_inputs", ())))
    seq = SurroundSequence(base, strides=(1, 2))
    scenes = base.set_scenes()
    keep = {k: [] for k in ("a", "b", "depth", "M", "K", "T", "scene", "stride")}
    with torch.no_grad():
        for k in tqdm(range(0, len(seq), every), desc="cache"):
            s = seq[k]
            t_idx = seq.triples[k][1]
            stride = int(t_idx - seq.triples[k][0])
            if depth_source == "exact":  # the world's dense depth of frame t: is the student's depth the floor?
                d = s["depth_dense"]
                depth = torch.where(d > 0, d, torch.full_like(d, SKY_M))
            else:
                depth = student(s["image"][1])["depth"] * s["focal_scale"].view(-1, 1, 1, 1)
            E0 = s["T_ego_cam"][0].double()
            for f in (0, 2):
                keep["a"].append(s["image"][1][:, :3].half())
                keep["b"].append(s["image"][f][:, :3].half())
                keep["depth"].append(depth.half())
                keep["M"].append((s["T_ref_cam"][f, 0].double() @ torch.linalg.inv(E0)).float())
                keep["K"].append(s["K"])
                keep["T"].append(s["T_ego_cam"])
                keep["scene"].append(scenes[t_idx])
                keep["stride"].append(stride)
    c = {k: torch.stack(v) if k not in ("scene", "stride") else v for k, v in keep.items()}
    c["stride"] = torch.tensor(c["stride"])
    torch.save(c, out)
    print(f"{out}: {len(c['M'])} motions, scenes {sorted(set(c['scene']))}")


VARIANTS = {  # name -> PoseConfig overrides (depth input "inverse" in all, as the runs measured)
    "base": {},
    "grid48": {"grid": (4, 8)},
    "grid48_s4": {"grid": (4, 8), "stages": 4},
    "wide": {"width": 32, "hidden": 512},
    "corr3": {"correlation": 3},
    "corr3_grid48": {"correlation": 3, "grid": (4, 8)},
    "percam": {"per_camera": True},
    "corr3_percam": {"correlation": 3, "per_camera": True},
}


def translation_errors(net, c, idx, batch=8):
    net.eval()
    errs = []
    with torch.no_grad():
        for i in range(0, len(idx), batch):
            j = idx[i:i + batch]
            M = net(c["a"][j].float(), c["b"][j].float(), c["depth"][j].float(), T_ego_cam=c["T"][j], iterations=1,
                    align=())["M"]
            gt = c["M"][j]
            errs.append(((M[:, :3, 3] - gt[:, :3, 3]).norm(dim=1) / gt[:, :3, 3].norm(dim=1)).numpy())
    net.train()
    return np.concatenate(errs) * 100 if errs else np.array([])


def scored(c, idx):
    """stride-1 motions of at least 0.1 m among idx (as fsmde-pose-eval scores)."""
    L = c["M"][:, :3, 3].norm(dim=1)
    return [i for i in idx if c["stride"][i] == 1 and L[i] >= 0.1]


def fit(a):
    from fsmde_train.engine.trainer import pose_distill_loss
    from fsmde_train.eval.pose_eval import load_pose_run
    from fsmde_train.networks.pose import PoseConfig, SurroundPoseNet

    torch.manual_seed(a.seed)
    c = torch.load(a.train, weights_only=False)
    held = set(a.held_out.split(","))
    if a.extra_train:  # every motion of these caches trains; their scenes are named by file so none is held out
        parts = [c] + [torch.load(p, weights_only=False) for p in a.extra_train]
        for p, e in zip(a.extra_train, parts[1:]):
            e["scene"] = [f"{os.path.basename(p)}:{s}" for s in e["scene"]]
        c = {}
        for k in list(parts[0]):  # key by key, freeing the parts as it goes (the caches are GBs)
            c[k] = sum((e[k] for e in parts), []) if k == "scene" else torch.cat([e[k] for e in parts])
            for e in parts:
                del e[k]
        del parts
    tr = [i for i in range(len(c["M"])) if c["scene"][i] not in held]
    ho = [i for i in range(len(c["M"])) if c["scene"][i] in held]
    evals = {p: torch.load(p, weights_only=False) for p in a.eval}
    cfg = PoseConfig(depth_input="inverse", **VARIANTS[a.variant])
    net = SurroundPoseNet(cfg)
    if a.init:
        src, _ = load_pose_run(a.init)
        missing = net.load_state_dict(src.state_dict(), strict=False)
        print("init from", a.init, missing)
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(a.seed)
    rows, t0 = [], time.perf_counter()

    def report(step):
        r = {"step": step, "seconds": time.perf_counter() - t0}
        for name, (cc, ii) in {"train": (c, tr[::4]), "held_out": (c, ho)}.items():
            r[name] = float(np.median(translation_errors(net, cc, scored(cc, ii))))
        for p, cc in evals.items():
            r[p] = float(np.median(translation_errors(net, cc, scored(cc, range(len(cc["M"]))))))
        rows.append(r)
        print(json.dumps(r), flush=True)

    report(0)
    for step in range(1, a.steps + 1):
        lr = a.lr * min(1.0, step / 50) * 0.5 * (1 + math.cos(math.pi * step / a.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        j = torch.tensor(tr)[torch.randint(len(tr), (a.batch,), generator=gen)]
        out = net(c["a"][j].float(), c["b"][j].float(), c["depth"][j].float(), T_ego_cam=c["T"][j], iterations=1,
                  align=())
        loss = pose_distill_loss(out["M"], c["M"][j])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 50 == 0:
            print(f"step {step} loss {float(loss.detach()):.3f} {time.perf_counter() - t0:.0f}s", flush=True)
        if step % a.report_every == 0 or step == a.steps:
            report(step)
    res = {"args": vars(a), "pose_config": {k: list(v) if isinstance(v, tuple) else v
                                            for k, v in cfg.__dict__.items()}, "rows": rows}
    with open(a.out, "w") as f:
        json.dump(res, f, indent=2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("cache")
    p.add_argument("--run", required=True)
    p.add_argument("--data-root", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--every", type=int, default=2)
    p.add_argument("--depth", choices=("student", "exact"), default="student",
                   help="the depth the pose network reads: the run's student's (default) or the world's exact depth")
    p = sub.add_parser("fit")
    p.add_argument("--train", required=True)
    p.add_argument("--eval", nargs="*", default=[])
    p.add_argument("--extra-train", nargs="*", default=[],
                   help="caches of other worlds whose motions all train (the more-scenes question)")
    p.add_argument("--held-out", default="scene-0013,scene-0014,scene-0015,scene-0016")
    p.add_argument("--variant", default="base", choices=sorted(VARIANTS))
    p.add_argument("--init", help="start from this run's pose network (missing keys stay random)")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--report-every", type=int, default=250)
    p.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("PROBE_THREADS", "2")))
    if a.cmd == "cache":
        build_cache(a.run, a.data_root, a.out, a.every, a.depth)
    else:
        fit(a)


if __name__ == "__main__":
    main()
