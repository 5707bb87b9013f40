"""Inference backends behind one interface, one registry, and ``make_backend`` which picks one and says why.

A new backend is one module with a ``Backend`` subclass plus one ``REGISTRY`` line; the node's ``backend``
parameter choices and the ``auto`` order both come from here.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..core.manifest import ManifestError, ModelManifest
from .base import Backend, BackendUnavailable


@dataclass(frozen=True)
class BackendSpec:
    name: str
    module: str  # fsmde_ros.backends.<module>
    cls: str
    model_file: str  # the manifest file kind it loads
    cuda_only: bool = False


# In ``auto`` order: on CUDA the first that builds wins; on CPU the CUDA-only ones are skipped (ONNX Runtime
# before torch: measured faster than torch eager on CPU, BENCHMARKS.md).
REGISTRY: dict[str, BackendSpec] = {s.name: s for s in (
    BackendSpec("tensorrt", "tensorrt_backend", "TensorRTBackend", "onnx", cuda_only=True),
    BackendSpec("onnxruntime", "onnxruntime_backend", "OnnxRuntimeBackend", "onnx"),
    BackendSpec("torch", "torch_backend", "TorchBackend", "torch_program"),
)}
BACKENDS = ("auto", *REGISTRY)
DEVICES = ("auto", "cpu", "cuda")


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def build_backend(name: str, manifest: ModelManifest, device: str, **options) -> Backend:
    """One backend by registry name; ``options``: threads, batch, cache_dir, log (each backend takes what it uses)."""
    spec = REGISTRY[name]
    if spec.cuda_only and device != "cuda":
        raise BackendUnavailable(f"{name} backend needs a CUDA device; none is available here")
    try:
        module = importlib.import_module(f"{__name__}.{spec.module}")
    except ImportError as e:  # e.g. torch missing for the torch backend
        raise BackendUnavailable(f"{name} backend: cannot import {spec.module} ({e})") from e
    return getattr(module, spec.cls)(manifest, device=device, **options)


def make_backend(manifest: ModelManifest, backend: str = "auto", device: str = "auto", threads: int = 0,
                 batch: int = 6, engine_cache: str = "~/.cache/fsmde_ros/engines", log=print) -> tuple[Backend, str]:
    """Build the requested backend; returns it with a sentence saying why it was chosen.

    ``auto`` tries ``REGISTRY`` in order. A backend that cannot run here (``BackendUnavailable``) passes the turn
    to the next; a model folder that disagrees with its manifest (``ManifestError``) fails whatever the backend,
    so a broken ONNX never silently starts the node on torch.
    """
    if backend not in BACKENDS:
        raise BackendUnavailable(f"unknown backend {backend!r}; expected one of {BACKENDS}")
    if device not in DEVICES:
        raise BackendUnavailable(f"unknown device {device!r}; expected one of {DEVICES}")
    cuda = _cuda_available()
    if device == "cuda" and not cuda:
        raise BackendUnavailable("device 'cuda' requested but no CUDA device is available (torch.cuda)")
    dev = "cuda" if (device == "cuda" or (device == "auto" and cuda)) else "cpu"
    options = dict(threads=threads, batch=batch, cache_dir=engine_cache, log=log)
    if backend != "auto":
        return build_backend(backend, manifest, dev, **options), f"backend '{backend}' requested"
    reasons = []
    for name, spec in REGISTRY.items():
        if spec.cuda_only and dev != "cuda":
            continue
        if spec.model_file not in manifest.files:
            reasons.append(f"{name}: the model folder has no '{spec.model_file}' file")
            continue
        try:
            return build_backend(name, manifest, dev, **options), \
                f"auto: {name} on {dev}" + (f" ({'; '.join(reasons)})" if reasons else "")
        except BackendUnavailable as e:
            reasons.append(str(e))
    raise BackendUnavailable("no backend could be built: " + "; ".join(reasons))


__all__ = ["BACKENDS", "REGISTRY", "Backend", "BackendUnavailable", "ManifestError", "build_backend", "make_backend"]
