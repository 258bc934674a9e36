"""Data parallelism through torchrun: the process group comes from the environment torchrun sets.

Each rank computes its share of every global batch; gradients are averaged across ranks in one
flattened all-reduce per optimizer step (what DistributedDataParallel does, minus the overlap), so
any family's manual-optimisation `train_step` works unchanged. Rank 0 alone writes the run.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
import torch.distributed as torch_dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from zoo.errors import UsageError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def local_batch(self, batch_size: int) -> int:
        """The global batch is the preset's `data.batch_size`; each rank takes an equal share."""
        if batch_size % self.size:
            raise UsageError(f"data.batch_size={batch_size} does not split evenly over {self.size} processes")
        return batch_size // self.size

    def shard(self, idx: torch.Tensor) -> torch.Tensor:
        return idx if self.size == 1 else idx[self.rank :: self.size]

    def attach(self, model: torch.nn.Module, ctx: Any) -> None:
        """Start every rank from rank 0's weights and average gradients before each optimizer step."""
        if self.size == 1:
            return
        for tensor in list(model.parameters()) + list(model.buffers()):
            torch_dist.broadcast(tensor.data, src=0)
        ctx.grad_hooks.append(average_gradients)

    def mean(self, record: dict[str, float]) -> dict[str, float]:
        """Average logged scalars over ranks, so rank 0 logs the global figures."""
        if self.size == 1 or not record:
            return record
        keys = sorted(record)
        values = torch.tensor([record[k] for k in keys], dtype=torch.float64, device=_comm_device())
        torch_dist.all_reduce(values)
        return {k: float(v) / self.size for k, v in zip(keys, values.tolist())}

    def barrier(self) -> None:
        if self.size > 1:
            torch_dist.barrier()


def _comm_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if torch_dist.get_backend() == "nccl" else torch.device("cpu")


def average_gradients(optimizer: torch.optim.Optimizer) -> None:
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if not grads:
        return
    flat = _flatten_dense_tensors(grads)
    torch_dist.all_reduce(flat)
    flat /= torch_dist.get_world_size()
    for grad, synced in zip(grads, _unflatten_dense_tensors(flat, grads)):
        grad.copy_(synced)


@lru_cache(maxsize=1)
def world() -> World:
    """This process's place in a torchrun job (rank 0 of 1 when not launched by torchrun)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    if not torch_dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and torch_dist.is_nccl_available() else "gloo"
        torch_dist.init_process_group(backend)
    return World(torch_dist.get_rank(), torch_dist.get_world_size())
