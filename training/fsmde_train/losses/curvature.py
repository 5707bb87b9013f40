"""Teacher-guided curvature loss (Semi-SMD's "depth world model" guidance; issue 14).

The teacher's relative depth has the right *shape* (planes, creases, object boundaries) but no scale or shift.
Second derivatives of inverse depth are zero on fronto-parallel planes and linear along a slanted plane's
rays, and spike at creases and edges; after normalising each map per image (median / mean absolute deviation,
as the SSI loss does) they are invariant to the teacher's affine ambiguity, so the student can be asked to
share the teacher's curvature without ever being asked for its scale.

student_depth [B, 1, H, W] metres; teacher_rel [B, 1, H, W] relative inverse depth (DA-V2 convention).
"""
from __future__ import annotations

import torch


def _second_derivatives(x: torch.Tensor) -> torch.Tensor:
    """[B, 1, H, W] -> [B, 3, H-2, W-2]: d2/dx2, d2/dy2, d2/dxdy (central differences)."""
    c = x[..., 1:-1, 1:-1]
    dxx = x[..., 1:-1, 2:] - 2 * c + x[..., 1:-1, :-2]
    dyy = x[..., 2:, 1:-1] - 2 * c + x[..., :-2, 1:-1]
    dxy = (x[..., 2:, 2:] - x[..., 2:, :-2] - x[..., :-2, 2:] + x[..., :-2, :-2]) / 4
    return torch.cat([dxx, dyy, dxy], 1)


def _normalise(d: torch.Tensor) -> torch.Tensor:
    flat = d.flatten(1)
    t = flat.median(1).values
    s = (flat - t[:, None]).abs().mean(1).clamp_min(1e-8)
    return (d - t.view(-1, 1, 1, 1)) / s.view(-1, 1, 1, 1)


def curvature_loss(student_depth: torch.Tensor, teacher_rel: torch.Tensor) -> torch.Tensor:
    """Mean |normalised curvature of the student's inverse depth - the teacher's|; 0 for any a * x + b of the
    same inverse depth (a > 0). Scalar."""
    inv_s = 1.0 / student_depth.clamp_min(1e-3)
    cs = _normalise(_second_derivatives(inv_s))
    ct = _normalise(_second_derivatives(teacher_rel.detach().float()))
    return (cs - ct).abs().mean()
