"""Teacher-guided curvature loss (issue 14): shape from the teacher, never its scale."""
from __future__ import annotations

import pytest
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


def test_pooled_curvature_ranks_the_exact_depth_first_against_a_blurred_teacher(tiny_world, nusc):
    """A foundation model's map is smooth at its patch size. With a teacher that is the world's exact inverse depth
    under an affine map and a 13 px blur, the exact depth must score lower than a constant, a ramp, a blurred or a
    noisy depth. Compared per pixel (scales=(1,)) the exact depth's edge spikes make it lose to a plain ramp — the
    reason the loss pools."""
    import torch.nn.functional as F

    from fsmde_train.data import SurroundDataset

    ds = SurroundDataset(tiny_world, "v1.0-synth", input_hw=(128, 224), sweeps=False, gt="dense", progress=False,
                         nusc=nusc)
    gt = ds[0]["depth_dense"]
    g = torch.where(gt > 0, gt, torch.full_like(gt, 100.0))  # sky: far
    teacher = 7.0 * F.avg_pool2d(1.0 / g, 13, 1, 6, count_include_pad=False) + 0.3
    gen = torch.Generator().manual_seed(0)
    worse = {"constant": torch.full_like(g, 10.0) * (1 + 0.01 * torch.rand(g.shape, generator=gen)),
             "ramp": torch.linspace(2, 50, 128).view(1, 1, 128, 1).expand_as(g).contiguous(),
             "blurred": F.avg_pool2d(g, 25, 1, 12, count_include_pad=False),
             "noisy": g * (1 + 0.1 * torch.randn(g.shape, generator=gen))}
    exact = float(curvature_loss(g, teacher))
    assert float(curvature_loss(g * 1.7, teacher)) == pytest.approx(exact, rel=1e-4)  # no scale asked
    for name, d in worse.items():
        assert exact < float(curvature_loss(d, teacher)), name
    assert float(curvature_loss(g, teacher, scales=(1,))) > float(curvature_loss(worse["ramp"], teacher, scales=(1,)))
