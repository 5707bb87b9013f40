"""What the box world lacked against real streets (fsmde-synth --shadows --car-detail --close-traffic
--open-streets --vehicle-looks --vehicle-types): cast sun shadows that agree with brute-force shadow rays, vehicles on
wheels, traffic close ahead, open suburban streets, vehicles of any paint (all or a share of them), SUVs, pick-ups and
vans; the plain world of a seed is left as it was."""
from __future__ import annotations

import numpy as np
import torch

from fsmde_train.data import SurroundDataset
from fsmde_train.synth import SynthConfig, generate_dataset
from fsmde_train.synth.render import primitives_at, render_image
from fsmde_train.synth.rig import load_rig
from fsmde_train.synth.tracer import make_primitives, sun_visible, trace_rays
from fsmde_train.synth.world import BUILDING, CAR_BODY, CAR_GLASS, EGO_HALF_LENGTH, generate_world


def test_sun_visibility_equals_brute_force_shadow_rays():
    """The culled shadow test gives exactly what tracing every point's sun ray against every primitive gives."""
    w = generate_world(100001, 3.0, varied=True, car_detail=True, close_traffic=True)
    prims = primitives_at(w, 1.0)
    rng = np.random.default_rng(0)
    # points on the road and sidewalks and on the lower façades around the ego
    p = np.stack([rng.uniform(-30, 60, 4000), rng.uniform(-w.road_half_width - 6, w.road_half_width + 6, 4000),
                  np.where(rng.random(4000) < 0.7, 0.0, rng.uniform(0.0, 6.0, 4000))], 1)
    p = torch.as_tensor(p, dtype=torch.float32)
    n = torch.tensor([0.0, 0.0, 1.0]).expand(len(p), 3)
    for sun in ([0.3, 0.8, 0.52], [-0.9, 0.1, 0.42], [0.05, -0.6, 0.8]):
        sun = np.asarray(sun) / np.linalg.norm(sun)
        lit = sun_visible(p, n, sun, prims)
        d = torch.as_tensor(sun, dtype=torch.float32)[None].expand(len(p), 3).contiguous()
        t, ids = trace_rays(p + 0.02 * n, d, make_primitives(w.boxes_at(1.0), w.cyls, w.spheres))
        ref = ~((ids >= 1) & torch.isfinite(t))  # id 0 (the ground) cannot be hit towards a sun above it
        assert torch.equal(lit, ref)
        assert 0.05 < lit.float().mean() < 0.95, "a street with both sun and shade"


