"""Real photographed grain on the rendered surfaces (fsmde-synth --photo-textures): mip levels that keep the mean,
a footprint that picks the level (fine grain near, the mean far), seamless mirrored tiles, clear errors, and a
render whose depth and sky are those of the plain render. A random image stands in for the photographs where the
test is about the mapping (scikit-image, which ships them, is installed only for the train-dr10 world)."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from fsmde_train.synth import photo_texture as PT
from fsmde_train.synth import shading
from fsmde_train.synth.render import SKY_ID, primitives_at, render_image
from fsmde_train.synth.rig import load_rig
from fsmde_train.synth.world import ROAD, generate_world


def _levels(seed=0, size=64):
    return PT.mip_levels(np.random.default_rng(seed).uniform(10, 250, (size, size)))


def test_mip_levels_keep_the_mean_down_to_one_pixel():
    lv = _levels()
    assert [t.shape[0] for t in lv] == [64, 32, 16, 8, 4, 2, 1]
    for t in lv:
        assert abs(float(t.mean()) - 1.0) < 1e-5
    with pytest.raises(ValueError, match="power-of-two"):
        PT.mip_levels(np.ones((48, 48)))
    with pytest.raises(ValueError, match="square"):
        PT.mip_levels(np.ones((64, 32)))


def test_footprint_picks_fine_grain_near_and_the_mean_far():
    lv = _levels(1)
    u = torch.linspace(0.01, 0.99, 500)
    v = torch.linspace(0.3, 0.7, 500)
    tile = 1.0  # one 64-px image per metre: texel 1/64 m
    near = PT.sample(lv, u, v, tile, torch.full((500,), 1e-3))
    ix, iy = (u * 64).long(), (v * 64).long()
    assert torch.allclose(near, lv[0][iy, ix]), "a footprint below one texel reads the texel itself"
    far = PT.sample(lv, u, v, tile, torch.full((500,), 100.0))
    assert torch.allclose(far, torch.ones(500)), "a footprint over the whole image reads its mean"
    mid = PT.sample(lv, u, v, tile, torch.full((500,), 4 / 64))  # 4 texels: level 2
    assert near.std() > 2 * mid.std() > 0, "contrast falls with the footprint"


def test_tiles_are_mirrored_without_seams():
    lv = _levels(2)
    eps = 1e-4
    foot = torch.full((3,), 1e-3)
    for edge in (1.0, 2.0, -1.0):
        a = PT.sample(lv, torch.full((3,), edge - eps), torch.tensor([0.1, 0.5, 0.9]), 1.0, foot)
        b = PT.sample(lv, torch.full((3,), edge + eps), torch.tensor([0.1, 0.5, 0.9]), 1.0, foot)
        assert torch.equal(a, b)


def test_missing_photographs_name_the_package(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match="scikit-image"):
        PT.texture_dir()


def test_render_changes_only_surface_colour(monkeypatch):
    """Depth and the sky stay as rendered without grain; road pixels change, more near than far."""
    monkeypatch.setattr(PT, "pyramid", lambda name: _levels(hash(name) % 100, 256))
    w = generate_world(7, 2.0)
    cam = load_rig(192, 108)["CAM_FRONT"]
    prims = primitives_at(w, 0.0)
    pose = np.eye(4)
    labels: dict = {}
    img0, d0 = render_image(w, prims, pose, cam, torch.Generator().manual_seed(3), material=labels)
    img1, d1 = render_image(w, prims, pose, cam, torch.Generator().manual_seed(3), photo_textures=1.0)
    assert np.array_equal(d0, d1)
    mat = labels["material"]
    sky = mat == SKY_ID
    assert sky.any() and np.array_equal(img0[sky], img1[sky])
    diff = np.abs(img0.astype(float) - img1.astype(float)).mean(2)
    road = mat == ROAD
    near, far = road & (d0 > 0) & (d0 < 6), road & (d0 > 25)
    assert near.sum() > 50 and far.sum() > 50
    assert diff[near].mean() > 2 * diff[far].mean() and diff[near].mean() > 0.5


def test_surface_needs_the_ray_for_photographs():
    w = generate_world(7, 2.0)
    prims = primitives_at(w, 0.0)
    p = torch.tensor([[5.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="ray"):
        shading.surface(w, prims, p, torch.zeros(1, dtype=torch.int64), photo=1.0)


def test_synth_without_the_photographs_fails_before_writing(tmp_path, monkeypatch):
    from fsmde_train.synth import SynthConfig, generate_dataset

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    PT.pyramid.cache_clear()
    out = tmp_path / "w"
    with pytest.raises(ValueError, match="scikit-image"):
        generate_dataset(SynthConfig(out=str(out), scenes=1, duration=0.5, width=64, height=36, photo_textures=1.0),
                         progress=False)
    assert not out.exists()
    with pytest.raises(ValueError, match="photo_textures"):
        generate_dataset(SynthConfig(out=str(out), scenes=1, duration=0.5, width=64, height=36, photo_textures=-1),
                         progress=False)
    PT.pyramid.cache_clear()
