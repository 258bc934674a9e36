"""Evaluation: the family's own numbers plus the shared metric suite, with their protocol recorded.

A metric is a `Metric` subclass registered through `register_metrics`: it declares `name`,
`version`, `modalities` and `higher_is_better`, and implements `compute(model, ctx) -> MetricResult`.
Every stored score carries its protocol (feature network and checksum, reference split, sample
counts, seed) so `zoo compare` can refuse to put incomparable numbers in one column.

What metrics share within an evaluation (samples, features, splits) lives in `EvalContext.cache`
under typed `CacheKey`s: an entry computed from the model carries the `ModelState` it was computed
from, so samples drawn from one set of weights are never scored as another's.
"""
from __future__ import annotations

import hashlib
import os
import time
import warnings
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterator, TypeVar

import torch
from torch import nn

from zoo import device as dev
from zoo.contract import Family
from zoo.errors import UsageError, ZooError
from zoo.presets import RunConfig
from zoo.registry import get_catalog

T = TypeVar("T")


@dataclass
class MetricResult:
    values: dict[str, float]
    protocol: dict[str, Any] = field(default_factory=dict)


class Metric:
    """Base of every metric. Subclasses declare the four class attributes and implement `compute`.

    `higher_is_better` is the direction `zoo evaluate --check` and `zoo bench` read: a bool for the
    value named like the metric (`fid`), or {value name: bool} for a metric that reports several
    (`precision_recall`); values it leaves out (`kid_std`) have no direction and cannot be anchored
    without one.
    """

    name: ClassVar[str]
    version: ClassVar[str]
    modalities: ClassVar[tuple[str, ...]]
    higher_is_better: ClassVar[bool | dict[str, bool]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        missing = [a for a in ("name", "version", "modalities", "higher_is_better") if not hasattr(cls, a)]
        if missing:
            raise TypeError(f"metric {cls.__qualname__} must declare {', '.join(missing)}")

    def directions(self) -> dict[str, bool]:
        """Value name -> whether higher is better."""
        if isinstance(self.higher_is_better, bool):
            return {self.name: self.higher_is_better}
        return dict(self.higher_is_better)

    def compute(self, model: Family, ctx: "EvalContext") -> MetricResult:
        raise NotImplementedError


@dataclass(frozen=True)
class ModelState:
    """The weights an evaluation scores: the training step (when the caller knows it) and a sha256 of
    the state dict, so the raw and the EMA weights of one step are two states."""

    step: int | None
    weights: str


def model_state(model: nn.Module, step: int | None = None) -> ModelState:
    """`model`'s current state: names, dtypes, shapes and bytes of every state-dict entry, hashed."""
    h = hashlib.sha256()
    for name, value in model.state_dict().items():
        if isinstance(value, torch.Tensor):
            h.update(f"{name}:{value.dtype}:{tuple(value.shape)};".encode())
            h.update(value.detach().reshape(-1).cpu().view(torch.uint8).numpy())
        else:
            h.update(f"{name}={value!r};".encode())
    return ModelState(step, h.hexdigest()[:16])


@dataclass(frozen=True)
class CacheKey:
    """A typed key of `EvalContext.cache`.

    `kind` says what the entry is ("samples", "features", "split"); `name` tells entries of one kind
    apart (a split, a feature network); `n` is how many items it covers; `state` is the model state it
    was computed from, or None for entries that do not depend on the model (data splits, feature
    networks, features of real data), which stay cached across evaluations of one context.
    """

    kind: str
    name: str = ""
    n: int | None = None
    state: ModelState | None = None


@dataclass
class EvalContext:
    """What evaluation needs: data splits on the device, a seed, a sample budget, shared caches.

    A family's `evaluate` may fill `protocol` with fields that say how its numbers were made
    (`ctx.protocol["images"] = 1000`); they are stored beside those numbers.
    """

    config: RunConfig
    device: torch.device
    num_samples: int
    seed: int = 0
    data_dir: str | os.PathLike[str] | None = None
    precision: str = "fp32"  # what the model samples in (dev.sampling_precision); metrics' own networks run in fp32
    cache: dict[CacheKey, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # metric options, e.g. {"features": "inception"}
    conditions: dict[str, Any] = field(default_factory=dict)  # sample conditions for every draw, e.g. {"steps": 20}
    sampling: dict[str, Any] = field(default_factory=dict, init=False)  # the settings the drawn samples record (sampler, steps)
    protocol: dict[str, Any] = field(default_factory=dict)  # the family's own protocol fields, per evaluation
    state: ModelState | None = field(default=None, init=False)  # the model state being scored, once an entry needed it
    _owner: weakref.ref[nn.Module] | None = field(default=None, init=False, repr=False)  # the model being scored
    _step: int | None = field(default=None, init=False, repr=False)
    _splits_used: list[str] = field(default_factory=list, init=False, repr=False)

    @property
    def batch_size(self) -> int:
        """Items per draw: 256 images, or clips of as many frames in all (a batch of 256 clips of 10 frames
        sampled 4x slower on a CPU than chunks of 25); never below the training batch."""
        return max(self.config.data.batch_size, 256 // getattr(self.config.data, "frames", 1))

    def cached(self, key: CacheKey, compute: Callable[[], T]) -> T:
        """The entry under `key`, computed on first use."""
        if not isinstance(key, CacheKey):
            raise TypeError(f"EvalContext.cache keys are CacheKey objects, got {key!r}")
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]

    def begin(self, model: nn.Module, step: int | None = None) -> None:
        """Score `model` as it is now, at `step`; its weights are hashed when an entry first needs them."""
        self.state, self._owner, self._step = None, weakref.ref(model), step

    def model_key(self, model: nn.Module, kind: str, name: str = "", n: int | None = None) -> CacheKey:
        """A key for an entry computed from `model` (samples, their features, reconstructions).
        Entries of any other model state are dropped when a new state is first keyed."""
        if self._owner is None or self._owner() is not model:  # a metric computed outside evaluate_model, on a model not seen before
            self.begin(model)
        if self.state is None:
            self.state = model_state(model, self._step)
            for key in [k for k in self.cache if k.state is not None and k.state != self.state]:
                del self.cache[key]
        return CacheKey(kind, name, n, self.state)

    def raw_split(self, split: str) -> Any:
        """A decoded split as the dataset gives it (before the family prepares it)."""
        from zoo.data import load_dataset

        return self.cached(CacheKey("raw-split", split), lambda: load_dataset(self.config.data, split, self.data_dir))

    def split(self, model: Family, split: str = "test") -> Any:
        """A split prepared by the family and moved to the device, decoded once per context."""
        if split not in self._splits_used:
            self._splits_used.append(split)
        return self.cached(CacheKey("split", split), lambda: model.prepare(self.raw_split(split)).to(self.device))

    def batches(self, data: Any, limit: int | None = None, batch_size: int | None = None) -> Iterator[dict[str, torch.Tensor]]:
        """Sequential batches over the first `limit` items (all when None)."""
        n = min(len(data), limit) if limit else len(data)
        size = batch_size or self.batch_size
        for start in range(0, n, size):
            yield data.batch(torch.arange(start, min(start + size, n), device=self.device))

    def autocast(self) -> Any:
        """The context every draw from the model runs in: the run's sampling precision."""
        return dev.autocast(self.device, self.precision)

    def generator(self) -> torch.Generator:
        return torch.Generator(self.device).manual_seed(self.seed)

    def samples(self, model: Family, n: int | None = None) -> Any:
        """`n` samples drawn in chunks with the evaluation seed; cached so every metric sees the same ones."""
        n = n or self.num_samples

        def draw() -> Any:
            gen = self.generator()
            with self.autocast():
                samples = concat_samples([model.sample(min(self.batch_size, n - start), generator=gen, **self.conditions)
                                          for start in range(0, n, self.batch_size)])
            self.sampling = {k: v for k, v in samples.meta.items() if isinstance(v, (int, float, str, bool))}
            return samples

        return self.cached(self.model_key(model, "samples", n=n), draw)


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


class MetricUnavailable(UsageError):
    """A metric that cannot mean anything for this run (an unlabelled folder has no domain feature
    network); the message says why and how to enable it. The evaluation skips the metric with one
    line instead of failing, and never records a number with a meaningless protocol."""


def load_metric(name: str) -> Metric:
    """The registered metric `name`; one that does not subclass `Metric` is the plugin's error."""
    entry = get_catalog().get("metrics", name)
    metric = entry.load()
    if not isinstance(metric, Metric):
        raise ZooError(f"metric {name!r} from plugin {entry.plugin!r} is a {type(metric).__name__}, not a zoo.evaluation.Metric",
                       hint="register an instance of a Metric subclass that declares name, version, modalities and higher_is_better")
    return metric


def available_metrics(modality: str) -> list[str]:
    return [name for name in get_catalog().metrics if modality in load_metric(name).modalities]


def evaluate_model(model: Family, ctx: EvalContext, metrics: list[str] | None = None, step: int | None = None) -> dict[str, MetricResult]:
    """The family's own numbers, then each requested metric; names are checked before any work.

    `step` (the checkpoint or training step) is recorded in the cache keys of what is computed from
    the model; the weights' digest beside it tells apart states a step cannot (raw vs EMA weights)."""
    names = list(metrics if metrics is not None else ctx.config.eval.metrics)
    chosen = []
    for name in names:
        metric = load_metric(name)
        if model.modality not in metric.modalities:
            raise UsageError(f"metric {name!r} does not apply to {model.modality} models; choose from {', '.join(available_metrics(model.modality))}")
        chosen.append(metric)
    model.eval()
    ctx.begin(model, step)
    results: dict[str, MetricResult] = {}
    with torch.no_grad(), dev.fork_rng(ctx.device):
        ctx.protocol, ctx._splits_used, ctx.sampling = {}, [], {}
        started = time.perf_counter()
        own = model.evaluate(ctx)
        if own:
            split = {"split": ",".join(ctx._splits_used)} if ctx._splits_used else {}
            core = {"seed": ctx.seed, "seconds": round(time.perf_counter() - started, 2), "values": list(own)}
            results[ctx.config.family] = MetricResult(own, {**split, **ctx.protocol, **core})
        skipped: dict[str, list[str]] = {}
        for metric in chosen:
            started = time.perf_counter()
            try:
                result = metric.compute(model, ctx)
            except MetricUnavailable as why:
                skipped.setdefault(str(why), []).append(metric.name)
                continue
            result.protocol.update(metric=metric.name, version=metric.version, seconds=round(time.perf_counter() - started, 2), values=list(result.values))
            if ctx.sampling or ctx.conditions:  # how the samples were drawn: a sampler's steps change the score
                result.protocol["sampling"] = {**ctx.sampling, **ctx.conditions}
            results[metric.name] = result
    for why, names in skipped.items():
        warnings.warn(f"skipped {', '.join(names)}: {why}", stacklevel=2)
    return results


def flatten(results: dict[str, MetricResult]) -> dict[str, float]:
    return {k: v for r in results.values() for k, v in r.values.items()}
