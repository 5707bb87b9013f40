"""Pixel-aspect augmentation (data/augment.py aspect_jitter): a crop resized back changes fy/fx, and K, the depth
labels and the camera-aware channels must still describe the same rays (checked against the synthetic world's flat
road, whose depth the ground channel predicts exactly)."""
from __future__ import annotations

import pytest
import torch

from fsmde_train.data.augment import aspect_jitter
from fsmde_train.data.surround import SEMANTIC_CLASSES
from fsmde_train.engine.config import load_config

from .conftest import F_CANON, GEOM, check_view_augmentation_config, flat_sets


@pytest.fixture(scope="module")
def batch(tiny_world):
    return flat_sets(tiny_world)


def _road_error(b: dict, views) -> list[float]:
    """Median |height above the road| / depth of the road pixels' dense depth back-projected through K and the
    mounting: the angle (rad) by which K misplaces the road; nearest-neighbour labels give a fraction of a pixel."""
    out = []
    H, W = b["depth"].shape[-2:]
    v, u = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing="ij")
    for i in views:
        z = b["depth_dense"][i, 0].double()
        road = (b["semantic"][i] == SEMANTIC_CLASSES.index("road")) & (z > 0)
        if road.sum() < 30:  # a crop without road in it
            continue
        K, T = b["K"][i].double(), b["T_ego_cam"][i].double()
        rays = torch.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], torch.ones_like(u)], -1)
        h = (rays @ T[:3, :3].T)[..., 2] * z + T[2, 3]
        out.append(float((h[road].abs() / z[road]).median()))
    return out


def test_the_jittered_views_still_describe_their_rays(batch):
    views = [i for i in range(6) if ((batch["semantic"][i] == 1).sum() > 50)]
    assert views, "the tiny world's cameras see road"
    before = _road_error(batch, views)
    assert max(before) < 0.01, before
    for lo, hi in ((1.6, 2.0), (0.6, 0.8)):  # rows cropped (fy/fx up, KITTI-like), columns cropped (fy/fx down)
        out, changed = aspect_jitter(batch, torch.Generator().manual_seed(3), 1.0, (lo, hi), F_CANON, GEOM)
        assert changed.all()
        after = _road_error(out, views)
        assert len(after) >= 2 and max(after) < 0.01, (lo, hi, after)
        r = (out["K"][:, 1, 1] / out["K"][:, 0, 0]) / (batch["K"][:, 1, 1] / batch["K"][:, 0, 0])
        assert ((r > lo * 0.95) & (r < hi * 1.05)).all(), r
        fs = (out["K"][:, 0, 0] + out["K"][:, 1, 1]) / 2 / F_CANON
        torch.testing.assert_close(out["focal_scale"], fs)
        m = out["depth"] > 0
        torch.testing.assert_close(out["depth_canon"][m], (out["depth"] / fs[:, None, None, None])[m])
        assert set(out["depth_dense"].unique().tolist()) <= set(batch["depth_dense"].unique().tolist()), "nearest"
        # the camera-aware channels are those of the new K
        from fsmde_train.geometry import camera_channels

        for i in range(6):
            g = camera_channels(out["K"][i].double().numpy(), batch["T_ego_cam"][i].double().numpy(), (64, 96),
                                F_CANON, GEOM)
            torch.testing.assert_close(out["image"][i, 3:], torch.from_numpy(g))
    # the check can fail: the principal point 3 px off (a crop offset lost) misplaces the road
    wrong = {**out, "K": out["K"].clone()}
    wrong["K"][:, 1, 2] += 3
    assert max(_road_error(wrong, views)) > 0.015


def test_no_jitter_changes_nothing_and_draws_repeat(batch):
    same, changed = aspect_jitter(batch, torch.Generator().manual_seed(0), 0.0, (0.8, 2.0), F_CANON, GEOM)
    assert not changed.any()
    for k in ("image", "depth", "K", "semantic"):
        assert torch.equal(same[k], batch[k])
    a, ca = aspect_jitter(batch, torch.Generator().manual_seed(5), 0.5, (0.8, 2.0), F_CANON, GEOM)
    b, cb = aspect_jitter(batch, torch.Generator().manual_seed(5), 0.5, (0.8, 2.0), F_CANON, GEOM)
    assert torch.equal(ca, cb) and torch.equal(a["image"], b["image"]) and torch.equal(a["K"], b["K"])
    assert torch.equal(batch["K"][~ca], a["K"][~ca]), "views not drawn stay as they were"


def test_config_checks_and_a_short_run(tiny_world, tmp_path):
    check_view_augmentation_config(tiny_world, tmp_path / "run", "aspect_jitter")
    with pytest.raises(ValueError, match="aspect_range"):
        load_config(None, {"data": {"root": str(tiny_world), "aspect_jitter": 0.5, "aspect_range": [2.0, 1.0]}})
