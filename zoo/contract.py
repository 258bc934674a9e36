"""The contract every model family implements, and the contexts the core hands it.

A family is an `nn.Module` built from its typed `Config` dataclass, the data's `info` and a
`FamilyContext` (its assets folder and data). The shared trainer owns the loop; a family only says
what one update is (`train_step`, given a `StepContext`), how to draw samples (`sample`, with the
conditions it declares) and which family-specific numbers to report (`evaluate`, given an
`EvalContext`). Families never touch devices, precision, process groups or thread counts.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from zoo import device as dev
from zoo import distributed as dist
from zoo.capabilities import Condition
from zoo.config import DataConfig
from zoo.errors import UsageError

if TYPE_CHECKING:
    from zoo.evaluation import EvalContext
    from zoo.samples import Samples

Modality = Literal["image", "text", "audio", "music", "video"]


@dataclass
class FamilyContext:
    """What a family may use at construction beyond its config and info.

    `assets`: the run's folder for files `setup` wrote (a tokenizer); `data`: the run's data config;
    `split(name)`: a decoded split, found where the user's `--data-dir` says (for families that show
    test data, such as reconstructions). Built by the core; a family never attaches its own.
    """

    assets: Path
    data: DataConfig
    data_dir: str | None = None
    _splits: dict[str, Any] = field(default_factory=dict, repr=False)

    def split(self, name: str = "test") -> Any:
        """Split `name` as the dataset decodes it (on the CPU), loaded once."""
        if name not in self._splits:
            from zoo.data import load_dataset

            self._splits[name] = load_dataset(self.data, name, self.data_dir)
        return self._splits[name]


class StepContext:
    """What `train_step` gets from the trainer: its optimizers, and `update()` to apply a loss.

    Families use manual optimisation (as GANs need): each `update(name, loss)` zeroes that optimizer's
    gradients, back-propagates (loss-scaled in fp16), clips and steps. Precision, clipping, gradient
    accumulation and the all-reduce under torchrun are the trainer's business, never the family's.

    `step` is the optimizer step being taken; `phase` the name of the training phase it belongs to
    (presets that declare `train.phases`); `micro`/`accum` which of `train.grad_accum` micro-batches
    this call is (gradients are applied on the last one).
    """

    def __init__(
        self,
        optimizers: dict[str, torch.optim.Optimizer],
        device: torch.device,
        precision: str,
        grad_clip: float | None,
        gates: dict[str, nn.Module] | None = None,
    ) -> None:
        self.optimizers = optimizers
        self.device = device
        self.precision = precision
        self.grad_clip = grad_clip
        self.scalers = {name: dev.grad_scaler(device, precision) for name in optimizers}
        self.step = 0
        self.phase = "train"
        self.active: tuple[str, ...] = tuple(optimizers)  # the optimizers the current phase trains
        self.micro, self.accum = 0, 1
        self.gates = gates or {}  # per optimizer, under torchrun: DistributedDataParallel arming the all-reduce
        self._updated: dict[str, tuple[int, int]] = {}  # optimizer -> (step, micro) of its last update

    def autocast(self) -> Any:
        return dev.autocast(self.device, self.precision)

    def update(self, name: str, loss: Tensor) -> None:
        """One optimizer step of `optimizers[name]` on `loss` (with `train.grad_accum` K: a 1/K share of
        one, applied after the K-th micro-batch, so each optimizer is updated at most once per call)."""
        if name not in self.active:
            raise UsageError(f"optimizer {name!r} does not train in phase {self.phase!r} (it trains {', '.join(self.active)}); "
                             "check `ctx.phase` in train_step or the preset's train.phases")
        if self.accum > 1 and self._updated.get(name) == (self.step, self.micro):  # would wipe or re-step accumulated gradients
            raise UsageError(f"optimizer {name!r} was updated twice in one train_step; under train.grad_accum={self.accum} each "
                             "optimizer may be updated once per call: sum those losses into one update, or drop train.grad_accum")
        self._updated[name] = (self.step, self.micro)
        optimizer, scaler = self.optimizers[name], self.scalers[name]
        first, last = self.micro == 0, self.micro == self.accum - 1
        if first:
            optimizer.zero_grad(set_to_none=True)
        gate = self.gates.get(name)
        sync = contextlib.nullcontext() if gate is None or last else gate.no_sync()  # all-reduce once per step
        with sync:
            if gate is not None:
                loss = gate(loss)
            with torch.autocast(self.device.type, enabled=False):
                scaler.scale(loss / self.accum if self.accum > 1 else loss).backward()
        if not last:
            return
        if self.grad_clip:
            scaler.unscale_(optimizer)
            params = [p for group in optimizer.param_groups for p in group["params"]]
            nn.utils.clip_grad_norm_(params, self.grad_clip)
        scaler.step(optimizer)
        scaler.update()

    # ---- what families used to reach for themselves -------------------------------------------
    @staticmethod
    def all_reduce_sum(*tensors: Tensor) -> None:
        """Sum `tensors` over the ranks in place (a no-op in one process): state updated outside
        autograd, which DDP never sees, such as a VQ-VAE's EMA codebook statistics."""
        dist.all_reduce_sum(*tensors)

    @staticmethod
    def broadcast_from_main(tensor: Tensor) -> Tensor:
        """Rank 0's `tensor` on every rank (in place), so a random choice made outside autograd stays shared."""
        return dist.broadcast_from_main(tensor)


