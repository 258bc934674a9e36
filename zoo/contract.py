"""The contract every model family implements, and the helpers the trainer hands to its steps.

A family is an `nn.Module` built from its typed `Config` dataclass and the data's `info`. The shared
trainer owns the loop; a family only says what one update is (`train_step`), how to draw samples
(`sample`) and which family-specific numbers to report (`evaluate`).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from zoo import device as dev

if TYPE_CHECKING:
    from zoo.evaluation import EvalContext
    from zoo.samples import Samples

Modality = Literal["image", "text", "audio"]


class StepContext:
    """What `train_step` gets from the trainer: its optimizers, and `update()` to apply a loss.

    Families use manual optimisation (as GANs need): each `update(name, loss)` zeroes that optimizer's
    gradients, back-propagates (loss-scaled in fp16), clips and steps. Precision and clipping are the
    trainer's business, never the family's.
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
        self.gates = gates or {}  # per optimizer, under torchrun: DistributedDataParallel arming the all-reduce

    def autocast(self) -> Any:
        return dev.autocast(self.device, self.precision)

    def update(self, name: str, loss: Tensor) -> None:
        """One optimizer step of `optimizers[name]` on `loss`."""
        optimizer, scaler = self.optimizers[name], self.scalers[name]
        optimizer.zero_grad(set_to_none=True)
        if name in self.gates:
            loss = self.gates[name](loss)
        with torch.autocast(self.device.type, enabled=False):
            scaler.scale(loss).backward()
        if self.grad_clip:
            scaler.unscale_(optimizer)
            params = [p for group in optimizer.param_groups for p in group["params"]]
            nn.utils.clip_grad_norm_(params, self.grad_clip)
        scaler.step(optimizer)
        scaler.update()


class Family(nn.Module):
    """Base class of every model family. Subclasses set `Config`, `modality` and the three methods."""

    Config: ClassVar[type]
    modality: ClassVar[Modality]

    def __init__(self, config: Any, info: dict[str, Any]) -> None:
        super().__init__()
        self.config = config
        self.info = info

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
        """Draw `n` samples. Conditions (`label=3`) are keyword arguments; bad values raise UsageError."""
        raise NotImplementedError

    def evaluate(self, ctx: "EvalContext") -> dict[str, float]:
        """Family-specific metrics (test ELBO, validation loss). The shared metric suite runs beside these."""
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
