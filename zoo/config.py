"""Typed run configuration: presets from YAML, `--set a.b=v` overrides, checked against dataclasses.

A run's config has four sections: `model` (the family's Config), `data` (the dataset's Config),
`train` (TrainConfig) and `eval` (EvalConfig). Every value is checked against its field's type,
so a typo or a wrong type fails before any work starts.
"""
from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from zoo.errors import UsageError

CONFIG_VERSION = 1
SECTIONS = ("model", "data", "train", "eval")


@dataclass
class DataConfig:
    """What every dataset config has; datasets subclass it with their own fields."""

    dataset: str = ""
    batch_size: int = 64


@dataclass
class TrainConfig:
    """The shared trainer's settings: budget, optimizer, schedule and cadences (0 turns a cadence off)."""

    steps: int = 1000
    epochs: int | None = None  # when set, overrides steps: epochs * steps-per-epoch
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.0
    schedule: Literal["constant", "cosine", "linear"] = "constant"
    warmup_steps: int = 0
    min_lr: float = 0.0
    grad_clip: float | None = None
    log_every: int = 50
    sample_every: int = 500
    eval_every: int = 0
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    sync_batchnorm: bool = False  # under torchrun on GPUs: BatchNorm statistics over the global batch
    find_unused_parameters: bool = False  # under torchrun: set when a step's loss leaves some parameters unused
    parallel: Literal["ddp", "fsdp"] = "ddp"  # under torchrun: every rank holds the model (DDP) or a shard of it (FSDP's fully_shard)
    num_preview: int = 64  # samples in each periodic preview grid
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # what `--precision auto` means for this preset (auto: bf16 on GPUs that have it, else fp32)
    fused_optimizer: bool = False  # Adam/AdamW's fused kernel (CPU, CUDA): faster for small models, last-bit different numbers
    grad_accum: int = 1  # micro-batches of data.batch_size per optimizer step (one all-reduce per step)
    ema_decay: float | None = None  # e.g. 0.999: the trainer keeps an EMA of the weights; sampling and evaluation use it
    ema_start: int = 0  # steps before the EMA starts following the weights (it copies them until then)
    stop_on_nan: bool = True  # a non-finite logged loss stops training with an error naming the step
    phases: list[dict[str, Any]] = field(default_factory=list)  # [{name, steps, optimizers, lr?, schedule?}], see Phase
    loggers: list[str] = field(default_factory=list)  # logger plugins switched on for this run, e.g. [tensorboard]

    def __post_init__(self) -> None:
        for name in ("steps", "log_every", "grad_accum"):
            if getattr(self, name) <= 0:
                raise UsageError(f"train.{name} must be a positive integer, got {getattr(self, name)}")
        if self.epochs is not None and self.epochs <= 0:
            raise UsageError(f"train.epochs must be a positive integer, got {self.epochs}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise UsageError(f"train.ema_decay must be in (0, 1), e.g. 0.999, got {self.ema_decay}")
        if self.parallel == "fsdp" and (self.ema_decay is not None or self.sync_batchnorm):
            raise UsageError("train.parallel=fsdp keeps no EMA of the weights and no SyncBatchNorm; drop train.ema_decay and train.sync_batchnorm, or use train.parallel=ddp")
        for i, phase in enumerate(self.phases):  # the shape of each phase; the trainer places them on the step axis
            if not isinstance(phase, dict) or not {"name", "optimizers"} <= set(phase):
                raise UsageError(f"train.phases[{i}] is {phase!r}; each phase is a mapping with at least a name and its optimizers, "
                                 "e.g. {name: prior, steps: 1000, optimizers: [prior]}")
            build(Phase, dict(phase), f"train.phases[{i}]")
        fixed = sum(phase.get("steps") or 0 for phase in self.phases)
        if self.epochs is None and fixed > self.steps:
            raise UsageError(f"train.phases take {fixed} steps, more than train.steps={self.steps}; raise --steps or shorten a phase")


@dataclass
class Phase:
    """A stretch of training in which only some optimizers step, with its own LR schedule.

    Declared in a preset as `train.phases: [{name: autoencoder, steps: 2000, optimizers: [vqvae]},
    {name: prior, optimizers: [prior]}]`; the last phase may omit `steps` and takes the rest of
    `train.steps`. Unset `lr`, `schedule`, `warmup_steps` and `min_lr` come from `train`.
    """

    name: str
    optimizers: list[str]
    steps: int | None = None
    lr: float | None = None
    schedule: Literal["constant", "cosine", "linear"] | None = None
    warmup_steps: int | None = None
    min_lr: float | None = None


@dataclass
class EvalConfig:
    """What `zoo evaluate` computes by default, and quality anchors for `--check`."""

    metrics: list[str] = field(default_factory=list)
    num_samples: int = 2000
    seed: int = 0
    anchors: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)  # `zoo bench --time-to-quality` target (zoo/bench.py)
    conditions: dict[str, Any] = field(default_factory=dict)  # sample conditions every evaluation draws with, e.g. {temperature: 0.8}


def parse_override(text: str) -> tuple[str, Any]:
    """`model.ngf=32` -> ("model.ngf", 32); values are YAML scalars, so 1e-4, true, [1, 2] all work."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"bad override {text!r}: expected KEY=VALUE, e.g. --set train.lr=1e-4")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str) and re.fullmatch(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+", value.strip()):
        value = float(value)  # YAML 1.1 reads 1e-4 (no dot in the mantissa) as a string
    return key.strip(), value


def apply_overrides(raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a preset dict with dotted-key overrides applied (validated later by `build`)."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    for key, value in overrides.items():
        section, _, name = key.partition(".")
        if section not in SECTIONS or not name or "." in name:
            raise UsageError(f"bad override key {key!r}: expected SECTION.FIELD with SECTION one of {', '.join(SECTIONS)}")
        out.setdefault(section, {})[name] = value
    return out


def build(cls: type, values: dict[str, Any], section: str) -> Any:
    """Instantiate dataclass `cls` from `values`, type-checking each; unknown keys list the valid ones."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, fields, n=1)
        did = f" (did you mean {section}.{close[0]}?)" if close else ""
        raise UsageError(f"unknown key {section}.{key}{did}; valid keys: {', '.join(f'{section}.{k}' for k in fields)}")
    kwargs = {name: check_type(value, hints[name], f"{section}.{name}") for name, value in values.items()}
    return cls(**kwargs)


def check_type(value: Any, hint: Any, where: str) -> Any:
    """Return `value` converted to `hint` where that is lossless (int -> float), else raise UsageError."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return check_type(value, arg, where)
            except UsageError as err:
                errors.append(err)
        raise errors[0]
    if origin is Literal:
        if value in args:
            return value
        raise UsageError(f"bad value for {where}: {value!r}; expected one of {', '.join(map(str, args))}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise UsageError(f"bad value for {where}: {value!r}; expected a list, e.g. [1, 2]")
        return [check_type(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)] if args else list(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise UsageError(f"bad value for {where}: {value!r}; expected a mapping")
        return dict(value)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(hint, type) and isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
        return value
    name = getattr(hint, "__name__", str(hint))
    raise UsageError(f"bad value for {where}: {value!r} is not {name}")


def to_dict(obj: Any) -> dict[str, Any]:
    """A config dataclass as plain YAML/JSON-ready data."""
    return dataclasses.asdict(obj)


def suggest(name: str, choices: list[str], what: str) -> UsageError:
    """An 'unknown X' error naming the closest choices."""
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"choose from {', '.join(sorted(choices))}"
    return UsageError(f"unknown {what} {name!r}; {hint}")
