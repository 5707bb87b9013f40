"""The synthetic world: nuScenes tables, timing, dense depth, determinism, and LiDAR-vs-depth geometry."""
import json

import cv2
import numpy as np
import pytest

from fsmde_train import CAMERAS
from fsmde_train.synth import SynthConfig, dense_depth_path, generate_dataset, load_dense_depth
from fsmde_train.synth.rig import camera_trigger_offsets, load_rig

from .conftest import TINY


def test_rig_matches_nuscenes_layout():
    rig = load_rig(800, 450)
    yaws = [rig[c].yaw_deg() for c in CAMERAS]
    np.testing.assert_allclose(yaws, [0, -56, -111, 180, 109, 55], atol=2.5)  # nuScenes n015 camera yaws; 180 == -180
    assert rig["CAM_FRONT"].K[0, 0] == pytest.approx(1266.417203046554 / 2)
    hfov = {c: np.degrees(2 * np.arctan(400 / rig[c].K[0, 0])) for c in CAMERAS}
    assert hfov["CAM_BACK"] > 85 and all(60 < hfov[c] < 70 for c in CAMERAS if c != "CAM_BACK")
    off = camera_trigger_offsets(rig)
    assert min(off.values()) >= 0 and max(off.values()) < 0.05
    assert off["CAM_BACK"] < off["CAM_BACK_LEFT"] < off["CAM_FRONT_LEFT"] < off["CAM_FRONT"] < off["CAM_FRONT_RIGHT"]


def test_tables_and_timing(nusc):
    assert len(nusc.scene) == TINY["scenes"]
    for scene in nusc.scene:
        assert scene["nbr_samples"] == TINY["duration"] * 2
        sample = nusc.get("sample", scene["first_sample_token"])
        while True:
            assert set(sample["data"]) == set(CAMERAS) | {"LIDAR_TOP"}
            lidar = nusc.get("sample_data", sample["data"]["LIDAR_TOP"])
            assert lidar["timestamp"] == sample["timestamp"]
            cam_ts = [nusc.get("sample_data", sample["data"][c])["timestamp"] for c in CAMERAS]
            spread = max(cam_ts) - min(cam_ts)
            assert 10_000 < spread < 50_000, "the six stamps of a set differ by tens of ms, as in nuScenes"
            if not sample["next"]:
                break
            sample = nusc.get("sample", sample["next"])
    per_channel = {}
    for sd in nusc.sample_data:
        per_channel.setdefault(sd["channel"], []).append(sd["timestamp"])
    n_scenes, dur = TINY["scenes"], TINY["duration"]
    assert len(per_channel["LIDAR_TOP"]) == n_scenes * dur * 20
    for c in CAMERAS:
        ts = np.sort(per_channel[c])
        assert len(ts) == n_scenes * dur * 12
        dt = np.diff(ts)
        assert np.median(dt) == pytest.approx(1e6 / 12, abs=2)


def test_every_camera_frame_has_an_image_and_dense_depth(tiny_world, nusc):
    for sd in nusc.sample_data:
        if sd["sensor_modality"] != "camera":
            continue
        img = cv2.imread(str(tiny_world / sd["filename"]))
        assert img.shape == (sd["height"], sd["width"], 3)
        depth = load_dense_depth(tiny_world, sd["filename"])
        assert depth.shape == (sd["height"], sd["width"]) and depth.dtype == np.float32
        assert (depth >= 0).all() and np.isfinite(depth).all()
        assert (depth[-3:] > 0).all(), "bottom rows see the ground"
    meta = json.loads((tiny_world / "synth" / "meta.json").read_text())
    assert meta["depth"]["sky"] == 0.0 and meta["depth"]["units"] == "m"


def test_images_are_textured_not_flat(tiny_world, nusc):
    sd = nusc.get("sample_data", nusc.sample[0]["data"]["CAM_FRONT"])
    img = cv2.imread(str(tiny_world / sd["filename"]), cv2.IMREAD_GRAYSCALE).astype(float)
    depth = load_dense_depth(tiny_world, sd["filename"])
    ground = img[depth > 0]
    assert ground.std() > 10 and len(np.unique(img)) > 60


def test_lidar_projects_onto_dense_depth(tiny_world, nusc):
    """Devkit's own calibration + pose chain: LiDAR key-frame points land on the dense GT (median rel. err < 1 %)."""
    rel_errors = []
    for sample in nusc.sample:
        for cam in CAMERAS:
            cam_sd = nusc.get("sample_data", sample["data"][cam])
            pts, depths, _ = nusc.explorer.map_pointcloud_to_image(sample["data"]["LIDAR_TOP"], sample["data"][cam])
            gt = load_dense_depth(tiny_world, cam_sd["filename"])
            u = np.clip(np.round(pts[0]).astype(int), 0, cam_sd["width"] - 1)
            v = np.clip(np.round(pts[1]).astype(int), 0, cam_sd["height"] - 1)
            g = gt[v, u]
            ok = g > 0
            assert ok.sum() > 20, f"too few LiDAR points in {cam}"
            per_cam = np.abs(depths[ok] - g[ok]) / g[ok]
            assert np.median(per_cam) < 0.01, f"{cam}: median relative error {np.median(per_cam):.4f}"
            rel_errors.append(per_cam)
    assert np.median(np.concatenate(rel_errors)) < 0.01


