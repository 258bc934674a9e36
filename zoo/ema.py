"""An exponential moving average of a model's trainable weights, kept by the trainer for any family.

Sampling and evaluation use the average by default (it decides the result for GANs and diffusion
models); checkpoints store it beside the raw weights so resume restores both exactly.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import Tensor, nn


class EMA:
    """Shadow copies of `model`'s trainable parameters, by name (buffers are never averaged)."""

    def __init__(self, model: nn.Module, decay: float, start: int = 0) -> None:
        self.decay, self.start = decay, start
        self.params = {name: p for name, p in model.named_parameters() if p.requires_grad}
        self.shadow = {name: p.detach().clone() for name, p in self.params.items()}

    @torch.no_grad()
    def update(self, step: int) -> None:
        """After optimizer step `step`: follow the weights (copy them until `start`)."""
        weight = 1.0 if step < self.start else 1 - self.decay
        torch._foreach_lerp_(list(self.shadow.values()), [p.detach() for p in self.params.values()], weight)

    def state_dict(self) -> dict[str, Tensor]:
        return self.shadow

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        missing = set(self.shadow) - set(state)
        if missing:
            raise KeyError(f"EMA state lacks {sorted(missing)[:3]}")
        with torch.no_grad():
            for name, tensor in self.shadow.items():
                tensor.copy_(state[name])

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """Swap the averaged weights into the model for a block (previews, evaluation), then swap back."""
        with torch.no_grad():
            raw = {name: p.detach().clone() for name, p in self.params.items()}
            for name, p in self.params.items():
                p.copy_(self.shadow[name])
        try:
            yield
        finally:
            with torch.no_grad():
                for name, p in self.params.items():
                    p.copy_(raw[name])
