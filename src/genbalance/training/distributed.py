"""Data-parallel training over ``torch.distributed`` (gloo on CPU, NCCL on GPU).

Launch with ``torchrun --nproc-per-node N -m genbalance fit ... --distributed``. Every rank
holds the same model (rank 0's weights are broadcast at the start), draws its own batches and
noise (the trainer seeds each rank differently) and takes ``batch_size / N`` rows per step; after
each backward pass the gradients are averaged over all ranks, so every rank applies the same
optimiser step and the global batch equals the single-process one. Rank 0 alone writes
checkpoints and model files.

Why gradients are averaged here rather than by wrapping parts in
``torch.nn.parallel.DistributedDataParallel``: the families call their sub-networks directly
and run several forward/backward passes per step (a GAN's discriminator sees real and fake
rows, critic steps, gradient penalties with ``create_graph``); DDP's reducer expects one
forward per backward of a wrapped module and would need every family rewritten around the
wrapper. Averaging the gradients of each optimiser in one flat all-reduce per update is the
same arithmetic as DDP's bucketed all-reduce and works for every family unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from genbalance.models.base import GenerativeModel

_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass
class DistContext:
    """The calling process's place in an initialised process group."""

    rank: int
    world_size: int
    local_rank: int = 0

    @property
    def is_writer(self) -> bool:
        """Only rank 0 writes files (checkpoints, models, samples)."""
        return self.rank == 0

    @classmethod
    def current(cls) -> DistContext:
        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError("torch.distributed is not initialised; call init_from_env() first")
        local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
        return cls(dist.get_rank(), dist.get_world_size(), local)

    def all_reduce_grads(self, params: list[torch.Tensor]) -> None:
        """Replace each parameter's gradient by its mean over ranks (one flat all-reduce)."""
        if self.world_size == 1:
            return
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = _flatten_dense_tensors(grads)
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat.div_(self.world_size)
        for g, synced in zip(grads, _unflatten_dense_tensors(flat, grads), strict=True):
            g.copy_(synced)

    def any_flag(self, flag: bool) -> bool:
        """True on every rank if it is True on any (e.g. a spent time budget)."""
        t = torch.tensor([1.0 if flag else 0.0], device=self._device())
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def broadcast_model(self, model: GenerativeModel) -> None:
        """Copy rank 0's weights and buffers to every rank."""
        for module in model.parts().values():
            for t in module.state_dict().values():
                if isinstance(t, torch.Tensor):
                    dist.broadcast(t, src=0)

    def sync_buffers(self, model: GenerativeModel) -> None:
        """Rank 0's buffers (BatchNorm running statistics) on every rank after training."""
        for module in model.parts().values():
            for buf in module.buffers():
                dist.broadcast(buf, src=0)

    def barrier(self) -> None:
        dist.barrier()

    def _device(self) -> torch.device:
        if dist.get_backend() == "nccl":
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")


def launched_by_torchrun() -> bool:
    """Whether the torchrun environment variables are set."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))


def choose_backend(device: str = "auto") -> str:
    """NCCL when the ranks train on CUDA, gloo otherwise."""
    wants_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    return "nccl" if wants_cuda and torch.cuda.is_available() else "gloo"


def init_from_env(device: str = "auto") -> tuple[DistContext, str]:
    """Join the process group torchrun describes; returns the context and the rank's device.

    On GPU each rank uses ``cuda:LOCAL_RANK``; on CPU every rank uses ``cpu``.
    """
    if not launched_by_torchrun():
        missing = [k for k in _ENV[:2] + _ENV[3:] if k not in os.environ]
        raise ValueError(
            f"--distributed needs the torchrun environment (missing {', '.join(missing)}); launch "
            "with: torchrun --nproc-per-node N -m genbalance fit ... --distributed"
        )
    backend = choose_backend(device)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    ctx = DistContext.current()
    if backend == "nccl":
        torch.cuda.set_device(ctx.local_rank)
        return ctx, f"cuda:{ctx.local_rank}"
    return ctx, "cpu"


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
