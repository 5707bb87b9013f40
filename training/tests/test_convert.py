"""nuScenes-format -> rosbag2: read back with rosbags and with the independent mcap reader."""
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore

from fsmde_train import CAMERAS
from fsmde_train.convert import ConversionError, ConvertConfig, convert, convert_scene, load_nuscenes
from fsmde_train.convert.cli import main as cli_main

from .conftest import TINY

SCENE = "scene-0001"


def _scene_records(nusc, name):
    scene = next(s for s in nusc.scene if s["name"] == name)
    samples = set()
    tok = scene["first_sample_token"]
    while tok:
        samples.add(tok)
        tok = nusc.get("sample", tok)["next"]
    return [sd for sd in nusc.sample_data if sd["sample_token"] in samples]


@pytest.fixture(scope="module")
def mcap_bag(tiny_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("bags")
    reports = convert(tiny_world, TINY["version"], out, [SCENE])
    assert reports[0].skipped == []
    return Path(reports[0].bag)


def test_rosbags_reader_sees_topics_types_counts_stamps(mcap_bag, nusc, tiny_world):
    recs = _scene_records(nusc, SCENE)
    by_channel = {}
    for r in recs:
        by_channel.setdefault(r["channel"], []).append(r)
    with AnyReader([mcap_bag], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
        for cam in CAMERAS:
            assert types[f"/{cam}/image_rect/compressed"] == "sensor_msgs/msg/CompressedImage"
            assert types[f"/{cam}/camera_info"] == "sensor_msgs/msg/CameraInfo"
        assert types["/LIDAR_TOP/points"] == "sensor_msgs/msg/PointCloud2"
        assert types["/tf_static"] == types["/tf"] == "tf2_msgs/msg/TFMessage"
        static = next(c for c in reader.connections if c.topic == "/tf_static")
        assert static.ext.offered_qos_profiles[0].durability.name == "TRANSIENT_LOCAL"

        seen = {}
        for conn, t, raw in reader.messages():
            msg = reader.deserialize(raw, conn.msgtype)
            seen.setdefault(conn.topic, []).append((t, msg))
        for cam in CAMERAS:
            imgs = seen[f"/{cam}/image_rect/compressed"]
            expected = sorted(by_channel[cam], key=lambda r: r["timestamp"])
            assert [t for t, _ in imgs] == [r["timestamp"] * 1000 for r in expected]
            for (t, m), r in zip(imgs, expected):
                assert m.header.stamp.sec * 10**9 + m.header.stamp.nanosec == r["timestamp"] * 1000
                assert m.header.frame_id == cam
                assert bytes(m.data) == (tiny_world / r["filename"]).read_bytes(), "JPEG bytes as stored"
            infos = seen[f"/{cam}/camera_info"]
            assert len(infos) == len(expected)
            cs = nusc.get("calibrated_sensor", expected[0]["calibrated_sensor_token"])
            np.testing.assert_allclose(infos[0][1].k.reshape(3, 3), cs["camera_intrinsic"])
            np.testing.assert_allclose(infos[0][1].p.reshape(3, 4)[:, :3], cs["camera_intrinsic"])
            assert (infos[0][1].width, infos[0][1].height) == (TINY["width"], TINY["height"])
        clouds = seen["/LIDAR_TOP/points"]
        assert len(clouds) == len(by_channel["LIDAR_TOP"])
        lid = sorted(by_channel["LIDAR_TOP"], key=lambda r: r["timestamp"])[0]
        pts = np.fromfile(tiny_world / lid["filename"], dtype=np.float32).reshape(-1, 5)
        m = clouds[0][1]
        assert m.width == len(pts) and m.point_step == 20
        xyz = np.frombuffer(bytes(m.data), dtype=np.float32).reshape(-1, 5)[:, :3]
        np.testing.assert_array_equal(xyz, pts[:, :3])
        tf_static = seen["/tf_static"][0][1]
        assert {t.child_frame_id for t in tf_static.transforms} == set(CAMERAS) | {"LIDAR_TOP"}
        assert all(t.header.frame_id == "base_link" for t in tf_static.transforms)
        tf0 = seen["/tf"][0][1].transforms[0]
        assert (tf0.header.frame_id, tf0.child_frame_id) == ("map", "base_link")


def test_mcap_reader_decodes_the_same_bag(mcap_bag, tiny_world, nusc):
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    (mcap_file,) = mcap_bag.glob("*.mcap")
    counts, first_img = {}, {}
    with open(mcap_file, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for schema, channel, message, msg in reader.iter_decoded_messages():
            counts[channel.topic] = counts.get(channel.topic, 0) + 1
            assert schema.encoding == "ros2msg"
            if channel.topic.endswith("/compressed") and channel.topic not in first_img:
                first_img[channel.topic] = (message.log_time, msg)
    recs = _scene_records(nusc, SCENE)
    for cam in CAMERAS:
        cam_recs = sorted((r for r in recs if r["channel"] == cam), key=lambda r: r["timestamp"])
        assert counts[f"/{cam}/image_rect/compressed"] == counts[f"/{cam}/camera_info"] == len(cam_recs)
        log_time, msg = first_img[f"/{cam}/image_rect/compressed"]
        assert log_time == cam_recs[0]["timestamp"] * 1000
        decoded = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_COLOR)
        np.testing.assert_array_equal(decoded, cv2.imread(str(tiny_world / cam_recs[0]["filename"])))


def test_sqlite3_raw_images(tiny_world, tmp_path, nusc):
    cfg = ConvertConfig(storage="sqlite3", image_mode="raw", lidar=False)
    (rep,) = convert(tiny_world, TINY["version"], tmp_path, [SCENE], cfg)
    assert list(Path(rep.bag).glob("*.db3"))
    with AnyReader([Path(rep.bag)]) as reader:
        conns = [c for c in reader.connections if c.topic == "/CAM_BACK/image_rect"]
        assert conns[0].msgtype == "sensor_msgs/msg/Image"
        assert not any(c.topic == "/LIDAR_TOP/points" for c in reader.connections)
        conn, t, raw = next(reader.messages(connections=conns))
        m = reader.deserialize(raw, conn.msgtype)
    sd = min((r for r in _scene_records(nusc, SCENE) if r["channel"] == "CAM_BACK"), key=lambda r: r["timestamp"])
    assert m.encoding == "rgb8" and m.step == m.width * 3
    rgb = np.frombuffer(bytes(m.data), np.uint8).reshape(m.height, m.width, 3)
    np.testing.assert_array_equal(rgb, cv2.imread(str(tiny_world / sd["filename"]))[:, :, ::-1])


def test_clear_errors(tiny_world, tmp_path):
    with pytest.raises(ConversionError, match="does not exist"):
        load_nuscenes(tmp_path / "nope", "v1.0-mini")
    with pytest.raises(ConversionError, match="versions found there: \\['v1.0-synth'\\]"):
        load_nuscenes(tiny_world, "v1.0-mini")
    with pytest.raises(ConversionError, match="unknown scene 'scene-9999'.*scene-0001"):
        convert(tiny_world, TINY["version"], tmp_path / "o", ["scene-9999"])
    assert not (tmp_path / "o").exists(), "nothing written when a scene name is wrong"
    nusc = load_nuscenes(tiny_world, TINY["version"])
    convert_scene(nusc, SCENE, tmp_path / "o2", ConvertConfig(lidar=False))
    with pytest.raises(ConversionError, match="exists"):
        convert_scene(nusc, SCENE, tmp_path / "o2", ConvertConfig(lidar=False))
    assert cli_main(["--dataroot", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2


def test_corrupt_samples_are_skipped_and_reported(tiny_world, tmp_path, nusc):
    root = tmp_path / "world"
    shutil.copytree(tiny_world, root)
    recs = sorted(_scene_records(nusc, SCENE), key=lambda r: r["timestamp"])
    jpg = next(r for r in recs if r["channel"] == "CAM_FRONT_LEFT")
    pcd = next(r for r in recs if r["channel"] == "LIDAR_TOP")
    gone = [r for r in recs if r["channel"] == "CAM_BACK"][3]
    data = (root / jpg["filename"]).read_bytes()
    (root / jpg["filename"]).write_bytes(data[: len(data) // 2])  # truncated JPEG
    (root / pcd["filename"]).write_bytes(b"\x00" * 33)  # not a multiple of 5 float32
    (root / gone["filename"]).unlink()
    out = tmp_path / "bags"
    code = cli_main(["--dataroot", str(root), "--version", TINY["version"], "--out", str(out), "--scenes", SCENE])
    assert code == 1, "skips are reported through the exit status"
    import json

    rep = json.loads((out / f"{SCENE}.report.json").read_text())
    reasons = {s["token"]: s["reason"] for s in rep["skipped"]}
    assert set(reasons) == {jpg["token"], pcd["token"], gone["token"]}
    assert "JPEG" in reasons[jpg["token"]] and "20 B" in reasons[pcd["token"]] and "missing" in reasons[gone["token"]]
    n_cam = sum(r["channel"] == "CAM_FRONT_LEFT" for r in recs)
    assert rep["counts"]["/CAM_FRONT_LEFT/image_rect/compressed"] == n_cam - 1
    assert rep["counts"]["/CAM_FRONT/image_rect/compressed"] == n_cam, "nothing else lost"
    assert rep["counts"]["/LIDAR_TOP/points"] == sum(r["channel"] == "LIDAR_TOP" for r in recs) - 1