def test_shadows_darken_only_the_shaded_part_and_keep_depth():
    """A wall beside a road: with shadows the road behind it (away from the sun) gets darker, the road on the sun's
    side and the depth are unchanged."""
    w = generate_world(5, 2.0)
    w.boxes = np.array([[20.0, 6.0, 4.0, 15.0, 0.3, 4.0, 0.0]])  # a wall along the road's left side, 8 m tall
    w.box_vel, w.box_mat, w.box_color = np.zeros((1, 2)), np.array([3]), np.array([[0.6, 0.6, 0.6]])
    w.cyls, w.cyl_mat, w.cyl_color = np.zeros((0, 5)), np.zeros(0, np.int64), np.zeros((0, 3))
    w.spheres, w.sph_mat, w.sph_color = np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros((0, 3))
    w.sun_dir = np.array([0.0, 0.6, 0.8])  # the sun on the left: the wall's shadow falls onto the road, to its right
    cam = load_rig(192, 108)["CAM_FRONT"]
    prims = primitives_at(w, 0.0)
    pose = np.eye(4)
    pose[1, 3] = 0.0
    img0, d0 = render_image(w, prims, pose, cam, torch.Generator().manual_seed(1), shadows=False)
    img1, d1 = render_image(w, prims, pose, cam, torch.Generator().manual_seed(1), shadows=True)
    assert np.array_equal(d0, d1)
    diff = img0.astype(float).mean(2) - img1.astype(float).mean(2)
    road = d0 > 0
    assert diff[road].max() > 20, "some road is shaded"
    # the wall's shadow is 6 m wide (8 m tall x 0.6 / 0.8) left of y = 0; right of the camera the road stays lit
    right = np.zeros_like(road)
    right[:, cam.width * 3 // 4:] = True
    right &= road & (d0 < 15)
    assert right.any() and np.abs(diff[right]).max() <= 8, "lit road unchanged (noise only)"


def test_vehicle_detail_puts_wheels_on_the_road_and_keeps_the_street():
    plain = generate_world(100002, 3.0, varied=True)
    detail = generate_world(100002, 3.0, varied=True, car_detail=True)
    assert np.array_equal(plain.cyls, detail.cyls) and np.array_equal(plain.spheres, detail.spheres)
    on_road = detail.boxes[:, 2] - detail.boxes[:, 5]
    wheels = (np.abs(on_road) < 1e-9) & (detail.box_mat == CAR_BODY)
    assert not ((np.abs(plain.boxes[:, 2] - plain.boxes[:, 5]) < 1e-9) & (plain.box_mat == CAR_BODY)).any()
    n_cars = int((plain.box_mat == CAR_BODY).sum())
    assert wheels.sum() >= n_cars, "every car and truck stands on wheels"
    body = {tuple(np.round(b, 6)) for b in plain.boxes}
    assert body <= {tuple(np.round(b, 6)) for b in detail.boxes}, "the plain world's boxes are all still there"


def test_vehicle_types_stand_taller_where_the_sedans_stood():
    from fsmde_train.synth.annotate import vehicle_boxes, vehicle_groups

    kw = dict(varied=True, car_detail=True, close_traffic=True)
    plain, typed = generate_world(100003, 3.0, **kw), generate_world(100003, 3.0, vehicle_types=True, **kw)
    assert np.array_equal(plain.cyls, typed.cyls) and np.array_equal(plain.spheres, typed.spheres)
    assert np.array_equal(plain.box_vel, typed.box_vel)  # the same vehicles, moving as before
    other = ~np.isin(plain.box_mat, (CAR_BODY, CAR_GLASS))
    assert np.array_equal(plain.boxes[other], typed.boxes[other]), "only vehicles change"
    pb, tb = (vehicle_boxes(w, vehicle_groups(w)) for w in (plain, typed))
    assert len(pb) == len(tb)
    heights = []
    def by_place(boxes):
        return sorted(boxes, key=lambda v: tuple(np.round(v["centre"][:2], 0)))

    for a, b in zip(by_place(pb), by_place(tb)):
        assert np.allclose(a["centre"][:2], b["centre"][:2], atol=0.6)  # where it stood (a pick-up is longer)
        assert b["centre"][2] - b["wlh"][2] / 2 == 0.0  # on its wheels
        heights.append((a["wlh"][2], b["wlh"][2]))
    h = np.array(heights)
    same = np.isclose(h[:, 0], h[:, 1])
    assert 0.3 < same.mean() < 0.7, "about half stay sedans (and the lanes' trucks stay as they were)"
    assert (h[~same, 1] > h[~same, 0]).all(), "SUVs, pick-ups and vans stand taller than the sedan they replace"
    cars = h[:, 0] < 2.0  # the plain world's cars (its trucks and buses are 2.6 m and taller)
    assert (h[cars, 1] > 1.9).any(), "vans: as tall as real ones, where only sedans stood"


def test_close_traffic_drives_close_without_touching():
    near, closest = 0, np.inf
    for seed in range(100000, 100012):
        w = generate_world(seed, 3.0, varied=True, close_traffic=True, speed_change=1.5)
        body = (w.box_mat == CAR_BODY) & (np.abs(w.boxes[:, 1] - w.ego_lane_y) < 0.5) & (w.boxes[:, 5] > 0.3)
        for t in np.arange(0.0, 3.01, 0.5):
            ego_x = w.ego_pose_local(t)[0, 3]
            b = w.boxes_at(t)[body]
            gap = np.abs(b[:, 0] - ego_x) - b[:, 3] - EGO_HALF_LENGTH
            closest = min(closest, gap.min())
            near += int(t == 0.0 and (gap < 10.5).any())
            order = np.argsort(b[:, 0])  # the close cars overlap no other car of the lane
            xs, hs = b[order, 0], b[order, 3]
            free = xs[1:] - hs[1:] - (xs[:-1] + hs[:-1]) > 0
            close = np.abs(xs - ego_x) < 16
            assert free[close[1:] | close[:-1]].all()  # (the default world's farther cars may touch: left as is)
        plain = generate_world(seed, 3.0, varied=True, speed_change=1.5)
        assert np.array_equal(plain.cyls, w.cyls) and np.isclose(plain.ego_accel, w.ego_accel)
    assert near >= 6, "most scenes have a car within 10 m ahead or behind"
    assert closest > 1.5, f"a car came within {closest:.2f} m of the ego's bumper"


def test_open_streets_are_low_set_back_and_leave_the_canyons_alone():
    """Half the seeds become open suburban streets (low, set-back façades, yards with parked cars); the others are
    the urban canyon of the plain generator, box for box."""
    n_open = n_plain = 0
    for seed in range(100000, 100012):
        plain = generate_world(seed, 3.0, varied=True, car_detail=True, close_traffic=True)
        w = generate_world(seed, 3.0, varied=True, car_detail=True, close_traffic=True, open_streets=True)
        if len(w.boxes) == len(plain.boxes) and np.array_equal(w.boxes, plain.boxes):
            assert np.array_equal(w.spheres, plain.spheres)
            n_plain += 1
            continue
        n_open += 1
        edge = w.road_half_width  # façades: building boxes standing on the ground beside the street
        facade = ((w.box_mat == BUILDING) & (np.abs(w.boxes[:, 2] - w.boxes[:, 5]) < 1e-9)
                  & (np.abs(w.boxes[:, 1]) - w.boxes[:, 4] > edge))
        plain_facade = ((plain.box_mat == BUILDING) & (np.abs(plain.boxes[:, 2] - plain.boxes[:, 5]) < 1e-9)
                        & (np.abs(plain.boxes[:, 1]) - plain.boxes[:, 4] > edge))
        assert 2 * w.boxes[facade, 5].max() <= 10.0 + 1e-9 < 2 * plain.boxes[plain_facade, 5].max()
        inner = np.abs(w.boxes[facade, 1]) - w.boxes[facade, 4]
        assert np.median(inner) - np.median(np.abs(plain.boxes[plain_facade, 1]) - plain.boxes[plain_facade, 4]) > 4.0
        assert facade.sum() < plain_facade.sum(), "some lots are empty"
        parked_off_street = (w.box_mat == CAR_GLASS) & (np.abs(w.boxes[:, 1]) > edge + 2.5)
        assert parked_off_street.sum() > 0, "parking lots beside the street"
    assert n_open >= 3 and n_plain >= 3


def test_vehicle_looks_repaint_only_vehicle_bodies_and_keep_depth():
    """--vehicle-looks: the same frame's depth is unchanged; pixels change on vehicles only; vehicles get other
    colours than the palette's (not only a brighter or darker coat); wheels and the rest of the street stay."""
    w = generate_world(100003, 3.0, varied=True, car_detail=True, close_traffic=True)
    cam = load_rig(320, 180)["CAM_FRONT"]
    prims = primitives_at(w, 0.0)
    pose = w.ego_pose_local(0.0)
    img0, d0 = render_image(w, prims, pose, cam, torch.Generator().manual_seed(1), shadows=True)
    img1, d1 = render_image(w, prims, pose, cam, torch.Generator().manual_seed(1), shadows=True, vehicle_looks=True)
    assert np.array_equal(d0, d1)
    from fsmde_train.synth.tracer import render_camera

    _, ids, _, _ = render_camera(pose @ cam.T_ego_sensor, cam.K, cam.width, cam.height, prims)
    ids = ids.cpu().numpy()
    b0 = prims.offsets[0]
    k = np.clip(ids - b0, 0, len(w.boxes) - 1)
    is_box = (ids >= b0) & (ids < prims.offsets[1])
    vehicle = is_box & np.isin(w.box_mat[k], [CAR_BODY, CAR_GLASS])
    changed = np.abs(img0.astype(int) - img1.astype(int)).max(2) > 6
    assert vehicle.sum() > 200, "the frame shows vehicles"
    assert changed[vehicle].mean() > 0.3, "vehicles are repainted"
    assert changed[~vehicle].mean() < 0.01, "nothing else changes"
    # the hue changes, not only the brightness: chromaticity moves on repainted vehicle pixels
    chrom = lambda im: im.astype(float) / (im.astype(float).sum(2, keepdims=True) + 1)  # noqa: E731
    assert np.abs(chrom(img0) - chrom(img1)).max(2)[vehicle & changed].mean() > 0.03
    wheels = is_box & (w.box_mat[k] == CAR_BODY) & (np.abs(w.boxes[k, 2] - w.boxes[k, 5]) < 1e-9)
    assert wheels.any() and changed[wheels].mean() < 0.05, "tyres stay dark"


def test_vehicle_looks_share_repaints_whole_vehicles_and_leaves_the_rest_matte():
    """--vehicle-looks 0.5: about half the vehicles (body and cabin together, the same in every frame) get the looks;
    the others' pixels are exactly those of a world without the option."""
    from fsmde_train.synth.shading import vehicle_selected
    from fsmde_train.synth.tracer import render_camera

    picked, n = 0, 0
    for seed in (100003, 100004, 100005):
        w = generate_world(seed, 3.0, varied=True, car_detail=True, close_traffic=True)
        sel = vehicle_selected(w, torch.arange(len(w.boxes)), 0.5).numpy()
        cab = np.flatnonzero(w.box_mat == CAR_GLASS)
        assert len(cab) > 5 and np.array_equal(sel[cab], sel[cab - 1]), "a car's cabin follows its body"
        assert np.array_equal(sel, vehicle_selected(w, torch.arange(len(w.boxes)), 0.5).numpy())
        picked, n = picked + sel[cab].sum(), n + len(cab)
    assert 0.3 < picked / n < 0.7, f"{picked} of {n} cars picked for a share of 0.5"
    assert vehicle_selected(w, torch.arange(len(w.boxes)), 1.0).all()

    w = generate_world(100003, 3.0, varied=True, car_detail=True, close_traffic=True)
    cam = load_rig(320, 180)["CAM_FRONT"]
    prims = primitives_at(w, 0.0)
    pose = w.ego_pose_local(0.0)
    img0, _ = render_image(w, prims, pose, cam, torch.Generator().manual_seed(1), shadows=True)
    img1, _ = render_image(w, prims, pose, cam, torch.Generator().manual_seed(1), shadows=True, vehicle_looks=0.5)
    _, ids, _, _ = render_camera(pose @ cam.T_ego_sensor, cam.K, cam.width, cam.height, prims)
    ids = ids.cpu().numpy()
    b0 = prims.offsets[0]
    k = np.clip(ids - b0, 0, len(w.boxes) - 1)
    is_box = (ids >= b0) & (ids < prims.offsets[1])
    sel = vehicle_selected(w, torch.arange(len(w.boxes)), 0.5).numpy()
    vehicle = is_box & np.isin(w.box_mat[k], [CAR_BODY, CAR_GLASS]) & (w.boxes[k, 2] - w.boxes[k, 5] > 0.1)
    changed = np.abs(img0.astype(int) - img1.astype(int)).max(2) > 6
    assert (vehicle & sel[k]).sum() > 100 and (vehicle & ~sel[k]).sum() > 100, "both kinds in the frame"
    assert changed[vehicle & sel[k]].mean() > 0.3
    assert changed[vehicle & ~sel[k]].mean() < 0.01 and changed[~vehicle].mean() < 0.01


def test_realistic_world_is_consistent_for_the_devkit(tmp_path):
    """All three options in one dataset: the flags are recorded and LiDAR still lands on the rendered surfaces."""
    root = tmp_path / "real_ish"
    generate_dataset(SynthConfig(out=str(root), scenes=1, duration=0.5, width=192, height=108, seed=9,
                                 randomize=True, shadows=True, car_detail=True, close_traffic=True, open_streets=True,
                                 vehicle_looks=True), progress=False)
    import json

    cfg = json.loads((root / "synth" / "meta.json").read_text())["config"]
    assert cfg["shadows"] and cfg["car_detail"] and cfg["close_traffic"] and cfg["open_streets"]
    assert cfg["vehicle_looks"]
    ds = SurroundDataset(root, "v1.0-synth", None, (108, 192), 70.0, gt="lidar", progress=False)
    for i in range(len(ds)):
        sparse, dense = ds.depths[i], ds.dense_depths[i]
        m = (sparse > 0) & (dense > 0)
        assert np.median(np.abs(sparse[m] - dense[m]) / dense[m]) < 0.03
