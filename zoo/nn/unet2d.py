"""A plain image-to-image U-Net (Ronneberger et al. 2015) with the skips pix2pix made standard (Isola et al.
2017): no time embedding, no attention; what the regression baseline, pix2pix and CycleGAN share.

With widths (32, 64, 128) at 32×32 the feature maps are 32→16→8: each level is two 3×3 conv-norm-
activation layers, a 4×4 stride-2 conv halves the size between levels, a 4×4 stride-2 transposed conv
doubles it back, and the decoder concatenates the encoder's map of the same level (the skip) before its
block. A 1×1 conv maps the last block to the output channels; `zero_head` starts it at zero, so a net
whose output is added to its input (a residual) begins as the identity.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from zoo.errors import UsageError

Norm2d = Literal["batch", "instance", "group", "none"]


def norm2d(kind: Norm2d, channels: int) -> nn.Module:
    """BatchNorm (pix2pix), InstanceNorm with affine scales (CycleGAN), GroupNorm in groups of 4 channels
    (no dependence on the batch), or nothing."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "group":
        return nn.GroupNorm(max(1, min(32, channels // 4)), channels)
    return nn.Identity()


def conv_norm_act(cin: int, cout: int, norm: Norm2d, kernel: int = 3, stride: int = 1, transposed: bool = False) -> nn.Sequential:
    """One conv with its norm and a LeakyReLU(0.2): 3×3 keeps the size, 4×4 stride 2 halves it (transposed: doubles it)."""
    conv = nn.ConvTranspose2d if transposed else nn.Conv2d
    return nn.Sequential(conv(cin, cout, kernel, stride, 1), norm2d(norm, cout), nn.LeakyReLU(0.2))


class Block(nn.Module):
    """Two 3×3 conv-norm-activation layers, dropout between them (pix2pix's noise)."""

    def __init__(self, cin: int, cout: int, norm: Norm2d, dropout: float = 0.0) -> None:
        super().__init__()
        self.layers = nn.Sequential(conv_norm_act(cin, cout, norm), nn.Dropout(dropout), conv_norm_act(cout, cout, norm))

    def forward(self, x: Tensor) -> Tensor:  # N×cin×H×W -> N×cout×H×W
        return self.layers(x)


class UNet2d(nn.Module):
    """N×cin×S×S -> N×cout×S×S, for S divisible by 2^(len(widths) - 1). Unbounded outputs: the family
    adds its input (a residual) or applies tanh."""

    def __init__(self, cin: int, cout: int, widths: list[int], norm: Norm2d = "group", dropout: float = 0.0, zero_head: bool = False) -> None:
        super().__init__()
        self.levels = len(widths)
        self.encoder = nn.ModuleList([Block(cin, widths[0], norm)])
        self.down = nn.ModuleList()
        for w_in, w in zip(widths, widths[1:]):
            self.down.append(conv_norm_act(w_in, w, norm, kernel=4, stride=2))  # S/2^i -> S/2^(i+1)
            self.encoder.append(Block(w, w, norm))
        self.up, self.decoder = nn.ModuleList(), nn.ModuleList()
        for w_in, w in zip(widths[::-1], widths[-2::-1]):
            self.up.append(conv_norm_act(w_in, w, norm, kernel=4, stride=2, transposed=True))  # S/2^(i+1) -> S/2^i
            self.decoder.append(Block(2 * w, w, norm, dropout))  # after concatenating the skip
        self.head = nn.Conv2d(widths[0], cout, 1)
        if zero_head:
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def check_size(self, size: int) -> None:
        """A usage error naming the fix when `size` cannot be halved `levels - 1` times."""
        factor = 2 ** (self.levels - 1)
        if size % factor:
            raise UsageError(f"a U-Net with {self.levels} levels needs data.image_size divisible by {factor}, got {size}; "
                             f"use --set data.image_size={max(factor, size - size % factor)} or fewer model.widths")

    def forward(self, x: Tensor) -> Tensor:  # N×cin×S×S
        skips = []
        h = self.encoder[0](x)  # N×w0×S×S
        for down, block in zip(self.down, self.encoder[1:]):
            skips.append(h)
            h = block(down(h))  # N×w_i×(S/2^i)²
        for up, block in zip(self.up, self.decoder):
            h = block(torch.cat([up(h), skips.pop()], dim=1))
        return self.head(h)  # N×cout×S×S
