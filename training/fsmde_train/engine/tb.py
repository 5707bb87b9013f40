"""TensorBoard logging (main rank only): scalars and colourised depth of the first camera set of a batch."""
from __future__ import annotations

import cv2
import numpy as np
import torch


def colorize(depth: np.ndarray, lo: float = 0.5, hi: float = 80.0) -> np.ndarray:
    """Depth [H, W] metres -> RGB uint8 [H, W, 3] (inverse-depth turbo; 0/NaN black)."""
    valid = np.isfinite(depth) & (depth > 0)
    inv = np.where(valid, 1.0 / np.clip(depth, lo, hi), 0)
    t = np.clip((inv - 1 / hi) / (1 / lo - 1 / hi), 0, 1) ** 0.5
    rgb = cv2.applyColorMap((t * 255).astype(np.uint8), cv2.COLORMAP_TURBO)[:, :, ::-1].copy()
    rgb[~valid] = 0
    return rgb


class TBLogger:
    def __init__(self, log_dir, enabled: bool = True):
        self.w = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self.w = SummaryWriter(str(log_dir))

    def scalars(self, step: int, values: dict) -> None:
        if self.w:
            for k, v in values.items():
                self.w.add_scalar(k, float(v), step)

    def depth_images(self, step: int, pred: torch.Tensor, gt: torch.Tensor, n_cam: int) -> None:
        """pred/gt [B * N, 1, H, W] metres: one image per row (prediction above GT), six views side by side."""
        if not self.w:
            return
        p = np.concatenate([colorize(x[0]) for x in pred[:n_cam].detach().float().cpu().numpy()], axis=1)
        g = np.concatenate([colorize(x[0]) for x in gt[:n_cam].detach().float().cpu().numpy()], axis=1)
        self.w.add_image("depth/pred_over_gt", np.concatenate([p, g], axis=0), step, dataformats="HWC")

    def reconstructions(self, step: int, warps: dict, n_cam: int) -> None:
        """The first set's views at t (top), re-synthesised from t-1 (middle) and from the left ring neighbour
        (bottom), pixels with no source black: where the depth is right the rows agree."""
        if not self.w:
            return

        def row(x, valid=None):
            x = x[:n_cam].detach().float().cpu()
            if valid is not None:
                x = x * valid[:n_cam].detach().float().cpu()
            return np.concatenate([(v.permute(1, 2, 0).numpy().clip(0, 1) * 255).astype(np.uint8) for v in x], 1)

        grid = [row(warps["target"]), row(*warps["temporal"][0][:2]), row(*warps["spatial"][0])]
        self.w.add_image("reconstruction/target_from_prev_from_left", np.concatenate(grid, 0), step,
                         dataformats="HWC")

    def close(self) -> None:
        if self.w:
            self.w.close()
