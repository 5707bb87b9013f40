"""torch backend: the exported program (student.pt2) on CPU, or CUDA with fp16 autocast."""
from __future__ import annotations

import contextlib
import os

import numpy as np
import torch

from ..core.manifest import ManifestError, ModelManifest
from .base import Backend, BackendUnavailable


@contextlib.contextmanager
def weights_only_loads():
    """Force every ``torch.load`` inside to ``weights_only=True``.

    ``torch.export.load`` falls back to a full unpickle when the safe load fails; a model folder must never
    run code, so the fallback is closed (TORCH_FORCE_WEIGHTS_ONLY_LOAD is read at each torch.load call).
    """
    keys = ("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
    saved = {k: os.environ.pop(k, None) for k in keys}
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        yield
    finally:
        os.environ.pop("TORCH_FORCE_WEIGHTS_ONLY_LOAD", None)
        os.environ.update({k: v for k, v in saved.items() if v is not None})


def program_input_shape(program) -> list | None:
    """Shape of the exported program's first user input (symbolic batch kept as a string)."""
    try:
        name = program.graph_signature.user_inputs[0]
        node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == name)
        return [int(d) if str(d).isdigit() else str(d) for d in node.meta["val"].shape]
    except (IndexError, KeyError, StopIteration, AttributeError):
        return None


class TorchBackend(Backend):
    """On CUDA: fp16 autocast, channels_last weights and inputs, and the forward pass replayed as a CUDA graph
    per input shape (a small CNN at 6 x 128 x 224 is launch-bound: BENCHMARKS.md). A graph that cannot be
    captured falls back to eager, logged once."""

    name = "torch"

    def __init__(self, manifest: ModelManifest, device: str = "cpu", fp16: bool = True, threads: int = 0,
                 cuda_graph: bool = True, channels_last: bool = True, log=print, **_):
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailable("torch backend: device 'cuda' requested but torch.cuda.is_available() is False")
        if threads > 0:
            torch.set_num_threads(threads)
        path = manifest.verified_file("torch_program")
        try:
            with weights_only_loads():
                program = torch.export.load(str(path))
        except Exception as e:  # noqa: BLE001 - torch raises many types for a bad archive
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise ManifestError(f"model file {path} cannot be loaded as a torch program ({type(e).__name__}: "
                                f"{first[:200]})") from e
        shape = program_input_shape(program)
        if shape is not None and tuple(shape[1:]) != (manifest.channels, manifest.height, manifest.width):
            raise ManifestError(f"model file {path} takes input {list(shape)}, but the manifest says "
                                f"{manifest.channels}x{manifest.height}x{manifest.width}")
        cuda = device.startswith("cuda")
        self.module = program.module().to(device)
        self.channels_last = channels_last and cuda
        if self.channels_last:
            self.module = self.module.to(memory_format=torch.channels_last)
        self.device, self.log = device, log
        self.fp16 = fp16 and cuda
        self.cuda_graph = cuda_graph and cuda
        self.precision = "fp16" if self.fp16 else "fp32"
        self._pinned = None
        self._graphs: dict[tuple, tuple] = {}  # input shape -> (graph, static input, static output)
        self.state_shape = manifest.state_shape

    def describe(self) -> str:
        extra = [x for x, on in (("channels_last", self.channels_last), ("CUDA graph", self.cuda_graph)) if on]
        return f"{self.name} on {self.device} ({', '.join([self.precision] + extra)})"

    def input_buffer(self, shape):
        if not self.device.startswith("cuda"):
            return super().input_buffer(shape)
        self._pinned = torch.empty(shape, dtype=torch.float32, pin_memory=True)
        return self._pinned.numpy()

    def _forward(self, x):
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.float16, enabled=self.fp16):
            return self.module(x).float()

    def _capture(self, shape):
        static_in = torch.zeros(shape, device=self.device)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up outside the graph (cuDNN autotuning, allocator)
            for _ in range(3):
                self._forward(static_in)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self._forward(static_in)
        return graph, static_in, static_out

    def _graph_for(self, shape):
        """(graph, static input, static output) for this input shape, captured on first use; None when graphs are
        off or the capture failed (then eager from now on, logged once)."""
        if not self.cuda_graph:
            return None
        key = tuple(shape)
        if key not in self._graphs:
            try:
                self._graphs[key] = self._capture(key)
            except Exception as e:  # noqa: BLE001 - capture failures vary by op and driver
                self.cuda_graph = False
                self.log(f"torch backend: CUDA graph capture failed ({type(e).__name__}: {e}); running eager")
                return None
        return self._graphs[key]

    @torch.inference_mode()
    def infer_tensor(self, batch: torch.Tensor) -> torch.Tensor:
        """Device in, device out: no host copy (the GPU input path)."""
        if batch.device != torch.device(self.device) and not (self.device == "cuda" and batch.is_cuda):
            return super().infer_tensor(batch)
        if not self.device.startswith("cuda"):
            return self.module(batch)
        g = self._graph_for(batch.shape)
        if g is None:
            return self._forward(batch)
        graph, static_in, static_out = g
        static_in.copy_(batch)
        graph.replay()
        return static_out.clone()  # the next replay overwrites static_out

    @torch.inference_mode()
    def infer(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch)
        if not self.device.startswith("cuda"):
            return self.module(x).numpy()
        if self._pinned is None or x.data_ptr() != self._pinned.data_ptr():  # not written in place: stage it
            if self._pinned is None or self._pinned.shape != x.shape:
                self._pinned = torch.empty(x.shape, dtype=torch.float32, pin_memory=True)
            self._pinned.copy_(x)
        g = self._graph_for(x.shape)
        if g is not None:
            graph, static_in, static_out = g
            static_in.copy_(self._pinned, non_blocking=True)
            graph.replay()
            return static_out.cpu().numpy()
        return self._forward(self._pinned.to(self.device, non_blocking=True)).cpu().numpy()

    @torch.inference_mode()
    def infer_state(self, batch, prev_state, prev_valid):
        """A temporal model, eager (no CUDA graph: the state changes every set)."""
        x, p, v = (torch.from_numpy(np.ascontiguousarray(a, np.float32)).to(self.device)
                   for a in (batch, prev_state, prev_valid))
        with torch.autocast("cuda", dtype=torch.float16, enabled=self.fp16):
            depth, state = self.module(x, p, v)
        return depth.float().cpu().numpy(), state.float().cpu().numpy()
