"""k-NN manifold metrics: precision/recall (Kynkäänniemi et al., 2019) and
density/coverage (Naeem et al., 2020).

Each sample's manifold is approximated by a closed ball whose radius is the
distance to its k-th nearest neighbour in its own set (itself excluded).
Distances are computed in row chunks so 10k x 10k sets fit in bounded memory,
and all four metrics share one pass over the real-fake distances. Squared
distances are compared throughout: same result, no square roots.
"""

from __future__ import annotations

import torch

from zoo.metrics._arrays import ArrayLike, as_tensor64

# Elements per float64 distance chunk (2^23 * 8 B = 64 MiB); small enough to stay
# fast on CPU caches, large enough that per-chunk overhead is negligible.
_CHUNK_ELEMENTS = 2**23


def _chunks(n_rows: int, n_cols: int) -> list[slice]:
    step = max(1, _CHUNK_ELEMENTS // max(1, n_cols))
    return [slice(i, i + step) for i in range(0, n_rows, step)]


def _sq_dists(a: torch.Tensor, b: torch.Tensor, b_sq_norms: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances ``|a|^2 + |b|^2 - 2 a.b`` with one GEMM."""
    out = a.pow(2).sum(dim=1, keepdim=True) + b_sq_norms
    return out.addmm_(a, b.T, alpha=-2.0).clamp_min_(0.0)


def _knn_sq_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    if not 1 <= k < x.shape[0]:
        raise ValueError(f"k must be in [1, {x.shape[0] - 1}] for {x.shape[0]} samples, got {k}")
    sq_norms = x.pow(2).sum(dim=1)
    # k + 1 smallest including the zero self-distance, as in the reference code.
    return torch.cat(
        [
            _sq_dists(x[rows], x, sq_norms).topk(k + 1, dim=1, largest=False).values[:, k]
            for rows in _chunks(x.shape[0], x.shape[0])
        ]
    )


def knn_radii(x: ArrayLike, k: int) -> torch.Tensor:
    """Distance from each row of ``x`` to its k-th nearest other row."""
    return _knn_sq_radii(as_tensor64(x, "x"), k).sqrt()


def _manifold(real: ArrayLike, fake: ArrayLike, k: int, with_recall: bool) -> dict[str, float]:
    r, f = as_tensor64(real, "real"), as_tensor64(fake, "fake")
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"feature dims differ: {r.shape[1]} vs {f.shape[1]}")
    real_sq_radii = _knn_sq_radii(r, k)
    fake_sq_radii = _knn_sq_radii(f, k) if with_recall else None
    real_sq_norms = r.pow(2).sum(dim=1)

    in_real_ball = torch.empty(f.shape[0], dtype=torch.bool)  # per fake: inside any real ball
    real_ball_hits = 0  # (fake, real ball) containment pairs, for density
    covered = torch.zeros(r.shape[0], dtype=torch.bool)  # per real: its ball holds a fake
    in_fake_ball = torch.zeros(r.shape[0], dtype=torch.bool)  # per real: inside any fake ball
    for rows in _chunks(f.shape[0], r.shape[0]):
        sq_dist = _sq_dists(f[rows], r, real_sq_norms)
        inside = sq_dist <= real_sq_radii
        in_real_ball[rows] = inside.any(dim=1)
        real_ball_hits += int(torch.count_nonzero(inside))
        covered |= inside.any(dim=0)
        if fake_sq_radii is not None:
            in_fake_ball |= (sq_dist <= fake_sq_radii[rows, None]).any(dim=0)

    out = {
        "precision": float(in_real_ball.double().mean()),
        "density": real_ball_hits / (k * f.shape[0]),
        "coverage": float(covered.double().mean()),
    }
    if fake_sq_radii is not None:
        out["recall"] = float(in_fake_ball.double().mean())
    return out


def prdc(real: ArrayLike, fake: ArrayLike, k: int = 5) -> dict[str, float]:
    """Precision, recall, density and coverage, sharing radii and distance passes."""
    return _manifold(real, fake, k, with_recall=True)


def precision_recall(real: ArrayLike, fake: ArrayLike, k: int = 5) -> dict[str, float]:
    """Precision: fraction of fake samples inside at least one real k-NN ball.
    Recall: fraction of real samples inside at least one fake k-NN ball."""
    out = prdc(real, fake, k)
    return {"precision": out["precision"], "recall": out["recall"]}


def density_coverage(real: ArrayLike, fake: ArrayLike, k: int = 5) -> dict[str, float]:
    """Density: mean number of real k-NN balls containing each fake sample, divided by k.
    Coverage: fraction of real samples whose own k-NN ball contains a fake sample.
    Both use only real-sample radii, so they are robust to fake outliers."""
    out = _manifold(real, fake, k, with_recall=False)
    return {"density": out["density"], "coverage": out["coverage"]}
