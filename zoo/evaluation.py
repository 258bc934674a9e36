"""Evaluation: the family's own numbers plus the shared metric suite, with their protocol recorded.

A metric is registered through `register_metrics` as an object with `name`, `version`,
`modalities` and `compute(model, ctx) -> MetricResult`. Every stored score carries its protocol
(feature network and checksum, reference split, sample counts, seed) so `zoo compare` can refuse to
put incomparable numbers in one column.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Protocol

import torch

from zoo import device as dev
from zoo.contract import Family
from zoo.errors import UsageError
from zoo.presets import RunConfig
from zoo.registry import get_catalog


@dataclass
class MetricResult:
    values: dict[str, float]
    protocol: dict[str, Any] = field(default_factory=dict)


class Metric(Protocol):
    name: str
    version: str
    modalities: tuple[str, ...]

    def compute(self, model: Family, ctx: "EvalContext") -> MetricResult: ...


@dataclass
class EvalContext:
    """What evaluation needs: data splits on the device, a seed, a sample budget, shared caches."""

    config: RunConfig
    device: torch.device
    num_samples: int
    seed: int = 0
    data_dir: str | os.PathLike[str] | None = None
    precision: str = "fp32"
    cache: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # metric options, e.g. {"features": "inception"}

    @property
    def batch_size(self) -> int:
        return max(self.config.data.batch_size, 256)

    def raw_split(self, split: str) -> Any:
        """A decoded split as the dataset gives it (before the family prepares it)."""
        key = f"raw:{split}"
        if key not in self.cache:
            from zoo.data import load_dataset

            self.cache[key] = load_dataset(self.config.data, split, self.data_dir)
        return self.cache[key]

    def split(self, model: Family, split: str = "test") -> Any:
        """A split prepared by the family and moved to the device, decoded once per evaluation."""
        key = f"prepared:{split}"
        if key not in self.cache:
            self.cache[key] = model.prepare(self.raw_split(split)).to(self.device)
        return self.cache[key]

    def batches(self, data: Any, limit: int | None = None, batch_size: int | None = None) -> Iterator[dict[str, torch.Tensor]]:
        """Sequential batches over the first `limit` items (all when None)."""
        n = min(len(data), limit) if limit else len(data)
        size = batch_size or self.batch_size
        for start in range(0, n, size):
            yield data.batch(torch.arange(start, min(start + size, n), device=self.device))

    def generator(self) -> torch.Generator:
        return torch.Generator(self.device).manual_seed(self.seed)

    def samples(self, model: Family, n: int | None = None) -> Any:
        """`n` samples drawn in chunks with the evaluation seed; cached so every metric sees the same ones."""
        n = n or self.num_samples
        key = f"samples:{n}"
        if key not in self.cache:
            gen = self.generator()
            chunks = [model.sample(min(self.batch_size, n - start), generator=gen) for start in range(0, n, self.batch_size)]
            self.cache[key] = concat_samples(chunks)
        return self.cache[key]


def concat_samples(chunks: list[Any]) -> Any:
    """Join same-typed Samples objects along the sample axis."""
    import dataclasses

    first = chunks[0]
    joined = {}
    for f in dataclasses.fields(first):
        values = [getattr(c, f.name) for c in chunks]
        if isinstance(values[0], torch.Tensor):
            joined[f.name] = torch.cat(values)
        elif isinstance(values[0], list) and f.name != "meta":
            joined[f.name] = [v for part in values for v in part]
        else:
            joined[f.name] = values[0]
    return type(first)(**joined)


def available_metrics(modality: str) -> list[str]:
    catalog = get_catalog()
    return [name for name, entry in catalog.metrics.items() if modality in entry.load().modalities]


def evaluate_model(model: Family, ctx: EvalContext, metrics: list[str] | None = None) -> dict[str, MetricResult]:
    """The family's own numbers, then each requested metric; names are checked before any work."""
    catalog = get_catalog()
    names = list(metrics if metrics is not None else ctx.config.eval.metrics)
    chosen = []
    for name in names:
        metric = catalog.get("metrics", name).load()
        if model.modality not in metric.modalities:
            raise UsageError(f"metric {name!r} does not apply to {model.modality} models; choose from {', '.join(available_metrics(model.modality))}")
        chosen.append(metric)
    model.eval()
    for key in [k for k in ctx.cache if k.startswith("samples:")]:  # samples (and their features) are one model state's
        del ctx.cache[key]
    results: dict[str, MetricResult] = {}
    with torch.no_grad(), dev.fork_rng(ctx.device):
        started = time.perf_counter()
        own = model.evaluate(ctx)
        if own:
            results[ctx.config.family] = MetricResult(own, {"split": "test", "seed": ctx.seed, "seconds": round(time.perf_counter() - started, 2), "values": list(own)})
        for metric in chosen:
            started = time.perf_counter()
            result = metric.compute(model, ctx)
            result.protocol.update(metric=metric.name, version=metric.version, seconds=round(time.perf_counter() - started, 2), values=list(result.values))
            results[metric.name] = result
    return results


def flatten(results: dict[str, MetricResult]) -> dict[str, float]:
    return {k: v for r in results.values() for k, v in r.values.items()}
