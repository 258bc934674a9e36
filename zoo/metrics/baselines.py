"""Real-vs-real baselines (`zoo evaluate --real DATASET`): the floor of every image metric.

The first N train images stand in for a model's samples and are scored against the test split,
through the same metric objects, feature network and protocol as a real evaluation.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, ClassVar

import torch

from zoo.config import DataConfig, EvalConfig, TrainConfig
from zoo.contract import Family, FamilyContext
from zoo.errors import UsageError
from zoo.evaluation import EvalContext, MetricResult, evaluate_model
from zoo.metrics.features import NATIVE_SIZE
from zoo.presets import RunConfig
from zoo.samples import ImageSamples

DEFAULT_METRICS = ["fid", "kid", "precision_recall", "inception_score"]


class RealImages(Family):
    """A stand-in model whose 'samples' are real images in order: each call continues where the last
    stopped, so an evaluation drawing N samples in chunks gets the first N images."""

    modality: ClassVar[str] = "image"

    def __init__(self, images: torch.Tensor, data: DataConfig) -> None:
        super().__init__(None, {}, FamilyContext(Path(os.devnull), data))  # a stand-in writes no assets
        self.register_buffer("images", images)  # uint8 N×C×H×W; in the state dict, so it is the model's state
        self.drawn = 0

    def sample(self, n: int, generator: torch.Generator | None = None) -> ImageSamples:
        if self.drawn + n > len(self.images):
            raise UsageError(f"asked for more than the {len(self.images)} real images there are")
        images = self.images[self.drawn : self.drawn + n]
        self.drawn += n
        return ImageSamples(images.float() / 255)


def real_config(dataset: str, num_samples: int, seed: int, image_size: int | None = None) -> RunConfig:
    """A run config for a dataset alone (no model), at `image_size` or else its native size."""
    from zoo.data import get_spec

    spec = get_spec(dataset)
    if spec.modality != "image":
        raise UsageError(f"--real works for image datasets; {dataset!r} is {spec.modality} (its metrics come from its family's plugin)")
    data = spec.config(dataset=dataset)
    size = image_size or NATIVE_SIZE.get(dataset)
    if size is not None:
        if not any(f.name == "image_size" for f in dataclasses.fields(data)):
            raise UsageError(f"dataset {dataset!r} has no image_size setting; drop --image-size")
        data = dataclasses.replace(data, image_size=size)
    return RunConfig(f"real:{dataset}", "real", None, data, TrainConfig(), EvalConfig(list(DEFAULT_METRICS), num_samples, seed))


def real_baselines(
    dataset: str,
    metrics: list[str] | None = None,
    num_samples: int = 10000,
    seed: int = 0,
    device: torch.device | str = "cpu",
    data_dir: str | os.PathLike[str] | None = None,
    options: dict[str, Any] | None = None,
    image_size: int | None = None,
) -> dict[str, MetricResult]:
    """Score the first `num_samples` train images against the test split with `metrics`, both decoded
    at `image_size` (a run's data.image_size gives that run's floor; default: the native size)."""
    if num_samples < 2:
        raise UsageError(f"--num-samples must be at least 2 for real-vs-real baselines, got {num_samples}")
    if image_size is not None and image_size < 8:
        raise UsageError(f"--image-size must be at least 8, got {image_size}")
    config = real_config(dataset, num_samples, seed, image_size)
    ctx = EvalContext(config, torch.device(device), num_samples, seed, data_dir, options=dict(options or {}))
    train = ctx.raw_split("train")
    if num_samples > len(train):
        raise UsageError(f"--num-samples {num_samples} is more than the {len(train)} train images of {dataset}")
    return evaluate_model(RealImages(train.fields["x"][:num_samples], config.data), ctx, metrics if metrics is not None else list(DEFAULT_METRICS))
