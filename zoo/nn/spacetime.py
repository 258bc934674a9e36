"""A factorised space-time U-Net for clips (Ho et al. 2022's video diffusion factorisation, convolutions only):
every block is a 2-D residual block applied to each frame (frames folded into the batch) followed by a
temporal convolution across frames at each pixel, so space and time cost (3×3) + 3 taps instead of a 3-D
kernel's 27. Sizes halve between levels (stride-2 convs per frame; time is never downsampled), skips are
concatenated on the way up, and an optional embedding (a diffusion time, say) is added inside each block.
A temporal convolution reaches one frame either way, so a U-Net of a few blocks sees only a few frames
around each one; levels listed in `attention` add self-attention across all frames at every pixel
(with sinusoidal frame positions), which ties the first frame of a clip to its last. With `joint=True`
they attend across every frame and position at once (Latte's and Sora's full space-time attention, at a
coarse level where T·H·W tokens are few), so a digit in one frame can be read where it was in another.

Clips are N×T×C×H×W. The temporal convolutions and the head start at zero, so before training each block
is a per-frame network and the output is zero (a residual on whatever the caller adds it to).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.errors import UsageError


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(max(1, min(32, channels // 4)), channels)


class TemporalConv(nn.Module):
    """x + conv1d over frames (kernel 3, zero-padded) at every pixel: N×T×C×H×W -> same."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm, self.conv = group_norm(channels), nn.Conv1d(channels, channels, 3, padding=1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        n, t, c, h, w = x.shape
        y = F.silu(self.norm(x.flatten(0, 1))).unflatten(0, (n, t))  # N×T×C×H×W
        y = y.permute(0, 3, 4, 2, 1).reshape(n * h * w, c, t)  # (N·H·W)×C×T
        y = self.conv(y).reshape(n, h, w, c, t).permute(0, 4, 3, 1, 2)
        return x + y


