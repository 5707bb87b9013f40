"""Batches as a pure function of (seed, step): a resumed run sees exactly the batches an uninterrupted one would.

Epoch ``e`` is a permutation drawn from ``seed * 1_000_003 + e``; step ``s`` takes slice ``s % per_epoch`` of
epoch ``s // per_epoch`` (the incomplete tail of each epoch is dropped). With ``world > 1`` each rank takes a
disjoint, equal share of every batch (DistributedSampler's contract, without its epoch bookkeeping).
"""
from __future__ import annotations

import torch
from torch.utils.data import Sampler


class StepBatchSampler(Sampler[list[int]]):
    def __init__(self, n: int, batch_size: int, seed: int, start_step: int, total_steps: int,
                 rank: int = 0, world: int = 1):
        if n < batch_size * world:
            raise ValueError(f"dataset has {n} samples, fewer than one global batch ({batch_size} x {world} ranks)")
        self.n, self.bs, self.seed = n, batch_size, seed
        self.start, self.total, self.rank, self.world = start_step, total_steps, rank, world
        self.per_epoch = n // (batch_size * world)
        self._perm_epoch, self._perm = None, None

    def batch(self, step: int) -> list[int]:
        epoch, k = divmod(step, self.per_epoch)
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm, self._perm_epoch = torch.randperm(self.n, generator=g).tolist(), epoch
        gb = self.bs * self.world
        chunk = self._perm[k * gb:(k + 1) * gb]
        return chunk[self.rank * self.bs:(self.rank + 1) * self.bs]

    def __iter__(self):
        for step in range(self.start, self.total):
            yield self.batch(step)

    def __len__(self):
        return max(0, self.total - self.start)
