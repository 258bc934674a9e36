"""The hooks a zoo plugin may implement. Each `register_*` hook is handed a `register(...)` callback."""
from __future__ import annotations

from typing import Any, Callable

import pluggy

hookspec = pluggy.HookspecMarker("zoo")
hookimpl = pluggy.HookimplMarker("zoo")


@hookspec
def register_models(register: Callable[[str, type], None]) -> None:
    """Register model families: `register(name, FamilyClass)`; the name is what presets say in `family:`."""


@hookspec
def register_datasets(register: Callable[[str, Any], None]) -> None:
    """Register datasets: `register(name, DatasetSpec)`; the spec says where files live and how to decode them."""


@hookspec
def register_metrics(register: Callable[[str, Any], None]) -> None:
    """Register metrics: `register(name, metric)`, a `zoo.evaluation.Metric` instance; `zoo evaluate --metrics name` and presets' `eval.metrics` use them."""


@hookspec
def register_constraints(register: Callable[[str, Any], None]) -> None:
    """Register decoding constraints for token models: `register(name, factory)`, the factory (or "module:attr")
    called as `factory(vocab, n)` with each token id's text and the number of samples, returning a
    `zoo.nn.gpt.Rule`; text models take one with `zoo sample RUN --set constrain=NAME`."""


@hookspec
def register_tokenizers(register: Callable[[str, Any], None]) -> None:
    """Register tokenizers for text models: `register(name, factory)`, the factory (or "module:attr") called
    with the train split's text (an iterable of pieces) and returning the `PreTrainedTokenizerFast` saved
    with the run; a preset picks one with `model.tokenizer: NAME`."""


@hookspec
def register_presets(register: Callable[..., None]) -> None:
    """Register named presets: `register(name, preset_dict)`, or `register(path)` for a presets YAML file."""


@hookspec
def on_run_start(run: Any) -> None:
    """Called once when training starts or resumes, with the `Run` (its directory, config, model)."""


@hookspec
def on_log(run: Any, step: int, logs: dict[str, float]) -> None:
    """Called with each logged record of scalars (losses, metrics) during training."""


@hookspec
def on_run_end(run: Any, summary: dict[str, Any]) -> None:
    """Called once when training ends (finished or interrupted), with the run's summary."""


@hookspec
def register_loggers(register: Callable[[str, Any], None]) -> None:
    """Register loggers: `register(name, LoggerClass or "module:Class")`. A run switches one on with
    `zoo train --logger NAME` or `train.loggers`; zoo then makes one instance (no arguments) and
    registers it as a plugin while that run trains, evaluates or samples, so its `@hookimpl` methods
    (`on_log`, `on_evaluation`, ...) receive that run's events."""


@hookspec
def on_evaluation(run: Any, step: int, values: dict[str, float], protocols: dict[str, dict[str, Any]]) -> None:
    """Called with each evaluation of the checkpoint at `step`, in training and from `zoo evaluate`:
    `values` as `zoo evaluate` prints them, `protocols` (metric name -> how it was measured)."""


@hookspec
def on_samples(run: Any, step: int, samples: Any, paths: list[Any]) -> None:
    """Called when samples were written: each periodic preview and each `zoo sample --out`. `samples`
    is the `zoo.samples.Samples` object (images, waves or texts), `paths` the files written."""


@hookspec
def on_checkpoint(run: Any, step: int, path: Any) -> None:
    """Called when the checkpoint folder `path` of step `step` is complete and `latest` points at it."""


@hookspec
def should_stop(run: Any, step: int, values: dict[str, float]) -> str | None:
    """Asked after each evaluation during training: return a one-line reason to stop the run at this step (a sweep's pruner does), else None."""
