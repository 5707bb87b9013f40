"""The node in-process with real rclpy: parameter overrides, outputs, runtime parameter checks, bad input."""
import time

import numpy as np
import pytest
import rclpy
from rclpy.parameter import Parameter

from fsmde_ros.core.rig import default_cameras

from node_harness import W, Harness, make_node  # noqa: E402

CAMERAS = default_cameras()


@pytest.fixture
def ros():
    ctx = rclpy.context.Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)


def test_one_set_in_six_depth_images_and_a_cloud_out(ros, tiny_model):
    h = Harness(ros, make_node(ros, tiny_model, cloud_stride=4, cloud_max_range=500.0))
    try:
        h.spin(1.0)  # discovery
        t = 1_700_000_000_000_000_000
        h.publish_set(t)
        h.spin(20.0, until=lambda: h.clouds and all(h.depth[c] for c in CAMERAS))
        assert h.clouds, "no cloud published"
        for c, off in zip(CAMERAS, (25, 33, 40, 0, 10, 17)):
            d = h.depth[c][0]
            assert d.encoding == "32FC1" and (d.height, d.width) == (96, 160) and d.step == 160 * 4
            assert d.header.frame_id == c
            assert d.header.stamp.sec * 10**9 + d.header.stamp.nanosec == t + off * 1_000_000
            arr = np.frombuffer(bytes(d.data), np.float32)
            assert np.isfinite(arr).any()
            info = h.infos[c][0]
            assert (info.width, info.height) == (160, 96)
            np.testing.assert_allclose(info.k[0], h.K[c][0, 0] * 160 / W, rtol=1e-6)
        cloud = h.clouds[0]
        assert cloud.header.frame_id == "base_link" and cloud.point_step == 16
        assert [f.name for f in cloud.fields] == ["x", "y", "z", "rgb"] and cloud.width > 100
        def latest():
            return {kv.key: kv.value for kv in h.diags[-1].status[0].values} if h.diags else {}

        h.spin(3.0, until=lambda: "latency infer p50/p95 (ms)" in latest())
        vals = latest()
        assert vals["backend"].startswith("onnxruntime on cpu") and "latency infer p50/p95 (ms)" in vals
    finally:
        h.close()


def test_runtime_parameter_changes_are_checked(ros, tiny_model):
    node = make_node(ros, tiny_model)
    try:
        r = node.set_parameters([Parameter("cloud_stride", value=0)])[0]
        assert not r.successful and "cloud_stride must be >= 1" in r.reason
        r = node.set_parameters([Parameter("cloud_min_range", value=100.0)])[0]
        assert not r.successful and "cloud_max_range" in r.reason
        r = node.set_parameters([Parameter("backend", value="torch")])[0]
        assert not r.successful, "read-only parameters need a restart"
        assert node.set_parameters([Parameter("cloud_voxel_size", value=0.2)])[0].successful
        assert node.cfg.cloud_voxel_size == 0.2 and node.pipeline.cloud_cfg.voxel_size == 0.2
    finally:
        node.destroy_node()


def test_torch_backend_and_explicit_unavailable_backends(ros, tiny_model):
    node = make_node(ros, tiny_model, backend="torch")
    assert node.backend.name == "torch"
    node.destroy_node()
    for backend, device in (("tensorrt", "auto"), ("torch", "cuda")):
        with pytest.raises(RuntimeError, match="configure failed"):
            make_node(ros, tiny_model, backend=backend, device=device)


def test_bad_views_are_skipped_and_the_rest_served(ros, tiny_model, capfd):
    h = Harness(ros, make_node(ros, tiny_model, cloud_enabled=False))

    def corrupt(c, img, info):
        if c == "CAM_BACK":
            img.data = bytes(10)  # wrong length
        if c == "CAM_FRONT_LEFT":
            info.k = [0.0] * 9  # zero focal length

    try:
        h.spin(1.0)
        h.publish_set(1_700_000_001_000_000_000, override=corrupt)
        h.spin(20.0, until=lambda: all(h.depth[c] for c in CAMERAS if c not in ("CAM_BACK", "CAM_FRONT_LEFT")))
        h.spin(0.3)
        assert not h.depth["CAM_BACK"] and not h.depth["CAM_FRONT_LEFT"]
        assert all(h.depth[c] for c in CAMERAS if c not in ("CAM_BACK", "CAM_FRONT_LEFT"))
        err = capfd.readouterr().err
        assert "CAM_BACK/image_rect: data has 10 bytes, expected step*height" in err
        assert "CAM_FRONT_LEFT/camera_info: unusable CameraInfo (focal lengths must be positive" in err
        # and the node keeps serving the next healthy set
        h.publish_set(1_700_000_002_000_000_000)
        h.spin(20.0, until=lambda: len(h.depth["CAM_BACK"]) == 1)
        assert len(h.depth["CAM_BACK"]) == 1 and len(h.depth["CAM_FRONT"]) == 2
    finally:
        h.close()


def test_missing_model_is_a_clear_error(ros, tmp_path, capfd):
    with pytest.raises(RuntimeError):
        make_node(ros, tmp_path / "no_model")
    assert "model manifest" in capfd.readouterr().err


