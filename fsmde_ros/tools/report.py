"""Demo report: the node's recorded outputs next to the synthetic world's exact depth.

Writes into a folder: ``mosaic_<k>.png`` (per set: camera images / predicted depth / abs. rel. error, laid out
as the rig: front row FL F FR, back row BL B BR), ``bev.png`` (bird's-eye view of fused clouds), ``error_vs_distance.png``,
``metrics.json`` and ``report.md`` (per-camera metrics vs dense GT, rates and per-stage latency from /diagnostics).
Needs fsmde_train (the world's dense depth) and matplotlib: pip-only demo tooling, not part of the node.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from rosbags.highlevel import AnyReader

from ..core.codecs import colorize_depth
from ..core.rig import default_cameras

NUSCENES_ROWS = [["CAM_FRONT_LEFT", "CAM_FRONT", "CAM_FRONT_RIGHT"], ["CAM_BACK_LEFT", "CAM_BACK", "CAM_BACK_RIGHT"]]


def mosaic_rows(cameras: list[str]) -> list[list[str]]:
    """Display layout: the nuScenes six as a driver sees them (front row, back row), any other rig in rows of 3
    in its ring order."""
    if set(cameras) == {c for r in NUSCENES_ROWS for c in r}:
        return NUSCENES_ROWS
    return [cameras[i:i + 3] for i in range(0, len(cameras), 3)]


def _gt_index(world: Path, version: str) -> dict:
    rows = json.loads((world / version / "sample_data.json").read_text())
    return {(r["timestamp"], r["filename"].split("/")[1]): r for r in rows if r["fileformat"] == "jpg"}


def _sample_nearest(d: np.ndarray, h: int, w: int) -> np.ndarray:
    H, W = d.shape
    v = np.clip(((np.arange(h) + 0.5) * H / h).astype(int), 0, H - 1)
    u = np.clip(((np.arange(w) + 0.5) * W / w).astype(int), 0, W - 1)
    return d[v[:, None], u[None, :]]


def build_report(out_bag, world, out_dir, version="v1.0-synth", max_mosaics=30, cameras=None) -> dict:
    """Report of a recording of the node's outputs against the synthetic world's exact depth. ``cameras``: the rig's
    cameras in ring order (default: those with depth topics in the recording)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fsmde_train.eval.metrics import METRIC_NAMES, average, depth_metrics
    from fsmde_train.synth import load_dense_depth

    world, out = Path(world), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gt_index = _gt_index(world, version)
    depth_by_set: dict[int, dict] = {}
    clouds, diags = [], []
    with AnyReader([Path(out_bag)]) as r:
        for conn, t, raw in r.messages():
            if conn.topic.endswith("/depth/image"):
                m = r.deserialize(raw, conn.msgtype)
                cam = conn.topic.split("/")[-3]
                st = m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec
                d = np.frombuffer(bytes(m.data), np.float32).reshape(m.height, m.width).copy()
                depth_by_set.setdefault(st // 1000, {})[cam] = d  # keyed per camera stamp (µs)
            elif conn.topic.endswith("points"):
                m = r.deserialize(raw, conn.msgtype)
                a = np.frombuffer(bytes(m.data), np.float32).reshape(-1, 4)
                clouds.append((m.header.stamp.sec + m.header.stamp.nanosec * 1e-9, a))
            elif conn.topic == "/diagnostics":
                diags.append(r.deserialize(raw, conn.msgtype))
    if cameras:
        cams_all = list(cameras)
    else:  # the recorded cameras, in the installed rig's ring order where it knows them
        present = list(dict.fromkeys(c for s in depth_by_set.values() for c in s))
        ring = default_cameras()
        cams_all = [c for c in ring if c in present] + [c for c in present if c not in ring]
    rows_layout = mosaic_rows(cams_all)
    per_cam = {c: [] for c in cams_all}
    err_d, err_r = [], []
    preds = {}
    for us, cams in depth_by_set.items():
        for cam, d in cams.items():
            rec = gt_index.get((us, cam))
            if rec is None or cam not in per_cam:
                continue
            gt = _sample_nearest(load_dense_depth(world, rec["filename"]), *d.shape)
            per_cam[cam].append(depth_metrics(d, gt, "nuscenes"))
            m = (gt > 0.5) & (gt < 80) & np.isfinite(d)
            err_d.append(gt[m])
            err_r.append(np.abs(d[m] - gt[m]) / gt[m])
            preds[(us, cam)] = (d, gt, rec)
    cam_metrics = {c: average(rows) for c, rows in per_cam.items()}
    mean = {k: float(np.mean([cam_metrics[c][k] for c in cams_all if cam_metrics[c]])) for k in METRIC_NAMES} \
        if any(cam_metrics.values()) else {}

    # mosaics: group camera stamps into sets by the first camera's stamp order
    fronts = sorted(us for (us, cam) in preds if cam == cams_all[0]) if cams_all else []
    mosaics = []
    for k, us_front in enumerate(fronts[:: max(1, len(fronts) // max_mosaics)][:max_mosaics]):
        tiles = []
        for row in rows_layout:
            img_row, dep_row, err_row = [], [], []
            for cam in row:
                cand = [(abs(us - us_front), us) for (us, c) in preds if c == cam and abs(us - us_front) < 60_000]
                if not cand:
                    continue
                d, gt, rec = preds[(min(cand)[1], cam)]
                h, w = d.shape
                img = cv2.resize(cv2.imread(str(world / rec["filename"])), (w, h), interpolation=cv2.INTER_AREA)
                img_row.append(img)
                dep_row.append(colorize_depth(d, 0.5, 80.0))
                e = np.where(gt > 0, np.abs(d - gt) / np.maximum(gt, 1e-3), 0)
                err_row.append(cv2.applyColorMap((np.clip(np.nan_to_num(e) / 0.3, 0, 1) * 255).astype(np.uint8),
                                                 cv2.COLORMAP_INFERNO))
            if img_row and len(img_row) == len(row):
                pad = len(rows_layout[0]) - len(row)  # a short last row keeps the mosaic rectangular
                blank = [np.zeros_like(img_row[0])] * pad
                tiles += [np.concatenate(img_row + blank, 1), np.concatenate(dep_row + blank, 1),
                          np.concatenate(err_row + blank, 1)]
        if tiles:
            p = out / f"mosaic_{k}.png"
            cv2.imwrite(str(p), np.concatenate(tiles, 0))
            mosaics.append(p.name)

    if clouds:
        _, a = clouds[len(clouds) // 2]
        rgb = a[:, 3].copy().view(np.uint32)
        colors = np.stack([(rgb >> 16) & 255, (rgb >> 8) & 255, rgb & 255], 1) / 255.0
        fig, ax = plt.subplots(figsize=(8, 8))
        ax.scatter(-a[:, 1], a[:, 0], s=0.3, c=colors)
        ax.plot(0, 0, "r^", ms=10)
        ax.set(xlim=(-40, 40), ylim=(-40, 40), xlabel="-y (m, right)", ylabel="x (m, forward)", aspect="equal",
               title=f"fused cloud, bird's-eye view ({len(a)} points, base_link)")
        fig.savefig(out / "bev.png", dpi=110, bbox_inches="tight")
        plt.close(fig)
    if err_d:
        dd, rr = np.concatenate(err_d), np.concatenate(err_r)
        bins = np.arange(0, 85, 5)
        idx = np.digitize(dd, bins)
        med = [np.median(rr[idx == i]) if (idx == i).any() else np.nan for i in range(1, len(bins))]
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.bar(bins[:-1] + 2.5, med, width=4.5)
        ax.set(xlabel="GT depth (m)", ylabel="median abs. rel. error", title="depth error vs distance (all cameras)")
        fig.savefig(out / "error_vs_distance.png", dpi=110, bbox_inches="tight")
        plt.close(fig)

    runtime = {}
    if diags:
        vals = {kv.key: kv.value for kv in diags[-1].status[0].values}
        runtime = {k: v for k, v in vals.items() if not k.startswith("rate /")}
    result = {"sets_with_depth": len(fronts), "clouds": len(clouds), "metrics_mean": mean, "metrics_per_camera": cam_metrics,
              "runtime": runtime, "mosaics": mosaics}
    (out / "metrics.json").write_text(json.dumps(result, indent=2))
    lines = ["# fsmde demo report", "", f"Sets published: {len(fronts)}, clouds: {len(clouds)}.", "",
             "## Depth vs the world's exact depth (nuScenes protocol, 0.5-80 m, scale-aware)", "",
             "| camera | " + " | ".join(METRIC_NAMES) + " |", "|---" * (len(METRIC_NAMES) + 1) + "|"]
    for c in cams_all:
        if cam_metrics[c]:
            lines.append(f"| {c} | " + " | ".join(f"{cam_metrics[c][k]:.3f}" for k in METRIC_NAMES) + " |")
    if mean:
        lines.append("| **mean** | " + " | ".join(f"**{mean[k]:.3f}**" for k in METRIC_NAMES) + " |")
    lines += ["", "## Node runtime (last /diagnostics)", ""] + [f"- {k}: {v}" for k, v in runtime.items()]
    lines += ["", "## Pictures", ""] + [f"![{m}]({m})" for m in mosaics] + ["![bev](bev.png)",
                                                                            "![error](error_vs_distance.png)"]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return result
