"""Input coercion shared by the metric functions.

Metrics accept torch tensors or numpy arrays so that callers do not have to
care which library produced the features; everything is computed in float64
because metric values are compared across runs and papers.
"""

from __future__ import annotations

from typing import Union

import numpy as np
import torch

ArrayLike = Union[torch.Tensor, np.ndarray]


def as_tensor64(x: ArrayLike, name: str, ndim: int = 2) -> torch.Tensor:
    """Return ``x`` as a finite float64 CPU tensor with ``ndim`` dimensions."""
    t = torch.as_tensor(x).detach().to(device="cpu", dtype=torch.float64)
    if t.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return t


def as_numpy64(x: ArrayLike, name: str, ndim: int = 2) -> np.ndarray:
    """Return ``x`` as a finite float64 numpy array with ``ndim`` dimensions."""
    return as_tensor64(x, name, ndim).numpy()
