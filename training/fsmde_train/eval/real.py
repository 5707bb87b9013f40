"""Real frames (data/real.py) through an exported model, against projected LiDAR at the model's output resolution,
with two references that never look at the image's content beside it:

- constant: every pixel at the image's median GT depth (it uses the GT, so it is an upper bound for "no idea");
- flat ground: the depth where each pixel's ray meets the road plane z = 0 of the vehicle frame, from the
  camera's mounting height and orientation, capped at the protocol's range; above the horizon (and beyond the
  cap) the image's median GT depth, as in the constant reference, so the prior is not handicapped by an
  arbitrary far constant.

The image is resized to the model input as the node's GPU path and the training loader do (full decode,
INTER_AREA), K is scaled per axis, and depth is rescaled by the mean focal as the node does.
"""
from __future__ import annotations

import numpy as np

from ..data.real import RealView
from ..data.surround import scale_K
from ..geometry import camera_channels
from .metrics import METRIC_NAMES, PROTOCOLS, average, depth_metrics

PROTOCOL = {"nuscenes": "nuscenes", "ddad": "ddad", "kitti": "nuscenes"}  # KITTI is evaluated to 80 m too


def ground_prior(K: np.ndarray, T_vehicle_cam: np.ndarray, hw: tuple[int, int], above: float,
                 cap: float = 80.0) -> np.ndarray:
    """z-depth [h, w] of the road plane z = 0 seen by a camera at pose T_vehicle_cam; ``above`` where the ray
    does not meet the plane within ``cap`` metres."""
    h, w = hw
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)  # optical z = 1
    down = -(rays @ T_vehicle_cam[:3, :3].T)[..., 2]  # metres dropped per metre of z-depth
    height = T_vehicle_cam[2, 3]
    with np.errstate(divide="ignore"):
        z = np.where(down > 1e-6, height / down, np.inf)
    return np.where(z <= cap, z, above).astype(np.float32)


