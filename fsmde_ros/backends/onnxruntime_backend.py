"""ONNX Runtime backend: CUDA execution provider when present, else CPU."""
from __future__ import annotations

import numpy as np

from ..core.manifest import ManifestError, ModelManifest
from .base import Backend, BackendUnavailable


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def __init__(self, manifest: ModelManifest, device: str = "cpu", threads: int = 0, **_):
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise BackendUnavailable(f"onnxruntime backend: the onnxruntime package is not importable ({e})") from e
        available = ort.get_available_providers()
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" not in available:
                raise BackendUnavailable(f"onnxruntime backend: CUDAExecutionProvider not available (have {available})")
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        else:
            providers = ["CPUExecutionProvider"]
        opts = ort.SessionOptions()
        if threads > 0:
            opts.intra_op_num_threads = threads
        # idle ORT threads would otherwise spin after each run, taking the cores decode/resize need (2-core CPUs)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        path = manifest.verified_file("onnx")
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        except Exception as e:  # noqa: BLE001 - ORT raises its own types (InvalidProtobuf, Fail, ...) for bad files
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise ManifestError(f"model file {path} cannot be loaded by onnxruntime ({type(e).__name__}: "
                                f"{first[:200]})") from e
        self.input_name = self.session.get_inputs()[0].name
        shape = self.session.get_inputs()[0].shape
        if shape[1:] != [manifest.channels, manifest.height, manifest.width]:
            raise ManifestError(f"model file {path} takes input {shape}, but the manifest says "
                                f"{manifest.channels}x{manifest.height}x{manifest.width}")
        self.device = "cuda" if providers[0].startswith("CUDA") else "cpu"
        self.state_shape = manifest.state_shape
        names = [i.name for i in self.session.get_inputs()]
        want = ["image", "prev_state", "prev_valid"] if self.state_shape else names[:1]
        if names != want:
            raise ManifestError(f"model file {path} takes inputs {names}, but the manifest's fusion.state says {want}")

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, np.float32)})[0]

    def infer_state(self, batch, prev_state, prev_valid):
        f = lambda a: np.ascontiguousarray(a, np.float32)  # noqa: E731
        depth, state = self.session.run(["depth", "state"], {"image": f(batch), "prev_state": f(prev_state),
                                                              "prev_valid": f(prev_valid)})
        return depth, state
