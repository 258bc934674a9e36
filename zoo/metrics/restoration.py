"""Inpainting quality for models with the `Restores` capability: PSNR and SSIM over the hidden pixels
of test images, beside the same scores of a stated baseline (each image's hidden pixels filled with
the mean of its known ones), so a number always comes with what it beats."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from zoo.contract import Family
from zoo.evaluation import EvalContext, Metric, MetricResult
from zoo.metrics.image_quality import psnr, ssim_map, ssim_window
from zoo.restoration import MASK, check_restores, masks, mean_fill

IMAGES = 500  # test images restored per evaluation at most (a restoration costs a full sampling run)


def masked_psnr(x: Tensor, y: Tensor, hidden: Tensor) -> Tensor:
    """Per-image PSNR (dB) over the pixels where `hidden` (N×1×H×W) is 1."""
    weight = hidden.expand_as(x).double()
    mse = ((x.double() - y.double()) ** 2 * weight).flatten(1).sum(1) / weight.flatten(1).sum(1).clamp_min(1)
    return 10 * torch.log10(1 / mse.clamp_min(1e-10))


def masked_ssim(x: Tensor, y: Tensor, hidden: Tensor) -> Tensor:
    """Per-image mean of the local SSIM map over the window positions centred on hidden pixels."""
    local = ssim_map(x, y)  # N×C×(H-w+1)×(W-w+1)
    half = ssim_window(tuple(x.shape[-2:])) // 2
    h, w = x.shape[-2:]
    centre = hidden[:, :, half: h - half, half: w - half].expand_as(local).double()
    return (local * centre).flatten(1).sum(1) / centre.flatten(1).sum(1).clamp_min(1)


class Inpainting(Metric):
    """`inpaint_psnr` / `inpaint_ssim` over the hidden region, and the mean-fill baseline's
    (`inpaint_baseline_psnr`, `inpaint_baseline_ssim`). `--set inpainting.mask=left` picks the mask."""

    name = "inpainting"
    version = "1"
    modalities = ("image",)
    higher_is_better = {"inpaint_psnr": True, "inpaint_ssim": True}

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        restorer = check_restores(model)
        kind = MASK.check(ctx.options.get("inpainting.mask", MASK.default))
        test = ctx.raw_split("test")
        count = min(IMAGES, ctx.num_samples, len(test))
        generator = ctx.generator()
        pick = torch.randperm(len(test), generator=torch.Generator().manual_seed(ctx.seed))[:count]
        scores: dict[str, list[Tensor]] = {"inpaint_psnr": [], "inpaint_ssim": [], "inpaint_baseline_psnr": [], "inpaint_baseline_ssim": []}
        conditions = {k: v for k, v in ctx.conditions.items() if k != "label"}
        for start in range(0, count, ctx.batch_size):
            x = test.batch(pick[start: start + ctx.batch_size])["x"].to(ctx.device).float()
            mask = masks(kind, len(x), tuple(x.shape[-2:]), generator, ctx.device)
            with ctx.autocast():
                out = restorer.restore(x, mask, generator=generator, **conditions).float().clamp(0, 1).cpu()
            x, hidden, base = x.cpu(), 1 - mask.cpu(), mean_fill(x, mask).cpu()
            scores["inpaint_psnr"].append(masked_psnr(x, out, hidden))
            scores["inpaint_ssim"].append(masked_ssim(x, out, hidden))
            scores["inpaint_baseline_psnr"].append(masked_psnr(x, base, hidden))
            scores["inpaint_baseline_ssim"].append(masked_ssim(x, base, hidden))
        values = {k: float(torch.cat(v).mean()) for k, v in scores.items()}
        proto: dict[str, Any] = {"mask": kind, "reference": f"{ctx.config.data.dataset}:test", "num_real": count, "seed": ctx.seed,
                                 "region": "hidden pixels only", "baseline": "hidden pixels set to the mean of the image's known pixels"}
        return MetricResult(values, proto)


inpainting = Inpainting()
