"""fsmde-synth --cross-streets: one or two streets cross each scene's street (long sight lines for the side cameras,
which a canyon never gives them); what stood where they run is removed whole, the rest of the street stays."""
from __future__ import annotations

import numpy as np
import torch

from fsmde_train.synth.annotate import vehicle_groups
from fsmde_train.synth.shading import surface
from fsmde_train.synth.tracer import make_primitives, trace_rays
from fsmde_train.synth.world import (BUILDING, CAR_GLASS, CLUTTER, FOLIAGE, GRASS, POLE, ROAD, SIDEWALK, TRUNK,
                                     generate_world, load_world)

SEEDS = range(100000, 100008)


def _worlds(seed):
    kw = dict(varied=True, car_detail=True, close_traffic=True)
    return generate_world(seed, 3.0, **kw), generate_world(seed, 3.0, cross_streets=True, **kw)


def _rows(a):
    return {tuple(np.round(r, 9)) for r in a}


def test_cross_streets_keep_the_street_away_from_the_crossings():
    """Every object of the plain street that stands well away from a crossing is still there, unchanged; the flag off
    gives no crossings."""
    for seed in SEEDS:
        plain, w = _worlds(seed)
        assert len(plain.cross_streets) == 0 and 1 <= len(w.cross_streets) <= 2
        far = np.ones(len(plain.boxes), bool)
        for xc, hw in w.cross_streets:  # 15 m beyond the carved band: no part of a kept object reaches in
            far &= np.abs(plain.boxes[:, 0] - xc) > hw + 4.5 + 15.0
        far &= plain.box_mat != SIDEWALK  # the sidewalks are cut at the crossings
        assert far.sum() > 100
        assert _rows(plain.boxes[far]) <= _rows(w.boxes)
        far_c = np.all([np.abs(plain.cyls[:, 0] - xc) > hw + 20 for xc, hw in w.cross_streets], 0)
        assert _rows(plain.cyls[far_c]) <= _rows(w.cyls)


def test_nothing_but_vehicles_stands_in_a_cross_street():
    """Between the main street's kerbs and the building across its end, a cross street's carriageway holds only
    vehicles (parked along its kerbs, one waiting): the façades, furniture and pedestrians that stood there are gone,
    whole — every vehicle keeps its cabin, every trunk its crown."""
    for seed in SEEDS:
        _, w = _worlds(seed)
        for xc, hw in w.cross_streets:
            b = w.boxes
            inside = (np.abs(b[:, 0] - xc) < hw - 0.05) & (np.abs(b[:, 1]) > w.road_half_width) \
                & (np.abs(b[:, 1]) < 50)
            assert not np.isin(w.box_mat[inside], (BUILDING, CLUTTER, FOLIAGE, SIDEWALK)).any()
            for arr, mats in ((w.cyls, w.cyl_mat), (w.spheres, w.sph_mat)):
                inside = (np.abs(arr[:, 0] - xc) < hw - 0.05) & (np.abs(arr[:, 1]) > w.road_half_width)
                assert not np.isin(mats[inside], (POLE, TRUNK, FOLIAGE, CLUTTER)).any()
        trunks = w.cyls[w.cyl_mat == TRUNK]
        crowns = w.spheres[w.sph_mat == FOLIAGE]
        for x, y, *_ in trunks:
            assert np.any(np.hypot(crowns[:, 0] - x, crowns[:, 1] - y) < 1e-9), "a trunk without its crown"
        for g in vehicle_groups(w):  # cars and vans have a glass cabin; trucks and buses (6-13 m) none
            assert (w.box_mat[g] == CAR_GLASS).any() or (2 * w.boxes[g, 3] >= 6.0).any(), "a car without its cabin"


def test_a_side_camera_at_a_crossing_sees_far_down_the_cross_street():
    """A horizontal ray from the ego lane at a crossing, straight to the side, runs at least 50 m (to the building
    across the cross street's end); in the plain street the same ray meets a façade or what stands before it."""
    longer = 0
    for seed in SEEDS:
        plain, w = _worlds(seed)
        for xc, _ in w.cross_streets:
            o = torch.tensor([[xc, w.ego_lane_y, 1.6]], dtype=torch.float32)
            d = torch.tensor([[0.0, 1.0, 0.0], [0.0, -1.0, 0.0]])
            t, _ = trace_rays(o, d, make_primitives(w.boxes_at(0.0), w.cyls, w.spheres))
            t0, _ = trace_rays(o, d, make_primitives(plain.boxes_at(0.0), plain.cyls, plain.spheres))
            assert (t >= 50.0 - abs(w.ego_lane_y)).all() or (t > t0).all()
            longer += int((t > 40).sum()) - int((t0 > 40).sum())
    assert longer >= 8, "side views at crossings reach far where the canyon's do not"


def test_cross_street_carriageway_is_road_and_the_world_saves_it(tmp_path):
    _, w = _worlds(100003)
    xc, hw = w.cross_streets[0]
    y = w.road_half_width + 12.0
    p = torch.tensor([[xc, y, 0.0], [xc + hw + 8.0, y, 0.0], [xc + hw + 8.0, 0.0, 0.0]], dtype=torch.float32)
    prims = make_primitives(w.boxes, w.cyls, w.spheres)
    _, _, mat = surface(w, prims, p, torch.zeros(3, dtype=torch.int64))
    assert mat.tolist() == [ROAD, GRASS, ROAD]
    w.save(tmp_path / "w.npz")
    back, _ = load_world(tmp_path / "w.npz")
    assert np.array_equal(back.cross_streets, w.cross_streets) and np.array_equal(back.boxes, w.boxes)