class TemporalAttention(nn.Module):
    """x + multi-head self-attention over the frames at every pixel: N×T×C×H×W -> same. The output
    projection starts at zero, like the temporal convolutions."""

    def __init__(self, channels: int, head_channels: int = 32) -> None:
        super().__init__()
        self.heads = max(1, channels // head_channels)
        self.norm, self.qkv, self.out = group_norm(channels), nn.Linear(channels, 3 * channels), nn.Linear(channels, channels)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    @staticmethod
    def positions(frames: int, channels: int, device: torch.device) -> Tensor:
        """Sinusoidal frame positions T×C (C even)."""
        freqs = torch.exp(-math.log(10000.0) * torch.arange(channels // 2, device=device) / max(1, channels // 2))
        angles = torch.arange(frames, device=device)[:, None] * freqs[None]
        return torch.cat([angles.sin(), angles.cos()], 1)

    def forward(self, x: Tensor) -> Tensor:
        n, t, c, h, w = x.shape
        y = self.norm(x.flatten(0, 1)).unflatten(0, (n, t)).permute(0, 3, 4, 1, 2).reshape(n * h * w, t, c)  # (N·H·W)×T×C
        q, k, v = self.qkv(y + self.positions(t, c, x.device).to(y.dtype)).chunk(3, dim=-1)
        q, k, v = (z.unflatten(2, (self.heads, c // self.heads)).transpose(1, 2) for z in (q, k, v))  # B×heads×T×d
        y = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n * h * w, t, c)
        return x + self.out(y).reshape(n, h, w, t, c).permute(0, 3, 4, 1, 2)


class JointAttention(TemporalAttention):
    """x + multi-head self-attention over all frames and positions: N×T×C×H×W -> same, with sinusoidal
    positions of the frame (half the channels), row and column (a quarter each)."""

    def __init__(self, channels: int, head_channels: int = 32) -> None:
        if channels % 8:
            raise UsageError(f"joint space-time attention needs widths that are multiples of 8 at its levels, got {channels}")
        super().__init__(channels, head_channels)

    def forward(self, x: Tensor) -> Tensor:
        n, t, c, h, w = x.shape
        dev = x.device
        where = torch.cat([self.positions(t, c // 2, dev)[:, None, None].expand(t, h, w, c // 2),
                           self.positions(h, c // 4, dev)[None, :, None].expand(t, h, w, c // 4),
                           self.positions(w, c // 4, dev)[None, None, :].expand(t, h, w, c // 4)], -1).reshape(t * h * w, c)
        y = self.norm(x.flatten(0, 1)).unflatten(0, (n, t)).permute(0, 1, 3, 4, 2).reshape(n, t * h * w, c)  # N×(T·H·W)×C
        q, k, v = self.qkv(y + where.to(y.dtype)).chunk(3, dim=-1)
        q, k, v = (z.unflatten(2, (self.heads, c // self.heads)).transpose(1, 2) for z in (q, k, v))  # N×heads×THW×d
        y = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, t, h, w, c)
        return x + self.out(y).permute(0, 1, 4, 2, 3)


class SpaceTimeBlock(nn.Module):
    """Per-frame residual block (GroupNorm, SiLU, 3×3 convs, the embedding added between them), then a temporal conv."""

    def __init__(self, cin: int, cout: int, emb: int, attention: bool = False, joint: bool = False) -> None:
        super().__init__()
        self.norm1, self.conv1 = group_norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb, cout) if emb else None
        self.norm2, self.conv2 = group_norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        self.time = TemporalConv(cout)
        self.attention = (JointAttention if joint else TemporalAttention)(cout) if attention else None

    def forward(self, x: Tensor, emb: Tensor | None) -> Tensor:  # x: N×T×cin×H×W, emb: N×E
        n, t = x.shape[:2]
        flat = x.flatten(0, 1)
        h = self.conv1(F.silu(self.norm1(flat)))
        if self.emb is not None and emb is not None:
            h = h + self.emb(F.silu(emb)).repeat_interleave(t, 0)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        h = self.time((self.skip(flat) + h).unflatten(0, (n, t)))  # N×T×cout×H×W
        return h if self.attention is None else self.attention(h)


class SpaceTimeUNet(nn.Module):
    """N×T×cin×S×S (and an embedding N×`emb`) -> N×T×cout×S×S, for S divisible by 2^(len(widths) - 1);
    blocks at the levels in `attention` (0: full resolution) attend across frames (`joint`: and positions)."""

    def __init__(self, cin: int, cout: int, widths: list[int], emb: int = 0, attention: tuple[int, ...] = (), joint: bool = False) -> None:
        super().__init__()
        self.levels = len(widths)
        self.stem = nn.Conv2d(cin, widths[0], 3, padding=1)
        self.encoder = nn.ModuleList([SpaceTimeBlock(widths[0], widths[0], emb, 0 in attention, joint)])
        self.down = nn.ModuleList()
        for level, (w_in, w) in enumerate(zip(widths, widths[1:]), start=1):
            self.down.append(nn.Conv2d(w_in, w, 3, stride=2, padding=1))
            self.encoder.append(SpaceTimeBlock(w, w, emb, level in attention, joint))
        self.mid = SpaceTimeBlock(widths[-1], widths[-1], emb, self.levels - 1 in attention, joint)
        self.up, self.decoder = nn.ModuleList(), nn.ModuleList()
        for level, (w_in, w) in zip(range(self.levels - 2, -1, -1), zip(widths[::-1], widths[-2::-1])):
            self.up.append(nn.Conv2d(w_in, w, 3, padding=1))  # after a nearest 2× upsample
            self.decoder.append(SpaceTimeBlock(2 * w, w, emb, level in attention, joint))
        self.head = nn.Sequential(group_norm(widths[0]), nn.SiLU(), nn.Conv2d(widths[0], cout, 3, padding=1))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def check_size(self, size: int) -> None:
        factor = 2 ** (self.levels - 1)
        if size % factor:
            raise UsageError(f"a space-time U-Net with {self.levels} levels needs data.image_size divisible by {factor}, got {size}; "
                             f"use fewer model.widths or another data.image_size")

    @staticmethod
    def frames(layer: nn.Module, x: Tensor) -> Tensor:
        """A per-frame layer applied to N×T×C×H×W."""
        return layer(x.flatten(0, 1)).unflatten(0, x.shape[:2])

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        h = self.encoder[0](self.frames(self.stem, x), emb)
        skips = []
        for down, block in zip(self.down, self.encoder[1:]):
            skips.append(h)
            h = block(self.frames(down, h), emb)
        h = self.mid(h, emb)
        for up, block in zip(self.up, self.decoder):
            h = self.frames(lambda f: up(F.interpolate(f, scale_factor=2, mode="nearest")), h)
            h = block(torch.cat([h, skips.pop()], dim=2), emb)
        return self.frames(self.head, h)  # N×T×cout×S×S
