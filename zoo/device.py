"""The one place that talks to accelerators: device choice, precision, autocast, seeding, RNG state.

No other module calls `torch.cuda` or `torch.backends.mps` directly.
"""
from __future__ import annotations

import contextlib
import random
from typing import Any, Iterator, Literal

import numpy as np
import torch

from zoo.errors import UsageError

Precision = Literal["auto", "fp32", "bf16", "fp16"]
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def available() -> list[str]:
    """Device types this machine can run on, best first."""
    found = []
    if cuda_available():
        found.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        found.append("mps")
    return found + ["cpu"]


def cuda_available() -> bool:
    """Whether CUDA can be used here (torchrun then picks NCCL)."""
    return torch.cuda.is_available()


def set_cuda_device(index: int) -> None:
    """Make CUDA device `index` this process's default: one GPU per torchrun rank (its LOCAL_RANK)."""
    torch.cuda.set_device(index)


def current_cuda_device() -> torch.device:
    """This process's default CUDA device (what `set_cuda_device` chose): where NCCL collectives' buffers live."""
    return torch.device("cuda", torch.cuda.current_device())


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` picks cuda, then mps, then cpu; asking for a device that is not here is a usage error."""
    if name == "auto":
        return torch.device(available()[0])
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise UsageError(f"bad device {name!r}; use auto, cpu, cuda, cuda:N or mps") from err
    if device.type not in available():
        raise UsageError(f"--device {name} requested but this machine has no {device.type.upper()}; available: {', '.join(available())} (or use --device auto)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UsageError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here")
    return device


def supports_bf16(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu"


def resolve_precision(precision: str, device: torch.device) -> str:
    """`auto` picks bf16 on GPUs that have it and fp32 elsewhere; unsupported choices are usage errors."""
    if precision == "auto":
        return "bf16" if device.type == "cuda" and supports_bf16(device) else "fp32"
    if precision not in DTYPES:
        raise UsageError(f"bad precision {precision!r}; choose auto, fp32, bf16 or fp16")
    if precision == "fp16" and device.type == "cpu":
        raise UsageError("--precision fp16 needs a GPU; on CPU use bf16 or fp32")
    if precision == "bf16" and not supports_bf16(device):
        raise UsageError(f"--precision bf16 is not supported on {device}; use fp16 or fp32")
    return precision


def sampling_precision(preset: str, device: torch.device) -> str:
    """The precision samples are drawn in: what a preset's train.precision names explicitly (a diffusion
    preset trained in bf16 samples in bf16, 1.6x faster on CPUs with AMX); `auto` samples in fp32."""
    return "fp32" if preset == "auto" else resolve_precision(preset, device)


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    """Mixed-precision context for the forward pass; a no-op in fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=DTYPES[precision])


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """Loss scaling for fp16; disabled (a pass-through) for every other precision."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def configure(device: torch.device) -> None:
    """Fast defaults for the device: TF32 matmuls and cuDNN autotuning on CUDA."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True


def optimize_model(model: torch.nn.Module, device: torch.device, compile: bool = False) -> torch.nn.Module:
    """Channels-last for convolutional models on CUDA; `compile` compiles each submodule in place
    (state-dict keys stay the same, so checkpoints load with or without it)."""
    if device.type == "cuda" and any(isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) for m in model.modules()):
        model.to(memory_format=torch.channels_last)
    if compile:
        reason = compile_unsupported(device)
        if reason:
            raise UsageError(f"--compile is not available here: {reason}; train without --compile")
        for child in model.children():
            if any(True for _ in child.parameters()):
                child.compile()
    return model


def compile_unsupported(device: torch.device) -> str | None:
    """Why torch.compile cannot run on this device, or None when it can."""
    import shutil

    if not torch._dynamo.is_dynamo_supported():
        return "torch.compile does not support this Python/platform"
    if device.type == "mps":
        return "torch.compile is not supported on MPS"
    if device.type == "cpu" and not (shutil.which("g++") or shutil.which("clang++")):
        return "torch.compile on CPU needs a C++ compiler (g++ or clang++)"
    return None


def describe() -> dict[str, Any]:
    """What this machine offers: devices, precisions, compile support and library versions."""
    import importlib.metadata as md

    devices = []
    for kind in available():
        device = torch.device(kind)
        entry: dict[str, Any] = {"device": kind, "precisions": ["fp32"] + (["bf16"] if supports_bf16(device) else []) + (["fp16"] if kind != "cpu" else [])}
        if kind == "cuda":
            entry["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        entry["compile"] = compile_unsupported(device) or "yes"
        devices.append(entry)
    versions = {}
    for package in ("torch", "torchvision", "torchaudio", "transformers", "genzoo"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            versions[package] = None
    return {"devices": devices, "threads": torch.get_num_threads(), "versions": versions}


@contextlib.contextmanager
def single_thread(device: torch.device) -> Iterator[None]:
    """A region of many tiny ops (cached autoregressive generation) on one CPU thread: handing each op
    to a second thread costs more than it saves. No effect off the CPU; the thread count is restored."""
    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int) -> None:
    """Seed torch (every device), numpy and random, so the same seed gives the same numbers."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds CUDA and MPS generators


def rng_state() -> dict[str, Any]:
    """Every RNG state, as tensors and lists, so `torch.load(weights_only=True)` can read it back."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": _to_lists(random.getstate())}
    np_state = np.random.get_state()
    state["numpy"] = {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2])}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_to_tuples(state["python"]))
    np.random.set_state(("MT19937", state["numpy"]["keys"].numpy().astype(np.uint32), state["numpy"]["pos"], 0, 0.0))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_lists(x: Any) -> Any:
    return [_to_lists(v) for v in x] if isinstance(x, (list, tuple)) else x


def _to_tuples(x: Any) -> Any:
    return tuple(_to_tuples(v) for v in x) if isinstance(x, list) else x


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels, so wall-clock timings mean something."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def peak_memory_mb(device: torch.device) -> float | None:
    """Peak allocated accelerator memory since the last reset, or None on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return None


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


@contextlib.contextmanager
def fork_rng(device: torch.device) -> Iterator[None]:
    """Run a block (previews, evaluation) without disturbing the training RNG stream."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type=device.type if devices else "cuda"):
        yield
