"""The rig file is the one source of cameras: a 5- and a 7-camera rig through the node (in-process, real rclpy),
launch remappings, the recorder's topic list and fsmde-offline."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import yaml
from rosbags.highlevel import AnyReader

from fsmde_ros.core.pipeline import CloudConfig
from fsmde_ros.core.rig import load_rig
from fsmde_ros.resources import default_rig_file
from fsmde_ros.tools.offline import run_offline
from fsmde_ros.tools.recorder import output_topics

from node_harness import Harness, make_node

ROOT = Path(__file__).resolve().parents[1]


def rig_file(tmp_path, n) -> Path:
    """n = 5: nuScenes without CAM_BACK; n = 7: nuScenes plus a roof camera under its own topic names."""
    d = yaml.safe_load(default_rig_file().read_text())
    cams = d["cameras"]
    if n == 5:
        cams = [c for c in cams if c["name"] != "CAM_BACK"]
    elif n == 7:
        roof = dict(cams[0], name="roof_cam", frame_id="roof_cam_optical", image_topic="roof/cam/image_rect",
                    camera_info_topic="roof/cam/camera_info", translation=[0.5, 0.0, 2.2])
        cams = cams + [roof]
    p = tmp_path / f"rig{n}.yaml"
    p.write_text(yaml.safe_dump({"base_frame": "base_link", "cameras": cams}))
    return p


@pytest.fixture(scope="module")
def ros(ros_module):
    return ros_module


@pytest.mark.parametrize("n", [5, 7])
def test_node_serves_every_camera_of_the_rig(ros, tiny_model, tmp_path, n):
    path = rig_file(tmp_path, n)
    rig = load_rig(path)
    node = make_node(ros, tiny_model, rig_file=str(path), cloud_stride=8, cloud_max_range=500.0)
    h = Harness(ros, node, rig=rig)
    try:
        assert [c.name for c in node.cams] == [c.name for c in rig.cameras]
        h.spin(1.0)
        t = 1_700_000_000_000_000_000
        h.publish_set(t)
        assert h.spin(20, until=lambda: h.served(t) and h.clouds), f"{n}-camera set not served"
        assert node.stats.sets_out.count == 1 and node.pipeline._buf.shape[0] == n, "one batch of n views"
        pts = np.frombuffer(bytes(h.clouds[-1].data), np.float32).reshape(-1, 4)
        assert len(pts) > 0
    finally:
        h.close()


@pytest.mark.parametrize("n", [5, 7])
def test_launch_remaps_and_recorder_topics_follow_the_rig(tmp_path, n):
    rig = load_rig(rig_file(tmp_path, n))
    spec = importlib.util.spec_from_file_location("launch_mod", ROOT / "launch/surround_depth.launch.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rem = dict(mod.camera_remappings(rig.cameras, "/sensors"))
    assert len(rem) == 3 * n
    topics = output_topics([c.name for c in rig.cameras], namespace="perception/")
    assert sum(t.endswith("/depth/image") for t in topics) == n
    assert f"/perception/{rig.cameras[-1].name}/depth/image" in topics and "/perception/points" in topics


def test_offline_and_report_with_a_five_camera_rig(bag, world, tiny_model, tmp_path):
    path = rig_file(tmp_path, 5)
    s = run_offline(bag, tmp_path / "out", tiny_model, rig_file=path, cloud=CloudConfig(max_range=500.0),
                    progress=False, log=lambda *_: None)
    assert s["sets"] > 0 and s["bad_views"] == 0
    with AnyReader([tmp_path / "out"]) as r:
        depth_topics = sorted(c.topic for c in r.connections if c.topic.endswith("/depth/image"))
    assert depth_topics == sorted(f"/{c.name}/depth/image" for c in load_rig(path).cameras)
    from fsmde_ros.tools.report import build_report

    res = build_report(tmp_path / "out", world, tmp_path / "report")
    assert list(res["metrics_per_camera"]) == [c.name for c in load_rig(path).cameras]
    assert res["mosaics"] and (tmp_path / "report" / res["mosaics"][0]).is_file()
    assert "| CAM_BACK |" not in (tmp_path / "report" / "report.md").read_text()
