"""Checkpoints: weights (and their EMA) as safetensors, training state (optimizers, schedules, RNG) as
tensors-only torch files.

A checkpoint folder is written under a temporary name and renamed into place, and `latest` is only
pointed at complete folders, so an interrupted save never leaves a run unloadable.
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


def save(run_path: Path, step: int, model: nn.Module, state: dict[str, Any], keep: int = 2, assets: Any = None,
         ema: dict[str, torch.Tensor] | None = None) -> Path:
    """Write checkpoint `step` atomically, point `latest` at it, and keep only the newest `keep`."""
    root = checkpoint_root(run_path)
    final = root / f"step_{step:07d}"
    tmp = root / f".tmp_{final.name}"
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
    """Load `folder`'s safetensors weights into `model`; a damaged file is a one-line error."""
    file = folder / WEIGHTS
    try:
        missing, unexpected = load_model(model, str(file), strict=False)
    except (SafetensorError, OSError, RuntimeError, ValueError) as err:
        raise ZooError(f"checkpoint {file} is truncated or corrupted ({str(err).splitlines()[0]})", hint="resume from an earlier checkpoint or retrain") from err
    if missing or unexpected:
        raise ZooError(f"checkpoint {file} does not match the model: missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]}")


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
