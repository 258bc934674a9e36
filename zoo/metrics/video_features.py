"""A video feature network trained on Moving MNIST, for a Fréchet video distance that means something at 32
pixels (I3D's Kinetics weights are neither reachable offline nor in domain for moving digits).

The generator labels every clip for free: its digits' identities and their initial directions of motion
(eight 45° sectors; zoo.data.moving_mnist). A small 3-D CNN learns both from fresh training clips; its 128
penultimate features, standardised on training clips, are what `fvd` compares (samples vs the fixed test
set), through the same Fréchet distance as FID (zoo.metrics.frechet). With two digits per clip both heads
are trained towards the set of labels (soft targets, 1/D each), so no digit has to be "the first".

The network is trained once per (generator settings, MNIST data, recipe) on the CPU and cached with a card
(zoo.metrics.networks) holding its test accuracies: a clip counts as right when every true label is among
the head's top D classes (for one digit: the arg-max is the label; chance 1/10 and 1/8).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.contract import Family
from zoo.data.moving_mnist import DIRECTIONS, MovingMNIST, MovingMNISTConfig
from zoo.evaluation import CacheKey, EvalContext, Metric, MetricResult, MetricUnavailable
from zoo.errors import UsageError
from zoo.metrics.features import data_checksum

DIGIT_CLASSES = 10
FEATURES = 128
GENERATOR_FIELDS = ("dataset", "image_size", "frames", "digits", "digit_size", "step", "test_sequences")  # what makes the clips


@dataclass(frozen=True)
class VideoRecipe:
    """How the video network is trained. Part of its cache key: change any field and it retrains.
    The default is sized for moving-mnist-small (10 frames of 32×32) on a 2-core CPU."""

    steps: int = 500
    batch_size: int = 32
    width: int = 16  # channels of the first conv3d (then 2× and 4×)
    lr: float = 3e-3  # Adam, linear warm-up over the first 5% of steps, then cosine decay to 0
    seed: int = 0
    test_clips: int = 2000  # first test clips the card's accuracies are measured on
    version: int = 1  # bump when the architecture or training loop changes


RECIPE = VideoRecipe()  # what `fvd` trains with (read at call time)


class VideoNet(nn.Module):
    """conv3d 3³ (w) → max-pool 1×2×2 → conv3d 3³ (2w) → max-pool 2×2×2 → conv3d 3³ (4w) → mean over time and
    each quarter of the frame (16w values: a plain global mean would leave the 128 features in a 4w-dimensional
    subspace, a singular covariance for the Fréchet distance) → FC 128 (the features) → heads for the digits (10)
    and the directions (8). Input N×T×1×S×S in [0, 1]."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        chans = [1, width, 2 * width, 4 * width]
        self.convs = nn.ModuleList([nn.Conv3d(a, b, 3, padding=1, bias=False) for a, b in zip(chans, chans[1:])])
        self.norms = nn.ModuleList([nn.BatchNorm3d(c) for c in chans[1:]])
        self.fc = nn.Linear(4 * chans[-1], FEATURES)
        self.digit, self.direction = nn.Linear(FEATURES, DIGIT_CLASSES), nn.Linear(FEATURES, DIRECTIONS)
        # per-feature mean and std on training clips, set after training: features come out standardised
        self.register_buffer("feature_mean", torch.zeros(FEATURES))
        self.register_buffer("feature_std", torch.ones(FEATURES))

    def forward(self, clips: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(standardised features N×128, digit logits N×10, direction logits N×8)."""
        h = clips.float().transpose(1, 2) * 2 - 1  # N×1×T×S×S
        pools = [(1, 2, 2), (2, 2, 2), None]
        for conv, norm, pool in zip(self.convs, self.norms, pools):
            h = F.relu(norm(conv(h)))
            if pool is not None:
                h = F.max_pool3d(h, pool, ceil_mode=True)
        h = self.fc(F.adaptive_avg_pool3d(h, (1, 2, 2)).flatten(1))
        r = F.relu(h)
        return (h - self.feature_mean) / self.feature_std, self.digit(r), self.direction(r)


def soft_targets(labels: Tensor, classes: int) -> Tensor:
    """N×D labels -> N×classes distributions putting 1/D on each digit's label (a repeated label gets 2/D)."""
    return F.one_hot(labels, classes).float().mean(1)


def all_in_top(logits: Tensor, labels: Tensor) -> Tensor:
    """Per clip (bool N): every one of its D labels is among the logits' top D classes."""
    top = logits.topk(labels.shape[1], dim=1).indices  # N×D
    return (labels[:, :, None] == top[:, None, :]).any(2).all(1)


@torch.enable_grad()  # evaluation runs under no_grad; the first fvd trains this network
def train_video_net(train: MovingMNIST, recipe: VideoRecipe, progress: str | None = None) -> VideoNet:
    """Train on fresh clips of a Moving MNIST train split, on the CPU, deterministically for a recipe
    (clips drawn from the recipe's seed; the global RNG is left as it was)."""
    from zoo.progress import Progress

    warmup = max(1, recipe.steps // 20)
    with torch.random.fork_rng(devices=[]), Progress(recipe.steps, progress or "", "steps", disable=progress is None) as bar:
        torch.manual_seed(recipe.seed)
        net = VideoNet(recipe.width)
        optimizer = torch.optim.Adam(net.parameters(), lr=recipe.lr)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * s / recipe.steps)))
        net.train()
        for _ in range(recipe.steps):
            batch = train.batch(torch.arange(recipe.batch_size))
            _, digit, direction = net(batch["x"])
            loss = F.cross_entropy(digit, soft_targets(batch["digits"], DIGIT_CLASSES)) + \
                F.cross_entropy(direction, soft_targets(batch["direction"], DIRECTIONS))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.update()
        net.eval()
        with torch.no_grad():
            feats = torch.cat([net(train.batch(torch.arange(256))["x"])[0] for _ in range(4)])
    net.feature_mean.copy_(feats.mean(0))
    net.feature_std.copy_(feats.std(0).clamp_min(1e-6))
    return net


