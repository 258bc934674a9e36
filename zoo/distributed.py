"""Data parallelism through torchrun: PyTorch's DistributedDataParallel, or FSDP (`train.parallel: fsdp`).

The process group comes from the environment torchrun sets (NCCL on CUDA, gloo on CPU). Families
step their optimizers by hand (a GAN has two), so each optimizer's parameters get their own
DistributedDataParallel wrapper, and `StepContext.update` passes each loss through that wrapper
before its backward: DDP's forward bookkeeping arms its bucketed, overlapped gradient all-reduce for
exactly that backward (the same move Lightning makes for manual optimisation), whatever modules
produced the loss. Rank 0 alone writes the run.

With `train.parallel: fsdp`, `torch.distributed.fsdp.fully_shard` shards every parameter, gradient and
optimizer state over the ranks instead, for models larger than one device's memory: each element of every
`nn.ModuleList` (a transformer's blocks) is its own unit, gathered only while it computes, then the whole
model. A backward reduce-scatters the gradients by itself, so no wrapper is needed. Checkpoints are
sharded: every rank writes its shards of the weights (`model-RRRRR-of-WWWWW.safetensors`) and of the
optimizer states (`optimizers-RRRRR-of-WWWWW.pt`) into the checkpoint folder; loading concatenates them
(FSDP shards dim 0 in rank order), so a sharded checkpoint resumes under FSDP, in one process, or loads
with `zoo.load`, and `zoo export --merged` writes it as one safetensors folder.
"""
from __future__ import annotations

import gc
import os
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
import torch.distributed as torch_dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from zoo import device as dev
from zoo.errors import UsageError


class LossGate(nn.Module):
    """Holds one optimizer's parameters for DistributedDataParallel; its forward returns the loss
    unchanged. Calling the DDP wrapper on a loss makes the next backward average those parameters'
    gradients across ranks (with find_unused_parameters, only the ones the loss depends on)."""

    def __init__(self, params: list[nn.Parameter]) -> None:
        super().__init__()
        self.params = nn.ParameterList(params)

    def forward(self, loss: Tensor) -> Tensor:
        return loss


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

    def shard(self, idx: Tensor) -> Tensor:
        return idx if self.size == 1 else idx[self.rank :: self.size]

    def prepare(self, model: nn.Module, device: torch.device, sync_batchnorm: bool, shard: bool = False) -> None:
        """Start every rank from rank 0's weights and buffers (frozen ones too, which no DDP wrapper
        holds); optionally compute BatchNorm statistics over the global batch (SyncBatchNorm, GPUs only);
        with `shard`, then shard the model over the ranks (FSDP)."""
        if self.size == 1:
            return
        if sync_batchnorm:
            if device.type != "cuda":
                raise UsageError("train.sync_batchnorm needs CUDA devices: PyTorch's SyncBatchNorm does not run on "
                                 f"{device.type}; drop it (each process then keeps its own BatchNorm statistics)")
            for name, child in list(model.named_children()):
                setattr(model, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))
        for tensor in [*model.parameters(), *model.buffers()]:
            torch_dist.broadcast(tensor.data, src=0)
        if shard:
            from torch.distributed.fsdp import fully_shard

            for blocks in [m for m in model.modules() if isinstance(m, nn.ModuleList)]:
                for block in blocks:
                    fully_shard(block)
            fully_shard(model)

    def gates(self, param_groups: dict[str, list[nn.Parameter]], device: torch.device, find_unused: bool) -> dict[str, nn.Module]:
        """One DistributedDataParallel wrapper per optimizer (none in a single process). `find_unused`
        is DDP's find_unused_parameters: needed when a step leaves some of an optimizer's parameters
        out of its loss; it costs a graph traversal per step, so it is off unless the config asks."""
        if self.size == 1:
            return {}
        ids = [device.index] if device.type == "cuda" else None
        return {
            name: DistributedDataParallel(LossGate(params), device_ids=ids, find_unused_parameters=find_unused)
            for name, params in param_groups.items()
            if params
        }

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

    def any(self, flag: bool) -> bool:
        """True on every rank when `flag` is true on any (a signal one rank saw stops all at the same step)."""
        if self.size == 1:
            return flag
        value = torch.tensor([float(flag)], device=_comm_device())
        torch_dist.all_reduce(value, op=torch_dist.ReduceOp.MAX)
        return bool(value.item())


# ---- sharded checkpoints (FSDP) ----------------------------------------------------------------------
def shard_name(kind: str, rank: int, size: int) -> str:
    return f"{kind}-{rank:05d}-of-{size:05d}." + ("safetensors" if kind == "model" else "pt")


