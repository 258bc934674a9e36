"""Kernel Inception Distance (Bińkowski et al., 2018).

Unbiased MMD^2 with a polynomial kernel, averaged over random subsets, matching
the estimator used by clean-fid and torchmetrics. Unlike FID it is unbiased in
the number of samples, so it is usable on small evaluation sets.
"""

from __future__ import annotations

import torch

from zoo.metrics._arrays import ArrayLike, as_tensor64


def _kernel(x: torch.Tensor, y: torch.Tensor, degree: int, gamma: float, coef0: float) -> torch.Tensor:
    # addmm fuses the scale and offset into the GEMM; pow_ avoids another temporary.
    return torch.addmm(torch.tensor(coef0, dtype=x.dtype), x, y.T, alpha=gamma).pow_(degree)


def _mmd2_unbiased(x: torch.Tensor, y: torch.Tensor, degree: int, gamma: float, coef0: float) -> float:
    """Unbiased MMD^2 of two equally sized samples: the kernel diagonals are excluded."""
    m = x.shape[0]
    k_xx = _kernel(x, x, degree, gamma, coef0)
    k_yy = _kernel(y, y, degree, gamma, coef0)
    k_xy = _kernel(x, y, degree, gamma, coef0)
    within = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return float(within - 2.0 * k_xy.sum() / (m * m))


def kernel_inception_distance(
    feats_a: ArrayLike,
    feats_b: ArrayLike,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
    generator: torch.Generator | int | None = None,
) -> tuple[float, float]:
    """Mean and (population) std of unbiased MMD^2 over ``subsets`` random subsets.

    The kernel is ``(gamma * x.y + coef0) ** degree`` with ``gamma = 1 / D`` by
    default. ``subset_size`` is capped at the smaller set size. Subsets are drawn
    without replacement from ``generator`` (a ``torch.Generator`` or an int
    seed; ``None`` means seed 0), so results are reproducible by default.
    """
    a, b = as_tensor64(feats_a, "feats_a"), as_tensor64(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dims differ: {a.shape[1]} vs {b.shape[1]}")
    m = min(subset_size, a.shape[0], b.shape[0])
    if m < 2 or subsets < 1:
        raise ValueError(f"need subset_size >= 2 and subsets >= 1, got {m} and {subsets}")
    if not isinstance(generator, torch.Generator):
        generator = torch.Generator().manual_seed(0 if generator is None else generator)
    gamma = 1.0 / a.shape[1] if gamma is None else gamma

    scores = torch.tensor(
        [
            _mmd2_unbiased(
                a[torch.randperm(a.shape[0], generator=generator)[:m]],
                b[torch.randperm(b.shape[0], generator=generator)[:m]],
                degree,
                gamma,
                coef0,
            )
            for _ in range(subsets)
        ],
        dtype=torch.float64,
    )
    return float(scores.mean()), float(scores.std(correction=0))
