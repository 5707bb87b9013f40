"""Another street above the horizon (data/augment.py horizon_mix): the pixels whose rays rise come from a donor view
with their labels, in the recipient's canonical units; the road below and the camera-aware channels stay."""
from __future__ import annotations

import pytest
import torch

from fsmde_train.data.augment import horizon_mix

from .conftest import check_view_augmentation_config, flat_sets


@pytest.fixture(scope="module")
def batch(tiny_world):
    b = flat_sets(tiny_world)
    b["focal_scale"] = b["focal_scale"] * torch.linspace(0.8, 1.25, 6)  # cameras of different focal lengths
    b["depth"] = b["depth_canon"] * b["focal_scale"].view(-1, 1, 1, 1)  # consistent with the new scales
    return b


def test_above_the_horizon_is_the_donors_street_below_it_the_recipients(batch):
    out, mixed = horizon_mix(batch, torch.Generator().manual_seed(1), 1.0)
    assert mixed.all()
    above = batch["image"][:, 3:4] < 0  # the ground channel is negative where the ray rises (geometry.py)
    assert above.any(1).any() and (~above).any()
    for i in range(6):
        a = above[i, 0]
        # below the horizon nothing moved, RGB and labels included; the geometry channels are the recipient's
        for k in ("depth", "depth_canon", "depth_dense"):
            assert torch.equal(out[k][i, 0][~a], batch[k][i, 0][~a])
        assert torch.equal(out["semantic"][i][~a], batch["semantic"][i][~a])
        assert torch.equal(out["image"][i, :3][:, ~a], batch["image"][i, :3][:, ~a])
        assert torch.equal(out["image"][i, 3:], batch["image"][i, 3:])
        # above it: one other view's pixels at the same place, and its canonical depth
        donors = [j for j in range(6) if j != i and torch.equal(out["image"][i, :3][:, a], batch["image"][j, :3][:, a])]
        assert len(donors) == 1, (i, donors)
        j = donors[0]
        assert torch.equal(out["depth_canon"][i, 0][a], batch["depth_canon"][j, 0][a])
        assert torch.equal(out["semantic"][i][a], batch["semantic"][j][a])
        m = out["depth_dense"][i, 0] > 0
        torch.testing.assert_close((out["depth_dense"][i, 0] / batch["focal_scale"][i])[a & m],
                                   (batch["depth_dense"][j, 0] / batch["focal_scale"][j])[a & m])
        torch.testing.assert_close(out["depth"][i, 0] / out["focal_scale"][i], out["depth_canon"][i, 0])
    # the sky moves with its pixels: validity labels (dense depth 0) follow the donor's sky
    assert not torch.equal(out["depth_dense"].eq(0), batch["depth_dense"].eq(0))


def test_no_mix_changes_nothing_and_draws_repeat(batch):
    same, mixed = horizon_mix(batch, torch.Generator().manual_seed(0), 0.0)
    assert not mixed.any() and same is batch
    a, ca = horizon_mix(batch, torch.Generator().manual_seed(7), 0.5)
    b, cb = horizon_mix(batch, torch.Generator().manual_seed(7), 0.5)
    assert torch.equal(ca, cb) and torch.equal(a["image"], b["image"]) and torch.equal(a["depth"], b["depth"])
    assert 0 < int(ca.sum()) < 6
    for k in ("image", "depth", "depth_dense", "semantic"):
        assert torch.equal(a[k][~ca], batch[k][~ca]), k


def test_config_checks_and_a_short_run(tiny_world, tmp_path):
    check_view_augmentation_config(tiny_world, tmp_path / "run", "horizon_mix")
