"""Teacher-guided curvature loss (issue 14): shape from the teacher, never its scale."""
from __future__ import annotations

import torch

from fsmde_train.losses.curvature import curvature_loss


def test_curvature_loss_ignores_the_teachers_scale_and_shift_but_not_its_shape():
    g = torch.Generator().manual_seed(0)
    y, x = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 48), indexing="ij")
    inv = (0.05 + 0.3 * y ** 2 + 0.1 * (x > 0.5) + 0.02 * torch.rand(32, 48, generator=g))[None, None]
    depth = 1.0 / inv
    assert float(curvature_loss(depth, inv)) < 1e-4
    assert float(curvature_loss(depth, 12.0 * inv + 3.0)) < 1e-4  # the teacher's affine ambiguity
    other = (0.05 + 0.3 * x ** 2 + 0.1 * (y > 0.3))[None, None]
    assert float(curvature_loss(depth, other)) > 0.3
    d = depth.clone().requires_grad_(True)
    curvature_loss(d, other).backward()
    assert d.grad.abs().sum() > 0
