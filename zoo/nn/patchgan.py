"""The PatchGAN discriminator (Isola et al. 2017): a small conv net whose outputs are one real/fake logit per
overlapping image patch, so it judges texture and local structure and leaves global fidelity to the L1
(pix2pix) or cycle (CycleGAN) loss; and the two adversarial losses those papers use.

The paper's 70×70 PatchGAN is three 4×4 stride-2 convs (64, 128, 256 channels, no norm on the first),
a stride-1 conv (512) and a stride-1 conv to one logit: at 256×256 it sees 70×70 patches. At 32×32
the same shape with `layers=2` sees 34×34 patches (6×6 logits), `layers=1` 16×16 ones (14×14 logits).
"""
from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from zoo.nn.unet2d import Norm2d, norm2d

AdversarialLoss = Literal["nonsaturating", "lsgan"]


def receptive_field(layers: int) -> int:
    """Side in pixels of the patch each PatchGAN logit sees: 70 for the paper's layers=3."""
    side = 4 + 3  # the two stride-1 4×4 convs
    for _ in range(layers):
        side = 2 * side + 2  # a 4×4 stride-2 conv below them
    return side


def patch_grid(size: int, layers: int) -> int:
    """Side of the logit map for size×size inputs (the stride-2 convs halve, each stride-1 conv takes one)."""
    return size // 2**layers - 2


class PatchGAN(nn.Module):
    """N×cin×S×S -> N×1×P×P logits (P = patch_grid(S, layers)). Conditional use (pix2pix) passes the
    source and the image concatenated on the channels."""

    def __init__(self, cin: int, ndf: int = 64, layers: int = 3, norm: Norm2d = "batch") -> None:
        super().__init__()
        stack: list[nn.Module] = [nn.Conv2d(cin, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]  # no norm on the first layer
        width = ndf
        for _ in range(layers - 1):  # each: N×w×s×s -> N×2w×(s/2)²
            stack += [nn.Conv2d(width, 2 * width, 4, 2, 1), norm2d(norm, 2 * width), nn.LeakyReLU(0.2)]
            width *= 2
        stack += [nn.Conv2d(width, 2 * width, 4, 1, 1), norm2d(norm, 2 * width), nn.LeakyReLU(0.2)]  # s -> s-1
        stack += [nn.Conv2d(2 * width, 1, 4, 1, 1)]  # s-1 -> s-2: one logit per patch
        self.net = nn.Sequential(*stack)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def adversarial(logits: Tensor, real: bool, kind: AdversarialLoss) -> Tensor:
    """The mean over every patch logit of: BCE with target real/fake (`nonsaturating`, used for the
    generator too, as -log D), or LSGAN's squared distance to 1/0 (Mao et al. 2017; CycleGAN's choice)."""
    if kind == "lsgan":
        return (logits - float(real)).pow(2).mean()
    return F.softplus(-logits if real else logits).mean()
