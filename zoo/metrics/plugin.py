"""Metric plugins: the shared suite, registered as "module:attr" strings so listing stays torch-free.

Each metric is an instance of a `zoo.evaluation.Metric` subclass: `name`, `version`, `modalities`,
`higher_is_better` (the direction `zoo evaluate --check` uses) and `compute(model, ctx) -> MetricResult`.
"""
from __future__ import annotations

from typing import Any, Callable

from zoo.hookspecs import hookimpl

METRICS = {
    "fid": "zoo.metrics.image:fid",
    "kid": "zoo.metrics.image:kid",
    "precision_recall": "zoo.metrics.image:precision_recall",
    "inception_score": "zoo.metrics.image:inception_score_metric",
    "label_accuracy": "zoo.metrics.image:label_accuracy",
    "psnr": "zoo.metrics.image:psnr_metric",
    "ssim": "zoo.metrics.image:ssim_metric",
    "sample_confidence": "zoo.metrics.image:sample_confidence",
    "inpainting": "zoo.metrics.restoration:inpainting",
    "translation": "zoo.metrics.translation:translation",
    "distinct_n": "zoo.metrics.diversity:distinct",
    "nll": "zoo.metrics.likelihood:nll",
    "prediction": "zoo.metrics.video:prediction",
    "clip_restoration": "zoo.metrics.video:clip_restoration",
    "clip_quality": "zoo.metrics.video:clip_quality",
    "fvd": "zoo.metrics.video_features:fvd",
}


@hookimpl
def register_metrics(register: Callable[[str, Any], None]) -> None:
    for name, target in METRICS.items():
        register(name, target)
