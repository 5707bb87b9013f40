"""TensorRT engine cache: key and load-or-rebuild behaviour (pure logic, runs everywhere), and the real thing
where TensorRT imports (test_gpu_backends.py builds, caches and reloads an engine on a GPU)."""
from __future__ import annotations

import pytest

from fsmde_ros.backends.base import BackendUnavailable
from fsmde_ros.backends.tensorrt_backend import engine_cache_key, import_tensorrt, load_or_build_engine

BASE = dict(gpu_name="NVIDIA H100 80GB HBM3", capability=(9, 0), trt_version="tensorrt-10.13", onnx_sha256="ab" * 32,
            batch=6, fp16=True)


def test_every_input_of_the_key_changes_it():
    k0 = engine_cache_key(**BASE)
    assert engine_cache_key(**BASE) == k0 and len(k0) == 24
    changes = dict(gpu_name="NVIDIA H200", capability=(8, 9), trt_version="tensorrt_rtx-1.2", onnx_sha256="cd" * 32,
                   batch=5, fp16=False)
    keys = {k0}
    for field, value in changes.items():
        keys.add(engine_cache_key(**dict(BASE, **{field: value})))
    assert len(keys) == 1 + len(changes), "a stale engine (other GPU, TensorRT, weights, batch, precision) is rebuilt"


class Runtime:
    """Stands in for trt.Runtime.deserialize_cuda_engine: bytes starting with PLAN deserialize, others do not."""

    def __init__(self):
        self.calls = 0

    def deserialize(self, data: bytes):
        self.calls += 1
        return ("engine", data) if data.startswith(b"PLAN") else None


def test_build_once_then_load_from_cache(tmp_path):
    rt, builds, logs = Runtime(), [], []
    cache = tmp_path / "sub" / "m-key.engine"

    def build():
        builds.append(1)
        return b"PLAN-1"

    engine, built = load_or_build_engine(cache, build, rt.deserialize, logs.append)
    assert built and engine == ("engine", b"PLAN-1") and cache.read_bytes() == b"PLAN-1"
    engine, built = load_or_build_engine(cache, build, rt.deserialize, logs.append)
    assert not built and len(builds) == 1 and any("loaded cached engine" in m for m in logs)
    assert [p.name for p in cache.parent.iterdir()] == ["m-key.engine"], "no temporary files left"


@pytest.mark.parametrize("content", [b"garbage", b""])
def test_unusable_cached_engine_is_rebuilt(tmp_path, content):
    rt, logs = Runtime(), []
    cache = tmp_path / "m-key.engine"
    cache.write_bytes(content)
    engine, built = load_or_build_engine(cache, lambda: b"PLAN-2", rt.deserialize, logs.append)
    assert built and cache.read_bytes() == b"PLAN-2" and any("rebuilding" in m for m in logs)


def test_a_deserializer_that_raises_means_rebuild(tmp_path):
    cache = tmp_path / "m-key.engine"
    cache.write_bytes(b"PLAN-old-version")

    def picky(data):
        if data == b"PLAN-old-version":
            raise RuntimeError("serialization version mismatch")
        return ("engine", data)

    logs = []
    engine, built = load_or_build_engine(cache, lambda: b"PLAN-new", picky, logs.append)
    assert built and engine == ("engine", b"PLAN-new") and any("unreadable" in m for m in logs)


def test_a_failed_build_leaves_no_engine_and_keeps_the_error(tmp_path):
    cache = tmp_path / "m-key.engine"

    def build():
        raise BackendUnavailable("tensorrt backend: engine build failed for model.onnx")

    with pytest.raises(BackendUnavailable, match="engine build failed"):
        load_or_build_engine(cache, build, Runtime().deserialize, print)
    assert list(tmp_path.iterdir()) == []


def test_import_names_both_packages_when_neither_is_there():
    try:
        import_tensorrt()
    except BackendUnavailable as e:
        assert "tensorrt:" in str(e) and "tensorrt_rtx:" in str(e)
    else:
        pytest.skip("a TensorRT package is importable here: test_gpu_backends.py exercises it")
