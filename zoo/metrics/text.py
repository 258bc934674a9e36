"""Text generation metrics: likelihood conversions and n-gram diversity."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import TypeVar

import torch

Scalar = TypeVar("Scalar", float, torch.Tensor)


def bits_per_token(cross_entropy_nats: Scalar) -> Scalar:
    """Mean cross-entropy in nats converted to bits, comparable across tokenizers' log bases."""
    return cross_entropy_nats / math.log(2)


def perplexity(cross_entropy_nats: Scalar) -> Scalar:
    """``exp`` of the mean per-token cross-entropy in nats."""
    if isinstance(cross_entropy_nats, torch.Tensor):
        return cross_entropy_nats.exp()
    return math.exp(cross_entropy_nats)


def distinct_n(texts: Sequence[str] | Sequence[Sequence[Hashable]], n: int) -> float:
    """Unique n-grams divided by total n-grams, pooled over all samples (Li et al., 2016).

    A ``str`` sample is split into characters; for word-level distinct-n pass
    token lists such as ``[t.split() for t in texts]``. Samples shorter than
    ``n`` contribute nothing; returns 0.0 when there are no n-grams at all.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    grams = [tuple(seq[i : i + n]) for seq in texts for i in range(len(seq) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0
