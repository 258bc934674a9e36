"""Benchmarks: steady-state training throughput of the zoo trainer against a bare loop over the same
model and batches, sampling throughput, peak memory, and time-to-quality.

Throughput: one warm-up window is dropped; the bare loop and the trainer then alternate for two
rounds, so a drifting machine (thermal, a neighbour) weighs on both alike; medians are reported.
Time-to-quality: the trainer's own training seconds (evaluations excluded) until the preset's
`eval.quality` target is first reached, checked every `every` steps.
"""
from __future__ import annotations

import math
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from zoo import device as dev
from zoo.api import build
from zoo.contract import StepContext
from zoo.data import load_dataset
from zoo.errors import UsageError
from zoo.evaluation import EvalContext, evaluate_model, flatten
from zoo.metrics.anchors import metric_directions
from zoo.presets import RunConfig, resolve
from zoo.registry import get_catalog
from zoo.run import Run
from zoo.trainer import Trainer, make_optimizer

QUIET = {"train.sample_every": 0, "train.eval_every": 0, "train.checkpoint_every": 0}
ROUNDS = 2
QUALITY_KEYS = ("key", "value", "every", "metric", "higher_is_better", "num_samples")


def bench(name: str, steps: int = 20, repeats: int = 3, device: str = "cpu", precision: str = "auto", overrides: dict[str, Any] | None = None,
          time_to_quality: bool = False) -> dict[str, Any]:
    """Measure preset `name`: per round, one warm-up and `repeats` timed windows of `steps` steps."""
    torch_device = dev.resolve_device(device)
    config = resolve(name, {**QUIET, **(overrides or {}), "train.log_every": steps, "train.steps": steps * (repeats + 1)})
    precision = dev.resolve_precision(config.train.precision if precision == "auto" else precision, torch_device)
    target = quality_target(config) if time_to_quality else None
    raw = load_dataset(config.data, "train")
    with tempfile.TemporaryDirectory() as tmp:
        run = new_run(Path(tmp) / "setup", config, raw)
        model = build(run, torch_device)
        data = model.prepare(raw).to(torch_device)
        unit, per_item = model.throughput_unit()
        dev.reset_peak_memory(torch_device)
        bare, zoo_rates = [], []
        with PeakRSS() as rss:
            for i in range(ROUNDS):
                bare += bare_loop(run, data, torch_device, precision, steps, repeats)
                zoo_rates += trainer_loop(new_run(Path(tmp) / f"round{i}", config, raw), data, torch_device, precision)
            sampling = sampling_rate(run, torch_device, config.data.batch_size, repeats)
        row = {
            "preset": name,
            "device": str(torch_device),
            "precision": precision,
            "batch_size": config.data.batch_size,
            "unit": unit,
            "train_per_s": round(statistics.median(zoo_rates) * per_item, 2),
            "bare_per_s": round(statistics.median(bare) * per_item, 2),
            "zoo_vs_bare": round(statistics.median(zoo_rates) / statistics.median(bare), 4),
            "sample_items_per_s": round(sampling, 2),
            "peak_memory_mb": round(dev.peak_memory_mb(torch_device) or rss.peak_mb, 1),
        }
        if target is not None:
            base = resolve(name, {**QUIET, **(overrides or {})})
            row.update(target.measure(new_run(Path(tmp) / "quality", base, raw), data, torch_device, precision))
    return row


class PeakRSS:
    """Peak resident memory of this process while the block runs: /proc/self/statm sampled every 10 ms
    (Linux), else the process's lifetime peak (ru_maxrss), which never goes down between presets."""

    def __enter__(self) -> "PeakRSS":
        self.peak_mb, self._done = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True) if os.path.exists("/proc/self/statm") else None
        if self._thread:
            self._thread.start()
        return self

    def _poll(self) -> None:
        page_mb = os.sysconf("SC_PAGE_SIZE") / 2**20
        while True:
            with open("/proc/self/statm") as f:
                self.peak_mb = max(self.peak_mb, int(f.read().split()[1]) * page_mb)
            if self._done.wait(0.01):
                return

    def __exit__(self, *exc: object) -> None:
        if self._thread:
            self._done.set()
            self._thread.join()
        else:
            self.peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)


