"""Test isolation for DDS (own domain, localhost only, logs in tmp) and shared fixtures: a tiny random-weights
student exported through the real exporter, and a tiny synthetic world with its bag."""
from __future__ import annotations

import os
import random
import tempfile

import pytest

_TMP = tempfile.mkdtemp(prefix="fsmde_test_")
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randrange(1, 200)))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_LOG_DIR", os.path.join(_TMP, "ros_log"))
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", os.path.join(_TMP, "inductor"))
os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")

MODEL_HW = (96, 160)  # tiny model input (H, W), multiples of 32
WORLD = dict(scenes=1, duration=1.0, width=320, height=180, seed=11, version="v1.0-synth")


@pytest.fixture(scope="module")
def ros_module():
    """An rclpy context of its own for one test module (DDS isolated as above)."""
    import rclpy

    c = rclpy.context.Context()
    rclpy.init(context=c)
    yield c
    rclpy.shutdown(context=c)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    import torch

    from fsmde_train.export import export_model
    from fsmde_train.networks import StudentConfig, build_student

    torch.manual_seed(0)
    net = build_student(StudentConfig(base_width=8, decoder_width=16, n_bins=16, blocks=(1, 1, 1, 1))).eval()
    out = tmp_path_factory.mktemp("model") / "tiny"
    export_model(net, out, name="tiny", input_hw=MODEL_HW, canonical_focal_px=100.0)
    return out


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    from fsmde_train.synth import SynthConfig, generate_dataset

    root = tmp_path_factory.mktemp("world")
    generate_dataset(SynthConfig(out=str(root), **WORLD), progress=False)
    return root


@pytest.fixture(scope="session")
def bag(world, tmp_path_factory):
    from fsmde_train.convert import convert

    (rep,) = convert(world, WORLD["version"], tmp_path_factory.mktemp("bags"), ["scene-0001"])
    from pathlib import Path

    return Path(rep.bag)


@pytest.fixture(scope="session")
def bag_info_early(bag, tmp_path_factory):
    """The test bag with every camera_info stamped 30 ms before its image (as some camera drivers do)."""
    from pathlib import Path

    from rosbags.highlevel import AnyReader
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    out = Path(tmp_path_factory.mktemp("bags_early")) / "scene-0001-info-early"
    with AnyReader([bag]) as r, Writer(out, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        conns = {c.id: w.add_connection(c.topic, c.msgtype, typestore=store,
                                        offered_qos_profiles=c.ext.offered_qos_profiles) for c in r.connections}
        for c, t, raw in r.messages():
            if c.msgtype == "sensor_msgs/msg/CameraInfo":
                m = r.deserialize(raw, c.msgtype)
                st = m.header.stamp.sec * 10**9 + m.header.stamp.nanosec - 30_000_000
                m.header.stamp.sec, m.header.stamp.nanosec = st // 10**9, st % 10**9
                raw = store.serialize_cdr(m, c.msgtype)
            w.write(conns[c.id], t, raw)
    return out


@pytest.fixture(scope="session")
def world_cfg():
    return dict(WORLD)


def pytest_terminal_summary(terminalreporter):
    """List the fault cases this run covered (and how each ended), as issue 6 asks of `make test`."""
    rows = []
    for outcome in ("passed", "failed", "skipped"):
        for rep in terminalreporter.stats.get(outcome, []):
            if "test_fault_suite.py::test_" in rep.nodeid and "[" in rep.nodeid and rep.when in ("call", "setup"):
                rows.append((rep.nodeid.split("[", 1)[1].rstrip("]"), outcome))
    if rows:
        terminalreporter.write_sep("-", f"fault suite: {len(rows)} cases")
        for cid, outcome in rows:
            terminalreporter.write_line(f"  {outcome:7s} {cid}")
