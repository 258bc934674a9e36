"""Moving MNIST (Srivastava et al. 2015), made from the shipped MNIST with the standard generator.

Each digit starts at a uniform position in [0, 1]² of the free range (canvas - digit), moves with
speed `step` (a fraction of that range per frame) in a uniform direction, and reflects at the borders:
the position is advanced first, then clamped to [0, 1] with the crossed velocity component negated
(the original script's order, so frame 0 is already one step along). Pixel offsets are
int(range · position); digits are combined by maximum.

Rendering is batched: placing a digit at (top, left) is D_top · digit · D_leftᵀ with one-hot shift
matrices, one batched matmul for every frame of every sequence (no per-sample Python).

Splits: `train` draws fresh sequences for every batch from the global RNG (which checkpoints save, so
resume is exact) with digits from MNIST's train split; `test` is a fixed set of `test_sequences`
sequences from MNIST's test split, its parameters drawn once from TEST_SEED (cached in memory, a few
hundred kB) and its frames rendered per batch. A batch holds `x` (N×T×1×S×S in [0, 1]), `digits`
(N×D labels) and `direction` (N×D: each digit's initial direction of motion in 8 sectors of 45°), the free
labels zoo.metrics.video_features trains its video network on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo.data.spec import DatasetSpec, ImageDataConfig
from zoo.errors import UsageError

TEST_SEED = 20150201  # the fixed test set's seed (Srivastava et al.'s arXiv month)
DIRECTIONS = 8  # sectors of the motion-direction label


@dataclass
class MovingMNISTConfig(ImageDataConfig):
    """The standard 64×64, two digits of 28×28, 20 frames."""

    image_size: int = 64
    frames: int = 20
    digits: int = 2  # digits per sequence (1 or 2)
    digit_size: int = 28  # digits are resized to this (antialiased bilinear) before they move
    step: float = 0.1  # speed: fraction of the free range (image_size - digit_size) per frame
    test_sequences: int = 10000
    epoch: int = 10000  # sequences per training "epoch" (fresh ones every batch; this only sets len(train))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.digits not in (1, 2):
            raise UsageError(f"data.digits must be 1 or 2, got {self.digits}")
        if not 4 <= self.digit_size < self.image_size:
            raise UsageError(f"data.digit_size must be at least 4 and below data.image_size={self.image_size}, got {self.digit_size}")
        if self.frames < 2 or self.test_sequences < 1 or self.epoch < 1 or not 0 < self.step <= 1:
            raise UsageError("data.frames must be >= 2, data.test_sequences and data.epoch positive, data.step in (0, 1]")


@dataclass
class SmallMovingMNISTConfig(MovingMNISTConfig):
    """The CPU-sized variant: 32×32, one digit of 16×16, 10 frames."""

    image_size: int = 32
    frames: int = 10
    digits: int = 1
    digit_size: int = 16


def trajectories(start: Tensor, velocity: Tensor, frames: int, step: float) -> Tensor:
    """Positions in [0, 1]: start (…×2), velocity (…×2, unit) -> …×frames×2, reflecting at 0 and 1."""
    pos, vel, out = start.clone(), velocity.clone(), []
    for _ in range(frames):  # over time only: every sequence moves at once
        pos = pos + vel * step
        low, high = pos <= 0, pos >= 1
        pos = pos.clamp(0, 1)
        vel = torch.where(low | high, -vel, vel)
        out.append(pos)
    return torch.stack(out, dim=-2)


def render(digits: Tensor, offsets: Tensor, size: int) -> Tensor:
    """Digits N×D×d×d (float) at integer offsets N×D×T×2 (row, column) -> N×T×1×size×size, combined by maximum."""
    n, d, side, _ = digits.shape
    t = offsets.shape[2]
    grid = torch.arange(size, device=digits.device)
    inner = torch.arange(side, device=digits.device)
    # one-hot shifts: rows[n, d, t, Y, i] = (Y == top + i); cols likewise
    rows = (grid.view(1, 1, 1, size, 1) == offsets[..., 0, None, None] + inner.view(1, 1, 1, 1, side)).to(digits.dtype)
    cols = (grid.view(1, 1, 1, size, 1) == offsets[..., 1, None, None] + inner.view(1, 1, 1, 1, side)).to(digits.dtype)
    placed = rows @ digits[:, :, None] @ cols.transpose(-1, -2)  # N×D×T×size×size
    return placed.amax(dim=1).unsqueeze(2)


class MovingMNIST:
    """A split of Moving MNIST (see the module docstring); batched by index like TensorData."""

    def __init__(self, images: Tensor, labels: Tensor, config: MovingMNISTConfig, split: str, params: dict[str, Tensor] | None = None) -> None:
        self.images, self.labels, self.config, self.split = images, labels, config, split  # uint8 M×d×d digits, int64 M
        self.info: dict[str, Any] = {"channels": 1, "image_size": config.image_size, "frames": config.frames, "num_classes": 0,
                                     "digit_classes": 10, "directions": DIRECTIONS, "digits": config.digits}
        self.params = params if params is not None or split == "train" else self.draw(config.test_sequences, torch.Generator().manual_seed(TEST_SEED))

    def __len__(self) -> int:
        return self.config.epoch if self.split == "train" else self.config.test_sequences

    def draw(self, n: int, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Parameters of n sequences: digit indices N×D, start positions N×D×2 and unit velocities N×D×2."""
        device = self.images.device
        d = self.config.digits
        index = torch.randint(len(self.images), (n, d), generator=generator, device=device)
        start = torch.rand((n, d, 2), generator=generator, device=device)
        theta = torch.rand((n, d), generator=generator, device=device) * 2 * math.pi
        return {"index": index, "start": start, "velocity": torch.stack([torch.sin(theta), torch.cos(theta)], -1)}

    def make(self, params: dict[str, Tensor]) -> dict[str, Tensor]:
        """The batch of sequences these parameters describe."""
        cfg = self.config
        free = cfg.image_size - cfg.digit_size
        pos = trajectories(params["start"], params["velocity"], cfg.frames, cfg.step)  # N×D×T×2
        offsets = (pos * free).long()  # int() of a non-negative float: truncation, as the original
        x = render(self.images[params["index"]].float() / 255, offsets, cfg.image_size)
        theta = torch.atan2(params["velocity"][..., 0], params["velocity"][..., 1]) % (2 * math.pi)  # N×D
        direction = (theta / (2 * math.pi / DIRECTIONS)).long().clamp_max(DIRECTIONS - 1)
        return {"x": x, "digits": self.labels[params["index"]], "direction": direction}

    def batch(self, idx: Tensor) -> dict[str, Tensor]:
        if self.split == "train":
            return self.make(self.draw(len(idx)))
        idx = idx.to(self.params["index"].device)
        return self.make({k: v[idx] for k, v in self.params.items()})

    def to(self, device: torch.device) -> "MovingMNIST":
        params = None if self.params is None else {k: v.to(device) for k, v in self.params.items()}
        return MovingMNIST(self.images.to(device), self.labels.to(device), self.config, self.split, params)


