"""GPU backends against the CPU reference (skipped without CUDA; run on a lent GPU machine, see BENCHMARKS.md).

The ONNX Runtime CPU output of the same exported model is the reference; fp16 paths are held to fp16
tolerances on metric depth.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def batch_and_reference(tiny_model):
    from fsmde_ros.backends.onnxruntime_backend import OnnxRuntimeBackend
    from fsmde_ros.core.manifest import load_manifest

    m = load_manifest(tiny_model)
    x = np.random.default_rng(0).standard_normal((6, 3, m.height, m.width)).astype(np.float32)
    return m, x, OnnxRuntimeBackend(m, "cpu").infer(x)


def rel_err(a, b):
    return np.abs(a - b) / np.maximum(np.abs(b), 1e-3)


@pytest.mark.parametrize("fp16,graph,cl", [(False, False, False), (True, False, False), (True, True, True),
                                           (False, True, True)])
def test_torch_cuda_matches_cpu(batch_and_reference, fp16, graph, cl):
    from fsmde_ros.backends.torch_backend import TorchBackend

    m, x, ref = batch_and_reference
    logs = []
    b = TorchBackend(m, device="cuda", fp16=fp16, cuda_graph=graph, channels_last=cl, log=logs.append)
    for _ in range(2):  # the second call replays the captured graph
        y = b.infer(x)
    assert not logs, logs
    assert y.shape == ref.shape and y.dtype == np.float32
    e = rel_err(y, ref)
    print(f"{b.describe()}: max rel err {e.max():.2e}, median {np.median(e):.2e}")
    assert np.median(e) < (2e-3 if fp16 else 1e-3) and e.max() < (5e-2 if fp16 else 2e-2)  # fp32: cuDNN TF32
    y2 = b.infer(x[::-1].copy())
    assert np.median(rel_err(y2, ref[::-1])) < (2e-3 if fp16 else 1e-3), "new input, new output (no stale graph)"


def test_auto_picks_a_gpu_backend_and_says_why(batch_and_reference):
    from fsmde_ros.backends import make_backend

    m, x, ref = batch_and_reference
    b, why = make_backend(m, "auto", "auto", batch=6)
    print(f"auto: {b.describe()} — {why}")
    assert b.device == "cuda" and why.startswith("auto:")
    assert np.median(rel_err(b.infer(x), ref)) < 2e-3


def test_onnxruntime_cuda_provider(batch_and_reference):
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip(f"onnxruntime has no CUDAExecutionProvider here ({ort.get_available_providers()})")
    from fsmde_ros.backends.onnxruntime_backend import OnnxRuntimeBackend

    m, x, ref = batch_and_reference
    assert np.median(rel_err(OnnxRuntimeBackend(m, "cuda").infer(x), ref)) < 1e-4


def test_tensorrt_engine_builds_caches_and_matches(batch_and_reference, tmp_path):
    """Build (TensorRT or TensorRT-RTX), compare with ONNX Runtime CPU at fp16 tolerance, reload from the cache,
    rebuild when the cached engine is corrupt, and run the device-in/device-out call of the GPU input path."""
    from fsmde_ros.backends.base import BackendUnavailable
    from fsmde_ros.backends.tensorrt_backend import TensorRTBackend, import_tensorrt

    try:
        import_tensorrt()
    except BackendUnavailable as e:
        pytest.skip(str(e))
    m, x, ref = batch_and_reference
    logs = []
    b = TensorRTBackend(m, batch=6, cache_dir=str(tmp_path), log=logs.append)
    e = rel_err(b.infer(x), ref)
    print(f"{b.describe()}: median rel err {np.median(e):.2e}, max {e.max():.2e}")
    assert np.median(e) < 2e-3
    assert any("building" in line for line in logs)
    y = b.infer_tensor(torch.from_numpy(x).cuda())
    assert y.is_cuda and np.median(rel_err(y.cpu().numpy(), ref)) < 2e-3
    logs.clear()
    TensorRTBackend(m, batch=6, cache_dir=str(tmp_path), log=logs.append)
    assert any("loaded cached engine" in line for line in logs), "the second start loads the cached engine"
    (engine,) = tmp_path.glob("*.engine")
    engine.write_bytes(b"corrupt")
    logs.clear()
    b3 = TensorRTBackend(m, batch=6, cache_dir=str(tmp_path), log=logs.append)
    assert any("building" in line for line in logs), logs
    assert np.median(rel_err(b3.infer(x), ref)) < 2e-3


def test_pipeline_writes_the_batch_into_pinned_memory(batch_and_reference):
    from fsmde_ros.backends.torch_backend import TorchBackend
    from fsmde_ros.core.pipeline import SurroundPipeline, View
    from fsmde_ros.core.preprocess import Preprocessor

    m, x, ref = batch_and_reference
    b = TorchBackend(m, device="cuda")
    pipe = SurroundPipeline(b, Preprocessor(m), m.min_depth, m.max_depth)
    K = np.array([[100.0, 0, 80], [0, 100.0, 48], [0, 0, 1]])
    views = [View(f"c{i}", np.full((96, 160, 3), 40 * i, np.uint8), K, (160, 96), np.eye(4)) for i in range(6)]
    res = pipe.process(views)
    assert b._pinned.is_pinned() and pipe._buf.ctypes.data == b._pinned.data_ptr(), "no staging copy"
    assert all(d is not None and np.isfinite(d).any() for d in res.depth)