def new_run(path: Path, config: RunConfig, raw: Any) -> Run:
    family = get_catalog().get("models", config.family).load()
    path.mkdir(parents=True)
    return Run(path, config, family.setup(config.model, raw, path / "assets"))


def bare_loop(run: Run, data: Any, device: torch.device, precision: str, steps: int, repeats: int) -> list[float]:
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
    return rates[1:]


def trainer_loop(run: Run, data: Any, device: torch.device, precision: str) -> list[float]:
    """The zoo trainer; its own per-window throughput log (items_per_s), warm-up window dropped."""
    dev.seed_everything(run.config.seed)
    Trainer(run, build(run, device), data, device, precision, quiet=True).fit()
    return [r["items_per_s"] for r in run.read_metrics() if "items_per_s" in r][1:]


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


@dataclass(frozen=True)
class QualityTarget:
    """A preset's `eval.quality`: value `key` (from `metric`, or the family's own evaluate) must reach
    `value`; checked every `every` steps on `num_samples` samples."""

    key: str
    value: float
    every: int
    metric: str | None
    higher_is_better: bool
    num_samples: int

    def reached(self, got: float) -> bool:
        return math.isfinite(got) and (got >= self.value if self.higher_is_better else got <= self.value)

    def measure(self, run: Run, data: Any, device: torch.device, precision: str) -> dict[str, Any]:
        """Train from scratch until the target is reached (or the preset's budget ends)."""
        cfg = run.config
        cfg.train.log_every = cfg.train.eval_every = self.every
        ctx = EvalContext(cfg, device, self.num_samples, cfg.eval.seed, precision=precision)
        metrics = [self.metric] if self.metric else []
        history: list[tuple[int, float, float]] = []
        dev.seed_everything(cfg.seed)
        started = time.perf_counter()

        def evaluate(model: Any, step: int) -> dict[str, float]:
            values = flatten(evaluate_model(model, ctx, metrics, step=step))
            if self.key not in values:
                raise UsageError(f"eval.quality.key {self.key!r} is not among the values evaluation gives: {', '.join(sorted(values))}")
            history.append((step, trainer.elapsed, values[self.key]))
            trainer.stop_requested = self.reached(values[self.key])
            return values

        trainer = Trainer(run, build(run, device), data, device, precision, quiet=True, evaluate=evaluate)
        trainer.fit()
        step, seconds, got = history[-1] if history else (trainer.step, trainer.elapsed, float("nan"))
        reached = self.reached(got)
        return {
            "quality": f"{self.key} {'>=' if self.higher_is_better else '<='} {self.value:g}",
            "quality_reached": reached,
            "quality_value": round(got, 4),
            "steps_to_quality": step if reached else None,
            "train_s_to_quality": round(seconds, 1) if reached else None,
            "wall_s_with_evals": round(time.perf_counter() - started, 1),
        }


def quality_target(config: RunConfig) -> QualityTarget:
    """Parse a preset's `eval.quality`; a missing or malformed target is one usage error."""
    raw, where = config.eval.quality, f"preset {config.preset!r} eval.quality"
    if not raw:
        raise UsageError(f"{where} is not set, so there is no time-to-quality to measure; add e.g. "
                         "quality: {key: val_loss, value: 2.0, every: 250} to its eval section, or drop --time-to-quality")
    unknown = sorted(set(raw) - set(QUALITY_KEYS))
    if unknown or "key" not in raw or "value" not in raw:
        raise UsageError(f"{where} needs key and value (valid keys: {', '.join(QUALITY_KEYS)}), got {raw!r}")
    metric = raw.get("metric")
    higher = raw.get("higher_is_better", metric_directions([metric]).get(raw["key"]) if metric else None)
    if not isinstance(higher, bool):
        raise UsageError(f"{where}: say whether higher {raw['key']} is better with higher_is_better: true or false")
    every = raw.get("every", config.train.log_every)
    if not isinstance(every, int) or every <= 0:
        raise UsageError(f"{where}.every must be a positive integer, got {every!r}")
    return QualityTarget(raw["key"], float(raw["value"]), every, metric, higher, int(raw.get("num_samples", config.eval.num_samples)))
