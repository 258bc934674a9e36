"""Fréchet distance between Gaussians fitted to two feature sets (FID, FD-DINO, FAD...).

Follows the reference implementation in pytorch-fid, including its numerical
safeguards, so that values are comparable with published numbers.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from zoo.metrics._arrays import ArrayLike, as_numpy64

# pytorch-fid rejects sqrtm results whose diagonal has an imaginary part above this.
_MAX_IMAG = 1e-3


@dataclass(frozen=True)
class FrechetResult:
    """A Fréchet distance and whether ``eps * I`` had to be added to the covariances."""

    value: float
    regularized: bool


def feature_stats(feats: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of an ``N x D`` feature matrix, in float64."""
    x = as_numpy64(feats, "feats")
    if x.shape[0] < 2:
        raise ValueError(f"need at least 2 samples to estimate a covariance, got {x.shape[0]}")
    return x.mean(axis=0), np.cov(x, rowvar=False)


def _rank_deficient(sigma: np.ndarray) -> bool:
    # Singular covariances (e.g. fewer samples than dimensions) make sqrtm unreliable.
    return np.linalg.matrix_rank(sigma, hermitian=True) < sigma.shape[0]


def frechet_distance_from_stats(
    mu1: ArrayLike,
    sigma1: ArrayLike,
    mu2: ArrayLike,
    sigma2: ArrayLike,
    eps: float = 1e-6,
) -> FrechetResult:
    """``||mu1 - mu2||^2 + tr(S1 + S2 - 2 sqrt(S1 S2))``.

    ``eps * I`` is added to both covariances when either is rank deficient or
    the matrix square root is not finite; the result records that it happened
    because the regularized value is then only an approximation.
    Raises ``ValueError`` when the square root has a large imaginary component.
    """
    m1, m2 = as_numpy64(mu1, "mu1", 1), as_numpy64(mu2, "mu2", 1)
    s1, s2 = as_numpy64(sigma1, "sigma1"), as_numpy64(sigma2, "sigma2")
    d = m1.shape[0]
    if m2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(
            f"shape mismatch: mu1 {m1.shape}, sigma1 {s1.shape}, mu2 {m2.shape}, sigma2 {s2.shape}"
        )

    regularized = _rank_deficient(s1) or _rank_deficient(s2)
    offset = np.eye(d) * eps
    if regularized:
        s1, s2 = s1 + offset, s2 + offset
    covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all() and not regularized:
        regularized = True
        s1, s2 = s1 + offset, s2 + offset
        covmean = linalg.sqrtm(s1 @ s2)
    if np.iscomplexobj(covmean):
        imag = np.abs(np.diagonal(covmean).imag).max()
        if imag > _MAX_IMAG:
            raise ValueError(f"matrix square root has imaginary component {imag:.3g}")
        covmean = covmean.real

    diff = m1 - m2
    value = diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean)
    return FrechetResult(value=float(value), regularized=regularized)


def frechet_distance(feats_a: ArrayLike, feats_b: ArrayLike, eps: float = 1e-6) -> float:
    """Fréchet distance between two ``N x D`` feature sets.

    Emits a ``RuntimeWarning`` when the covariances had to be regularized; use
    :func:`frechet_distance_from_stats` to get that flag programmatically.
    """
    result = frechet_distance_from_stats(*feature_stats(feats_a), *feature_stats(feats_b), eps=eps)
    if result.regularized:
        warnings.warn(
            f"Fréchet distance: covariance was singular or sqrtm failed; added {eps:g} * I "
            "(typically too few samples for the feature dimension)",
            RuntimeWarning,
            stacklevel=2,
        )
    return result.value