def test_generation_is_deterministic(tmp_path):
    cfg = dict(scenes=1, duration=0.5, width=96, height=54, seed=3)
    a = generate_dataset(SynthConfig(out=str(tmp_path / "a"), **cfg), progress=False)
    b = generate_dataset(SynthConfig(out=str(tmp_path / "b"), **cfg), progress=False)
    assert (a / "v1.0-synth" / "sample_data.json").read_bytes() == (b / "v1.0-synth" / "sample_data.json").read_bytes()
    assert (a / "v1.0-synth" / "ego_pose.json").read_bytes() == (b / "v1.0-synth" / "ego_pose.json").read_bytes()
    for f in sorted((a / "samples").rglob("*.*"))[:8]:
        assert f.read_bytes() == (b / f.relative_to(a)).read_bytes(), f
    sd = json.loads((a / "v1.0-synth" / "sample_data.json").read_text())
    cam = next(r for r in sd if r["fileformat"] == "jpg")
    np.testing.assert_array_equal(np.load(dense_depth_path(a, cam["filename"]))["depth"],
                                  np.load(dense_depth_path(b, cam["filename"]))["depth"])


def test_scenes_rendered_in_parallel_are_the_same_files(tmp_path):
    """--workers: scenes rendered in two processes give every file and table byte for byte as one process does
    (randomised, so rig jitter, style and noise draws are covered too)."""
    cfg = dict(scenes=2, duration=0.5, width=96, height=54, seed=5, randomize=True)
    a = generate_dataset(SynthConfig(out=str(tmp_path / "a"), **cfg), progress=False)
    b = generate_dataset(SynthConfig(out=str(tmp_path / "b"), **cfg), progress=False, workers=2)
    files = sorted(f.relative_to(a) for f in a.rglob("*") if f.is_file())
    assert files == sorted(f.relative_to(b) for f in b.rglob("*") if f.is_file())
    assert len(json.loads((a / "v1.0-synth" / "scene.json").read_text())) == 2
    for f in files:
        if f.name == "meta.json":  # it records the output folder, which differs
            ma, mb = (json.loads((r / f).read_text()) for r in (a, b))
            assert ma["config"].pop("out") != mb["config"].pop("out") and ma == mb
        else:
            assert (a / f).read_bytes() == (b / f).read_bytes(), f
    with pytest.raises(ValueError, match="workers must be >= 1"):
        generate_dataset(SynthConfig(out=str(tmp_path / "c"), **cfg), progress=False, workers=0)


def test_bad_duration_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="multiple of 0.5"):
        generate_dataset(SynthConfig(out=str(tmp_path), duration=0.7), progress=False)


def test_boulevard_layout_and_alt_palette_are_other_worlds_and_leave_the_street_alone():
    """The test world's layout (a median with trees, a park on one side) and the teacher world's palette: new
    worlds, while a seed's street world stays what it was (the other layouts draw from their own generators)."""
    import numpy as np
    import pytest

    from fsmde_train.synth.world import ALT_CAR_PALETTE, CAR_BODY, GRASS, generate_world

    street = generate_world(7, 2.0)
    again = generate_world(7, 2.0, layout="street", palette="default")
    assert np.array_equal(street.boxes, again.boxes) and street.ego_lane_y == again.ego_lane_y
    blvd = generate_world(7, 2.0, layout="boulevard")
    median = (blvd.box_mat == GRASS) & (np.abs(blvd.boxes[:, 1]) < 0.01)
    assert median.sum() == 1
    half = blvd.boxes[median][0, 4]
    cars = blvd.box_mat == CAR_BODY
    assert np.all(np.abs(blvd.boxes[cars, 1]) - blvd.boxes[cars, 4] > half - 0.5), "a car stands on the median"
    assert abs(blvd.ego_lane_y) > abs(street.ego_lane_y) and blvd.road_half_width > street.road_half_width
    alt = generate_world(7, 2.0, palette="alt")
    car_cols = alt.box_color[alt.box_mat == CAR_BODY]
    assert np.all(np.min(np.abs(car_cols[:, None] / ALT_CAR_PALETTE[None] - 1).max(-1), 1) < 0.2)
    with pytest.raises(ValueError, match="layout"):
        generate_world(7, 2.0, layout="roundabout")


def test_speed_change_accelerates_the_ego_and_leaves_the_street_alone(tmp_path):
    """``speed_change``: the ego's speed changes within a scene (x = v0 t + a t^2 / 2, heading along the velocity),
    the street, its objects and the start speed stay those of the seed, and the rate survives save / load."""
    from fsmde_train.synth.world import generate_world, load_world

    plain = generate_world(100000, 3.0, varied=True)
    accel = generate_world(100000, 3.0, varied=True, speed_change=1.5)
    assert np.array_equal(plain.boxes, accel.boxes) and plain.ego_speed == accel.ego_speed
    assert plain.ego_accel == 0.0 and 0.1 < abs(accel.ego_accel) <= 1.5
    rates = [generate_world(100000 + i, 3.0, speed_change=1.5) for i in range(8)]
    assert all(w.ego_speed + 3.0 * w.ego_accel >= 2.5 - 1e-9 for w in rates)  # never below 2.5 m/s
    assert len({np.sign(w.ego_accel) for w in rates}) == 2  # both accelerating and braking scenes
    v0, a, dt = accel.ego_speed, accel.ego_accel, 1e-3
    for t in (0.0, 1.0, 2.5):
        x = accel.ego_pose_local(t)[0, 3]
        assert x == pytest.approx(v0 * t + 0.5 * a * t * t, abs=1e-9)
        v = (accel.ego_pose_local(t + dt)[:2, 3] - accel.ego_pose_local(t - dt)[:2, 3]) / (2 * dt)
        heading = accel.ego_pose_local(t)[:2, 0]
        assert np.degrees(np.arccos(np.clip(heading @ v / np.linalg.norm(v), -1, 1))) < 0.01
    accel.save(tmp_path / "w.npz")
    assert load_world(tmp_path / "w.npz")[0].ego_accel == accel.ego_accel
    with pytest.raises(ValueError, match="speed_change"):
        generate_world(7, 2.0, speed_change=-1.0)
