"""Evaluating a temporal student (model.temporal) the way the node runs it: camera sets in time order, each fed the
previous set's state, which is dropped (validity 0) at a new scene, on a stamp that does not move forward and after
more than ``max_gap_s`` (the node's temporal_max_gap; fsmde_ros/core/temporal.py has the same rules).

``evaluate`` calls a predictor with ``stateful = True`` as ``predict(image, sample)``; the sample's ``index``
finds the set's stamp and scene in the dataset. ``history=False`` runs the same network with the state always
dropped: the difference between the two is what the state adds.
"""
from __future__ import annotations

import numpy as np
import torch


class TemporalPredictor:
    stateful = True

    def __init__(self, net, stamps_us: np.ndarray, scenes: list[str], max_gap_s: float = 0.5,
                 history: bool = True, device: str = "cpu"):
        if not net.cfg.temporal:
            raise ValueError("TemporalPredictor needs a network with model.temporal")
        self.net, self.device, self.history = net.eval(), device, history
        self.stamps = np.asarray(stamps_us).max(1)  # a set's stamp: its latest exposure
        self.scenes, self.max_gap_us = scenes, int(max_gap_s * 1e6)
        self.prev = None  # (state, stamp, scene)
        self.used, self.resets = 0, 0

    @torch.no_grad()
    def __call__(self, image: torch.Tensor, sample: dict) -> torch.Tensor:
        i = int(sample["index"].flatten()[0])
        stamp, scene = int(self.stamps[i]), self.scenes[i]
        image = image.to(self.device)
        ok = (self.history and self.prev is not None and self.prev[2] == scene
              and 0 < stamp - self.prev[1] <= self.max_gap_us)
        if ok:
            out = self.net(image, self.prev[0], torch.ones(image.shape[0], device=self.device))
            self.used += 1
        else:
            out = self.net(image)
            self.resets += 1
        self.prev = (out["state"], stamp, scene)
        return out["depth"]
