"""Launch file, parameter YAML, RViz config and the node's declared parameters agree."""
import importlib.util
from pathlib import Path

import pytest
import yaml

from fsmde_ros.params import PARAMS

ROOT = Path(__file__).resolve().parents[1]


def launch_module():
    spec = importlib.util.spec_from_file_location("surround_depth_launch", ROOT / "launch/surround_depth.launch.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # no launch imports at module level: works without launch_ros
    return mod


def test_every_launch_argument_is_described_and_the_required_ones_exist():
    mod = launch_module()
    names = [a[0] for a in mod.ARGUMENTS]
    for required in ("model", "backend", "image_transport", "camera_namespace", "use_sim_time", "rviz", "params_file"):
        assert required in names
    assert all(len(desc) > 15 for _, _, desc in mod.ARGUMENTS)
    declared = {p.name for p in PARAMS} | {"use_sim_time"}
    assert set(mod.ARG_TO_PARAM.values()) <= declared, "launch overrides only parameters the node declares"
    defaults = {p.name: p.default for p in PARAMS}
    for arg, param in mod.ARG_TO_PARAM.items():
        if param in defaults:
            assert dict((a, d) for a, d, _ in mod.ARGUMENTS)[arg] == defaults[param], arg


def test_remappings_cover_every_camera_input():
    mod = launch_module()
    rem = dict((src, "".join(dst)) for src, dst in mod.camera_remappings("/sensors"))
    for c in mod.CAMERAS:
        assert rem[f"{c}/image_rect/compressed"] == f"/sensors/{c}/image_rect/compressed"
        assert rem[f"{c}/camera_info"] == f"/sensors/{c}/camera_info"


def test_param_yaml_lists_every_declared_parameter_with_its_default():
    d = yaml.safe_load((ROOT / "config/surround_depth.yaml").read_text())
    params = d["/**"]["ros__parameters"]
    assert set(params) == {p.name for p in PARAMS}
    for p in PARAMS:
        assert params[p.name] == p.default, p.name


def test_rviz_config_shows_cloud_images_and_tf_in_base_link():
    cfg = yaml.safe_load((ROOT / "config/surround_depth.rviz").read_text())
    vm = cfg["Visualization Manager"]
    assert vm["Global Options"]["Fixed Frame"] == "base_link"
    classes = [d["Class"] for d in vm["Displays"]]
    assert classes.count("rviz_default_plugins/Image") == 6 and "rviz_default_plugins/TF" in classes
    cloud = next(d for d in vm["Displays"] if d["Class"] == "rviz_default_plugins/PointCloud2")
    assert cloud["Color Transformer"] == "RGB8" and cloud["Topic"]["Value"] == "points"


def test_launch_description_runs_where_launch_ros_exists():
    pytest.importorskip("launch_ros", reason="launch_ros is not pip-installable; structure checked above")
    from launch import LaunchDescription

    ld = launch_module().generate_launch_description()
    assert isinstance(ld, LaunchDescription)
    assert {a.name for a in ld.get_launch_arguments()} == {a[0] for a in launch_module().ARGUMENTS}


def test_readme_documents_every_parameter_and_output_topic():
    text = (ROOT / "README.md").read_text()
    for p in PARAMS:
        assert f"| `{p.name}` |" in text, p.name
    for topic in ("CAM_*/depth/image`", "CAM_*/depth/camera_info", "`points`", "/diagnostics"):
        assert topic in text
