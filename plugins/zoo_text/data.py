"""Text splits and token windows: ids stored once as one compact tensor, windows gathered by indexing."""
from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import Tensor
from transformers import PreTrainedTokenizerFast

from zoo.config import DataConfig
from zoo.data.tensors import TextData
from zoo.errors import UsageError
from zoo_text import tokenizer as tok

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


def token_ids(data: TextData, tokenizer: PreTrainedTokenizerFast, vocab_size: int) -> Tensor:
    """The split's token ids (compact dtype, 1-D): encoded in memory, or for a split with a cache key
    encoded once piece by piece into a memory-mapped token file."""
    pieces = known_text(data.chunks(), tokenizer, data.info.get("split", "text"))
    if data.key is None:
        return compact(torch.cat([tok.encode(tokenizer, piece) for piece in pieces] or [torch.zeros(0, dtype=torch.long)]), vocab_size)
    import hashlib

    import numpy as np

    from zoo.data.prepared import flat_file

    dtype = np.uint16 if vocab_size <= 1 << 16 else np.int32
    key = hashlib.sha256(f"{data.key}\0{tokenizer.backend_tokenizer.to_str()}".encode()).hexdigest()
    return torch.from_numpy(flat_file(f"tokens-{key}", (tok.encode(tokenizer, piece).numpy() for piece in pieces), dtype))


def known_text(pieces: Iterator[str], tokenizer: PreTrainedTokenizerFast, split: str) -> Iterator[str]:
    """The pieces without what a word-level vocabulary lacks (a held-out split may have a few characters,
    or folkrnn tokens, the training split has not), with one warning line naming them; BPE encodes
    everything and passes through."""
    char = tok.is_char(tokenizer)
    dropped: Counter[str] = Counter()
    for piece in pieces:
        unknown = set(tok.unknown_pieces(tokenizer, piece))
        if unknown and char:
            dropped.update({c: piece.count(c) for c in unknown})
            piece = piece.translate(dict.fromkeys(map(ord, unknown)))
        while unknown and not char:  # the pieces left may join into new ones: cut again
            parts = tok.pieces(tokenizer, piece)
            dropped.update(p for p in parts if p in unknown)
            piece = "".join(p for p in parts if p not in unknown)
            unknown = set(tok.unknown_pieces(tokenizer, piece))
        yield piece
    if dropped:
        what, unit = ("".join(sorted(dropped)), "character(s)") if char else (sorted(dropped), "token(s)")
        warnings.warn(f"left {sum(dropped.values())} {unit} of the {split} split out ({what!r}): the training split's "
                      "vocabulary lacks them", stacklevel=2)
