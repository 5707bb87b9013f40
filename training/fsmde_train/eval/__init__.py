"""Depth evaluation: metrics, protocols (nuScenes 80 m / DDAD 200 m), cross-view disagreement, reports."""
from .metrics import METRIC_NAMES, PROTOCOLS, depth_metrics
from .protocol import cross_view_disagreement, evaluate, torch_predictor

__all__ = ["METRIC_NAMES", "PROTOCOLS", "cross_view_disagreement", "depth_metrics", "evaluate", "torch_predictor"]
