"""Feature networks for the image metrics: a small CNN per dataset (the default) or Inception-v3.

FID, KID, precision/recall and IS are only as good as the features they are computed on. ImageNet's
Inception-v3 knows nothing about handwritten digits, so each image dataset gets its own classifier,
trained deterministically on its train split and cached (zoo.metrics.networks, hash-checked on load;
MNIST's and Fashion-MNIST's ship with zoo in that layout, in zoo/weights/) as

    <cache>/features/<dataset>-<key>.safetensors   weights
    <cache>/features/<dataset>-<key>.json          data checksum, recipe, test accuracy, weights sha256

where `key` is a checksum of the decoded training data and the training recipe, so a different copy of
the data or a different recipe can never be mistaken for this one. Penultimate activations (the 128-d
FC layer before its ReLU, standardised per feature on the train split) are the features; softmax of
the logits gives IS its class probabilities.

Images are compared at the network's native resolution: generated images of another size (32×32) are
resized to 28×28 with antialiased bilinear interpolation before feature extraction.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.config import DataConfig, suggest
from zoo.data.spec import ImageDataConfig, file_digest
from zoo.errors import UsageError, ZooError
from zoo.metrics.networks import cached_network

# Datasets that have a domain feature network, with their native image size.
NATIVE_SIZE = {"mnist": 28, "fashion-mnist": 28, "printed-digits": 28}
BACKENDS = ("domain", "inception")
OPTION_KEYS = ("features", "features.weights", "inpainting.mask", "translation.images")


@dataclass(frozen=True)
class Recipe:
    """How a feature network is trained. Part of its cache key: change any field and it retrains."""

    epochs: int = 4
    batch_size: int = 128
    lr: float = 2e-3  # Adam, linear warm-up over the first 5% of steps, then cosine decay to 0
    seed: int = 0
    max_steps: int | None = None  # a smaller budget (tests); None trains every epoch
    version: int = 2  # bump when the architecture or training loop changes


class FeatureNet(nn.Module):
    """conv5×5/2 (32) → conv3×3/2 (64) → FC 128 (the features) → FC classes. Input: N×C×S×S in [0, 1]."""

    def __init__(self, channels: int = 1, num_classes: int = 10, size: int = 28) -> None:
        super().__init__()
        self.size = size
        self.conv1 = nn.Conv2d(channels, 32, 5, stride=2, padding=2, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        side = (size + 3) // 4  # 28 -> 14 -> 7
        self.fc = nn.Linear(64 * side * side, 128)
        self.head = nn.Linear(128, num_classes)
        # Per-feature mean and std on the train split, set after training: features come out
        # standardised, so KID's polynomial kernel (x·y/D + 1)³ sees the scale it was designed for.
        self.register_buffer("feature_mean", torch.zeros(128))
        self.register_buffer("feature_std", torch.ones(128))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(standardised features N×128, logits N×classes)."""
        h = F.relu(self.bn1(self.conv1(x * 2 - 1)))  # N×32×14×14
        h = F.relu(self.bn2(self.conv2(h)))  # N×64×7×7
        h = self.fc(h.flatten(1))  # N×128, the features before standardising
        return (h - self.feature_mean) / self.feature_std, self.head(F.relu(h))


def data_checksum(images: Tensor, labels: Tensor) -> str:
    """sha256 of the decoded uint8 images and int64 labels: the data's identity, however it was packaged."""
    h = hashlib.sha256()
    h.update(images.contiguous().numpy().tobytes())
    h.update(labels.contiguous().numpy().tobytes())
    return h.hexdigest()


def network_key(checksum: str, recipe: Recipe) -> str:
    """The cache key of a network trained on data `checksum` by `recipe`: a change to either retrains it."""
    return hashlib.sha256(f"{checksum}:{json.dumps(dataclasses.asdict(recipe), sort_keys=True)}".encode()).hexdigest()[:16]


