"""The ament_python package installs what a colcon workspace needs; the training package stays ROS-free."""
import ast
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_package_xml_is_format3_with_runtime_dependencies():
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == "fsmde_ros"
    deps = {e.text for e in root if e.tag in ("depend", "exec_depend")}
    for d in ["rclpy", "sensor_msgs", "std_msgs", "geometry_msgs", "message_filters", "cv_bridge", "sensor_msgs_py",
              "tf2_ros", "diagnostic_msgs", "launch_ros", "python3-torch", "python3-numpy"]:
        assert d in deps, d
    assert "python3-pytest" in {e.text for e in root.iter("test_depend")}
    assert root.find("export/build_type").text == "ament_python"


def test_wheel_installs_ament_index_marker_and_share_files(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (whl,) = tmp_path.glob("fsmde_ros-*.whl")
    names = zipfile.ZipFile(whl).namelist()
    data = "fsmde_ros-0.1.0.data/data/"
    for f in ["share/ament_index/resource_index/packages/fsmde_ros", "share/fsmde_ros/package.xml",
              "share/fsmde_ros/config/nuscenes_rig.yaml"]:
        assert data + f in names, f
    assert "fsmde_ros/__init__.py" in names


def test_training_package_imports_nothing_from_ros():
    ros = {"rclpy", "sensor_msgs", "std_msgs", "geometry_msgs", "message_filters", "tf2_ros", "cv_bridge",
           "launch", "launch_ros", "fsmde_ros", "diagnostic_msgs", "builtin_interfaces"}
    for py in (ROOT / "training").rglob("*.py"):
        for node in ast.walk(ast.parse(py.read_text())):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                mods = [node.module or ""]
            else:
                continue
            assert not {m.split(".")[0] for m in mods} & ros, f"{py}: imports {mods}"


def test_node_rig_file_agrees_with_the_synthetic_world_calibration():
    node_rig = yaml.safe_load((ROOT / "config" / "nuscenes_rig.yaml").read_text())
    world_rig = yaml.safe_load((ROOT / "training/fsmde_train/synth/nuscenes_rig_n015.yaml").read_text())
    assert [c["name"] for c in node_rig["cameras"]] == world_rig["camera_order"]
    for c in node_rig["cameras"]:
        src = world_rig["cameras"][c["name"]]
        np.testing.assert_allclose(c["translation"], src["translation"])
        np.testing.assert_allclose(c["rotation_wxyz"], src["rotation_wxyz"])
