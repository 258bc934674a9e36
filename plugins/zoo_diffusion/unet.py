"""A small UNet for images (Ho et al. 2020; Dhariwal & Nichol 2021): residual blocks with GroupNorm and
a sinusoidal time embedding, self-attention at the low resolutions, optional class embedding.

At 28×28 with widths (32, 64, 64) the feature maps are 28→14→7; attention runs at the levels listed in
`attention` (counted from 0 at full resolution). Class conditioning adds a learned embedding of the
label to the time embedding; index `num_classes` is the "no label" token classifier-free guidance
trains with. Image conditioning (SR3, Saharia et al. 2021) concatenates a `cond` array to x_t on the
channels: `in_channels` then counts both, while the output keeps `channels`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class UNetConfig:
    channels: int = 1  # image channels (the output's, and x_t's)
    in_channels: int | None = None  # channels of x_t and `cond` together; None: `channels` (no image conditioning)
    widths: tuple[int, ...] = (32, 64, 64)  # feature channels per resolution level
    blocks: int = 1  # residual blocks per level on the way down (one more on the way up)
    attention: tuple[int, ...] = (2,)  # levels with self-attention
    heads: int = 4
    dropout: float = 0.0
    num_classes: int = 0  # 0: unconditional


def timestep_embedding(t: Tensor, dim: int) -> Tensor:
    """Sinusoidal features of t in [0, 1] (scaled to 0..1000 as in DDPM): N -> N×dim."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = 1000 * t.float()[:, None] * freqs[None]
    return torch.cat([angles.cos(), angles.sin()], dim=1)


def norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, channels // 4), channels)


class ResBlock(nn.Module):
    """x -> x + conv(silu(norm(conv(silu(norm(x)))) + emb)), with a 1×1 skip when widths change."""

    def __init__(self, cin: int, cout: int, emb: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.conv1 = norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb, cout)
        self.norm2, self.drop, self.conv2 = norm(cout), nn.Dropout(dropout), nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:  # x: N×cin×H×W, emb: N×E
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.drop(F.silu(self.norm2(h))))
        return self.skip(x) + h  # N×cout×H×W


class Attention(nn.Module):
    """Multi-head self-attention over the H·W positions, residual."""

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm, self.qkv, self.out = norm(channels), nn.Conv2d(channels, 3 * channels, 1), nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor) -> Tensor:  # N×C×H×W
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, self.heads, c // self.heads, h * w).transpose(-1, -2).unbind(1)
        y = F.scaled_dot_product_attention(q, k, v)  # N×heads×HW×(C/heads)
        return x + self.out(y.transpose(-1, -2).reshape(n, c, h, w))


class Level(nn.Module):
    """The residual blocks (and attention) of one resolution level."""

    def __init__(self, cins: list[int], cout: int, emb: int, attention: bool, config: UNetConfig) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(ResBlock(cin, cout, emb, config.dropout) for cin in cins)
        self.attns = nn.ModuleList(Attention(cout, config.heads) if attention else nn.Identity() for _ in cins)


class UNet(nn.Module):
    """Predicts the objective's target (noise, v or velocity) from x_t N×C×H×W, t N, labels N and an
    image `cond` N×(in_channels - C)×H×W."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        widths, emb = config.widths, 4 * config.widths[0]
        self.time = nn.Sequential(nn.Linear(widths[0], emb), nn.SiLU(), nn.Linear(emb, emb))
        self.label = nn.Embedding(config.num_classes + 1, emb) if config.num_classes else None  # last index: no label
        self.stem = nn.Conv2d(config.in_channels or config.channels, widths[0], 3, padding=1)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        skips, cin = [widths[0]], widths[0]
        for i, w in enumerate(widths):
            self.down.append(Level([cin] + [w] * (config.blocks - 1), w, emb, i in config.attention, config))
            skips += [w] * config.blocks
            cin = w
            if i < len(widths) - 1:
                self.downsample.append(nn.Conv2d(w, w, 3, stride=2, padding=1))
                skips.append(w)
        self.mid = Level([cin, cin], cin, emb, True, config)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            cins = []
            for _ in range(config.blocks + 1):
                cins.append(cin + skips.pop())
                cin = w
            self.up.append(Level(cins, w, emb, i in config.attention, config))
            if i > 0:
                self.upsample.append(nn.Conv2d(w, w, 3, padding=1))
        self.head = nn.Sequential(norm(cin), nn.SiLU(), nn.Conv2d(cin, config.channels, 3, padding=1))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, x: Tensor, t: Tensor, labels: Tensor | None = None, cond: Tensor | None = None) -> Tensor:
        emb = self.time(timestep_embedding(t, self.config.widths[0]))  # N×E
        if self.label is not None:
            emb = emb + self.label(labels)
        h = self.stem(x if cond is None else torch.cat([x, cond], dim=1))  # stem on N×in_channels×H×W
        skips = [h]
        for i, level in enumerate(self.down):
            for block, attn in zip(level.blocks, level.attns):
                h = attn(block(h, emb))
                skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
                skips.append(h)
        for block, attn in zip(self.mid.blocks, self.mid.attns):
            h = attn(block(h, emb))
        for i, level in enumerate(self.up):
            for block, attn in zip(level.blocks, level.attns):
                h = attn(block(torch.cat([h, skips.pop()], dim=1), emb))
            if i < len(self.upsample):
                h = self.upsample[i](F.interpolate(h, size=skips[-1].shape[-2:], mode="nearest"))
        return self.head(h)  # N×C×H×W
