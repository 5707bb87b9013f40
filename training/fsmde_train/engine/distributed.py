"""torchrun / DDP plumbing: nothing home-made beyond reading the environment torchrun sets."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Dist:
    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup(device: str = "auto") -> Dist:
    """Read RANK/WORLD_SIZE/LOCAL_RANK (torchrun); init the process group when WORLD_SIZE > 1 (nccl on CUDA,
    gloo on CPU). ``device``: auto | cpu | cuda."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device=cuda asked for, but torch.cuda.is_available() is False")
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    dev = torch.device(f"cuda:{local}") if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return Dist(rank, world, local, dev)


def barrier(d: Dist) -> None:
    if d.world > 1:
        dist.barrier()


def mean_over_ranks(x: torch.Tensor, d: Dist) -> torch.Tensor:
    if d.world == 1:
        return x
    y = x.detach().clone()
    dist.all_reduce(y)
    return y / d.world


def gather_floats(x: float, d: Dist) -> list[float]:
    """One number from every rank (e.g. a weight checksum: DDP ranks must hold identical weights)."""
    if d.world == 1:
        return [x]
    out = [None] * d.world
    dist.all_gather_object(out, x)
    return out


def teardown(d: Dist) -> None:
    if d.world > 1 and dist.is_initialized():
        dist.destroy_process_group()


def end_rank(code: int) -> None:
    """End a torchrun rank's process (WORLD_SIZE > 1) now, without the interpreter's finalisation; no-op otherwise.

    The DDP reducer keeps the gloo process group alive past ``destroy_process_group`` (its worker threads stay), and
    a worker that frees a finished collective's Python-made tensors needs the GIL. If that happens while the
    interpreter finalises, the thread is made to exit inside a C++ destructor and the process aborts ("terminate
    called without an active exception", SIGABRT) after every result is written: caught here once in ~400 two-rank
    runs under CPU load, the core's stack a pt_gloo_runloop thread in ~AsyncAllgatherWork -> take_gil ->
    PyThread_exit_thread while the main thread is in Py_FinalizeEx (cf. pytorch/pytorch#179291). Every file a run
    writes is closed by then, so the rank flushes its streams and leaves without finalising."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
