"""Camera-aware input (geometry.camera_channels) and domain randomisation (fsmde-synth --randomize, photometric
augmentation): checked against the renderer's exact depth, the devkit's calibration and the rig's ranges."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fsmde_train.data import SurroundDataset
from fsmde_train.data.augment import photometric, random_convolution
from fsmde_train.data.surround import scale_K
from fsmde_train.geometry import GEOMETRY_INPUTS, GROUND_CLIP, GROUND_SCALE, camera_channels
from fsmde_train.networks import StudentConfig, build_student
from fsmde_train.synth import SynthConfig, generate_dataset
from fsmde_train.synth.rig import jitter_rig, load_rig
from fsmde_train.synth.world import generate_world

from .conftest import TINY


def test_ground_channel_is_the_roads_depth_in_the_rendered_world(tiny_world):
    """Where the renderer's exact depth hits the road (height 0 in the ego frame), the ground channel's depth
    equals that depth: K scaling, pixel centres and the extrinsics agree with the ray caster."""
    ds = SurroundDataset(tiny_world, TINY["version"], None, (108, 192), 70.0, gt="dense", progress=False,
                         geometry_inputs=GEOMETRY_INPUTS)
    b = ds[0]
    assert b["image"].shape == (6, 5, 108, 192)
    v, u = np.mgrid[0:108, 0:192].astype(np.float64)
    seen = 0
    for j in range(6):
        K, T = b["K"][j].double().numpy(), b["T_ego_cam"][j].double().numpy()
        dense = b["depth_dense"][j, 0].double().numpy()
        rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)
        z_hit = (rays * dense[..., None]) @ T[:3, :3].T[:, 2] + T[2, 3]
        g_all = b["image"][j, 3].double().numpy()
        road = (dense > 0) & (dense < 30) & (np.abs(z_hit) < 0.03) & (g_all < GROUND_CLIP - 1e-4)  # not clipped
        if road.sum() < 50:
            continue
        seen += 1
        g = g_all[road]
        ground = GROUND_SCALE * float(b["focal_scale"][j]) / g
        err = np.abs(ground - dense[road]) / dense[road]
        assert np.median(err) < 0.01 and np.percentile(err, 95) < 0.05, f"camera {j}: {np.median(err):.4f}"
        assert np.all(b["image"][j, 4].numpy()[road] < 0), "road pixels look down"
    assert seen >= 4, f"the road is visible in only {seen} cameras"


def test_channels_follow_anisotropic_resize_and_mounting():
    rig = load_rig(1600, 900)
    cam = rig["CAM_FRONT"]
    K1 = scale_K(cam.K, (1600, 900), (224, 128))
    K2 = scale_K(cam.K, (1600, 900), (224, 64))  # squeezed vertically: fy halves
    T = cam.T_ego_sensor
    a = camera_channels(K1, T, (128, 224), 177.3)
    b = camera_channels(K2, T, (64, 224), 177.3)
    # the same rays: rows 2k and 2k+1 of a average into row k of b (pixel-centre convention) for the elevation
    assert np.allclose(b[1], (a[1][0::2] + a[1][1::2]) / 2, atol=2e-3)
    higher = T.copy()
    higher[2, 3] *= 1.5
    c = camera_channels(K1, higher, (128, 224), 177.3)
    below = a[0] > 0.1  # rays that meet the road: inverse depth scales with 1 / height
    assert np.allclose(c[0][below] * 1.5, a[0][below], atol=1e-4)
    assert np.allclose(c[1], a[1])
    with pytest.raises(ValueError, match="camera height above the road"):
        low = T.copy()
        low[2, 3] = 0.05
        camera_channels(K1, low, (128, 224), 177.3)
    with pytest.raises(ValueError, match="unknown geometry inputs"):
        camera_channels(K1, T, (128, 224), 177.3, ("sky_mask",))


def test_student_takes_the_declared_channels():
    cfg = StudentConfig(base_width=8, decoder_width=16, n_bins=8, blocks=(1, 1, 1, 1),
                        geometry_inputs=GEOMETRY_INPUTS)
    net = build_student({**cfg.__dict__, "blocks": list(cfg.blocks), "geometry_inputs": list(GEOMETRY_INPUTS)})
    assert net.cfg == cfg and cfg.in_channels == 5
    assert net(torch.zeros(2, 5, 64, 96))["depth"].shape == (2, 1, 64, 96)


def test_jittered_rig_stays_in_the_documented_ranges():
    base = load_rig(320, 180)
    heights, focals = [], []
    for s in range(40):
        rig = jitter_rig(base, np.random.default_rng(s))
        for name, cam in rig.items():
            if cam.modality != "camera":
                assert cam is base[name]
                continue
            heights.append(cam.translation[2])
            focals.append(cam.K[0, 0] / base[name].K[0, 0])
            assert np.allclose(cam.K[:2, 2], base[name].K[:2, 2])
            R = cam.T_ego_sensor[:3, :3]
            assert np.allclose(R @ R.T, np.eye(3), atol=1e-9)
            tilt = np.degrees(np.arccos(np.clip(R[:, 2] @ base[name].T_ego_sensor[:3, 2], -1, 1)))
            assert tilt < 6.0, f"{name}: optical axis moved {tilt:.1f} deg"
    assert 1.25 < min(heights) and max(heights) < 2.25 and max(heights) - min(heights) > 0.4
    assert 0.7 <= min(focals) and max(focals) <= 1.4 and max(focals) - min(focals) > 0.4


def test_randomised_world_has_more_classes_and_keeps_the_plain_one():
    plain, again = generate_world(3, 2.0), generate_world(3, 2.0)
    varied = generate_world(3, 2.0, varied=True)
    assert np.array_equal(plain.boxes, again.boxes) and np.array_equal(plain.cyls, again.cyls)
    assert len(varied.boxes) >= len(plain.boxes) and len(varied.cyls) > len(plain.cyls)
    assert np.array_equal(varied.boxes[:len(plain.boxes)], plain.boxes), "variety is added, the street is kept"


def test_randomised_dataset_is_consistent_for_the_devkit(tmp_path):
    """Per-scene rigs are written as each scene's calibrated_sensor, and LiDAR projected with them lands on the
    rendered surfaces (the projection and the renderer agree, so the labels are right)."""
    root = tmp_path / "dr"
    generate_dataset(SynthConfig(out=str(root), scenes=2, duration=0.5, width=192, height=108, seed=9,
                                 randomize=True), progress=False)
    ds = SurroundDataset(root, "v1.0-synth", None, (108, 192), 70.0, gt="lidar", progress=False)
    heights = {round(float(ds.T[i, 0, 2, 3]), 3) for i in range(len(ds))}
    assert len(heights) == 2, "one mounting per scene"
    ok = 0
    for i in range(len(ds)):
        sparse, dense = ds.depths[i], ds.dense_depths[i]
        m = (sparse > 0) & (dense > 0)
        rel = np.abs(sparse[m] - dense[m]) / dense[m]
        assert np.median(rel) < 0.03
        ok += 1
    assert ok == len(ds)


def test_photometric_augmentation_changes_colour_not_geometry():
    torch.manual_seed(0)
    x = torch.randn(4, 5, 32, 48)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    a = photometric(x, mean, std, torch.Generator().manual_seed(1))
    b = photometric(x, mean, std, torch.Generator().manual_seed(1))
    c = photometric(x, mean, std, torch.Generator().manual_seed(2))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(a[:, 3:], x[:, 3:])
    assert float((a[:, :3] - x[:, :3]).abs().mean()) > 0.05
    rgb = a[:, :3] * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(mean).view(1, 3, 1, 1)
    assert float(rgb.min()) >= -1e-5 and float(rgb.max()) <= 1 + 1e-5
    assert torch.allclose(photometric(x, mean, std, torch.Generator().manual_seed(1), strength=0.0)[:, :3],
                          ((x[:, :3] * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(mean).view(1, 3, 1, 1))
                           .clamp(0, 1) - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1),
                          atol=1e-3)


def test_random_convolution_changes_texture_per_camera_set_not_shape():
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    torch.manual_seed(0)
    rgb = torch.rand(1, 3, 32, 48) * 0.2 + 0.2
    rgb[..., 10:20, 12:30] += 0.5  # a bright box: its edges are the shape that must survive
    views = rgb.repeat(6, 1, 1, 1)  # one camera set of six identical views ...
    x = torch.cat([((torch.cat([views, views]) - m) / s), torch.randn(12, 2, 32, 48)], 1)  # ... twice, + geometry

    def run(seed, p=1.0):
        out, convolved = random_convolution(x, mean, std, torch.Generator().manual_seed(seed), p, views=6)
        assert convolved.shape == (12,) and convolved.all() == (p == 1.0) and (~convolved).all() == (p == 0.0)
        return out

    a = run(1)
    assert a.shape == x.shape and torch.equal(a, run(1)) and not torch.equal(a, run(2))
    assert torch.equal(a[:, 3:], x[:, 3:])  # geometry channels untouched
    out = a[:, :3] * s + m
    assert float(out.min()) >= -1e-5 and float(out.max()) <= 1 + 1e-5
    assert torch.allclose(out[:6], out[:1].expand(6, -1, -1, -1), atol=1e-6)  # one kernel per camera set
    changed = [not torch.allclose(out[6 * i], views[0], atol=1e-3) for i in range(2)]
    assert all(changed)
    grey = out.mean(1)  # the box stays where it was: its edge is still the strongest column/row change
    assert int(grey[:, 15].diff(dim=-1).abs().argmax(-1).mode().values) in (11, 29)
    assert torch.equal(run(1, p=0.0)[:, 3:], x[:, 3:])
    assert torch.allclose(run(1, p=0.0)[:, :3], ((x[:, :3] * s + m).clamp(0, 1) - m) / s, atol=1e-5)
    half, convolved = random_convolution(x, mean, std, torch.Generator().manual_seed(0), 0.5, views=6)
    assert convolved.view(2, 6).all(1).tolist() == [True, False]  # whole sets, this seed: the first one only
    for i in range(12):  # the flag says which views changed
        assert torch.allclose(half[i, :3], ((x[i, :3] * s[0] + m[0]).clamp(0, 1) - m[0]) / s[0], atol=1e-5) \
            != bool(convolved[i])
    with pytest.raises(ValueError, match="camera sets of 6"):
        random_convolution(x[:5], mean, std, torch.Generator(), 1.0, views=6)


def test_randconv_validity_names_its_choices():
    from fsmde_train.engine.config import load_config

    assert load_config(overrides={"data": {"randconv_validity": "rendered"}}).data.randconv_validity == "rendered"
    with pytest.raises(ValueError, match="data.randconv_validity must be 'all' or 'rendered'"):
        load_config(overrides={"data": {"randconv_validity": "sky"}})


def test_validity_term_reads_validity_gt_when_the_trainer_sets_it():
    """randconv_validity: rendered hands the objective a GT with the convolved views emptied: they drop out."""
    from fsmde_train.losses.objective import LossConfig, Objective
    from fsmde_train.losses.supervised import validity_loss

    torch.manual_seed(0)
    dense = torch.rand(4, 1, 8, 8) * 20
    dense[:, :, :2] = 0  # sky rows
    logit = torch.randn(4, 1, 8, 8)
    obj = Objective(LossConfig(silog=0.0, bins=0.0, validity=1.0), 0.5, 80.0, n_cam=2)
    out = {"depth": torch.ones(4, 1, 8, 8), "centers": torch.ones(4, 4), "valid_logit": logit}
    batch = {"depth_canon": dense, "depth_dense": dense}
    keep = torch.tensor([True, True, False, False]).view(-1, 1, 1, 1)
    _, plain = obj(out, batch)
    _, masked = obj(out, {**batch, "validity_gt": dense * keep})
    assert torch.allclose(plain["validity"], validity_loss(logit, dense))
    assert torch.allclose(masked["validity"], validity_loss(logit[:2], dense[:2]))
    assert not torch.allclose(masked["validity"], plain["validity"])