class Family(nn.Module):
    """Base class of every model family. Subclasses set `Config`, `modality` and the three methods."""

    Config: ClassVar[type]
    modality: ClassVar[Modality]
    conditions: ClassVar[tuple[Condition, ...]] = ()  # what `sample(**conditions)` accepts; checked by the core
    tiny: ClassVar[dict[str, Any]] = {}  # overrides that shrink a preset to seconds, for the contract tests
    checkpoint_step: int = 0  # set by `zoo.load`: the step of the checkpoint the weights came from
    weights: Literal["ema", "raw"] = "raw"  # set by `zoo.load`: whether those are the trainer's EMA of them

    def __init__(self, config: Any, info: dict[str, Any], context: FamilyContext) -> None:
        super().__init__()
        self.config = config
        self.info = info
        self.context = context

    @classmethod
    def setup(cls, config: Any, train: Any, assets: Path) -> dict[str, Any]:
        """Derive what the model needs from the training split (shapes, classes, a vocabulary).

        Runs once when a run starts; files it writes under `assets` (a tokenizer) travel with the run.
        The returned info is saved in the run's config and handed to `__init__` on every load.
        """
        return dict(train.info)

    def prepare(self, data: Any) -> Any:
        """Turn a decoded split into something batchable (text families tokenize here)."""
        return data

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by optimizer name; a GAN returns {"g": ..., "d": ...}. Default: one optimizer."""
        return {"model": [p for p in self.parameters() if p.requires_grad]}

    def train_step(self, batch: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        """One update with the family's own rule, through `ctx.update`; returns detached scalar logs."""
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator | None = None, **conditions: Any) -> "Samples":
        """Draw `n` samples with `generator`. Conditions (`label=3`) are the declared `conditions`, already
        type-checked by the core; values out of range raise UsageError."""
        raise NotImplementedError

    def evaluate(self, ctx: "EvalContext") -> dict[str, float]:
        """Family-specific metrics (test ELBO, validation loss). The shared metric suite runs beside these;
        `ctx.protocol` takes fields that describe how these numbers were made (images scored, sampler steps)."""
        return {}

    def throughput_unit(self) -> tuple[str, float]:
        """The unit training throughput is quoted in and how much of it one batch item holds: text
        families say ("tokens", sequence length), audio ones ("audio_s", seconds per clip)."""
        return ("images" if self.modality == "image" else "items"), 1.0

    def save_assets(self, folder: Path) -> None:
        """Write files a checkpoint folder needs beyond the weights (text: a Hugging Face model folder)."""

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device
