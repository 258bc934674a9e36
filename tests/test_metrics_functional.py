"""Pure metric functions checked against closed forms and brute-force loops."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import torch

from zoo.metrics import (
    bits_per_token,
    density_coverage,
    distinct_n,
    feature_stats,
    frechet_distance,
    frechet_distance_from_stats,
    inception_score,
    kernel_inception_distance,
    perplexity,
    prdc,
    precision_recall,
    psnr,
    ssim,
)
from zoo.metrics import manifold


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _random_orthogonal(d: int, rng: np.random.Generator) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return q


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(s)
    return v @ np.diag(np.sqrt(w)) @ v.T


# --- Fréchet distance -------------------------------------------------------


def test_frechet_commuting_covariances_match_closed_form():
    rng = _rng(1)
    d = 6
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    a, b = rng.uniform(0.5, 3.0, size=d), rng.uniform(0.5, 3.0, size=d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(a + b - 2 * np.sqrt(a * b))
    q = _random_orthogonal(d, rng)
    for s1, s2 in [(np.diag(a), np.diag(b)), (q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T)]:
        result = frechet_distance_from_stats(mu1, s1, mu2, s2)
        assert result.value == pytest.approx(expected, rel=1e-6)
        assert not result.regularized


def test_frechet_non_commuting_covariances_match_symmetric_form():
    rng = _rng(2)
    d = 5
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    a1, a2 = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    s1, s2 = a1 @ a1.T + 0.1 * np.eye(d), a2 @ a2.T + 0.1 * np.eye(d)
    assert not np.allclose(s1 @ s2, s2 @ s1)
    h = _psd_sqrt(s1)
    tr_sqrt = np.sum(np.sqrt(np.linalg.eigvalsh(h @ s2 @ h)))
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    assert frechet_distance_from_stats(mu1, s1, mu2, s2).value == pytest.approx(expected, rel=1e-6)


def test_frechet_identical_sets_zero_and_symmetric():
    rng = _rng(3)
    x, y = rng.normal(size=(200, 8)), rng.normal(loc=0.3, size=(150, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # well-conditioned: no regularization warning
        assert abs(frechet_distance(x, x)) < 1e-8
    assert frechet_distance(x, y) == pytest.approx(frechet_distance(y, x), rel=1e-9)
    assert frechet_distance(x, y) > 0.1
    assert frechet_distance(torch.from_numpy(x).float(), y) == pytest.approx(
        frechet_distance(x.astype(np.float32), y), rel=1e-9
    )


def test_frechet_reports_regularization_for_singular_covariance():
    rng = _rng(4)
    x, y = rng.normal(size=(5, 16)), rng.normal(size=(5, 16))
    assert frechet_distance_from_stats(*feature_stats(x), *feature_stats(y)).regularized
    with pytest.warns(RuntimeWarning, match="singular"):
        frechet_distance(x, y)


def test_frechet_rejects_large_imaginary_component():
    with pytest.raises(ValueError, match="imaginary"):
        frechet_distance_from_stats(np.zeros(2), np.diag([-1.0, 1.0]), np.zeros(2), np.eye(2))


# --- KID --------------------------------------------------------------------


def _mmd2_brute(x: np.ndarray, y: np.ndarray) -> float:
    n, d = x.shape

    def k(u, v):
        return (u @ v / d + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(n))
    return xx / (n * (n - 1)) + yy / (n * (n - 1)) - 2 * xy / n**2


def test_kid_matches_brute_force_unbiased_mmd():
    rng = _rng(5)
    x, y = rng.normal(size=(12, 4)), rng.normal(loc=0.5, size=(12, 4))
    mean, std = kernel_inception_distance(x, y, subsets=1, subset_size=12)
    assert mean == pytest.approx(_mmd2_brute(x, y), rel=1e-10)
    assert std == 0.0


def test_kid_caps_subset_size_and_is_deterministic():
    rng = _rng(6)
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(20, 4))
    first = kernel_inception_distance(x, y, subsets=5, subset_size=1000)
    assert first == kernel_inception_distance(x, y, subsets=5, subset_size=1000)
    assert first != kernel_inception_distance(x, y, subsets=5, subset_size=1000, generator=1)
    assert first[1] > 0


# --- precision / recall / density / coverage ---------------------------------


def _prdc_brute(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    def dist(u, v):
        return math.sqrt(sum((a - b) ** 2 for a, b in zip(u, v)))

    def radii(x):
        return [sorted(dist(p, q) for j, q in enumerate(x) if j != i)[k - 1] for i, p in enumerate(x)]

    r_real, r_fake = radii(real), radii(fake)
    in_real = [[dist(f, r) <= rad for r, rad in zip(real, r_real)] for f in fake]
    return {
        "precision": np.mean([any(row) for row in in_real]),
        "recall": np.mean([any(dist(r, f) <= rad for f, rad in zip(fake, r_fake)) for r in real]),
        "density": np.mean([sum(row) for row in in_real]) / k,
        "coverage": np.mean(
            [min(dist(r, f) for f in fake) <= rad for r, rad in zip(real, r_real)]
        ),
    }


@pytest.mark.parametrize("chunk_elements", [2**25, 20])
def test_prdc_matches_brute_force(monkeypatch, chunk_elements):
    monkeypatch.setattr(manifold, "_CHUNK_ELEMENTS", chunk_elements)
    rng = _rng(7)
    real, fake = rng.normal(size=(15, 3)), rng.normal(loc=0.4, scale=1.3, size=(12, 3))
    expected = _prdc_brute(real, fake, k=3)
    got = prdc(real, fake, k=3)
    assert got == pytest.approx(expected, abs=1e-12)
    assert 0 < expected["precision"] < 1 and 0 < expected["recall"] < 1  # the check is non-trivial
    assert precision_recall(real, fake, k=3) == pytest.approx(
        {key: expected[key] for key in ("precision", "recall")}, abs=1e-12
    )
    assert density_coverage(real, fake, k=3) == pytest.approx(
        {key: expected[key] for key in ("density", "coverage")}, abs=1e-12
    )


def test_precision_recall_one_when_fake_equals_real():
    x = torch.randn(50, 8, generator=torch.Generator().manual_seed(8))
    assert precision_recall(x, x.clone(), k=5) == {"precision": 1.0, "recall": 1.0}
    assert density_coverage(x, x.clone(), k=5)["coverage"] == 1.0


# --- Inception score ---------------------------------------------------------


def test_inception_score_matches_hand_computation():
    p = torch.softmax(torch.randn(40, 6, generator=torch.Generator().manual_seed(9)), dim=1).double()
    marginal = p.mean(dim=0)
    expected = math.exp(float((p * (p.log() - marginal.log())).sum(dim=1).mean()))
    mean, std = inception_score(p, splits=1)
    assert mean == pytest.approx(expected, rel=1e-10)
    assert std == 0.0


def test_inception_score_bounds():
    constant = torch.full((20, 5), 0.2)
    assert inception_score(constant, splits=2)[0] == pytest.approx(1.0, abs=1e-9)
    confident = torch.eye(4).repeat(6, 1)  # every class equally often, in each split
    mean, std = inception_score(confident, splits=3)
    assert mean == pytest.approx(4.0, rel=1e-9)
    assert std == pytest.approx(0.0, abs=1e-9)


def test_inception_score_rejects_logits():
    with pytest.raises(ValueError, match="logits"):
        inception_score(torch.randn(10, 3), splits=1)


# --- text ---------------------------------------------------------------------


def test_bits_per_token_and_perplexity():
    ce = 2.3
    assert bits_per_token(ce) == ce / math.log(2)
    assert perplexity(ce) == math.exp(ce)
    t = torch.tensor([0.5, 2.0], dtype=torch.float64)
    assert torch.equal(bits_per_token(t), t / math.log(2))
    assert torch.equal(perplexity(t), torch.exp(t))


def test_distinct_n_hand_examples():
    assert distinct_n(["abab"], 2) == pytest.approx(2 / 3)  # ab, ba, ab
    assert distinct_n(["aab", "ba"], 1) == pytest.approx(2 / 5)  # a, a, b, b, a
    tokens = [["the", "cat"], ["the", "cat", "sat"]]
    assert distinct_n(tokens, 2) == pytest.approx(2 / 3)  # (the cat) x2, (cat sat)
    assert distinct_n(["a"], 2) == 0.0


# --- PSNR / SSIM --------------------------------------------------------------


def test_psnr_identical_is_inf_and_matches_formula():
    g = torch.Generator().manual_seed(10)
    a, b = (torch.rand(3, 3, 8, 8, generator=g, dtype=torch.float64) for _ in range(2))
    assert torch.isinf(psnr(a, a)).all()
    expected = [10 * math.log10(255.0**2 / float(((x - y) ** 2).mean())) for x, y in zip(a * 255, b * 255)]
    assert psnr(a * 255, b * 255, max_val=255.0).tolist() == pytest.approx(expected, rel=1e-9)


def _smooth_image() -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    img = 0.5 + 0.25 * torch.sin(6 * xs) * torch.cos(4 * ys)
    return torch.stack([img, img.flip(0), img.T]).unsqueeze(0)


def test_ssim_identical_is_one_and_decreases_with_noise():
    img = _smooth_image()
    assert ssim(img, img).item() == pytest.approx(1.0, abs=1e-6)
    noise = torch.randn(img.shape, generator=torch.Generator().manual_seed(11))
    scores = [ssim(img, img + sigma * noise).item() for sigma in (0.01, 0.05, 0.1, 0.2)]
    assert all(a > b for a, b in itertools.pairwise(scores)), scores
    assert scores[-1] < 0.9


def test_ssim_matches_per_window_loop():
    g = torch.Generator().manual_seed(12)
    a, b = (torch.rand(1, 1, 7, 9, generator=g, dtype=torch.float64) for _ in range(2))
    size, sigma, c1, c2 = 5, 1.5, 0.01**2, 0.03**2
    coords = torch.arange(size, dtype=torch.float64) - 2
    w = torch.exp(-(coords[:, None] ** 2 + coords[None, :] ** 2) / (2 * sigma**2))
    w = w / w.sum()
    values = []
    for i in range(7 - size + 1):
        for j in range(9 - size + 1):
            x, y = a[0, 0, i : i + size, j : j + size], b[0, 0, i : i + size, j : j + size]
            mx, my = (w * x).sum(), (w * y).sum()
            vx, vy = (w * (x - mx) ** 2).sum(), (w * (y - my) ** 2).sum()
            cov = (w * (x - mx) * (y - my)).sum()
            values.append(((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    expected = float(torch.stack(values).mean())
    assert ssim(a, b, window=size).item() == pytest.approx(expected, rel=1e-9)


def test_ssim_window_shrinks_to_largest_odd_size_for_small_images():
    g = torch.Generator().manual_seed(13)
    a, b = (torch.rand(2, 3, 8, 10, generator=g, dtype=torch.float64) for _ in range(2))
    shrunk = ssim(a, b, window=7)
    assert torch.allclose(ssim(a, b), shrunk, rtol=1e-12)
    assert not torch.allclose(ssim(a, b, window=5), shrunk, rtol=1e-6)
