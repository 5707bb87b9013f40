"""A temporal model's state across sets (issue 14 item 3): when it is kept and when dropped (pure), the pipeline
through the real ONNX Runtime and torch backends, and the node over rclpy."""
import numpy as np
import pytest

from fsmde_ros.core.temporal import TemporalState

S = 1_000_000_000


def test_state_is_dropped_first_on_a_loop_after_a_gap_and_per_missing_view():
    t = TemporalState(3, (4, 2, 3), max_gap_s=0.5)
    _, valid, why = t.inputs(10 * S)
    assert why == "first" and not valid.any()
    t.update(np.ones((3, 4, 2, 3), np.float32), 10 * S, [True, False, True])
    prev, valid, why = t.inputs(10 * S + S // 10)
    assert why is None and valid.tolist() == [1, 0, 1] and prev.sum() == 3 * 24  # the missing view has no state
    t.update(np.ones((3, 4, 2, 3), np.float32), 10 * S + S // 10, [True] * 3)
    assert t.inputs(9 * S)[2] == "backwards"  # a bag loop
    t.update(np.ones((3, 4, 2, 3), np.float32), 9 * S, [True] * 3)
    _, valid, why = t.inputs(9 * S + S)  # 1 s later: a gap over 0.5 s
    assert why == "gap" and not valid.any()
    assert t.resets == {"first": 1, "backwards": 1, "gap": 1}
    with pytest.raises(ValueError, match="expected \\(3, 4, 2, 3\\)"):
        t.update(np.ones((3, 4, 2, 2), np.float32), 11 * S, [True] * 3)
    with pytest.raises(ValueError, match="max gap"):
        TemporalState(3, (4, 2, 3), 0.0)


@pytest.fixture(scope="module")
def temporal_model(tmp_path_factory):
    import torch

    from fsmde_train.export import export_model
    from fsmde_train.networks import StudentConfig, build_student

    torch.manual_seed(0)
    net = build_student(StudentConfig(base_width=8, decoder_width=16, n_bins=16, blocks=(1, 1, 1, 1),
                                      temporal=True)).eval()
    with torch.no_grad():  # a fusion block that is not the identity, as after training
        for p in net.temporal.parameters():
            p.normal_(0, 0.2)
    out = tmp_path_factory.mktemp("model") / "temporal"
    export_model(net, out, name="temporal", input_hw=(96, 160), canonical_focal_px=100.0)
    return out


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_the_pipeline_feeds_the_previous_sets_state(temporal_model, backend):
    from fsmde_ros.backends import build_backend
    from fsmde_ros.core.manifest import load_manifest
    from fsmde_ros.core.pipeline import SurroundPipeline, View
    from fsmde_ros.core.preprocess import Preprocessor

    m = load_manifest(temporal_model)
    assert m.state_shape == (64, 3, 5)  # [C, H/32, W/32] of the bottleneck at 96x160
    b = build_backend(backend, m, "cpu")
    b.warmup(6, m.height, m.width, channels=m.channels)
    K = np.array([[100.0, 0, 80], [0, 100.0, 48], [0, 0, 1]])
    rng = np.random.default_rng(0)
    sets = [[View(f"c{i}", rng.integers(0, 255, (96, 160, 3), np.uint8), K, (160, 96), np.eye(4)) for i in range(6)]
            for _ in range(2)]

    def run(stamps):
        pipe = SurroundPipeline(b, Preprocessor(m), m.min_depth, m.max_depth,
                                temporal=TemporalState(6, m.state_shape, 0.5))
        return [pipe.process(v, cloud=False, stamp_ns=s) for v, s in zip(sets, stamps)]

    fresh = run([10 * S, 10 * S])  # the second set stamped like the first: not forward, state dropped
    kept = run([10 * S, 10 * S + S // 12])
    assert [r.temporal_reset for r in fresh] == ["first", "backwards"]
    assert [r.temporal_reset for r in kept] == ["first", None]
    np.testing.assert_array_equal(kept[0].depth[0], fresh[0].depth[0])
    assert not np.allclose(kept[1].depth[0], fresh[1].depth[0])  # the state changed the second set's depth
    with pytest.raises(ValueError, match="stamp"):
        SurroundPipeline(b, Preprocessor(m), m.min_depth, m.max_depth,
                         temporal=TemporalState(6, m.state_shape, 0.5)).process(sets[0])


def test_tensorrt_refuses_a_temporal_model_so_auto_takes_the_next(temporal_model):
    from fsmde_ros.backends import BackendUnavailable
    from fsmde_ros.backends.tensorrt_backend import TensorRTBackend
    from fsmde_ros.core.manifest import load_manifest

    with pytest.raises(BackendUnavailable, match="temporal state"):
        TensorRTBackend(load_manifest(temporal_model))


def test_the_node_keeps_and_resets_the_state(temporal_model):
    import rclpy

    from fsmde_ros.core.rig import default_cameras
    from node_harness import Harness, make_node

    cams = default_cameras()
    ctx = rclpy.context.Context()
    rclpy.init(context=ctx)
    h = Harness(ctx, make_node(ctx, temporal_model, temporal_max_gap=0.5))
    try:
        h.spin(1.0)
        t = 1_700_000_000_000_000_000
        for k, stamp in enumerate((t, t + S // 12, t + S // 12 + 2 * S, t - S)):  # kept, gap, loop
            h.publish_set(stamp)
            h.spin(20.0, until=lambda: all(len(h.depth[c]) > k for c in cams) and h.node.idle())
        assert all(len(h.depth[c]) == 4 for c in cams)

        def resets():
            d = h.latest_diag()
            return d.get("temporal state resets first/backwards/gap")

        h.spin(3.0, until=lambda: resets() == "1/1/1")
        assert resets() == "1/1/1", h.latest_diag()
    finally:
        h.close()
        rclpy.shutdown(context=ctx)
