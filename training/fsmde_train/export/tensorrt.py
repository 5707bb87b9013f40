"""TensorRT engine build from the exported ONNX (GPU machines with the ``tensorrt`` package only).

An engine is specific to the GPU model, TensorRT version and shape, so it is not part of the portable model
folder: the node builds and caches its own (fsmde_ros/backends/tensorrt_backend.py). This builder is for
checking, ahead of deployment, that the ONNX converts and for measuring the engine on the target GPU.
"""
from __future__ import annotations

from pathlib import Path


class TensorRTUnavailable(RuntimeError):
    pass


def tensorrt_available() -> tuple[bool, str]:
    try:
        import tensorrt  # noqa: F401
        import torch
    except ImportError as e:
        return False, f"the tensorrt package is not importable ({e})"
    if not torch.cuda.is_available():
        return False, "no CUDA device"
    return True, ""


def build_engine(onnx_path, engine_path, batch: int, height: int, width: int, fp16: bool = True) -> Path:
    ok, why = tensorrt_available()
    if not ok:
        raise TensorRTUnavailable(f"cannot build a TensorRT engine: {why}")
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errs = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise TensorRTUnavailable(f"TensorRT cannot parse {onnx_path}: {errs}")
    config = builder.create_builder_config()
    if fp16 and hasattr(trt.BuilderFlag, "FP16"):
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    shape = (batch, 3, height, width)
    profile.set_shape(network.get_input(0).name, shape, shape, shape)
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise TensorRTUnavailable(f"TensorRT engine build failed for {onnx_path}")
    out = Path(engine_path)
    out.write_bytes(bytes(plan))
    return out
