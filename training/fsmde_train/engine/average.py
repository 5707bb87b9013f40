"""Uniform weight averaging over the tail of a run (SWA, Izmailov et al. 2018; SWAD, Cha et al. 2021, for domain
generalisation): the exported network is the mean of the weights after each step from ``optim.average_from`` on."""
from __future__ import annotations

import torch


class WeightAverage:
    """Running mean of a network's state dict: float parameters and buffers (BatchNorm statistics too) averaged,
    integer buffers (BatchNorm's step count) the latest. ``state``: a ``state_dict()`` to resume from."""

    def __init__(self, state: dict | None = None):
        self.n = 0 if state is None else int(state["n"])
        self.avg = None if state is None else {k: v.clone() for k, v in state["avg"].items()}

    def update(self, net: torch.nn.Module) -> None:
        sd = net.state_dict()
        if self.avg is None:
            self.avg, self.n = {k: v.detach().clone() for k, v in sd.items()}, 1
            return
        self.n += 1
        with torch.no_grad():
            for k, v in sd.items():
                if v.is_floating_point():
                    self.avg[k] += (v.detach() - self.avg[k]) / self.n
                else:
                    self.avg[k].copy_(v)

    def state_dict(self) -> dict:
        return {"n": self.n, "avg": self.avg}
