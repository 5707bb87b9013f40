"""The per-set road fit (results/road_fit/PLAN.md) on the val world (as predicted and with the output squeezed
artificially), and with --real once on the real frames (evaluation only). From training/:
python results/road_fit/evaluate.py [--real ../../shared/real]   (needs results/road_fit/road_head.pt)"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import apply_fit, fit_set, load_student, make_head  # noqa: E402

from fsmde_train.data import SurroundDataset  # noqa: E402
from fsmde_train.data.surround import SEMANTIC_CLASSES, scale_K  # noqa: E402
from fsmde_train.eval.metrics import PROTOCOLS, average, depth_metrics  # noqa: E402
from fsmde_train.geometry import camera_channels  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--head", default="results/road_fit/road_head.pt")
ap.add_argument("--real", default=None)
ap.add_argument("--val", default="../data/weights/val")
ap.add_argument("--oracle", choices=("road", "all", "reverse"), default=None,
                help="evaluation-only ceilings on the real frames: fit on the LiDAR points on the flat-ground road "
                "(perfect road labels), on every LiDAR point, or (reverse) log GT regressed on log p over every LiDAR point "
                "(the best least-squares per-set power map: E[log GT | log p]); never a product path")
a = ap.parse_args()
net, cfg = load_student()
head = make_head(net)
head.load_state_dict(torch.load(a.head)["head"])
head.eval()
K_CH = 3 + net.cfg.geometry_inputs.index("ground_inverse_depth")


def predict(x):
    """x [N, 5, H, W] -> (depth canonical m with NaN where invalid, road probability), numpy [N, H, W]."""
    with torch.inference_mode():
        out = net(x)
        p = torch.where(out["valid_logit"] >= 0, out["depth"], torch.full_like(out["depth"], float("nan")))
        r = torch.sigmoid(head(out["features"], x))
    return p[:, 0].numpy(), r[:, 0].numpy()


def slope(gt, p):
    return float(np.polyfit(np.log(gt.astype(np.float64)), np.log(p.astype(np.float64)), 1)[0])  # float32 sums lose it


def synthetic():
    ds = SurroundDataset(a.val, "v1.0-synth", None, tuple(cfg["data"]["input_hw"]), cfg["data"]["canonical_focal_px"],
                         sweeps=False, gt="dense", progress=False, geometry_inputs=net.cfg.geometry_inputs)
    road_cls = SEMANTIC_CLASSES.index("road")
    sets = []
    tp = fp = fn = 0
    for i in range(len(ds)):
        b = ds[i]
        p, r = predict(b["image"])
        sem = b["semantic"].numpy()
        tp += int(((r > 0.5) & (sem == road_cls)).sum())
        fp += int(((r > 0.5) & (sem != road_cls)).sum())
        fn += int(((r <= 0.5) & (sem == road_cls)).sum())
        sets.append((p, r, b["image"][:, K_CH].numpy(), b["depth_dense"][:, 0].numpy(), b["focal_scale"].numpy()))
    print(f"val world: {len(sets)} sets; road head IoU {tp / max(tp + fp + fn, 1):.3f}, precision "
          f"{tp / max(tp + fp, 1):.3f}, recall {tp / max(tp + fn, 1):.3f}\n")
    print("| squeeze s | AbsRel unaligned | AbsRel aligned | slope vs GT unaligned / aligned | fitted b median "
          "[p10, p90] | sets aligned |\n|---:|---:|---:|---|---|---:|")
    for s in (1.0, 0.8, 0.6, 0.45):
        raw, ali, bs, n_ok, gts, ps, qs = [], [], [], 0, [], [], []
        for p, r, c, gt, fs in sets:
            p = 8.0 * (p / 8.0) ** s
            a_, b_, info = fit_set(p, c, r > 0.5)
            q = apply_fit(p, a_, b_)
            n_ok += b_ is not None
            if "b" in info:
                bs.append(info["b"])
            for j in range(len(gt)):
                raw.append(depth_metrics(p[j] * fs[j], gt[j], "nuscenes"))
                ali.append(depth_metrics(q[j] * fs[j], gt[j], "nuscenes"))
            m = (gt > 0.5) & (gt < 80) & np.isfinite(p)
            gts.append(gt[m])
            ps.append((p * fs[:, None, None])[m])
            qs.append((q * fs[:, None, None])[m])
        g_all = np.concatenate(gts)
        print(f"| {s:g} | {average(raw)['abs_rel']:.3f} | {average(ali)['abs_rel']:.3f} | "
              f"{slope(g_all, np.concatenate(ps)):.2f} / {slope(g_all, np.concatenate(qs)):.2f} | "
              f"{np.median(bs):.2f} [{np.percentile(bs, 10):.2f}, {np.percentile(bs, 90):.2f}] | "
              f"{n_ok} / {len(sets)} |", flush=True)


def real():
    from fsmde_train.data.real import load_real
    from fsmde_train.eval.real import PROTOCOL, ground_prior, load_image

    hw = tuple(cfg["data"]["input_hw"])
    focal = cfg["data"]["canonical_focal_px"]
    mean = np.asarray(net.cfg.mean, np.float32).reshape(3, 1, 1)
    std = np.asarray(net.cfg.std, np.float32).reshape(3, 1, 1)
    views = [v for vs in load_real(a.real).values() for v in vs]
    groups = {}
    for v in views:
        groups.setdefault((v.dataset, v.frame), []).append(v)
    per_ds = {}
    for (dsname, frame), vs in groups.items():
        xs, Ks = [], []
        for v in vs:  # as fsmde_train.eval.real.evaluate_real builds the input
            rgb = load_image(v.image_path, hw)
            x = (rgb.transpose(2, 0, 1).astype(np.float32) / 255.0 - mean) / std
            K = scale_K(v.K, v.size, (hw[1], hw[0]))
            xs.append(np.concatenate([x, camera_channels(K, v.T_vehicle_cam, hw, focal, net.cfg.geometry_inputs)]))
            Ks.append(K)
        x = torch.from_numpy(np.stack(xs).astype(np.float32))
        p, r = predict(x)
        c = x[:, K_CH].numpy()
        if a.oracle:  # the fit reads LiDAR: p against GT instead of against g (c carries g = GT there)
            gts = np.stack([v.gt_depth(hw) / np.float32((K[0, 0] + K[1, 1]) / 2 / focal) for v, K in zip(vs, Ks)])
            road = np.zeros_like(r, bool)
            for j, (v, K) in enumerate(zip(vs, Ks)):
                g = ground_prior(K, v.T_vehicle_cam, hw, np.nan, 200.0)
                road[j] = (gts[j] > 0) & (np.isfinite(g) & (np.abs(g / np.maximum(gts[j] * (K[0, 0] + K[1, 1]) / 2
                                                                                   / focal, 1e-6) - 1) < 0.05)
                                          if a.oracle == "road" else True)
            c = np.where(gts > 0, 10.0 / np.maximum(gts, 1e-6), -1.0)
            if a.oracle == "reverse":  # log GT = al + be log p, written as the forward map apply_fit inverts
                m = road & np.isfinite(p) & (gts > 0)
                be, al = np.polyfit(np.log(p[m].astype(np.float64)), np.log(gts[m].astype(np.float64)), 1)
                a_, b_, info = -al / be, 1 / be, {"a": -al / be, "b": 1 / be}
            else:
                a_, b_, info = fit_set(p, c, road, g_range=(0.5, 200.0), min_pixels=50, min_bins=2, b_range=(0.05, 5))
        else:
            a_, b_, info = fit_set(p, c, r > 0.5)
        q = apply_fit(p, a_, b_)
        print(f"{dsname} {frame}: {len(vs)} views, fit {info}", flush=True)
        for j, (v, K) in enumerate(zip(vs, Ks)):
            fs = np.float32((K[0, 0] + K[1, 1]) / 2 / focal)
            gt = v.gt_depth(hw)
            proto = PROTOCOL[v.dataset]
            lo, hi = PROTOCOLS[proto]
            row = per_ds.setdefault(dsname, {"raw": [], "ali": [], "gt": [], "p": [], "q": [], "road_ok": [],
                                             "b": []})
            row["raw"].append(depth_metrics(p[j] * fs, gt, proto))
            row["ali"].append(depth_metrics(q[j] * fs, gt, proto))
            m = (gt > lo) & (gt < hi) & np.isfinite(p[j])
            row["gt"].append(gt[m]), row["p"].append(p[j][m] * fs), row["q"].append(q[j][m] * fs)
            g = ground_prior(K, v.T_vehicle_cam, hw, np.nan, 200.0)
            sel = (r[j] > 0.5) & (gt > 0) & np.isfinite(g)
            row["road_ok"].extend((np.abs(g[sel] / gt[sel] - 1) < 0.05).tolist())
            if j == 0:
                row["b"].append(info.get("b", float("nan")) if b_ is not None else float("nan"))
    print("\n| dataset | AbsRel unaligned | AbsRel aligned | δ1 unaligned / aligned | slope vs LiDAR unaligned / "
          "aligned | fitted b per set | road-head pixels on LiDAR road (within 5 % of g) |\n|---|---:|---:|---|---|---|---:|")
    means = []
    for dsname, row in per_ds.items():
        ra, al = average(row["raw"]), average(row["ali"])
        g = np.concatenate(row["gt"])
        means.append((ra["abs_rel"], al["abs_rel"]))
        print(f"| {dsname} | {ra['abs_rel']:.3f} | {al['abs_rel']:.3f} | {ra['d1']:.3f} / {al['d1']:.3f} | "
              f"{slope(g, np.concatenate(row['p'])):.2f} / {slope(g, np.concatenate(row['q'])):.2f} | "
              f"{', '.join(f'{b:.2f}' for b in row['b'])} | {100 * np.mean(row['road_ok']):.0f} % |")
    m = np.mean(means, 0)
    print(f"| mean | {m[0]:.3f} | {m[1]:.3f} | | | | |")
    bands = (0.5, 5, 10, 20, 40, 80, 200)
    print("\nmedian pred/GT by LiDAR distance, unaligned -> aligned\n\n| dataset | "
          + " | ".join(f"{lo:g}–{hi:g} m" for lo, hi in zip(bands[:-1], bands[1:])) + " |\n|---|" + "---|" * 6)
    for dsname, row in per_ds.items():
        g, p, q = (np.concatenate(row[k]) for k in ("gt", "p", "q"))
        cells = []
        for lo, hi in zip(bands[:-1], bands[1:]):
            s = (g >= lo) & (g < hi)
            cells.append(f"×{np.median(p[s] / g[s]):.2f} → ×{np.median(q[s] / g[s]):.2f}" if s.sum() >= 20 else "–")
        print(f"| {dsname} | " + " | ".join(cells) + " |")


if a.real:
    real()
else:
    synthetic()
