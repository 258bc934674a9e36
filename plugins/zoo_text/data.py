"""Text splits and token windows: ids stored once as one compact tensor, windows gathered by indexing."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo.config import DataConfig
from zoo.data.tensors import TextData
from zoo.errors import UsageError

TRAIN_FRACTION = 0.9  # nanoGPT's split: the first 90% of characters train, the last 10% validate


def load_text_split(folder: Path, split: str, config: DataConfig) -> TextData:
    """Split `train` is the first 90% of input.txt's characters, `test` the last 10% (used as validation)."""
    text = (Path(folder) / "input.txt").read_text(encoding="utf-8")
    cut = int(len(text) * TRAIN_FRACTION)
    if split == "train":
        return TextData(text[:cut], {"split": split, "chars": cut})
    if split == "test":
        return TextData(text[cut:], {"split": split, "chars": len(text) - cut})
    raise UsageError(f"dataset {config.dataset!r} has splits train and test, not {split!r}")


@dataclass
class TokenWindows:
    """Every window of `block_size + 1` consecutive tokens; item i is the window starting at token i."""

    ids: Tensor  # (L,) uint16 when the vocabulary fits, else int32
    block_size: int
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.offsets = torch.arange(self.block_size + 1, device=self.ids.device)

    def __len__(self) -> int:
        return max(0, len(self.ids) - self.block_size)

    def batch(self, idx: Tensor) -> dict[str, Tensor]:
        windows = self.ids[idx[:, None] + self.offsets].long()  # N×(T+1)
        return {"x": windows[:, :-1], "y": windows[:, 1:]}  # N×T inputs, N×T next tokens

    def to(self, device: torch.device) -> "TokenWindows":
        return TokenWindows(self.ids.to(device), self.block_size, self.info)


def compact(ids: Tensor, vocab_size: int) -> Tensor:
    """Token ids in the smallest dtype that holds the vocabulary (uint16 for up to 65,536 tokens)."""
    return ids.to(torch.uint16 if vocab_size <= 1 << 16 else torch.int32)
