"""In-memory datasets: decoded once into tensors, batched by indexing (no per-sample Python)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor


@dataclass
class TensorData:
    """Aligned tensors (images `x`, labels `y`, ...); uint8 fields come out as floats in [0, 1]."""

    fields: dict[str, Tensor]
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(next(iter(self.fields.values())))

    def batch(self, idx: Tensor) -> dict[str, Tensor]:
        out = {}
        for name, tensor in self.fields.items():
            picked = tensor[idx]
            out[name] = picked.float().div_(255) if picked.dtype == torch.uint8 else picked
        return out

    def to(self, device: torch.device) -> "TensorData":
        return TensorData({k: v.to(device) for k, v in self.fields.items()}, self.info)


@dataclass
class TextData:
    """A raw text split; text families turn it into token windows (`Family.prepare`)."""

    text: str
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.text)
