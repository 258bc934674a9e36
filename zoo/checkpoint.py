"""Checkpoints: weights (and their EMA) as safetensors, training state (optimizers, schedules, RNG) as
tensors-only torch files.

A checkpoint folder is written under a temporary name and renamed into place, and `latest` is only
pointed at complete folders, so an interrupted save never leaves a run unloadable. Under FSDP every rank
writes its shards into that temporary folder first (zoo.distributed.save_shards); loading merges them.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn

from zoo.errors import ZooError
from zoo.samples import atomic_write_bytes

WEIGHTS = "model.safetensors"
EMA_WEIGHTS = "ema.safetensors"  # the trainer's EMA of the trainable parameters, by parameter name
STATE = "state.pt"


def checkpoint_root(run_path: Path) -> Path:
    return run_path / "checkpoints"


def temporary(run_path: Path, step: int) -> Path:
    """Where checkpoint `step` is written before it is renamed into place."""
    return checkpoint_root(run_path) / f".tmp_step_{step:07d}"


def save(run_path: Path, step: int, model: nn.Module, state: dict[str, Any], keep: int = 2, assets: Any = None,
         ema: dict[str, torch.Tensor] | None = None, sharded: bool = False) -> Path:
    """Write checkpoint `step` atomically, point `latest` at it, and keep only the newest `keep`. `sharded`:
    the ranks already wrote the weights' and optimizers' shards into the temporary folder."""
    root = checkpoint_root(run_path)
    final = root / f"step_{step:07d}"
    tmp = temporary(run_path, step)
    if not sharded:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_model(model, str(tmp / WEIGHTS))
    if ema is not None:
        save_file({k: v.contiguous() for k, v in ema.items()}, str(tmp / EMA_WEIGHTS))
    torch.save(state, tmp / STATE)
    if assets is not None:
        assets(tmp)
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    atomic_write_bytes(root / "latest", final.name.encode())
    for old in sorted(p for p in root.glob("step_*") if p.is_dir())[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest(run_path: Path) -> Path | None:
    """The newest complete checkpoint folder, or None for a run that has none yet."""
    pointer = checkpoint_root(run_path) / "latest"
    if not pointer.is_file():
        return None
    folder = checkpoint_root(run_path) / pointer.read_text().strip()
    if not folder.is_dir():
        raise ZooError(f"{pointer} names {folder.name}, which is missing", hint="the run directory was edited by hand")
    return folder


def load_weights(model: nn.Module, folder: Path) -> None:
    """Load `folder`'s safetensors weights into `model`; a damaged file is a one-line error. A sharded
    checkpoint's pieces are merged first; a sharded model keeps its own shard of each."""
    from zoo import distributed as dist

    sharded_model = dist.world().size > 1 and dist.is_sharded(model)
    if dist.shard_files(folder, "model") or sharded_model:
        load_whole(model, folder, sharded_model)
        return
    file = folder / WEIGHTS
    try:
        missing, unexpected = load_model(model, str(file), strict=False)
    except (SafetensorError, OSError, RuntimeError, ValueError) as err:
        raise ZooError(f"checkpoint {file} is truncated or corrupted ({str(err).splitlines()[0]})", hint="resume from an earlier checkpoint or retrain") from err
    if missing or unexpected:
        raise ZooError(f"checkpoint {file} does not match the model: missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]}")


def load_whole(model: nn.Module, folder: Path, sharded_model: bool) -> None:
    """Whole tensors (a sharded checkpoint's merged, or model.safetensors) into `model`, sharded or not.
    A tied weight is stored once; its other names are not missing."""
    from zoo import distributed as dist

    try:
        weights = dist.merged_weights(folder) if dist.shard_files(folder, "model") else load_file(str(folder / WEIGHTS))
    except (SafetensorError, OSError, RuntimeError, ValueError) as err:
        raise ZooError(f"checkpoint {folder} has truncated or corrupted weights ({str(err).splitlines()[0]})", hint="resume from an earlier checkpoint or retrain") from err
    if sharded_model:
        missing, unexpected = dist.load_whole(model, weights), []
    else:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    own = model.state_dict()
    stored = {storage(own[k]) for k in weights if k in own}
    missing = [k for k in missing if k not in own or storage(own[k]) not in stored]
    if missing or unexpected:
        raise ZooError(f"checkpoint {folder} does not match the model: missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]}")


def storage(tensor: torch.Tensor) -> int:
    """Where a tensor's data lives (a sharded one: its local shard's), to tell tied weights apart."""
    from torch.distributed.tensor import DTensor

    return (tensor.to_local() if isinstance(tensor, DTensor) else tensor).data_ptr()


def has_ema(folder: Path) -> bool:
    return (folder / EMA_WEIGHTS).is_file()


def load_ema(folder: Path, like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The EMA weights of checkpoint `folder`, checked against the names in `like`."""
    file = folder / EMA_WEIGHTS
    try:
        ema = load_file(str(file))
    except (SafetensorError, OSError, RuntimeError, ValueError) as err:
        raise ZooError(f"checkpoint {file} is missing, truncated or corrupted ({str(err).splitlines()[0]})", hint="resume from an earlier checkpoint or retrain") from err
    if set(ema) != set(like):
        raise ZooError(f"checkpoint {file} does not match the model's trainable parameters (train.ema_decay changed?)")
    return ema


def apply_ema(model: nn.Module, folder: Path) -> None:
    """Overwrite `model`'s parameters with checkpoint `folder`'s EMA weights."""
    params = dict(model.named_parameters())
    ema = load_ema(folder, {n: p for n, p in params.items() if p.requires_grad})
    with torch.no_grad():
        for name, tensor in ema.items():
            params[name].copy_(tensor)


def load_state(folder: Path) -> dict[str, Any]:
    """Training state, read with `weights_only=True`: tensors and plain containers, never pickled code."""
    file = folder / STATE
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file; all mean the same to the user
        raise ZooError(f"checkpoint state {file} is truncated or corrupted ({str(err).splitlines()[0][:120]})", hint="resume from an earlier checkpoint or retrain") from err