@torch.enable_grad()  # evaluation runs under no_grad; the first evaluation trains this network
def train_feature_net(images: Tensor, labels: Tensor, recipe: Recipe = Recipe(), progress: str | None = None) -> FeatureNet:
    """Train a FeatureNet on uint8 N×C×S×S images, on the CPU, deterministically for a recipe.
    `progress` names the wait on stderr (zoo.progress): minutes on a CPU for MNIST."""
    from zoo.progress import Progress

    n, channels, size = images.shape[0], images.shape[1], images.shape[-1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        net = FeatureNet(channels, int(labels.max()) + 1, size)
    gen = torch.Generator().manual_seed(recipe.seed)
    per_epoch = n // recipe.batch_size
    total = per_epoch * recipe.epochs if recipe.max_steps is None else min(recipe.max_steps, per_epoch * recipe.epochs)
    warmup = max(1, total // 20)
    optimizer = torch.optim.Adam(net.parameters(), lr=recipe.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * s / total)))
    net.train()
    step = 0
    with Progress(total, progress or "", "steps", disable=progress is None) as bar:
        while step < total:
            order = torch.randperm(n, generator=gen)
            for i in range(min(per_epoch, total - step)):
                idx = order[i * recipe.batch_size : (i + 1) * recipe.batch_size]
                _, logits = net(images[idx].float().div_(255))
                loss = F.cross_entropy(logits, labels[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                step += 1
                bar.update()
    net.eval()
    with torch.no_grad():
        feats = torch.cat([net(x.float().div_(255))[0] for x in images.split(1000)])
    net.feature_mean.copy_(feats.mean(0))
    net.feature_std.copy_(feats.std(0).clamp_min(1e-6))
    return net


@torch.no_grad()
def accuracy(net: FeatureNet, images: Tensor, labels: Tensor, batch_size: int = 1000) -> float:
    """Share of uint8 images classified as their label."""
    device = next(net.parameters()).device
    hits = sum(
        int((net(x.to(device).float().div_(255))[1].argmax(1) == y.to(device)).sum())
        for x, y in zip(images.split(batch_size), labels.split(batch_size))
    )
    return hits / len(labels)


@dataclass
class DomainFeatures:
    """A dataset's feature network, loaded from (or trained into) the cache, with its card."""

    dataset: str
    net: FeatureNet
    card: dict[str, Any]  # the JSON beside the weights
    weights: Path  # <cache>/features/<dataset>-<key>.safetensors

    @property
    def name(self) -> str:
        return f"domain:{self.dataset}"

    @property
    def checksum(self) -> str:
        return self.card["weights_sha256"][:16]

    @property
    def size(self) -> int:
        return self.net.size

    @torch.no_grad()
    def __call__(self, images: Tensor, batch_size: int = 1000) -> tuple[Tensor, Tensor]:
        """(features N×128, logits N×classes) of N×C×H×W images (floats in [0, 1] or uint8), at the native size."""
        device = next(self.net.parameters()).device
        out = [self.net(resize(unit(x.to(device)), self.size)) for x in images.split(batch_size)]
        return torch.cat([f for f, _ in out]).cpu(), torch.cat([l for _, l in out]).cpu()


def unit(images: Tensor) -> Tensor:
    """Float images in [0, 1], from uint8 or float."""
    return images.float().div_(255) if images.dtype == torch.uint8 else images.float()


def resize(images: Tensor, size: int) -> Tensor:
    """Antialiased bilinear resize of N×C×H×W images to size×size (no-op at that size)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp_(0, 1)


def native_split(dataset: str | DataConfig, split: str, data_dir: str | os.PathLike[str] | None = None) -> Any:
    """A split of an image dataset at its native size (the feature network's), decoded into tensors.
    Your own images (a DataConfig of zoo.data.own) come at the run's size, labelled by their class folders."""
    from zoo.data import load_dataset

    if isinstance(dataset, DataConfig):
        data = load_dataset(dataset, split, data_dir)
        if "y" not in data.fields:
            from zoo.evaluation import MetricUnavailable

            raise MetricUnavailable("an unlabelled image folder has no domain feature network (one is trained on class subfolders); "
                                    "put the images in class folders, or use --features inception --set features.weights=PATH")
        return data
    if dataset not in NATIVE_SIZE:
        raise UsageError(
            f"no domain feature network for dataset {dataset!r} (there are for {', '.join(NATIVE_SIZE)}); "
            "use --features inception --set features.weights=PATH"
        )
    return load_dataset(ImageDataConfig(dataset=dataset, image_size=NATIVE_SIZE[dataset]), split, data_dir)


def domain_features(
    dataset: str | DataConfig,
    device: torch.device | str = "cpu",
    data_dir: str | os.PathLike[str] | None = None,
    recipe: Recipe = Recipe(),
    quiet: bool = False,
) -> DomainFeatures:
    """The dataset's feature network: loaded from the cache or the copy zoo ships (MNIST, Fashion-MNIST),
    else trained once (CPU, one to four minutes, with progress on stderr) and cached.
    For your own labelled images (`dataset` a DataConfig) it is trained on the folder's training split,
    keyed by those tensors' checksum like any other."""
    train = native_split(dataset, "train", data_dir)
    name = dataset if isinstance(dataset, str) else dataset.dataset
    images, labels = train.fields["x"], train.fields["y"]
    if not isinstance(dataset, str):  # a small folder: batches no larger than its training split
        recipe = dataclasses.replace(recipe, batch_size=min(recipe.batch_size, len(images)))
    checksum = data_checksum(images, labels)
    key = network_key(checksum, recipe)

    def describe(net: FeatureNet) -> dict[str, Any]:
        test = native_split(dataset, "test", data_dir)
        return {
            "dataset": name,
            "data_sha256": checksum,
            "recipe": dataclasses.asdict(recipe),
            "architecture": "conv5x5/2(32)-bn-relu, conv3x3/2(64)-bn-relu, fc128 (features, standardised), relu, fc",
            "test_accuracy": accuracy(net, test.fields["x"], test.fields["y"]),
        }

    cached = cached_network(
        f"{name}-{key}",
        build=lambda: FeatureNet(images.shape[1], int(labels.max()) + 1, images.shape[-1]),
        train=lambda: train_feature_net(images, labels, recipe, None if quiet else f"training the {name} feature network"),
        describe=describe,
        title=f"{name} feature network",
        device=device,
        quiet=quiet,
    )
    return DomainFeatures(name, cached.net, cached.card, cached.weights)


@dataclass
class InceptionFeatures:
    """torchvision's Inception-v3 from a local weights file: pool3 (2048-d) features and ImageNet logits."""

    net: nn.Module
    checksum: str
    name: str = "inception-v3"
    size: int = 299

    @torch.no_grad()
    def __call__(self, images: Tensor, batch_size: int = 100) -> tuple[Tensor, Tensor]:
        device = next(self.net.parameters()).device
        pooled: list[Tensor] = []
        hook = self.net.avgpool.register_forward_hook(lambda _m, _i, out: pooled.append(out.flatten(1).cpu()))
        try:
            logits = []
            for x in images.split(batch_size):
                x = unit(x.to(device))
                x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x  # grey -> 3 channels
                x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
                logits.append(self.net(x * 2 - 1).cpu())  # [-1, 1]: what torchvision's transform_input yields
        finally:
            hook.remove()
        return torch.cat(pooled), torch.cat(logits)


def inception_features(weights: str | os.PathLike[str] | None, device: torch.device | str = "cpu") -> InceptionFeatures:
    """Inception-v3 with the user's torchvision weights (a .safetensors file or a weights-only torch file)."""
    path = inception_weights(weights)
    from torchvision.models import inception_v3

    net = inception_v3(weights=None, aux_logits=True, init_weights=False)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    except Exception as err:  # a wrong or damaged file raises many types; all mean the same to the user
        raise ZooError(f"cannot load Inception-v3 weights from {path}: {str(err).splitlines()[0][:160]}", hint="pass torchvision's inception_v3 state dict") from err
    return InceptionFeatures(net.eval().to(device), file_digest(path)[:16])


def check_options(options: dict[str, Any]) -> None:
    """Refuse unknown metric options and bad values before any work is done."""
    for key in options:
        if key not in OPTION_KEYS:
            raise suggest(key, list(OPTION_KEYS), "evaluation option")
    backend = options.get("features", "domain")
    if backend not in BACKENDS:
        raise UsageError(f"--features must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "inception":
        inception_weights(options.get("features.weights"))
    elif "features.weights" in options:
        raise UsageError("features.weights is for --features inception; the domain feature networks are trained and cached automatically")


def inception_weights(weights: Any) -> Path:
    """The Inception-v3 weights file the user named; a missing one is a usage error (nothing is downloaded)."""
    if not weights:
        raise UsageError(
            "--features inception needs torchvision's Inception-v3 weights, which cannot be downloaded here; "
            "pass a local copy with --set features.weights=PATH (e.g. inception_v3_google-0cc3c7bd.pth)"
        )
    path = Path(str(weights)).expanduser()
    if not path.is_file():
        raise UsageError(f"Inception-v3 weights not found at {path}; pass an existing file with --set features.weights=PATH")
    return path
