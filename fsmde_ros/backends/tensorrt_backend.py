"""TensorRT backend: an engine built from the manifest's ONNX, cached on disk.

The cache key is (GPU name, compute capability, TensorRT flavour + version, ONNX sha256, batch size, fp16): a
stale engine (new driver/TensorRT/GPU or new weights) is rebuilt, never loaded; an unreadable cached engine is
rebuilt too. Engines are written atomically. I/O goes through torch CUDA tensors (one host->device copy of the
batch from pinned memory, or none on the GPU input path). Imports ``tensorrt`` (the full builder) or, failing
that, ``tensorrt_rtx`` (TensorRT for RTX: same builder/parser/runtime API, no FP16 flag: it picks precisions
itself). Neither exists on the CI machines.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from ..core.manifest import ModelManifest, sha256_text
from .base import Backend, BackendUnavailable


def engine_cache_key(gpu_name: str, capability: tuple[int, int], trt_version: str, onnx_sha256: str,
                     batch: int, fp16: bool) -> str:
    raw = f"{gpu_name}|sm{capability[0]}{capability[1]}|trt{trt_version}|{onnx_sha256}|b{batch}|fp16={fp16}"
    return sha256_text(raw)[:24]


def load_or_build_engine(cache: Path, build: Callable[[], bytes], deserialize: Callable[[bytes], object | None],
                         log=print):
    """The cached engine at ``cache`` if it deserializes, else a fresh ``build()`` written atomically (a crash
    mid-write leaves no partial engine under the cache name). Returns (engine, built: bool)."""
    if cache.is_file():
        try:
            engine = deserialize(cache.read_bytes())
        except Exception as e:  # noqa: BLE001 - runtimes raise their own types for foreign/corrupt plans
            log(f"tensorrt: cached engine {cache} unreadable ({type(e).__name__}: {e})")
            engine = None
        if engine is not None:
            log(f"tensorrt: loaded cached engine {cache}")
            return engine, False
        log(f"tensorrt: cached engine {cache} unusable; rebuilding")
    plan = build()
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(plan)
        os.replace(tmp, cache)
    finally:
        tmp.unlink(missing_ok=True)
    engine = deserialize(plan)
    if engine is None:
        raise BackendUnavailable(f"tensorrt backend: the engine just built for {cache.name} does not deserialize")
    return engine, True


def import_tensorrt():
    """(module, flavour) for ``tensorrt`` or ``tensorrt_rtx``; BackendUnavailable naming both failures."""
    errors = []
    for name in ("tensorrt", "tensorrt_rtx"):
        try:
            return __import__(name), name
        except ImportError as e:
            errors.append(f"{name}: {e}")
    raise BackendUnavailable("tensorrt backend: neither TensorRT package is importable (" + "; ".join(errors) + ")")


class TensorRTBackend(Backend):
    name = "tensorrt"

    def __init__(self, manifest: ModelManifest, batch: int = 6, cache_dir: str = "~/.cache/fsmde_ros/engines",
                 fp16: bool = True, log=print, **_):
        if manifest.state_shape:  # auto then takes the next backend (ONNX Runtime on CUDA)
            raise BackendUnavailable("tensorrt backend: models with temporal state (manifest fusion.state "
                                     "'previous_set') are not supported by this backend yet")
        trt, flavour = import_tensorrt()
        import torch

        if not torch.cuda.is_available():
            raise BackendUnavailable("tensorrt backend: no CUDA device (torch.cuda.is_available() is False)")
        self.torch, self.trt = torch, trt
        onnx_path = manifest.verified_file("onnx")
        props = torch.cuda.get_device_properties(0)
        key = engine_cache_key(props.name, (props.major, props.minor), f"{flavour}-{trt.__version__}",
                               manifest.files["onnx"]["sha256"], batch, fp16)
        cache = Path(os.path.expanduser(cache_dir)) / f"{manifest.name}-{key}.engine"
        logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(logger)

        def build():
            log(f"tensorrt: building fp16={fp16} {flavour} {trt.__version__} engine for {props.name} from "
                f"{onnx_path} (minutes) -> {cache}")
            return self._build(trt, logger, onnx_path, batch, manifest.channels, manifest.height, manifest.width,
                               fp16)

        engine, _ = load_or_build_engine(cache, build, runtime.deserialize_cuda_engine, log)
        self.flavour = flavour
        self.engine, self.context = engine, engine.create_execution_context()
        self.in_name, self.out_name = engine.get_tensor_name(0), engine.get_tensor_name(1)
        self.batch, self.h, self.w = batch, manifest.height, manifest.width
        has_fp16_flag = hasattr(trt, "BuilderFlag") and hasattr(trt.BuilderFlag, "FP16")
        self.device = "cuda"
        self.precision = ("fp16" if fp16 and has_fp16_flag else "fp32") if flavour == "tensorrt" else "chosen by TensorRT-RTX"
        self.d_in = torch.empty((batch, manifest.channels, self.h, self.w), dtype=torch.float32, device="cuda")
        self.d_out = torch.empty((batch, 1, self.h, self.w), dtype=torch.float32, device="cuda")
        self.h_in = torch.empty_like(self.d_in, device="cpu").pin_memory()
        self.context.set_input_shape(self.in_name, tuple(self.d_in.shape))
        self.context.set_tensor_address(self.in_name, self.d_in.data_ptr())
        self.context.set_tensor_address(self.out_name, self.d_out.data_ptr())
        self.stream = torch.cuda.Stream()

    @staticmethod
    def _build(trt, logger, onnx_path, batch, c, h, w, fp16) -> bytes:
        builder = trt.Builder(logger)
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse(Path(onnx_path).read_bytes()):
            errs = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise BackendUnavailable(f"tensorrt backend: cannot parse {onnx_path}: {errs}")
        config = builder.create_builder_config()
        if fp16 and hasattr(trt, "BuilderFlag") and hasattr(trt.BuilderFlag, "FP16"):
            config.set_flag(trt.BuilderFlag.FP16)
        profile = builder.create_optimization_profile()
        shape = (batch, c, h, w)
        profile.set_shape(network.get_input(0).name, shape, shape, shape)
        config.add_optimization_profile(profile)
        plan = builder.build_serialized_network(network, config)
        if plan is None:
            raise BackendUnavailable(f"tensorrt backend: engine build failed for {onnx_path}")
        return bytes(plan)

    def describe(self) -> str:
        return f"{self.name} ({self.flavour} {self.trt.__version__}) on {self.device} ({self.precision})"

    def input_buffer(self, shape):
        if tuple(shape) != tuple(self.h_in.shape):
            raise ValueError(f"tensorrt engine was built for input {tuple(self.h_in.shape)}, asked for {tuple(shape)}")
        return self.h_in.numpy()

    def infer_tensor(self, batch):
        """Device in, device out (the GPU input path): one device-to-device copy into the engine's input."""
        if batch.shape[0] != self.batch:
            raise ValueError(f"tensorrt engine was built for batch {self.batch}, got {batch.shape[0]}")
        with self.torch.cuda.stream(self.stream):
            self.stream.wait_stream(self.torch.cuda.current_stream())
            self.d_in.copy_(batch, non_blocking=True)
            self.context.execute_async_v3(self.stream.cuda_stream)
            out = self.d_out.clone()
        self.torch.cuda.current_stream().wait_stream(self.stream)
        return out

    def infer(self, batch: np.ndarray) -> np.ndarray:
        n = batch.shape[0]
        if n != self.batch:
            raise ValueError(f"tensorrt engine was built for batch {self.batch}, got {n}")
        x = self.torch.from_numpy(batch)
        if x.data_ptr() != self.h_in.data_ptr():  # the preprocessor did not write into the pinned buffer
            self.h_in.copy_(x)
        with self.torch.cuda.stream(self.stream):
            self.d_in.copy_(self.h_in, non_blocking=True)
            self.context.execute_async_v3(self.stream.cuda_stream)
            out = self.d_out.to("cpu", non_blocking=False)
        return out.numpy()
