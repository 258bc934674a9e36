"""Benchmarks: steady-state training throughput of the zoo trainer against a bare loop over the same
model and batches, sampling throughput, and peak memory. Warm-up windows are dropped; medians reported."""
from __future__ import annotations

import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from zoo import device as dev
from zoo.api import build
from zoo.contract import StepContext
from zoo.data import load_dataset
from zoo.presets import resolve
from zoo.registry import get_catalog
from zoo.run import Run
from zoo.trainer import Trainer, make_optimizer

QUIET = {"train.sample_every": 0, "train.eval_every": 0, "train.checkpoint_every": 0}


def bench(name: str, steps: int = 20, repeats: int = 3, device: str = "cpu", precision: str = "fp32", overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Measure preset `name`: `repeats` timed windows of `steps` steps each, after one warm-up window."""
    torch_device = dev.resolve_device(device)
    precision = dev.resolve_precision(precision, torch_device)
    config = resolve(name, {**QUIET, **(overrides or {}), "train.log_every": steps, "train.steps": steps * (repeats + 1)})
    family = get_catalog().get("models", config.family).load()
    raw = load_dataset(config.data, "train")
    with tempfile.TemporaryDirectory() as tmp:
        run = Run(Path(tmp), config, family.setup(config.model, raw, Path(tmp) / "assets"))
        data = build(run, torch_device).prepare(raw).to(torch_device)
        dev.reset_peak_memory(torch_device)
        bare = bare_loop(run, data, torch_device, precision, steps, repeats)
        zoo_rate = trainer_loop(run, data, torch_device, precision)
        sampling = sampling_rate(run, torch_device, config.data.batch_size, repeats)
    return {
        "preset": name,
        "device": str(torch_device),
        "precision": precision,
        "batch_size": config.data.batch_size,
        "train_items_per_s": round(zoo_rate, 2),
        "bare_items_per_s": round(bare, 2),
        "zoo_vs_bare": round(zoo_rate / bare, 4),
        "sample_items_per_s": round(sampling, 2),
        "peak_memory_mb": round(dev.peak_memory_mb(torch_device) or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def bare_loop(run: Run, data: Any, device: torch.device, precision: str, steps: int, repeats: int) -> float:
    """The same model and family step with no trainer: random batches indexed from in-memory tensors."""
    dev.seed_everything(run.config.seed)
    model = build(run, device).train()
    cfg = run.config.train
    ctx = StepContext({k: make_optimizer(p, cfg) for k, p in model.param_groups().items()}, device, precision, cfg.grad_clip)
    batch_size = run.config.data.batch_size
    rates = []
    for window in range(repeats + 1):
        dev.synchronize(device)
        start = time.perf_counter()
        for step in range(steps):
            ctx.step = window * steps + step
            batch = data.batch(torch.randint(0, len(data), (batch_size,), device=device))
            with ctx.autocast():
                model.train_step(batch, ctx)
        dev.synchronize(device)
        rates.append(steps * batch_size / (time.perf_counter() - start))
    return statistics.median(rates[1:])


def trainer_loop(run: Run, data: Any, device: torch.device, precision: str) -> float:
    """The zoo trainer; its own per-window throughput log (items_per_s) gives the steady-state rate."""
    dev.seed_everything(run.config.seed)
    run.path.mkdir(parents=True, exist_ok=True)
    Trainer(run, build(run, device), data, device, precision, quiet=True).fit()
    rates = [r["items_per_s"] for r in run.read_metrics() if "items_per_s" in r]
    return statistics.median(rates[1:])


def sampling_rate(run: Run, device: torch.device, n: int, repeats: int) -> float:
    model = build(run, device).eval()
    gen = torch.Generator(device).manual_seed(0)
    rates = []
    with torch.no_grad():
        for _ in range(repeats + 1):
            dev.synchronize(device)
            start = time.perf_counter()
            model.sample(n, generator=gen)
            dev.synchronize(device)
            rates.append(n / (time.perf_counter() - start))
    return statistics.median(rates[1:])
