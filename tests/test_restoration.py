"""Restoration through the `Restores` capability: masks, the masked-region scores against closed-form
cases, and the `inpainting` metric on stand-in restorers whose answers are known."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from zoo.capabilities import Restores
from zoo.contract import Family, FamilyContext
from zoo.errors import UsageError
from zoo.evaluation import EvalContext, evaluate_model
from zoo.metrics.baselines import real_config
from zoo.metrics.restoration import masked_psnr, masked_ssim
from zoo.restoration import masks, mean_fill


def test_masks_hide_what_their_names_say() -> None:
    center, left = masks("center", 2, (8, 8)), masks("left", 2, (8, 8))
    assert center.shape == (2, 1, 8, 8) and int((1 - center[0]).sum()) == 16 and center[0, 0, 2:6, 2:6].sum() == 0
    assert left[0, 0, :, :4].sum() == 0 and left[0, 0, :, 4:].min() == 1
    rand = masks("random", 1, (64, 64), torch.Generator().manual_seed(0))
    assert 0.45 < float(rand.mean()) < 0.55
    with pytest.raises(UsageError, match="unknown mask 'top'; choose from center, left, random"):
        masks("top", 1, (8, 8))


def test_masked_scores_count_only_the_hidden_pixels() -> None:
    x = torch.zeros(1, 1, 16, 16)
    hidden = 1 - masks("left", 1, (16, 16))
    y = x + 0.1 * hidden  # wrong by 0.1 on the hidden half, exact elsewhere
    assert masked_psnr(x, y, hidden).item() == pytest.approx(20.0)  # 10·log10(1 / 0.01)
    assert masked_psnr(x, x + 0.1, hidden).item() == pytest.approx(20.0)
    noisy = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    assert masked_ssim(noisy, noisy, hidden).item() == pytest.approx(1.0)
    assert masked_ssim(noisy, 1 - noisy, hidden).item() < 0


def test_mean_fill_uses_each_images_known_pixels() -> None:
    x = torch.stack([torch.full((1, 4, 4), 0.2), torch.full((1, 4, 4), 0.8)])
    x[:, :, :, :2] = 0.0  # what the left mask hides
    filled = mean_fill(x, masks("left", 2, (4, 4)))
    torch.testing.assert_close(filled[:, 0, 0, 0], torch.tensor([0.2, 0.8]))


class Oracle(Family):
    """A restorer that knows the answer (`truth=True`) or fills in the mean of the known pixels."""

    modality = "image"

    def __init__(self, truth: bool) -> None:
        super().__init__(None, {}, FamilyContext(Path(os.devnull), real_config("mnist", 1, 0).data))
        self.truth = truth
        self.register_buffer("anchor", torch.zeros(1))

    def restore(self, x: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return x if self.truth else mean_fill(x, mask)


def test_inpainting_metric_on_known_restorers() -> None:
    assert isinstance(Oracle(True), Restores)
    ctx = EvalContext(real_config("mnist", 8, 0), torch.device("cpu"), 8, 0)
    perfect = evaluate_model(Oracle(True), ctx, ["inpainting"])["inpainting"]
    assert perfect.values["inpaint_psnr"] == pytest.approx(100.0) and perfect.values["inpaint_ssim"] == pytest.approx(1.0)
    assert perfect.values["inpaint_baseline_psnr"] < 20 and perfect.protocol["mask"] == "center" and perfect.protocol["num_real"] == 8  # num_samples
    many = evaluate_model(Oracle(True), EvalContext(real_config("mnist", 5000, 0), torch.device("cpu"), 5000, 0), ["inpainting"])["inpainting"]
    assert many.protocol["num_real"] == 500  # a restoration costs a sampling run: at most 500 test images
    baseline = evaluate_model(Oracle(False), EvalContext(real_config("mnist", 8, 0), torch.device("cpu"), 8, 0), ["inpainting"])["inpainting"].values
    assert baseline["inpaint_psnr"] == pytest.approx(baseline["inpaint_baseline_psnr"])
    assert baseline["inpaint_ssim"] == pytest.approx(baseline["inpaint_baseline_ssim"])


def test_inpainting_refuses_a_family_that_cannot_restore() -> None:
    from zoo.metrics.baselines import RealImages

    ctx = EvalContext(real_config("mnist", 4, 0), torch.device("cpu"), 4, 0)
    with pytest.raises(UsageError, match="cannot restore images"):
        evaluate_model(RealImages(torch.zeros(4, 1, 28, 28, dtype=torch.uint8), ctx.config.data), ctx, ["inpainting"])
