"""Do the per-image bin centres carry the real frames' squeeze? (issue 11 probe, evaluation only; nothing trained.)
The student's bin centres come from one MLP on the globally pooled bottleneck (AdaBins): a whole-image judgement of
the depth range, applied to every pixel. For each training run given: (1) the centres on the validation world's key
frames and on the real frames (median over images of the log-mean centre and of the 90th-percentile centre); (2) the
real frames and the val world once more with every image's centres replaced by one fixed set, the mean of the log
centres over the val world's images (the per-pixel bin probabilities unchanged). From training/:
python results/bin_centres/probe.py RUN [RUN...] [--real ../../shared/real] [--val ../data/weights/val]"""
import argparse

import numpy as np
import torch

from fsmde_train.data import SurroundDataset
from fsmde_train.data.real import load_real
from fsmde_train.eval.cli import load_run
from fsmde_train.eval.protocol import evaluate
from fsmde_train.eval.real import evaluate_real
from fsmde_train.networks.student import DepthOnly

ap = argparse.ArgumentParser()
ap.add_argument("run", nargs="+")
ap.add_argument("--real", default="../../shared/real")
ap.add_argument("--val", default="../data/weights/val")
a = ap.parse_args()
views = [v for vs in load_real(a.real).values() for v in vs]
bands = [0.5, 5, 10, 20, 40, 80, 200]


class Centres:
    """Wraps net.bin_centers: records each image's centres, or returns ``fixed`` instead."""

    def __init__(self, net):
        self.orig, self.fixed, self.seen = net.bin_centers, None, []
        net.bin_centers = self

    def __call__(self, bottleneck):
        c = self.orig(bottleneck)
        self.seen.append(c.detach())
        return c if self.fixed is None else self.fixed.expand_as(c)


def summary(seen):
    c = torch.cat(seen).log()
    k90 = int(0.9 * c.shape[1])
    return float(np.exp(c.mean(1).median())), float(np.exp(c[:, k90].median()))


def band_ratios(res):
    logs = {}
    for v, arr in zip(views, res["arrays"]):
        gt, p = arr["gt"], arr["pred"]
        m = (gt > 0) & np.isfinite(p)
        for lo, hi in zip(bands[:-1], bands[1:]):
            s = m & (gt >= lo) & (gt < hi)
            logs.setdefault((v.dataset, lo), []).extend(np.log(p[s] / gt[s]).tolist())
    return {k: float(np.exp(np.median(x))) for k, x in logs.items() if len(x) >= 20}


rows = []
for run in a.run:
    net, cfg = load_run(run)
    hook = Centres(net)
    model = DepthOnly(net).eval()
    d = cfg["data"]
    ds = SurroundDataset(a.val, "v1.0-synth", None, tuple(d["input_hw"]), d["canonical_focal_px"], gt="dense",
                         progress=False, geometry_inputs=tuple(net.cfg.geometry_inputs))
    man = {"input": {"height": d["input_hw"][0], "width": d["input_hw"][1], "mean": list(net.cfg.mean),
                     "std": list(net.cfg.std), "scale": 1 / 255, "geometry": {"channels": list(net.cfg.geometry_inputs)}},
           "canonical_focal_px": d["canonical_focal_px"]}
    with torch.inference_mode():
        val = evaluate(model, ds)
        val_seen, hook.seen = hook.seen, []
        real = evaluate_real(model, man, views, progress=False)
        real_seen, hook.seen = hook.seen, []
        hook.fixed = torch.cat(val_seen).log().mean(0, keepdim=True).exp()
        real_fixed = evaluate_real(model, man, views, progress=False)
        val_fixed = evaluate(model, ds)
    per_ds = {}
    for i, v in enumerate(views):
        per_ds.setdefault(v.dataset, []).append(real_seen[i])
    row = {"run": run, "val_mean_centres": [round(float(c), 1) for c in hook.fixed[0]], "centres": {"val": summary(val_seen), **{k: summary(s) for k, s in per_ds.items()}}}
    for tag, r, vr in (("own", real, val), ("fixed", real_fixed, val_fixed)):
        row[tag] = {"real": {k: r["per_dataset"][k]["model"]["scale_aware"]["abs_rel"] for k in per_ds},
                    "bands": band_ratios(r), "val": vr["nuscenes"]["scale_aware"]["mean"]["abs_rel"]}
    rows.append(row)
    print(row, flush=True)

dsets = list(rows[0]["own"]["real"])
print("\n| centres | " + " | ".join(f"{k} AbsRel" for k in dsets) + " | val AbsRel | "
      + " | ".join(f"{k} 20–40 / 40–80 m" for k in dsets) + " |\n|---|" + "---:|" * (2 * len(dsets) + 1))
for tag in ("own", "fixed"):
    m = {k: np.mean([r[tag]["real"][k] for r in rows]) for k in dsets}
    b = {k: [np.mean([r[tag]["bands"].get((k, lo), np.nan) for r in rows]) for lo in (20, 40)] for k in dsets}
    print(f"| {tag} | " + " | ".join(f"{m[k]:.3f}" for k in dsets)
          + f" | {np.mean([r[tag]['val'] for r in rows]):.3f} | "
          + " | ".join(f"×{b[k][0]:.2f} / ×{b[k][1]:.2f}" for k in dsets) + " |")
print("\nthe val world's mean centres (m):", *(r["val_mean_centres"] for r in rows), sep="\n")
print("\n| images | exp(mean log centre) | 90th-percentile centre |\n|---|---:|---:|")
for k in rows[0]["centres"]:
    print(f"| {k} | {np.mean([r['centres'][k][0] for r in rows]):.1f} m | "
          f"{np.mean([r['centres'][k][1] for r in rows]):.1f} m |")
