"""Depth evaluation metrics and protocols."""
from .metrics import PROTOCOLS, depth_metrics

__all__ = ["PROTOCOLS", "depth_metrics"]
