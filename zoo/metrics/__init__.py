"""Metric functions; metric plugins that use them live in zoo.metrics.plugin."""

from __future__ import annotations

from zoo.metrics.frechet import FrechetResult, feature_stats, frechet_distance, frechet_distance_from_stats
from zoo.metrics.image_quality import psnr, ssim
from zoo.metrics.inception_score import inception_score
from zoo.metrics.kid import kernel_inception_distance
from zoo.metrics.manifold import density_coverage, prdc, precision_recall
from zoo.metrics.text import bits_per_token, distinct_n, perplexity

__all__ = [
    "FrechetResult",
    "bits_per_token",
    "density_coverage",
    "distinct_n",
    "feature_stats",
    "frechet_distance",
    "frechet_distance_from_stats",
    "inception_score",
    "kernel_inception_distance",
    "perplexity",
    "prdc",
    "precision_recall",
    "psnr",
    "ssim",
]
