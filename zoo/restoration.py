"""Image restoration through the `Restores` capability: the masks, and the inpainting sheet `zoo sample
--mode inpaint` writes. Any family that implements `restore(x, mask, generator, **conditions)` gets both,
and the `inpainting` metric (zoo.metrics.restoration)."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from zoo.capabilities import Condition, Restores
from zoo.contract import Family
from zoo.errors import UsageError

MASKS: tuple[str, ...] = ("center", "left", "random")
MASK = Condition("mask", str, "center", "which pixels --mode inpaint hides: center (the middle half), left (the left half) "
                 "or random (each pixel with probability 1/2)", MASKS)


def masks(kind: str, n: int, size: tuple[int, int], generator: torch.Generator | None = None, device: Any = "cpu") -> Tensor:
    """N×1×H×W masks, 1 where a pixel is known and 0 where it is to be filled in."""
    if kind not in MASKS:
        raise UsageError(f"unknown mask {kind!r}; choose from {', '.join(MASKS)}")
    h, w = size
    mask = torch.ones(n, 1, h, w, device=device)
    if kind == "center":
        mask[:, :, h // 4: h - h // 4, w // 4: w - w // 4] = 0
    elif kind == "left":
        mask[:, :, :, : w // 2] = 0
    else:
        mask = (torch.rand(n, 1, h, w, generator=generator, device=device) >= 0.5).float()
    return mask


def check_restores(model: Family) -> Restores:
    if not isinstance(model, Restores):
        raise UsageError(f"the {type(model).__name__} family cannot restore images (it lacks the Restores capability: a "
                         "restore(x, mask, generator) method, as diffusion models have); use --mode inpaint with a diffusion run")
    return model


def mean_fill(x: Tensor, mask: Tensor) -> Tensor:
    """The baseline restoration: each image's hidden pixels set to the mean of its known ones."""
    known = mask.expand_as(x)
    mean = (x * known).sum(dim=(1, 2, 3), keepdim=True) / known.sum(dim=(1, 2, 3), keepdim=True).clamp_min(1)
    return known * x + (1 - known) * mean


def inpainting_sheet(model: Family, n: int, generator: torch.Generator, mask: str = "center", **conditions: Any) -> Tensor:
    """[original, masked input, completion] for each of n // 3 test images (at least one): N×C×H×W in [0, 1],
    in rows of three. Hidden pixels show as mid-grey in the masked input."""
    restorer = check_restores(model)
    count = max(1, n // 3)
    test = model.context.split("test")
    seed = int(torch.randint(2**31 - 1, (1,), generator=generator, device=generator.device))
    pick = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:count]
    x = test.batch(pick)["x"].to(model.device).float()  # N×C×H×W in [0, 1]
    m = masks(mask, count, tuple(x.shape[-2:]), generator, model.device)
    out = restorer.restore(x, m, generator=generator, **conditions)
    shown = m * x + (1 - m) * 0.5
    return torch.stack([x, shown, out.clamp(0, 1)], dim=1).flatten(0, 1)
