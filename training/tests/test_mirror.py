"""The mirror world (data/augment.py mirror_sets): a mirrored camera set must still be a consistent rig looking at a
consistent street, checked against the synthetic world's own geometry (its flat road and its dense depth)."""
from __future__ import annotations

import pytest
import torch

from fsmde_train.data.augment import mirror_sets
from fsmde_train.geometry import camera_channels

from .conftest import F_CANON, GEOM, check_view_augmentation_config, flat_sets
from .test_aspect_jitter import _road_error


@pytest.fixture(scope="module")
def batch(tiny_world):
    return flat_sets(tiny_world, 2)


def _yaw(T: torch.Tensor) -> float:
    """The optical axis' heading in the vehicle frame (deg, counter-clockwise from x, z up)."""
    z = T[:3, 2].double()
    return float(torch.rad2deg(torch.atan2(z[1], z[0])))


def test_a_mirrored_set_is_the_mirror_street_seen_by_the_mirrored_rig(batch):
    out, applied = mirror_sets(batch, torch.Generator().manual_seed(0), 1.0)
    assert applied.all()
    n = batch["n_cam"]
    # the front camera stays first and the ring keeps turning the same way (clockwise seen from above), so each
    # view's right border still meets the next view's left border
    for b in (batch, out):
        yaws = [_yaw(b["T_ego_cam"][i]) for i in range(n)]
        steps = [((yaws[(i + 1) % n] - yaws[i] + 180) % 360) - 180 for i in range(n)]
        assert all(s < 0 for s in steps), steps
    # CAM_FRONT_LEFT's mirror image sits where CAM_FRONT_RIGHT was
    assert abs(_yaw(out["T_ego_cam"][1]) + _yaw(batch["T_ego_cam"][5])) < 1e-3
    assert torch.equal(out["image"][1, :3], batch["image"][5, :3].flip(-1))
    assert torch.equal(out["depth_dense"][n + 2], batch["depth_dense"][n + 4].flip(-1))
    for i in range(2 * n):
        R = out["T_ego_cam"][i, :3, :3].double()
        assert abs(float(torch.det(R)) - 1) < 1e-5, "still a rotation"
        # the camera-aware channels of the mirrored camera are the mirrored channels
        g = camera_channels(out["K"][i].double().numpy(), out["T_ego_cam"][i].double().numpy(), (64, 96),
                            F_CANON, GEOM)
        torch.testing.assert_close(out["image"][i, 3:], torch.from_numpy(g), atol=2e-5, rtol=1e-5)
    # K and the mounting still put the road where the depth says it is
    views = [i for i in range(2 * n) if ((out["semantic"][i] == 1).sum() > 50)]
    assert len(views) >= 4 and max(_road_error(out, views)) < 0.01


def test_mirroring_twice_is_the_identity_and_p0_changes_nothing(batch):
    same, applied = mirror_sets(batch, torch.Generator().manual_seed(0), 0.0)
    assert not applied.any() and same is batch
    once, _ = mirror_sets(batch, torch.Generator().manual_seed(0), 1.0)
    twice, _ = mirror_sets(once, torch.Generator().manual_seed(0), 1.0)
    for k in ("image", "depth", "depth_dense", "semantic", "K", "index", "focal_scale"):
        assert torch.equal(twice[k], batch[k]), k
    torch.testing.assert_close(twice["T_ego_cam"], batch["T_ego_cam"])
    a, ca = mirror_sets(batch, torch.Generator().manual_seed(4), 0.5)
    b, cb = mirror_sets(batch, torch.Generator().manual_seed(4), 0.5)
    assert torch.equal(ca, cb) and torch.equal(a["image"], b["image"])


def test_a_3d_point_lands_mirrored(batch):
    """A vehicle-frame point seen by camera j at (u, v, depth) is seen at (W - 1 - u, v, depth) by the mirrored
    camera when it is mirrored itself (y -> -y)."""
    out, _ = mirror_sets(batch, torch.Generator().manual_seed(0), 1.0)
    W = batch["image"].shape[-1]
    for j, jm in ((0, 0), (5, 1), (2, 4)):
        K, T = batch["K"][j].double(), batch["T_ego_cam"][j].double()
        Km, Tm = out["K"][jm].double(), out["T_ego_cam"][jm].double()
        p_cam = torch.tensor([1.3, -0.4, 7.5], dtype=torch.float64)
        p_ego = T[:3, :3] @ p_cam + T[:3, 3]
        q = torch.linalg.solve(Tm[:3, :3], p_ego * torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64) - Tm[:3, 3])
        uv, uvm = K @ p_cam, Km @ q
        torch.testing.assert_close(q[2], p_cam[2])
        torch.testing.assert_close(uvm[0] / uvm[2], W - 1 - uv[0] / uv[2])
        torch.testing.assert_close(uvm[1] / uvm[2], uv[1] / uv[2])
        if j != jm:  # the check can fail: the camera's own mounting, unmirrored, puts the point elsewhere
            q = torch.linalg.solve(T[:3, :3], p_ego * torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64) - T[:3, 3])
            assert q[2] < 0 or abs(float((Km @ q)[0] / (Km @ q)[2]) - (W - 1 - float(uv[0] / uv[2]))) > 5


def test_config_checks_and_a_short_run(tiny_world, tmp_path):
    check_view_augmentation_config(tiny_world, tmp_path / "run", "mirror", teacher="standin")