@torch.no_grad()
def test_accuracy(net: VideoNet, test: MovingMNIST, clips: int, batch_size: int = 250) -> dict[str, Any]:
    """The card's numbers on the first `clips` test clips: digit and direction accuracy (all labels in the top D)."""
    device = next(net.parameters()).device
    count = min(clips, len(test))
    digit_hits = direction_hits = 0
    for start in range(0, count, batch_size):
        batch = test.batch(torch.arange(start, min(start + batch_size, count)))
        _, digit, direction = net(batch["x"].to(device))
        digit_hits += int(all_in_top(digit.cpu(), batch["digits"]).sum())
        direction_hits += int(all_in_top(direction.cpu(), batch["direction"]).sum())
    return {"test_accuracy": digit_hits / count, "test_direction_accuracy": direction_hits / count, "test_clips": count}


@dataclass
class VideoFeatures:
    """The video network for one generator setting, loaded from (or trained into) the cache, with its card."""

    net: VideoNet
    card: dict[str, Any]
    weights: Path
    shape: tuple[int, ...]  # T×C×H×W of the clips it was trained on

    @property
    def name(self) -> str:
        return f"video:{self.card['data']['dataset']}"

    @property
    def checksum(self) -> str:
        return self.card["weights_sha256"][:16]

    @torch.no_grad()
    def __call__(self, clips: Tensor, batch_size: int = 250) -> Tensor:
        """Standardised features (N×128, on the CPU) of clips N×T×C×H×W in [0, 1] shaped like the training clips."""
        if tuple(clips.shape[1:]) != self.shape:
            raise UsageError(f"the {self.name} video network reads clips of T×C×H×W = {self.shape}, got {tuple(clips.shape[1:])}")
        device = next(self.net.parameters()).device
        return torch.cat([self.net(x.to(device))[0].cpu() for x in clips.split(batch_size)])


def generator_settings(data: MovingMNISTConfig) -> dict[str, Any]:
    return {k: getattr(data, k) for k in GENERATOR_FIELDS}