def load_image(path, hw: tuple[int, int]) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{path}: not a readable image")
    return cv2.cvtColor(cv2.resize(img, (hw[1], hw[0]), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)


def evaluate_real(predict, manifest: dict, views: list[RealView], progress: bool = True) -> dict:
    """``predict(float32 [1, 3, h, w] normalised) -> [1, 1, h, w]`` metres at the canonical focal.

    Returns {"per_view": [...], "per_dataset": {ds: {method: {scale_aware, median_scaled, median_ratio}}}} and
    keeps the arrays for plots under "arrays" (image, gt, predictions per view)."""
    import torch
    from tqdm import tqdm

    hw = (manifest["input"]["height"], manifest["input"]["width"])
    mean = np.asarray(manifest["input"]["mean"], np.float32).reshape(3, 1, 1)
    std = np.asarray(manifest["input"]["std"], np.float32).reshape(3, 1, 1)
    scale = np.float32(manifest["input"]["scale"])
    focal = float(manifest["canonical_focal_px"])
    geometry = tuple(manifest["input"].get("geometry", {}).get("channels", ()))
    rows, arrays = [], []
    for v in tqdm(views, desc="real frames", disable=not progress):
        rgb = load_image(v.image_path, hw)
        x = ((rgb.transpose(2, 0, 1).astype(np.float32) * scale - mean) / std)[None]
        K = scale_K(v.K, v.size, (hw[1], hw[0]))
        if geometry:  # the camera-aware channels the manifest declares, from this camera's K and mounting
            x = np.concatenate([x, camera_channels(K, v.T_vehicle_cam, hw, focal, geometry)[None]], 1)
        with torch.inference_mode():
            out = predict(torch.from_numpy(x))
        pred = np.asarray(out, np.float32)[0, 0] * np.float32((K[0, 0] + K[1, 1]) / 2 / focal)
        gt = v.gt_depth(hw)
        proto = PROTOCOL[v.dataset]
        valid = gt > 0
        med = float(np.median(gt[valid])) if valid.any() else 0.0
        methods = {"model": pred, "constant": np.full(hw, med, np.float32),
                   "flat ground": ground_prior(K, v.T_vehicle_cam, hw, med, PROTOCOLS[proto][1])}
        lo, hi = PROTOCOLS[proto]
        in_range = (gt > lo) & (gt < hi)
        row = {"dataset": v.dataset, "frame": v.frame, "camera": v.camera, "gt_pixels": int(valid.sum()),
               "gt_in_range": int(in_range.sum())}
        for name, p in methods.items():
            m = valid & np.isfinite(p) & (p > 0)
            # the metrics skip pixels without a prediction (NaN: sky / no surface); how many LiDAR points that
            # leaves out is reported beside them, so a model cannot look better by abstaining
            row[name] = {"scale_aware": depth_metrics(p, gt, proto), "median_scaled": depth_metrics(p, gt, proto, True),
                         "median_ratio": float(np.median(p[m] / gt[m])) if m.any() else float("nan"),
                         "covered": int((in_range & np.isfinite(p) & (p > 0)).sum())}
        rows.append(row)
        arrays.append({"rgb": rgb, "gt": gt, "pred": pred, "ground": methods["flat ground"]})
    per_ds = {}
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        sel = [r for r in rows if r["dataset"] == ds]
        per_ds[ds] = {name: {"scale_aware": average([r[name]["scale_aware"] for r in sel]),
                             "median_scaled": average([r[name]["median_scaled"] for r in sel]),
                             "median_ratio": float(np.nanmedian([r[name]["median_ratio"] for r in sel])),
                             "coverage": sum(r[name]["covered"] for r in sel) / max(sum(r["gt_in_range"] for r in sel), 1),
                             "images": len(sel)}
                      for name in ("model", "constant", "flat ground")}
    return {"per_view": rows, "per_dataset": per_ds, "arrays": arrays}


def real_table(res: dict) -> str:
    lines = ["| dataset | images | method | AbsRel | SqRel | RMSE | RMSElog | δ1 | δ2 | δ3 | AbsRel (median-scaled) | "
             "median pred/GT | LiDAR points predicted |", "|---|---:|---|" + "---:|" * 10]
    for ds, methods in res["per_dataset"].items():
        for name, m in methods.items():
            sa, ms = m["scale_aware"], m["median_scaled"]
            cells = [f"{sa[k]:.3f}" if k != "rmse" else f"{sa[k]:.2f}" for k in METRIC_NAMES]
            lines.append(f"| {ds} | {m['images']} | {name} | " + " | ".join(cells)
                         + f" | {ms['abs_rel']:.3f} | {m['median_ratio']:.2f} | "
                         + (f"{100 * m['coverage']:.1f} % |" if "coverage" in m else "– |"))  # metrics before 12-05
    return "\n".join(lines)


DISTANCE_BINS = (0.5, 5.0, 10.0, 20.0, 40.0, 80.0, 200.0)  # m, LiDAR depth


def distance_profile(res: dict, bins=DISTANCE_BINS) -> dict:
    """Per dataset and LiDAR-depth bin: the model's AbsRel, its median pred/GT and the number of LiDAR points (pixels
    the model left NaN are skipped). A median ratio > 1 near and < 1 far is depth squeezed toward the middle, which
    one AbsRel hides. {dataset: {"bins": [...], "abs_rel": [...], "median_ratio": [...], "points": [...]}}."""
    out = {}
    for ds in res["per_dataset"]:
        views = [a for a, r in zip(res["arrays"], res["per_view"]) if r["dataset"] == ds]
        g = np.concatenate([a["gt"][a["gt"] > 0] for a in views])
        p = np.concatenate([a["pred"][a["gt"] > 0] for a in views])
        ok = np.isfinite(p) & (p > 0)
        g, p = g[ok], p[ok]
        prof = {"bins": list(bins), "abs_rel": [], "median_ratio": [], "points": []}
        for lo, hi in zip(bins[:-1], bins[1:]):
            m = (g >= lo) & (g < hi)
            prof["points"].append(int(m.sum()))
            prof["abs_rel"].append(float(np.mean(np.abs(p[m] - g[m]) / g[m])) if m.any() else None)
            prof["median_ratio"].append(float(np.median(p[m] / g[m])) if m.any() else None)
        out[ds] = prof
    return out


def distance_table(profile: dict) -> str:
    """The profile as markdown: one row per dataset, "AbsRel / median pred/GT (points)" per depth bin."""
    bins = next(iter(profile.values()))["bins"]
    head = " | ".join(f"{lo:g}–{hi:g} m" for lo, hi in zip(bins[:-1], bins[1:]))
    lines = [f"| dataset | {head} |", "|---|" + "---:|" * (len(bins) - 1)]
    for ds, pr in profile.items():
        cells = [f"{a:.2f} / ×{r:.2f} ({n})" if n else "–"
                 for a, r, n in zip(pr["abs_rel"], pr["median_ratio"], pr["points"])]
        lines.append(f"| {ds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def real_plots(res: dict, out) -> list:
    """mosaic_<dataset>.png (image / prediction / flat ground / |error| vs GT per view) and error_vs_distance.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from pathlib import Path

    out = Path(out)
    paths = []
    for ds in res["per_dataset"]:
        idx = [i for i, r in enumerate(res["per_view"]) if r["dataset"] == ds][:6]
        fig, axes = plt.subplots(len(idx), 4, figsize=(14, 2.2 * len(idx)), squeeze=False)
        for row, i in zip(axes, idx):
            a, r = res["arrays"][i], res["per_view"][i]
            gt = a["gt"]
            err = np.where(gt > 0, np.abs(a["pred"] - gt) / np.maximum(gt, 1e-3), np.nan)
            model_absrel = r["model"]["scale_aware"].get("abs_rel", float("nan"))
            panels = ((a["rgb"], None, None, r["camera"]),
                      (1 / np.maximum(a["pred"], 0.1), "magma", None, f"model, inverse depth (AbsRel {model_absrel:.2f})"),
                      (1 / np.maximum(a["ground"], 0.1), "magma", None, "flat-ground prior, inverse depth"),
                      (err, "inferno", 1.0, "|pred - LiDAR| / LiDAR (0..1)"))
            for ax, (im, cmap, vmax, title) in zip(row, panels):
                ax.imshow(im, cmap=cmap, vmin=0 if vmax else None, vmax=vmax, interpolation="nearest")
                ax.set_title(title, fontsize=8)
                ax.axis("off")
        fig.tight_layout()
        p = out / f"mosaic_{ds}.png"
        fig.savefig(p, dpi=80)
        plt.close(fig)
        paths.append(p)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for ds, pr in distance_profile(res).items():
        b = np.array(pr["bins"])
        centres = np.sqrt(b[:-1] * b[1:])
        ax.plot(centres, [np.nan if v is None else v for v in pr["abs_rel"]], marker="o", label=ds)
        ax2.plot(centres, [np.nan if v is None else v for v in pr["median_ratio"]], marker="o", label=ds)
    ax.set_ylabel("AbsRel of the model")
    ax2.set_ylabel("median pred / LiDAR (1 = no bias)")
    ax2.axhline(1.0, color="k", lw=0.8)
    ax2.set_yscale("log")
    ax2.set_yticks([0.25, 0.5, 1, 2], ["0.25", "0.5", "1", "2"])
    ax2.minorticks_off()
    for a in (ax, ax2):
        a.set_xscale("log")
        a.set_xlabel("LiDAR depth (m)")
        a.legend()
        a.grid(alpha=0.3)
    p = out / "error_vs_distance.png"
    fig.tight_layout()
    fig.savefig(p, dpi=90)
    plt.close(fig)
    return paths + [p]
