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