def video_features(data: MovingMNISTConfig, device: torch.device | str = "cpu", data_dir: str | os.PathLike[str] | None = None,
                   recipe: VideoRecipe | None = None, quiet: bool = False) -> VideoFeatures:
    """The video network for clips made by `data`'s generator settings: from the cache, else trained once on the
    CPU (a minute or two for moving-mnist-small at the default recipe, with progress on stderr) and cached."""
    from zoo.data import load_dataset
    from zoo.metrics.networks import cached_network

    recipe = recipe or RECIPE
    settings = generator_settings(data)
    train = load_dataset(data, "train", data_dir)
    checksum = data_checksum(train.images, train.labels)  # the digits the clips are made of
    blob = json.dumps({"data": settings, "digits_sha256": checksum, "recipe": dataclasses.asdict(recipe)}, sort_keys=True)
    key = hashlib.sha256(blob.encode()).hexdigest()[:16]
    title = f"{data.dataset} video feature network"

    def describe(net: VideoNet) -> dict[str, Any]:
        test = load_dataset(data, "test", data_dir)
        return {"data": settings, "digits_sha256": checksum, "recipe": dataclasses.asdict(recipe),
                **test_accuracy(net, test, recipe.test_clips),
                "chance": {"test_accuracy": 1 / DIGIT_CLASSES, "test_direction_accuracy": 1 / DIRECTIONS} if data.digits == 1 else None,
                "labels": "digits' identities (10) and initial directions of motion (8 sectors of 45°); "
                          "right when every label of the clip is in the head's top D",
                "architecture": f"conv3d({recipe.width})-bn-relu-pool1x2x2, conv3d({2 * recipe.width})-bn-relu-pool2, "
                                f"conv3d({4 * recipe.width})-bn-relu, mean per frame quarter, fc128 (features, standardised), relu, fc10 + fc8"}

    cached = cached_network(f"video-{data.dataset}-{key}", build=lambda: VideoNet(recipe.width),
                            train=lambda: train_video_net(train, recipe, None if quiet else f"training the {title}"),
                            describe=describe, title=title, device=device, quiet=quiet)
    return VideoFeatures(cached.net, cached.card, cached.weights, (data.frames, 1, data.image_size, data.image_size))


class FrechetVideoDistance(Metric):
    """`fvd`: Fréchet distance (zoo.metrics.frechet, as FID) between the video network's features of the samples and
    of as many fixed test clips. The network is trained on Moving MNIST's free labels with the run's generator
    settings; its checksum and card's test accuracies are in the protocol. For a predicting family the samples are
    its continuations of test clips (the given frames included), which the protocol says."""

    name = "fvd"
    version = "1"
    modalities = ("video",)
    higher_is_better = False

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        from zoo.metrics.frechet import feature_stats, frechet_distance_from_stats

        data = ctx.config.data
        if not isinstance(data, MovingMNISTConfig):
            raise MetricUnavailable("fvd's video network learns Moving MNIST's free labels (digits, directions); "
                                    "it scores moving-mnist and moving-mnist-small runs only")
        net = ctx.cached(CacheKey("video-features", data.dataset), lambda: video_features(data, ctx.device, ctx.data_dir))
        samples = ctx.samples(model)
        fake = samples.clips.float().clamp(0, 1)
        test = ctx.raw_split("test")
        count = min(len(fake), len(test))

        def real_features() -> Tensor:
            return torch.cat([net(test.batch(torch.arange(s, min(s + 250, count)))["x"]) for s in range(0, count, 250)])

        f_real = ctx.cached(CacheKey("features", net.name, count), real_features)
        f_fake = ctx.cached(ctx.model_key(model, "features", net.name, len(fake)), lambda: net(fake))
        result = frechet_distance_from_stats(*feature_stats(f_real), *feature_stats(f_fake))
        if result.regularized:  # the reference has as many clips as the samples: their number is the cause, or the samples' sameness
            cause = (f"only {count} clips were scored, no more than the {FEATURES} feature dimensions; use more (--num-samples)" if count <= FEATURES
                     else "the clips span fewer directions than the features have (many identical or blank clips?)")
            warnings.warn(f"fvd: a feature covariance was singular and was regularised: {cause}", RuntimeWarning, stacklevel=2)
        k, mode = samples.meta.get("context_frames"), samples.meta.get("mode")
        conditioning = {"predict-test": f"first {k} frames of random test clips given (continuations)",
                        "predict": f"first {k} frames of {samples.meta.get('context')} given"}.get(mode, "none (unconditional samples)")
        proto = {"reference": f"{data.dataset}:test (first {count} clips)", "clips": len(fake), "frames": fake.shape[1],
                 "size": list(fake.shape[-3:]), "conditioning": conditioning, "seed": ctx.seed, "features": net.name,
                 "feature_checksum": net.checksum, "feature_test_accuracy": net.card["test_accuracy"],
                 "feature_direction_accuracy": net.card["test_direction_accuracy"], "regularized": bool(result.regularized)}
        return MetricResult({"fvd": result.value}, proto)


fvd = FrechetVideoDistance()