def save_shards(folder: Path, model: nn.Module, optimizers: dict[str, torch.optim.Optimizer]) -> None:
    """Every rank writes its shards of the weights (safetensors; unsharded tensors from rank 0 only; a tied
    weight once) and of the optimizer states (tensors only) into `folder`, which rank 0 creates."""
    from safetensors.torch import save_file
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict
    from torch.distributed.tensor import DTensor

    here = world()
    if here.is_main:
        shutil.rmtree(folder, ignore_errors=True)  # what a crashed save left
        folder.mkdir(parents=True)
    here.barrier()
    weights, seen = {}, set()
    for name, tensor in model.state_dict().items():
        local = tensor.to_local() if isinstance(tensor, DTensor) else tensor
        if (isinstance(tensor, DTensor) or here.is_main) and local.data_ptr() not in seen:
            seen.add(local.data_ptr())
            weights[name] = local.detach().contiguous().cpu()
    save_file(weights, str(folder / shard_name("model", here.rank, here.size)), metadata={"sharded": ",".join(
        name for name, tensor in model.state_dict().items() if isinstance(tensor, DTensor))})
    states = {}
    for key, optimizer in optimizers.items():
        full = get_optimizer_state_dict(model, optimizer)
        sharded = [[p, k] for p, values in full["state"].items() for k, v in values.items() if isinstance(v, DTensor)]
        local = {p: {k: v.to_local().cpu() if isinstance(v, DTensor) else v for k, v in values.items()} for p, values in full["state"].items()}
        states[key] = {"state": local, "param_groups": full["param_groups"], "sharded": sharded}
    torch.save(states, folder / shard_name("optimizers", here.rank, here.size))
    here.barrier()


def shard_files(folder: Path, kind: str) -> list[Path]:
    """`folder`'s shard files of `kind` (model, optimizers) in rank order; empty for an unsharded checkpoint."""
    return sorted(folder.glob(f"{kind}-*-of-*.{'safetensors' if kind == 'model' else 'pt'}"))


def merged_weights(folder: Path) -> dict[str, Tensor]:
    """The whole weights of a sharded checkpoint: each sharded tensor's pieces concatenated in rank order."""
    from safetensors import safe_open

    pieces: dict[str, list[Tensor]] = {}
    sharded: set[str] = set()
    for file in shard_files(folder, "model"):
        with safe_open(str(file), "pt") as f:
            sharded |= set(filter(None, (f.metadata() or {}).get("sharded", "").split(",")))
            for name in f.keys():
                pieces.setdefault(name, []).append(f.get_tensor(name))
    return {name: torch.cat(parts) if name in sharded else parts[0] for name, parts in pieces.items()}


def merged_optimizer(folder: Path, key: str) -> dict[str, Any]:
    """Optimizer `key`'s whole state (keyed by parameter name, as `get_optimizer_state_dict` gives it) from the shards."""
    ranks = [torch.load(file, map_location="cpu", weights_only=True)[key] for file in shard_files(folder, "optimizers")]
    state = ranks[0]["state"]
    for name, field in ranks[0]["sharded"]:
        state[name][field] = torch.cat([r["state"][name][field] for r in ranks])
    return {"state": state, "param_groups": ranks[0]["param_groups"]}


def is_sharded(model: nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def load_whole(model: nn.Module, weights: dict[str, Tensor]) -> list[str]:
    """Load whole tensors into a sharded (FSDP) model, each rank keeping its shard; returns the missing names."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    result = set_model_state_dict(model, weights, options=StateDictOptions(full_state_dict=True, strict=False))
    return list(result.missing_keys)


def load_optimizer(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """A whole optimizer state keyed by parameter name into `optimizer`, sharded or not."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    set_optimizer_state_dict(model, optimizer, state, options=StateDictOptions(full_state_dict=True))


def _group_size() -> int:
    return torch_dist.get_world_size() if torch_dist.is_available() and torch_dist.is_initialized() else 1


def all_reduce_sum(*tensors: Tensor) -> None:
    """Sum `tensors` over the ranks in place (nothing to do in one process). For state a family updates
    outside autograd, which DDP never sees, such as a VQ-VAE's EMA codebook statistics."""
    if _group_size() > 1:
        for tensor in tensors:
            torch_dist.all_reduce(tensor)


def broadcast_from_main(tensor: Tensor) -> Tensor:
    """Rank 0's `tensor` on every rank (in place), so a random choice made outside autograd stays shared."""
    if _group_size() > 1:
        torch_dist.broadcast(tensor, src=0)
    return tensor


def _comm_device() -> torch.device:
    return dev.current_cuda_device() if torch_dist.get_backend() == "nccl" else torch.device("cpu")


def shutdown() -> None:
    """End a torchrun job's process group once every rank is done (one training per process).

    The group must be freed here, not at interpreter exit: a gloo worker thread that drops its last
    finished work during finalization needs the GIL to release the work's tensors, and aborts the
    process ("terminate called without an active exception"). Freeing the group joins those threads,
    so the DistributedDataParallel wrappers (which hold it) are collected first."""
    if world().size > 1 and torch_dist.is_initialized():
        torch_dist.barrier()
        gc.collect()
        torch_dist.destroy_process_group()


def check_group_open() -> None:
    """Under torchrun a process trains once: `shutdown` ended its process group."""
    if world().size > 1 and not torch_dist.is_initialized():
        raise UsageError("this torchrun process already trained a run and ended its process group; "
                         "launch torchrun again for the next run")


@lru_cache(maxsize=1)
def world() -> World:
    """This process's place in a torchrun job (rank 0 of 1 when not launched by torchrun)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    if not torch_dist.is_initialized():
        # DistributedDataParallel imports torch._dynamo; imported after the group exists, dynamo keeps
        # references to it that outlive destroy_process_group (see shutdown), so import it first.
        import torch._dynamo  # noqa: F401

        backend = "nccl" if dev.cuda_available() and torch_dist.is_nccl_available() else "gloo"
        if backend == "nccl":
            dev.set_cuda_device(int(os.environ.get("LOCAL_RANK", "0")))
        torch_dist.init_process_group(backend)
    return World(torch_dist.get_rank(), torch_dist.get_world_size())
