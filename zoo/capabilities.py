"""Capabilities: small protocols a family may implement, which metrics, the CLI and the docs test for.

A family declares a capability by implementing its members; `isinstance(model, Conditional)` is the
only test anyone makes (no `getattr(model, "num_classes", 0)` duck typing elsewhere).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from zoo.errors import UsageError


@runtime_checkable
class Conditional(Protocol):
    """Class-conditional: `sample(label=k)` draws class k; `num_classes` is 0 when this instance is not."""

    num_classes: int


@runtime_checkable
class Reconstructs(Protocol):
    """Encodes and decodes: images N×C×H×W in [0, 1] -> their reconstructions, same shape."""

    def reconstruct(self, x: Tensor) -> Tensor: ...


@runtime_checkable
class LogLikelihood(Protocol):
    """Scores data: the negative log-likelihood (or an upper bound) of each item of `batch`, in nats (N)."""

    def nll(self, batch: dict[str, Tensor]) -> Tensor: ...


@runtime_checkable
class Restores(Protocol):
    """Fills in missing pixels: `x` N×C×H×W in [0, 1], `mask` N×1×H×W with 1 where pixels are known."""

    def restore(self, x: Tensor, mask: Tensor, generator: torch.Generator | None = None, **conditions: Any) -> Tensor: ...


@runtime_checkable
class Translates(Protocol):
    """Maps a source image to a target image: `source` N×Cs×Hs×Ws in [0, 1] (`source_shape`: Cs, Hs, Ws)
    -> N×C×H×W in [0, 1]. `zoo translate`, `--mode translate` and the translation metrics use it;
    generative translators draw from `generator`, deterministic ones ignore it."""

    source_shape: tuple[int, int, int]

    def translate(self, source: Tensor, generator: torch.Generator | None = None, **conditions: Any) -> Tensor: ...


@runtime_checkable
class TranslatesFiles(Protocol):
    """Translates files that are not plain images (audio clips, scores, videos): `zoo translate` hands each
    input whose suffix is in `input_suffixes` to `translate_file`, which writes its result at `out` (the
    suffix changed to the family's output format where it must be) and returns the path it wrote."""

    input_suffixes: tuple[str, ...]

    def translate_file(self, source: Path, out: Path, generator: torch.Generator | None = None, **conditions: Any) -> Path: ...


@runtime_checkable
class Chats(Protocol):
    """Converses: `chat_prompt(messages)` renders a conversation ([{role, content}]) with the model's chat template
    up to the assistant's cue (token ids, 1-D; a UsageError for a model without a template), and `reply` continues
    it with the assistant's next turn, streaming pieces of text. `window`: the positions the model reads.
    `zoo chat` keeps the conversation within it (zoo/chat.py)."""

    window: int | None

    def chat_prompt(self, messages: list[dict[str, str]]) -> Tensor: ...

    def reply(self, messages: list[dict[str, str]], generator: torch.Generator | None = None, stream: Any = None, **settings: Any) -> str: ...


@runtime_checkable
class ExportsMerged(Protocol):
    """Writes a standalone transformers folder, any adapters merged into the weights, that
    `AutoModelForCausalLM.from_pretrained(folder)` loads (`zoo export RUN --merged DIR`)."""

    def export_merged(self, folder: Path) -> None: ...


def num_classes(model: Any) -> int:
    """How many classes `model` is conditioned on: 0 for unconditional models."""
    return int(model.num_classes) if isinstance(model, Conditional) else 0


def check_label(label: Any, classes: int, *, hint: str = "train a class-conditional preset for labels") -> int | None:
    """The one label validation every family uses: None passes; otherwise an int in 0..classes-1."""
    if label is None:
        return None
    if not classes:
        raise UsageError(f"this model is unconditional; drop --set label=... ({hint})")
    if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < classes:
        raise UsageError(f"label must be an integer in 0..{classes - 1}, got {label!r}")
    return label


def requested_labels(n: int, label: int | None, classes: int, device: torch.device) -> Tensor | None:
    """Labels for `n` samples: all `label`, or every class in turn (0, 1, ..., k-1, 0, ...); None when unconditional."""
    if not classes:
        return None
    if label is not None:
        return torch.full((n,), label, dtype=torch.long, device=device)
    return torch.arange(n, device=device) % classes


@dataclass(frozen=True)
class Condition:
    """A keyword `sample()` accepts: `zoo sample --set NAME=VALUE`, shown by `zoo info`, checked by the core."""

    name: str
    type: type
    default: Any = None
    help: str = ""
    choices: tuple[Any, ...] = field(default_factory=tuple)

    def check(self, value: Any) -> Any:
        """`value` converted to this condition's type (int -> float is allowed), else a UsageError."""
        if value is None:
            return None
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.type) or (self.type is int and isinstance(value, bool)):
            raise UsageError(f"condition {self.name}={value!r} must be {self.type.__name__}")
        if self.choices and value not in self.choices:
            raise UsageError(f"unknown {self.name} {value!r}; choose from {', '.join(map(str, self.choices))}")
        return value

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type.__name__, "default": self.default, "help": self.help}
        if self.choices:
            out["choices"] = list(self.choices)
        return out


LABEL = Condition("label", int, None, "class to draw (an index; every class in turn when omitted)")
GUIDANCE = Condition("guidance", float, None, "classifier-free guidance scale w (conditional models; 0: none; default: model.guidance)")


# ---- classifier-free guidance (Ho & Salimans 2022), for any conditional family --------------------------
def drop_labels(labels: Tensor, p: float, classes: int, generator: torch.Generator | None = None) -> Tensor:
    """Training: each label replaced by the "no label" index `classes` with probability `p`, so that one
    network learns the unconditional model beside the conditional one."""
    keep = torch.rand(len(labels), device=labels.device, generator=generator) >= p
    return torch.where(keep, labels, classes)


def guided(cond: Tensor, uncond: Tensor, guidance: float) -> Tensor:
    """The guided prediction cond + w·(cond - uncond): w = 0 is the plain conditional model, larger w
    trades diversity for outputs that say their class more clearly."""
    return cond + guidance * (cond - uncond)


def check_guidance(guidance: float | None, classes: int, *, unconditional: bool = True) -> None:
    """The one guidance validation: None passes; otherwise a scale >= 0 for a model that learned the
    unconditional case (`unconditional`: trained with label dropout)."""
    if guidance is None:
        return
    if not classes:
        raise UsageError("guidance needs a class-conditional model (model.conditional=true); drop --set guidance=...")
    if not unconditional:
        raise UsageError("guidance needs a model trained with model.label_dropout > 0; drop --set guidance=...")
    if guidance < 0:
        raise UsageError(f"guidance must be >= 0, got {guidance}")


def check_conditions(declared: tuple[Condition, ...], given: dict[str, Any]) -> dict[str, Any]:
    """Validate `given` against a family's declared conditions: unknown names and bad types are usage errors."""
    by_name = {c.name: c for c in declared}
    out = {}
    for key, value in given.items():
        if key not in by_name:
            valid = ", ".join(by_name) or "none"
            raise UsageError(f"unknown condition {key!r} for this model; valid: {valid}")
        out[key] = by_name[key].check(value)
    return out
