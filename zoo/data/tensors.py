"""In-memory datasets: decoded once into tensors, batched by indexing (no per-sample Python)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

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


CHUNK_CHARS = 1 << 22  # text is read, tokenized and cached in pieces of about this many characters


@dataclass
class TextData:
    """A raw text split; text families turn it into token windows (`Family.prepare`). `chunks()` gives
    it piece by piece; `key` names its content where a tokenized copy may be cached (None: never)."""

    text: str
    info: dict[str, Any] = field(default_factory=dict)
    key: str | None = None

    def __len__(self) -> int:
        return len(self.text)

    def chunks(self) -> Iterator[str]:
        for start in range(0, len(self.text), CHUNK_CHARS):
            yield self.text[start : start + CHUNK_CHARS]