def load(folder: Path, split: str, config: MovingMNISTConfig) -> MovingMNIST:
    """MNIST's `split` (train digits for train, test digits for test) as Moving MNIST sequences."""
    from zoo.data.idx import load_idx_images

    if split not in ("train", "test"):
        raise UsageError(f"moving-mnist has the splits train and test, not {split!r}")
    digits = load_idx_images(folder, split, ImageDataConfig(image_size=config.digit_size))
    return MovingMNIST(digits.fields["x"][:, 0], digits.fields["y"], config, split)


def _spec(name: str, description: str, config: type[MovingMNISTConfig]) -> DatasetSpec:
    from zoo.data.builtin import MNIST

    return DatasetSpec(name=name, modality="video", description=description, files=MNIST.files, loader="zoo.data.moving_mnist:load",
                       config=config, subdirs=MNIST.subdirs, urls=MNIST.urls, license=MNIST.license)


MOVING_MNIST = _spec("moving-mnist", "Moving MNIST: two 28×28 digits bouncing on 64×64, 20 frames (train drawn fresh, 10k fixed test sequences)",
                     MovingMNISTConfig)
MOVING_MNIST_SMALL = _spec("moving-mnist-small", "Moving MNIST for CPUs: one 16×16 digit (data.digits=2 for two) on 32×32, 10 frames",
                           SmallMovingMNISTConfig)
