"""Teacher guidance for runs without depth GT (issue 14): the curvature loss and the teacher SSI term take shape
from the teacher, never its scale."""
from __future__ import annotations

import pytest
import torch

from fsmde_train.losses.curvature import curvature_loss
from fsmde_train.losses.ssi import teacher_ssi_loss


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


def test_teacher_ssi_takes_the_teachers_near_structure_but_not_its_scale_or_its_far_range():
    """A street: road ramp, a textureless box 5 m away (what a photometric warp cannot place), far background. The
    teacher is the inverse depth under an affine map with its far range compressed (40 % near beyond 20 m, as the
    learned teacher's is). The exact depth must score near 0 at any scale, and far below the same depth with the
    box pushed back to where the road behind it is; gradients reach the student only."""
    y, x = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 48), indexing="ij")
    depth = torch.where(y > 0.5, 3.0 / (y - 0.45), torch.full_like(y, 60.0)).clamp(max=60.0)
    box = (y > 0.35) & (y < 0.8) & (x > 0.6) & (x < 0.9)
    depth = torch.where(box, torch.full_like(depth, 5.0), depth)[None, None]
    compressed = torch.where(depth > 20, 20 + 0.6 * (depth - 20), depth)
    teacher = (8.0 / compressed + 0.2).requires_grad_(True)
    exact = float(teacher_ssi_loss(depth, teacher))
    assert exact < 0.1  # only the compressed far range differs (0.052 here)
    assert float(teacher_ssi_loss(depth * 1.7, teacher)) == pytest.approx(exact, rel=1e-4)  # no scale asked
    pushed_back = torch.where(box[None, None], torch.full_like(depth, 12.0), depth)
    assert float(teacher_ssi_loss(pushed_back, teacher)) > 5 * exact
    d = pushed_back.clone().requires_grad_(True)
    teacher_ssi_loss(d, teacher).backward()
    assert d.grad[box[None, None]].abs().sum() > 0 and teacher.grad is None


def test_teacher_guidance_diagnostic_finds_a_misplaced_textureless_box():
    """eval/teacher_guidance.py on a scene with an exact teacher: the exact depth scores 0 everywhere; a student that
    pushes a textureless box 2.4x too far is 1.4 AbsRel off on the blind pixels, where the teacher fitted to that
    student's textured pixels is right."""
    from fsmde_train.eval.teacher_guidance import view_stats

    g = torch.Generator().manual_seed(0)
    y, x = torch.meshgrid(torch.linspace(0, 1, 48), torch.linspace(0, 1, 64), indexing="ij")
    gt = torch.where(y > 0.5, 3.0 / (y - 0.45), torch.full_like(y, 60.0)).clamp(max=60.0)
    box = (y > 0.3) & (y < 0.8) & (x > 0.5) & (x < 0.85)
    gt = torch.where(box, torch.full_like(gt, 5.0), gt)[None, None]
    rgb = torch.rand(1, 3, 48, 64, generator=g)
    rgb[..., box] = 0.2  # uniform: no texture inside the box
    pushed = torch.where(box[None, None], torch.full_like(gt, 12.0), gt)
    r = view_stats(1.0 / gt, gt, rgb, {"exact": gt, "pushed": pushed})[0]
    assert r["teacher fit to GT"] < 1e-3 and r["ssi/exact"] < 1e-4 and r["exact"] < 1e-6
    assert r["blind: exact"] < 1e-6 and r["blind: teacher fit to exact"] < 1e-3
    assert r["blind: pushed"] == pytest.approx(1.4, abs=0.05)
    assert r["blind: teacher fit to pushed"] < 0.05
    assert r["ssi/pushed"] > r["ssi/exact"] + 0.1