def test_lifecycle_variant_configures_then_activates(ros, tiny_model):
    from fsmde_ros.lifecycle_node import SurroundDepthLifecycleNode

    node = SurroundDepthLifecycleNode(context=ros, parameter_overrides=[
        Parameter("model_path", value=str(tiny_model)), Parameter("image_transport", value="raw")])
    try:
        assert node.backend is None and not node._subs, "nothing loaded before configure"
        node.trigger_configure()
        assert node.backend is not None and not node._subs, "configure loads the model, no subscriptions yet"
        node.trigger_activate()
        assert len(node._subs) == 13 and node._running  # 6 images + 6 camera_info + odometry
        node.trigger_deactivate()
        node.trigger_cleanup()
        assert node.tf_listener is None and node._pool is None, "cleanup releases what configure made"
        node.trigger_configure()
        node.trigger_activate()
        assert len(node._subs) == 13, "re-configure + activate: the same subscriptions, none added"
        node.trigger_deactivate()
        assert not node._subs and not node._running
        node.trigger_cleanup()
        assert node.backend is None
        assert node._state_machine.current_state[1] == "unconfigured"
    finally:
        node.destroy_node()


def test_a_set_waiting_at_deactivate_is_not_processed_after_reactivation(ros, tiny_model):
    import threading
    from types import SimpleNamespace as NS

    from fsmde_ros.lifecycle_node import SurroundDepthLifecycleNode

    node = SurroundDepthLifecycleNode(context=ros, parameter_overrides=[
        Parameter("model_path", value=str(tiny_model)), Parameter("image_transport", value="raw")])
    done, release, lock = [], threading.Event(), threading.Lock()

    def slow_process(imgs, infos, t):  # stands in for inference: holds the worker until released
        with lock:
            done.append(imgs[0].name)
        release.wait(10)

    def fake_set(name, st):
        return tuple(NS(name=name, header=NS(stamp=NS(sec=st, nanosec=0))) for _ in range(6))

    try:
        node.trigger_configure()
        node.trigger_activate()
        node._process = slow_process
        node._submit(fake_set("A", 1), force=True)
        end = time.monotonic() + 5
        while not done and time.monotonic() < end:
            time.sleep(0.01)
        node._submit(fake_set("B", 2), force=True)  # waits in the mailbox behind A
        threading.Timer(0.3, release.set).start()
        node.trigger_deactivate()
        node.trigger_activate()
        time.sleep(0.5)
        assert done == ["A"], "the set pending at deactivation came out after re-activation"
    finally:
        release.set()
        node.destroy_node()


def test_lifecycle_configure_fails_cleanly_without_a_model(ros, tmp_path):
    from fsmde_ros.lifecycle_node import SurroundDepthLifecycleNode

    node = SurroundDepthLifecycleNode(context=ros, parameter_overrides=[Parameter("model_path", value=str(tmp_path))])
    try:
        node.trigger_configure()
        assert node.backend is None and node._state_machine.current_state[1] == "unconfigured"
    finally:
        node.destroy_node()


def test_duplicate_and_backwards_stamps_are_reported_and_served(ros, tiny_model, capfd):
    h = Harness(ros, make_node(ros, tiny_model, cloud_enabled=False))
    try:
        h.spin(1.0)
        t = 1_700_000_010_000_000_000
        h.publish_set(t)
        h.spin(20.0, until=lambda: len(h.depth["CAM_FRONT"]) == 1)
        h.publish_set(t)  # the same stamps again
        h.spin(1.5)
        assert len(h.depth["CAM_FRONT"]) == 1, "a duplicate set is not published twice"
        h.publish_set(t - 30 * 10**9)  # a bag loop: 30 s back
        h.spin(20.0, until=lambda: len(h.depth["CAM_FRONT"]) == 2)
        assert len(h.depth["CAM_FRONT"]) == 2, "after a jump back the node keeps serving"
        err = capfd.readouterr().err
        assert "duplicate set stamp" in err and "stamps went backwards by 30.00 s" in err
    finally:
        h.close()


@pytest.fixture(scope="module")
def cross_view_model(tmp_path_factory):
    import torch

    from fsmde_train.export import export_model
    from fsmde_train.networks import StudentConfig, build_student

    torch.manual_seed(0)
    net = build_student(StudentConfig(base_width=8, decoder_width=16, n_bins=16, blocks=(1, 1, 1, 1),
                                      cross_view=True, cross_view_heads=2)).eval()
    with torch.no_grad():
        net.cross_view.gate.fill_(1.0)  # an open gate: the views really mix
    out = tmp_path_factory.mktemp("model") / "cross_view"
    export_model(net, out, name="cross_view", input_hw=(96, 160), canonical_focal_px=100.0, cameras=CAMERAS)
    return out


