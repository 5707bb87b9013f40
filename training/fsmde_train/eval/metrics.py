"""Standard monocular depth metrics (Eigen et al.), scale-aware or per-image median-scaled.

Protocols: nuScenes caps GT at 80 m, DDAD at 200 m; both ignore GT below 0.5 m (``min_depth``).
"""
from __future__ import annotations

import numpy as np

PROTOCOLS = {"nuscenes": (0.5, 80.0), "ddad": (0.5, 200.0)}
METRIC_NAMES = ("abs_rel", "sq_rel", "rmse", "rmse_log", "d1", "d2", "d3")


def depth_metrics(pred: np.ndarray, gt: np.ndarray, protocol: str = "nuscenes", median_scale: bool = False) -> dict:
    """Metrics of one image (any shape; gt 0 = no measurement). Returns {} when no pixel is valid."""
    lo, hi = PROTOCOLS[protocol]
    m = (gt > lo) & (gt < hi) & np.isfinite(pred) & (pred > 0)
    if not m.any():
        return {}
    p, g = pred[m].astype(np.float64), gt[m].astype(np.float64)
    if median_scale:
        p = p * np.median(g) / np.median(p)
    p = np.clip(p, lo, hi)
    ratio = np.maximum(p / g, g / p)
    return {
        "abs_rel": float(np.mean(np.abs(p - g) / g)),
        "sq_rel": float(np.mean((p - g) ** 2 / g)),
        "rmse": float(np.sqrt(np.mean((p - g) ** 2))),
        "rmse_log": float(np.sqrt(np.mean((np.log(p) - np.log(g)) ** 2))),
        "d1": float(np.mean(ratio < 1.25)),
        "d2": float(np.mean(ratio < 1.25 ** 2)),
        "d3": float(np.mean(ratio < 1.25 ** 3)),
    }


def average(rows: list[dict]) -> dict:
    rows = [r for r in rows if r]
    return {k: float(np.mean([r[k] for r in rows])) for k in METRIC_NAMES} if rows else {}
