"""A domain classifier: P(target domain) per image, to ask whether a translation reached its target.

printed2mnist's outputs should look handwritten. A small CNN trained to tell the two domains' training
sets apart (printed-digits vs mnist, or any two image datasets or folders) calls each output source or
target. It is zoo.metrics.features' FeatureNet with two classes (0: source, 1: target), trained by the
same deterministic loop on a shorter recipe (the task is easy), and cached like the feature networks
(zoo.metrics.networks) under a key of the training data's checksum and the recipe; its card records
its accuracy on the two test splits. Both sets are balanced: the larger domain is cut to the smaller's
size by a seeded choice, so chance is 50% and the accuracy is the mean of the per-domain accuracies.
"""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo.metrics.features import FeatureNet, Recipe, accuracy, data_checksum, network_key, resize, train_feature_net, unit
from zoo.metrics.networks import cached_network

RECIPE = Recipe(epochs=1, max_steps=300)
SIZE = 28  # the side images are judged at (both MNIST-like domains' native size)


@dataclass
class DomainClassifier:
    """A trained source-vs-target network with its card (test accuracy, recipe, data checksum)."""

    source: str
    target: str
    net: FeatureNet
    card: dict[str, Any]
    weights: Path

    @torch.no_grad()
    def __call__(self, images: Tensor, batch_size: int = 1000) -> Tensor:
        """P(target domain) (float N, on the CPU) of N×C×H×W images, floats in [0, 1] or uint8, of any size."""
        device = next(self.net.parameters()).device
        channels = self.net.conv1.in_channels
        out = [self.net(resize(widen(unit(x.to(device)), channels), self.net.size))[1].softmax(1)[:, 1] for x in images.split(batch_size)]
        return torch.cat(out).cpu()


def domain_classifier(source: str, target: str, device: torch.device | str = "cpu", data_dir: str | os.PathLike[str] | None = None,
                      recipe: Recipe = RECIPE, size: int = SIZE, quiet: bool = False) -> DomainClassifier:
    """The classifier of `source` vs `target` (dataset names or image folders): loaded from the cache, or
    trained once on their balanced training splits (CPU, about a minute) and cached with its card."""
    images, labels = balanced(source, target, "train", size, recipe.seed, data_dir)
    checksum = data_checksum(images, labels)

    def describe(net: FeatureNet) -> dict[str, Any]:
        test_images, test_labels = balanced(source, target, "test", size, recipe.seed, data_dir)
        return {"source": source, "target": target, "classes": ["source", "target"], "data_sha256": checksum, "recipe": asdict(recipe),
                "train_images": len(labels), "test_images": len(test_labels),
                "architecture": "FeatureNet (zoo.metrics.features) with 2 classes",
                "test_accuracy": accuracy(net, test_images, test_labels)}

    title = f"{source} vs {target} domain classifier"
    cached = cached_network(
        f"domains-{slug(source)}-{slug(target)}-{network_key(checksum, recipe)}",
        build=lambda: FeatureNet(images.shape[1], 2, size),
        train=lambda: train_feature_net(images, labels, recipe, progress=None if quiet else f"training the {title}"),
        describe=describe, title=title, device=device, quiet=quiet,
    )
    return DomainClassifier(source, target, cached.net, cached.card, cached.weights)


def balanced(source: str, target: str, split: str, size: int, seed: int, data_dir: str | os.PathLike[str] | None) -> tuple[Tensor, Tensor]:
    """(uint8 images 2n×C×size×size, labels 2n: 0 source, 1 target) with n images of each domain, the
    larger domain's chosen by `seed`; a grey domain is widened to the other's 3 channels."""
    from zoo.data.unpaired import load_domain

    domains = [load_domain(name, split, size, data_dir=data_dir, side=side).fields["x"] for name, side in ((source, "source"), (target, "target"))]
    n = min(len(x) for x in domains)
    gen = torch.Generator().manual_seed(seed)
    picked = [x[torch.randperm(len(x), generator=gen)[:n].sort().values] if len(x) > n else x[:] for x in domains]
    channels = max(x.shape[1] for x in picked)
    images = torch.cat([widen(x, channels) for x in picked]).contiguous()
    return images, torch.arange(2).repeat_interleave(n)


def widen(images: Tensor, channels: int) -> Tensor:
    """Grey images repeated to `channels` (3), others as they are."""
    return images.expand(-1, channels, -1, -1) if images.shape[1] == 1 < channels else images


def slug(name: str) -> str:
    """A domain's name as a file-name part: a dataset's name, or a folder's last part."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(name).name or name)
