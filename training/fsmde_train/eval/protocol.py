"""Evaluate a depth predictor over a SurroundDataset: per-camera and mean metrics, both protocols, scale-aware
and median-scaled, error against distance, and cross-view disagreement in the overlaps of adjacent cameras.

``predict(image [N, 3, H, W] float32 torch) -> depth [N, 1, H, W]`` in metres at the *canonical* focal length
(what the network and the exported model output); predictions are multiplied by ``focal_scale`` here, as the
node does.
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from .. import CAMERAS
from .metrics import METRIC_NAMES, PROTOCOLS, average, depth_metrics

DISTANCE_BINS = (0, 5, 10, 20, 40, 80, 200)


def cross_view_disagreement(depth: np.ndarray, K: np.ndarray, T_ego_cam: np.ndarray, max_depth: float = 80.0):
    # T_ego_cam: camera -> a frame common to the set (the batch's T_ref_cam; T_ego_cam ignores the ego motion
    # between the cameras' exposures, which raises even GT's floor)
    """Mean |d_j(p') - z'| / z' over pixels of view i that project into view j = i + 1 (ring pairs).

    depth [N, H, W] metres (0/NaN = none), K [N, 3, 3], T_ego_cam [N, 4, 4]. Each pixel of view i is lifted with
    its depth, moved into camera j, projected; where it lands inside j's image in front of the camera, its z'
    is compared with j's depth at that pixel (nearest). Occlusion is not modelled, so even GT has a floor
    (reported beside it). Returns (mean over pairs, per-pair list); NaN where a pair has no overlap.
    """
    n, h, w = depth.shape
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    per_pair = []
    for i in range(n):
        j = (i + 1) % n
        d = depth[i].astype(np.float64)
        m = np.isfinite(d) & (d > 0) & (d < max_depth)
        if not m.any():
            per_pair.append(float("nan"))
            continue
        x = (u[m] - K[i, 0, 2]) / K[i, 0, 0] * d[m]
        y = (v[m] - K[i, 1, 2]) / K[i, 1, 1] * d[m]
        p = np.stack([x, y, d[m], np.ones_like(x)])
        q = np.linalg.inv(T_ego_cam[j]) @ T_ego_cam[i] @ p
        z = q[2]
        front = z > 0.5
        uj = np.round(K[j, 0, 0] * q[0][front] / z[front] + K[j, 0, 2]).astype(int)
        vj = np.round(K[j, 1, 1] * q[1][front] / z[front] + K[j, 1, 2]).astype(int)
        zj = z[front]
        inside = (uj >= 0) & (uj < w) & (vj >= 0) & (vj < h)
        dj = depth[j][vj[inside], uj[inside]].astype(np.float64)
        ok = np.isfinite(dj) & (dj > 0)
        if not ok.any():
            per_pair.append(float("nan"))
            continue
        zz = zj[inside][ok]
        per_pair.append(float(np.mean(np.abs(dj[ok] - zz) / zz)))
    return float(np.nanmean(per_pair)) if np.isfinite(per_pair).any() else float("nan"), per_pair


# log(pred/GT) histogram per distance bin, for the median ratio without keeping every pixel: 0.002 wide in log,
# so the median is exact to 0.1 %; ratios outside e^±4 fall into the end bins.
LOG_RATIO_EDGES = np.linspace(-4.0, 4.0, 4001)


def _by_distance(pred, gt, lo, hi, acc, hist):
    m = (gt > lo) & (gt < hi) & np.isfinite(pred) & (pred > 0)
    p, g = np.clip(pred[m], lo, hi), gt[m]
    idx = np.digitize(g, DISTANCE_BINS) - 1
    lr = np.clip(np.log(p / g), LOG_RATIO_EDGES[0], LOG_RATIO_EDGES[-1])
    for b in range(len(DISTANCE_BINS) - 1):
        sel = idx == b
        if sel.any():
            acc[b][0] += float(np.sum(np.abs(p[sel] - g[sel]) / g[sel]))
            acc[b][1] += int(sel.sum())
            hist[b] += np.histogram(lr[sel], LOG_RATIO_EDGES)[0]


def _hist_median_ratio(h: np.ndarray) -> float | None:
    """Median pred/GT from a log-ratio histogram (the bin centre where the cumulative count passes half)."""
    if h.sum() == 0:
        return None
    k = int(np.searchsorted(np.cumsum(h), h.sum() / 2))
    return float(np.exp((LOG_RATIO_EDGES[k] + LOG_RATIO_EDGES[k + 1]) / 2))


@torch.no_grad()
def evaluate(predict, ds, gt: str = "dense", protocols=("nuscenes", "ddad"), progress: bool = False,
             batch_sets: int = 1) -> dict:
    """Metrics of ``predict`` on every camera set of ``ds``.

    Returns ``{protocol: {"scale_aware" | "median_scaled": {"mean": {...}, "per_camera": {cam: {...}}}},
    "cross_view": {"pred", "gt", "per_pair"}, "abs_rel_by_distance": {"bins", "abs_rel", "median_ratio", "pixels"},
    "n_sets"}`` (median_ratio: median pred/GT per GT-distance bin; > 1 near and < 1 far is depth squeezed toward the
    middle, which one AbsRel hides).
    The mean is over cameras of per-camera means of per-image metrics (nuScenes convention).
    """
    key = {"dense": "depth_dense", "lidar": "depth"}[gt]
    cameras = tuple(getattr(ds, "cameras", CAMERAS))  # the dataset's rig, ring order
    rows = {(p, s, c): [] for p in protocols for s in ("scale_aware", "median_scaled") for c in cameras}
    dist_acc = [[0.0, 0] for _ in range(len(DISTANCE_BINS) - 1)]
    dist_hist = np.zeros((len(DISTANCE_BINS) - 1, len(LOG_RATIO_EDGES) - 1), np.int64)
    cv_pred, cv_gt, cv_pairs = [], [], []
    nan_counts = np.zeros(4, np.int64)  # sky NaN, sky, surface NaN, surface (dense GT only: 0 = sky)
    for i in tqdm(range(len(ds)), desc="evaluating", disable=not progress):
        b = ds[i]
        # a stateful predictor (eval/temporal.py) also needs the sample: which set, so which stamp and scene
        out = predict(b["image"], b) if getattr(predict, "stateful", False) else predict(b["image"])
        pred = out.float()[:, 0] * b["focal_scale"][:, None, None]
        pred, g = pred.cpu().numpy(), b[key][:, 0].numpy()
        if not (g > 0).any():
            raise ValueError(f"evaluation GT '{gt}' is empty for set {i} (the dataset has no {key})")
        for j, c in enumerate(cameras):
            for p in protocols:
                rows[(p, "scale_aware", c)].append(depth_metrics(pred[j], g[j], p))
                rows[(p, "median_scaled", c)].append(depth_metrics(pred[j], g[j], p, median_scale=True))
            _by_distance(pred[j], g[j], *PROTOCOLS[protocols[-1]], dist_acc, dist_hist)
        # the set's common frame (ego motion between the exposures included) where the dataset gives it
        K, T = b["K"].numpy().astype(np.float64), b.get("T_ref_cam", b["T_ego_cam"]).numpy().astype(np.float64)
        m, pairs = cross_view_disagreement(pred, K, T)
        cv_pred.append(m), cv_pairs.append(pairs)
        if gt == "dense":
            cv_gt.append(cross_view_disagreement(g, K, T)[0])
            sky, nan = g <= 0, ~np.isfinite(pred)
            nan_counts += [int((nan & sky).sum()), int(sky.sum()), int((nan & ~sky).sum()), int((~sky).sum())]
    out = {"n_sets": len(ds), "gt": gt}
    if gt == "dense":  # the validity output: sky should be NaN (REP-118's "no return"), surfaces should not
        out["invalid"] = {"sky_nan": float(nan_counts[0] / max(1, nan_counts[1])),
                          "surface_nan": float(nan_counts[2] / max(1, nan_counts[3])), "sky_pixels": int(nan_counts[1])}
    for p in protocols:
        out[p] = {}
        for s in ("scale_aware", "median_scaled"):
            cams = {c: average(rows[(p, s, c)]) for c in cameras}
            mean = {k: float(np.mean([cams[c][k] for c in cameras if cams[c]])) for k in METRIC_NAMES}
            out[p][s] = {"mean": mean, "per_camera": cams}
    out["cross_view"] = {"pred": float(np.nanmean(cv_pred)), "gt": float(np.nanmean(cv_gt)) if cv_gt else None,
                         "per_pair": [float(x) for x in np.nanmean(np.array(cv_pairs), axis=0)]}
    out["abs_rel_by_distance"] = {"bins": list(DISTANCE_BINS),
                                  "abs_rel": [a / n if n else None for a, n in dist_acc],
                                  "median_ratio": [_hist_median_ratio(h) for h in dist_hist],
                                  "pixels": [n for _, n in dist_acc]}
    return out


def torch_predictor(net, device="cpu"):
    net.eval()

    def predict(image):
        return net(image.to(device))["depth"]

    return predict
