"""Losses: supervised (SILog, bin centres), depth distillation (plain, cross-interaction), view-relational KD."""
from .distill import align_to_metric, bin_probabilities, ci_kd_loss, plain_kd_loss
from .objective import LossConfig, Objective
from .relational import relation_matrices, ring_pairs, vr_kd_loss
from .supervised import bin_centre_loss, silog_loss

__all__ = ["LossConfig", "Objective", "align_to_metric", "bin_centre_loss", "bin_probabilities", "ci_kd_loss",
           "plain_kd_loss", "relation_matrices", "ring_pairs", "silog_loss", "vr_kd_loss"]