def test_the_manifest_of_a_cross_view_model_names_its_ring(cross_view_model, tiny_model):
    from fsmde_ros.core.manifest import ManifestError, load_manifest

    m = load_manifest(cross_view_model)
    assert m.set_cameras == tuple(CAMERAS) and m.state_shape is None
    m.check_cameras(CAMERAS)
    with pytest.raises(ManifestError, match="needs exactly the cameras"):
        m.check_cameras(CAMERAS[1:] + CAMERAS[:1])  # the same cameras in another order: wrong neighbours
    load_manifest(tiny_model).check_cameras(["CAM_BACK"])  # a model without fusion serves any subset


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_a_cross_view_model_serves_whole_sets(ros, cross_view_model, backend):
    h = Harness(ros, make_node(ros, cross_view_model, backend=backend))
    try:
        h.spin(1.0)
        t = 1_700_000_000_000_000_000
        h.publish_set(t)
        h.spin(20.0, until=lambda: all(h.depth[c] for c in CAMERAS))
        for c in CAMERAS:
            assert np.isfinite(np.frombuffer(bytes(h.depth[c][0].data), np.float32)).any(), c
    finally:
        h.close()


def test_a_cross_view_model_refuses_another_camera_order(ros, cross_view_model, capfd):
    with pytest.raises(RuntimeError):
        make_node(ros, cross_view_model, cameras=CAMERAS[1:] + CAMERAS[:1])
    assert "needs exactly the cameras" in capfd.readouterr().err


def test_a_set_that_fails_to_process_is_named_in_diagnostics_and_the_node_keeps_serving(ros, tiny_model, capfd):
    """What a GPU session found: every set failed in the pipeline while /diagnostics blamed the stamps ("no set
    formed"). A processing failure is reported as such, and the next set that processes is served."""
    h = Harness(ros, make_node(ros, tiny_model, stale_input_timeout=1.0))
    real = h.node.pipeline.process

    def broken(*a, **kw):  # fault injection into the pipeline the node calls: the failure the GPU path had
        raise TypeError("process() got an unexpected keyword argument 'stamp_ns'")

    h.node.pipeline.process = broken
    try:
        h.spin(1.0)  # discovery
        t = 1_700_000_000_000_000_000
        for k in range(25):  # 2.5 s of sets at 10 Hz, none of which processes
            h.publish_set(t + k * 100_000_000)
            h.spin(0.1)
        msgs = [d.status[0].message for d in h.diags]
        assert any("sets form but processing them fails: TypeError: process() got an unexpected keyword" in m
                   for m in msgs), msgs[-3:]
        assert not any("no set formed" in m for m in msgs), msgs
        assert "processing a set failed: TypeError" in capfd.readouterr().err
        h.node.pipeline.process = real
        t2 = t + 30 * 100_000_000
        h.publish_set(t2)
        assert h.spin(15.0, until=lambda: h.served(t2)), "the node did not serve after the failures"
    finally:
        h.close()


def test_odometry_moves_each_view_of_the_cloud_to_the_set_stamp(ros, tiny_model):
    """Real rclpy: nav_msgs/Odometry at 10 m/s along x; each camera's cloud points move by the distance driven
    between its exposure and the cloud's stamp (the first camera in rig order), compared with the same set served
    with motion_compensation off."""
    from nav_msgs.msg import Odometry

    t = 1_700_000_000_000_000_000
    clouds = {}
    for mode in ("none", "odometry"):
        h = Harness(ros, make_node(ros, tiny_model, cloud_stride=4, cloud_max_range=500.0, motion_compensation=mode))
        try:
            pub = h.io.create_publisher(Odometry, "odom", 100)
            h.spin(1.0)  # discovery
            for k in range(-5, 10):  # 20 Hz poses from 250 ms before the set to 200 ms after its first exposure
                ts = t + k * 50_000_000
                m = Odometry(child_frame_id="base_link")
                m.header.stamp.sec, m.header.stamp.nanosec = ts // 10**9, ts % 10**9
                m.header.frame_id = "odom"
                m.pose.pose.position.x = 10.0 * (ts - t) * 1e-9
                m.pose.pose.orientation.w = 1.0
                pub.publish(m)
            h.spin(0.5)
            h.publish_set(t)
            h.spin(20.0, until=lambda: h.clouds)
            assert h.clouds, f"{mode}: no cloud"
            c = h.clouds[0]
            clouds[mode] = np.frombuffer(bytes(c.data), np.float32).reshape(-1, 4)[:, :3].astype(np.float64)
            want = ("odometry (last set); sets compensated 1, uncompensated 0" if mode == "odometry"
                    else "none (last set); sets compensated 0, uncompensated 1")
            h.spin(2.0, until=lambda: h.latest_diag().get("cloud motion compensation") == want)
            assert h.latest_diag().get("cloud motion compensation") == want
        finally:
            h.close()
    still, moved = clouds["none"], clouds["odometry"]
    assert still.shape == moved.shape
    shift = moved - still
    np.testing.assert_allclose(shift[:, 1:], 0.0, atol=1e-4)
    # offsets (ms) per camera in rig order; the cloud's stamp is CAM_FRONT's (+25 ms)
    expected = {round(10.0 * (off - 25) * 1e-3, 3) for off in (25, 33, 40, 0, 10, 17)}
    got = {round(float(x), 3) for x in np.unique(np.round(shift[:, 0], 3))}
    assert got == expected, (got, expected)
