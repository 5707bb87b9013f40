"""Inference backends behind one interface, and ``make_backend`` which picks one (``auto``) and says why."""
from __future__ import annotations

from ..core.manifest import ModelManifest
from .base import Backend, BackendUnavailable

BACKENDS = ("auto", "tensorrt", "onnxruntime", "torch")
DEVICES = ("auto", "cpu", "cuda")


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def make_backend(manifest: ModelManifest, backend: str = "auto", device: str = "auto", threads: int = 0,
                 batch: int = 6, engine_cache: str = "~/.cache/fsmde_ros/engines", log=print) -> tuple[Backend, str]:
    """Build the requested backend; returns it with a sentence saying why it was chosen.

    ``auto``: TensorRT when importable with a GPU; else ONNX Runtime with CUDA; else torch on CUDA;
    on CPU ONNX Runtime (measured faster than torch eager here, FACTS.md), else torch.
    Explicit requests that cannot run raise ``BackendUnavailable`` naming the reason.
    """
    if backend not in BACKENDS:
        raise BackendUnavailable(f"unknown backend {backend!r}; expected one of {BACKENDS}")
    if device not in DEVICES:
        raise BackendUnavailable(f"unknown device {device!r}; expected one of {DEVICES}")
    cuda = _cuda_available()
    if device == "cuda" and not cuda:
        raise BackendUnavailable("device 'cuda' requested but no CUDA device is available (torch.cuda)")
    dev = "cuda" if (device == "cuda" or (device == "auto" and cuda)) else "cpu"

    def build(name):
        if name == "tensorrt":
            from .tensorrt_backend import TensorRTBackend

            if dev != "cuda":
                raise BackendUnavailable("tensorrt backend needs a CUDA device; none is available here")
            return TensorRTBackend(manifest, batch=batch, cache_dir=engine_cache, log=log)
        if name == "onnxruntime":
            from .onnxruntime_backend import OnnxRuntimeBackend

            return OnnxRuntimeBackend(manifest, device=dev, threads=threads)
        from .torch_backend import TorchBackend

        return TorchBackend(manifest, device=dev, threads=threads, log=log)

    if backend != "auto":
        return build(backend), f"backend '{backend}' requested"
    order = ["tensorrt", "onnxruntime", "torch"] if dev == "cuda" else ["onnxruntime", "torch"]
    reasons = []
    for name in order:
        try:
            return build(name), f"auto: {name} on {dev}" + (f" ({'; '.join(reasons)})" if reasons else "")
        except BackendUnavailable as e:
            reasons.append(str(e))
    raise BackendUnavailable("no backend could be built: " + "; ".join(reasons))


__all__ = ["BACKENDS", "Backend", "BackendUnavailable", "make_backend"]
