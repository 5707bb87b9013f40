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


def build_engine(onnx_path, engine_path, batch: int, height: int, width: int, fp16: bool = True, channels: int = 3,
                 state_shape: list[int] | None = None) -> Path:
    """``channels``: the manifest's input.channels (RGB + camera-aware channels); ``state_shape``: a temporal
    model's fusion.state_shape (its prev_state / prev_valid inputs get fixed shapes too)."""
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
    shapes = {"image": (batch, channels, height, width)}
    if state_shape:
        shapes.update(prev_state=(batch, *state_shape), prev_valid=(batch,))
    for i in range(network.num_inputs):
        name = network.get_input(i).name
        if name not in shapes:
            raise TensorRTUnavailable(f"{onnx_path}: unexpected input {name!r} (expected {sorted(shapes)})")
        profile.set_shape(name, shapes[name], shapes[name], shapes[name])
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise TensorRTUnavailable(f"TensorRT engine build failed for {onnx_path}")
    out = Path(engine_path)
    out.write_bytes(bytes(plan))
    return out
