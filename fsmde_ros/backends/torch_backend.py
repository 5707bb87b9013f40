"""torch backend: the exported program (student.pt2) on CPU, or CUDA with fp16 autocast."""
from __future__ import annotations

import numpy as np
import torch

from ..core.manifest import ModelManifest
from .base import Backend, BackendUnavailable


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, manifest: ModelManifest, device: str = "cpu", fp16: bool = True, threads: int = 0):
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailable("torch backend: device 'cuda' requested but torch.cuda.is_available() is False")
        if threads > 0:
            torch.set_num_threads(threads)
        path = manifest.verified_file("torch_program")
        # torch.export archives hold a serialised graph and tensors; no arbitrary pickled code is executed.
        self.module = torch.export.load(str(path)).module().to(device)
        self.device = device
        self.fp16 = fp16 and device.startswith("cuda")
        self.precision = "fp16" if self.fp16 else "fp32"
        self._pinned = None

    @torch.inference_mode()
    def infer(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch)
        if self.device.startswith("cuda"):
            if self._pinned is None or self._pinned.shape != x.shape:
                self._pinned = torch.empty(x.shape, dtype=torch.float32, pin_memory=True)
            self._pinned.copy_(x)
            x = self._pinned.to(self.device, non_blocking=True)
            with torch.autocast("cuda", dtype=torch.float16, enabled=self.fp16):
                y = self.module(x)
            return y.float().cpu().numpy()
        return self.module(x).numpy()
