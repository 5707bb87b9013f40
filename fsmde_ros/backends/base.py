"""The backend interface: ``infer(float32 [N, C, H, W]) -> float32 [N, 1, H, W]`` metres (canonical focal); C = 3 (RGB)
plus the camera-aware channels the manifest declares."""
from __future__ import annotations

import abc

import numpy as np


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run here (library missing, no GPU...); the message says which and why."""


class Backend(abc.ABC):
    name: str = "?"
    device: str = "cpu"
    precision: str = "fp32"
    state_shape: tuple[int, ...] | None = None  # a temporal model's per-view state [C, h, w] (manifest fusion.state)

    @abc.abstractmethod
    def infer(self, batch: np.ndarray) -> np.ndarray:
        ...

    def infer_state(self, batch: np.ndarray, prev_state: np.ndarray, prev_valid: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
        """A temporal model: (batch, prev_state [N, C, h, w], prev_valid [N] 1/0) -> (depth [N, 1, H, W], the state
        to feed the next set)."""
        raise BackendUnavailable(f"{self.name} backend does not run models with temporal state")

    def infer_tensor(self, batch):
        """torch float32 [N, 3, H, W] on any device -> [N, 1, H, W] on the same device (the GPU input path).
        This default goes through the host; the torch and TensorRT backends stay on the device."""
        import torch

        return torch.from_numpy(self.infer(batch.detach().cpu().numpy())).to(batch.device)

    def input_buffer(self, shape: tuple[int, ...]) -> np.ndarray:
        """Where the preprocessor writes the batch; GPU backends return page-locked memory, so the batch goes
        to the device in one DMA copy with no staging copy."""
        return np.empty(shape, np.float32)

    def warmup(self, batch_size: int, height: int, width: int, iterations: int = 1, channels: int = 3) -> None:
        """Run once outside the measured path (allocations, kernel selection, lazy init); ``channels``: the
        manifest's (RGB + camera-aware channels)."""
        x = np.zeros((batch_size, channels, height, width), np.float32)
        for _ in range(iterations):
            if self.state_shape:
                self.infer_state(x, np.zeros((batch_size, *self.state_shape), np.float32),
                                 np.zeros(batch_size, np.float32))
            else:
                self.infer(x)

    def describe(self) -> str:
        return f"{self.name} on {self.device} ({self.precision})"
