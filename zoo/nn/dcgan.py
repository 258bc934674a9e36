"""DCGAN-style stacks (Radford et al. 2016) for any shape and rank, and the projection discriminator
head (Miyato & Koyama 2018) that conditions them on a class.

The generator maps a latent (and a label) through a stem to a small, wide map of shape `base`, then
doubles (or, with `stride=4`, quadruples) every side per transposed convolution while halving the
width, ending in `channels` outputs in [-1, 1]. The discriminator mirrors it. Rank 2 is the classic
image GAN (and SpecGAN on spectrograms), rank 1 WaveGAN on raw waveforms.
"""
from __future__ import annotations

import math
from typing import Callable, Literal

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

Norm = Literal["batch", "spectral", "none"]

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
CONV_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
BATCH_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}


def plan(shape: tuple[int, ...], smallest: int = 4) -> tuple[tuple[int, ...], int] | None:
    """(base, doublings) for a stride-2 stack producing `shape`: halve every side while all are even and
    the smallest stays >= `smallest`; None when not even once. 32×32 -> ((4, 4), 3), 64×128 -> ((4, 8), 4),
    28×28 -> ((7, 7), 2)."""
    doublings = 0
    while all(side % 2 == 0 for side in shape) and min(shape) // 2 >= smallest:
        shape, doublings = tuple(side // 2 for side in shape), doublings + 1
    return (shape, doublings) if doublings else None


def padding(kernel: int, stride: int) -> tuple[int, int]:
    """(padding, output_padding) that make a (transposed) conv scale lengths by exactly `stride`
    (kernel 4, stride 2 -> (1, 0), the DCGAN setting; kernel 25, stride 4 -> (11, 1), WaveGAN's)."""
    extra = (kernel - stride) % 2
    return (kernel - stride + extra) // 2, extra


def dcgan_init(module: nn.Module) -> None:
    """N(0, 0.02) weights, as the DCGAN paper prescribes; BatchNorm scales N(1, 0.02). Use with `.apply`."""
    if isinstance(module, (*CONV.values(), *CONV_T.values(), nn.Embedding)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, tuple(BATCH_NORM.values())):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    """z (N×nz), with labels y (N) when `num_classes` -> N×channels×(base·strideᵘᵖˢ) in [-1, 1].

    The stem is a transposed convolution from 1×…×1 (`"conv"`, DCGAN) or a dense layer (`"linear"`,
    WaveGAN) to N×(ngf·2^(ups-1))×base; `ups` stride-`stride` layers follow, the last to `channels`.
    With `batch_norm`, BatchNorm follows every hidden layer and no layer has a bias (DCGAN).
    A label enters as a learned embedding of size nz concatenated to z.
    """

    def __init__(self, nz: int, ngf: int, channels: int, base: tuple[int, ...], ups: int, *, num_classes: int = 0,
                 kernel: int = 4, stride: int = 2, batch_norm: bool = True, stem: Literal["conv", "linear"] = "conv") -> None:
        super().__init__()
        rank, width, bias = len(base), ngf * 2 ** (ups - 1), not batch_norm
        conv_t, pad = CONV_T[rank], padding(kernel, stride)
        self.rank = rank
        self.embed = nn.Embedding(num_classes, nz) if num_classes else None
        nz_in = nz * (2 if num_classes else 1)
        if stem == "conv":
            layers: list[nn.Module] = [conv_t(nz_in, width, base, 1, 0, bias=bias)]  # N×nz_in×1… -> N×width×base
        else:
            layers = [nn.Flatten(1), nn.Linear(nz_in, width * math.prod(base), bias=bias), nn.Unflatten(1, (width, *base))]

        def hidden(w: int) -> list[nn.Module]:
            return ([BATCH_NORM[rank](w)] if batch_norm else []) + [nn.ReLU(True)]

        layers += hidden(width)
        for _ in range(ups - 1):  # each: N×w×s -> N×(w/2)×(s·stride)
            layers += [conv_t(width, width // 2, kernel, stride, *pad, bias=bias), *hidden(width // 2)]
            width //= 2
        layers += [conv_t(width, channels, kernel, stride, *pad, bias=bias), nn.Tanh()]  # N×channels×shape
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], dim=1)  # N×2nz
        return self.net(z.view(*z.shape, *[1] * self.rank))  # N×nz_in×1… -> N×channels×shape


class ProjectionHead(nn.Module):
    """The discriminator's logit from its last features h (N×width×base): a linear read-out over the
    whole map, plus, when conditional, the projection term <embed(y), Σ_positions h> (Miyato & Koyama
    2018), which scores how well the features match the class instead of feeding the label in."""

    def __init__(self, width: int, base: tuple[int, ...], num_classes: int = 0,
                 wrap: Callable[[nn.Module], nn.Module] = lambda m: m) -> None:
        super().__init__()
        self.out = wrap(CONV[len(base)](width, 1, base, 1, 0))  # N×width×base -> N×1×1…
        self.embed = wrap(nn.Embedding(num_classes, width)) if num_classes else None

    def forward(self, h: Tensor, y: Tensor | None = None) -> Tensor:
        logit = self.out(h).flatten()  # N
        if self.embed is not None:
            logit = logit + (self.embed(y) * h.flatten(2).sum(dim=2)).sum(dim=1)
        return logit


class Discriminator(nn.Module):
    """N×channels×shape (and labels) -> N logits: the generator's mirror, `downs` stride-`stride` convs
    with leaky ReLU from `ndf` channels up to ndf·2^(downs-1) at `base`, then a `ProjectionHead`.

    `norm`: BatchNorm after every conv but the first (DCGAN), spectral norm on every layer (hinge
    GANs) or none (WGAN-GP, whose per-sample gradient penalty BatchNorm would break). `between` makes
    a module put after every block but the last (WaveGAN's phase shuffle).
    """

    def __init__(self, ndf: int, channels: int, base: tuple[int, ...], downs: int, *, num_classes: int = 0,
                 kernel: int = 4, stride: int = 2, norm: Norm = "batch", between: Callable[[], nn.Module] | None = None) -> None:
        super().__init__()
        rank, pad = len(base), padding(kernel, stride)[0]
        wrap = spectral_norm if norm == "spectral" else (lambda m: m)
        layers: list[nn.Module] = []
        width_in, width = channels, ndf
        for i in range(downs):  # each: N×w×s -> N×2w×(s/stride); the first: N×channels×shape -> N×ndf×shape/stride
            layers.append(wrap(CONV[rank](width_in, width, kernel, stride, pad, bias=norm != "batch")))
            if norm == "batch" and i > 0:
                layers.append(BATCH_NORM[rank](width))
            layers.append(nn.LeakyReLU(0.2, True))
            if between is not None and i < downs - 1:
                layers.append(between())
            width_in, width = width, width * 2
        self.features = nn.Sequential(*layers)  # N×width_in×base
        self.head = ProjectionHead(width_in, base, num_classes, wrap)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self.head(self.features(x), y)  # N
