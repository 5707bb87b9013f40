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


def test_every_launch_argument_is_described_typed_and_the_required_ones_exist():
    mod = launch_module()
    names = [a[0] for a in mod.ARGUMENTS]
    for required in ("model", "backend", "image_transport", "camera_namespace", "rig_file", "use_sim_time", "rviz",
                     "params_file"):
        assert required in names
    assert all(len(desc) > 15 and typ in (str, bool) for _, _, typ, desc in mod.ARGUMENTS)
    declared = {p.name for p in PARAMS} | {"use_sim_time"}
    assert set(mod.ARG_TO_PARAM.values()) <= declared, "launch overrides only parameters the node declares"
    defaults = {p.name: p.default for p in PARAMS}
    args = {a: (d, t) for a, d, t, _ in mod.ARGUMENTS}
    for arg, param in mod.ARG_TO_PARAM.items():
        if param in defaults:
            assert args[arg][0] == defaults[param], arg
            assert args[arg][1] is type(defaults[param]), f"{arg} must be passed as {type(defaults[param])}"


@pytest.mark.parametrize("ns, expected", [("/sensors/", "/sensors"), ("sensors", "/sensors"), ("//a//b/", "/a/b"),
                                          ("", ""), ("/", "")])
def test_namespaces_are_normalised(ns, expected):
    assert launch_module().normalise_namespace(ns) == expected


@pytest.mark.parametrize("rig_name", ["nuscenes_rig.yaml", "custom"])
def test_remappings_come_from_the_rig_file(rig_name, tmp_path):
    from fsmde_ros.core.rig import load_rig

    mod = launch_module()
    if rig_name == "custom":  # another rig's topics are remapped, not the default rig's
        (tmp_path / "r.yaml").write_text(yaml.safe_dump({"base_frame": "base_link", "cameras": [
            {"name": n, "frame_id": n.lower(), "image_topic": f"{n.lower()}/image_raw", "camera_info_topic":
             f"{n.lower()}/camera_info", "translation": [0, 0, 1.5], "rotation_wxyz": [1, 0, 0, 0]}
            for n in ("front", "left", "rear", "right", "roof")]}))
        rig = load_rig(tmp_path / "r.yaml")
    else:
        rig = load_rig(ROOT / "config" / rig_name)
    rem = dict(mod.camera_remappings(rig.cameras, "/sensors/"))
    assert len(rem) == 3 * len(rig.cameras)
    for c in rig.cameras:
        assert rem[c.image_topic + "/compressed"] == f"/sensors/{c.image_topic}/compressed"
        assert rem[c.image_topic] == f"/sensors/{c.image_topic}"
        assert rem[c.camera_info_topic] == f"/sensors/{c.camera_info_topic}"
    assert dict(mod.camera_remappings(rig.cameras, ""))[rig.cameras[0].camera_info_topic] == \
        "/" + rig.cameras[0].camera_info_topic


def test_param_yaml_is_generated_from_the_declared_parameters():
    from fsmde_ros.params import params_yaml

    text = (ROOT / "config/surround_depth.yaml").read_text()
    assert text == params_yaml(), "regenerate: python -m fsmde_ros.params > config/surround_depth.yaml"
    params = yaml.safe_load(text)["/**"]["ros__parameters"]
    for p in PARAMS:
        if p.name in params:
            assert params[p.name] == p.default, p.name
        else:
            assert p.default == [] and f"# {p.name}:" in text


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
