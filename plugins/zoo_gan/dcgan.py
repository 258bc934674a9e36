"""DCGAN (Radford et al. 2016) generator and discriminator, for 32×32 or 64×64 images.

At 32×32 with ngf=64 the generator is the classic 100→256→128→64→C stack of transposed convs; each
doubling of the image size adds one layer. Class conditioning: the generator takes a learned label
embedding beside z; the discriminator adds a projection term (Miyato & Koyama 2018).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm


def num_doublings(image_size: int) -> int:
    """Stride-2 layers between the 4×4 base and the image: 3 at 32×32, 4 at 64×64."""
    if image_size not in (32, 64):
        raise ValueError(f"DCGAN supports image sizes 32 and 64, not {image_size}")
    return int(math.log2(image_size)) - 2


def stack_shape(image_size: int | tuple[int, int], base: tuple[int, int]) -> int:
    """Stride-2 layers between the base and the output; a square int size must be 32 or 64,
    a (height, width) size (SpecGAN's spectrograms) is `base` doubled that many times."""
    if isinstance(image_size, int):
        return num_doublings(image_size)
    return int(math.log2(image_size[0] // base[0]))


class Generator(nn.Module):
    def __init__(self, nz: int, ngf: int, channels: int, image_size: int | tuple[int, int], num_classes: int = 0, base: tuple[int, int] = (4, 4)) -> None:
        super().__init__()
        ups = stack_shape(image_size, base)
        width = ngf * 2 ** (ups - 1)
        self.embed = nn.Embedding(num_classes, nz) if num_classes else None
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(nz * (2 if num_classes else 1), width, base, 1, 0, bias=False),  # N×width×base
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(ups - 1):  # each: N×w×s×s -> N×(w/2)×2s×2s
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]  # N×C×size×size in [-1, 1]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        # z: N×nz -> N×C×S×S
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], dim=1)
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    """Mirror of the generator; returns one logit per image. `norm` is batch, layer-free ("none") or spectral."""

    def __init__(self, ndf: int, channels: int, image_size: int | tuple[int, int], num_classes: int = 0, norm: str = "batch", base: tuple[int, int] = (4, 4)) -> None:
        super().__init__()
        ups = stack_shape(image_size, base)
        wrap = spectral_norm if norm == "spectral" else (lambda m: m)
        layers: list[nn.Module] = [wrap(nn.Conv2d(channels, ndf, 4, 2, 1, bias=norm != "batch")), nn.LeakyReLU(0.2, True)]  # N×ndf×S/2
        width = ndf
        for _ in range(ups - 1):  # each halves the size and doubles the width
            layers.append(wrap(nn.Conv2d(width, width * 2, 4, 2, 1, bias=norm != "batch")))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(width * 2))
            layers.append(nn.LeakyReLU(0.2, True))
            width *= 2
        self.features = nn.Sequential(*layers)  # N×width×4×4
        self.head = wrap(nn.Conv2d(width, 1, base, 1, 0))  # N×1×1×1
        self.embed = wrap(nn.Embedding(num_classes, width)) if num_classes else None
        self.apply(dcgan_init)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.features(x)
        logit = self.head(h).flatten()  # N
        if self.embed is not None:
            logit = logit + (self.embed(y) * h.sum(dim=(2, 3))).sum(dim=1)
        return logit


def dcgan_init(module: nn.Module) -> None:
    """N(0, 0.02) weights, as the DCGAN paper prescribes; BatchNorm scales N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
