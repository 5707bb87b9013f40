"""Spatial fusion between the surround views inside the student (issue 14, item 3; SurroundDepth's cross-view
transformer, reduced to what a 2-core CPU and the node's latency allow).

``CrossViewAttention`` works on the encoder's stride-32 bottleneck of whole camera sets: the batch is
[B * N, C, h, w] in rig order (views of one set consecutive; the ring CAM_FRONT, CAM_FRONT_RIGHT, ...,
CAM_FRONT_LEFT closes, so view v's neighbours are v - 1 and v + 1 mod N). Every token of a view attends to all
tokens of its two neighbours (the views it overlaps), plus a learned left/right embedding on the keys so the
attention knows which side a neighbour is on. The result is added through a learned gate that starts at 0:
an untrained block is the identity, so it can be switched on when fine-tuning an existing model (init_from).

Written with plain matmul/softmax (no nn.MultiheadAttention) so ONNX, torch.export and TensorRT see the same ops.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn


class CrossViewAttention(nn.Module):
    def __init__(self, channels: int, n_cam: int, heads: int = 4):
        super().__init__()
        if channels % heads:
            raise ValueError(f"model.cross_view_heads ({heads}) must divide the bottleneck channels ({channels})")
        if n_cam < 3:
            raise ValueError(f"model.cross_view needs a ring of at least 3 cameras per set, got model.n_cam={n_cam}")
        self.n, self.heads, self.dim = n_cam, heads, channels // heads
        self.norm_q, self.norm_kv = nn.LayerNorm(channels), nn.LayerNorm(channels)
        self.q, self.k, self.v = (nn.Linear(channels, channels) for _ in range(3))
        self.out = nn.Linear(channels, channels)
        self.side = nn.Parameter(torch.zeros(2, channels))  # left (v - 1) / right (v + 1) neighbour
        nn.init.normal_(self.side, std=0.02)
        self.gate = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bn, c, h, w = x.shape
        n, L = self.n, h * w
        t = x.flatten(2).transpose(1, 2).reshape(-1, n, L, c)  # [B, N, L, C]; B * N must equal bn
        kv = self.norm_kv(torch.cat([torch.roll(t, 1, dims=1) + self.side[0], torch.roll(t, -1, dims=1) + self.side[1]],
                                    dim=2))  # [B, N, 2L, C]: view v - 1's tokens, then view v + 1's

        def heads(z):  # [B, N, M, C] -> [B, N, heads, M, dim]
            return z.reshape(z.shape[0], n, z.shape[2], self.heads, self.dim).transpose(2, 3)

        q, k, v = heads(self.q(self.norm_q(t))), heads(self.k(kv)), heads(self.v(kv))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.dim), dim=-1)  # [B, N, heads, L, 2L]
        o = (att @ v).transpose(2, 3).reshape(-1, n, L, c)
        o = self.out(o).reshape(bn, L, c).transpose(1, 2).reshape(bn, c, h, w)
        return x + self.gate * o


def check_whole_sets(batch: int, n_cam: int) -> None:
    """Cross-view fusion needs whole camera sets in rig order; say so instead of mixing views of two sets."""
    if batch % n_cam:
        raise ValueError(f"model.cross_view: the batch holds {batch} views, not whole sets of model.n_cam={n_cam} "
                         f"cameras in rig order (CAM_FRONT, CAM_FRONT_RIGHT, ..., CAM_FRONT_LEFT)")


class TemporalFusion(nn.Module):
    """The previous camera set's bottleneck features fused into the current set's, per view (same camera).

    ``fused = x + valid * mix([x, prev])`` with ``valid`` [B*N] in {0, 1}: 0 after a reset (first set, a gap, a
    bag loop, a view that was missing), and then the output is exactly ``x``. ``mix``'s last convolution starts
    at 0, so an untrained block is the identity too. The previous features are not motion-compensated: at stride
    32 a 12 Hz set moves the scene by a fraction of a cell except for the nearest objects.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.mix = nn.Sequential(nn.Conv2d(2 * channels, channels, 1), nn.ReLU(inplace=True),
                                 nn.Conv2d(channels, channels, 3, padding=1))
        nn.init.zeros_(self.mix[-1].weight)
        nn.init.zeros_(self.mix[-1].bias)

    def forward(self, x: torch.Tensor, prev: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        return x + valid.to(x.dtype).view(-1, 1, 1, 1) * self.mix(torch.cat([x, prev], 1))
