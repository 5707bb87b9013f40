"""Losses (supervised now; the distillation terms arrive with the training issue)."""
from .supervised import silog_loss

__all__ = ["silog_loss"]
