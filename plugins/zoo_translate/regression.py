"""The regression baseline: a plain U-Net trained with L1 to the target, the PSNR-optimal point every
restoration table needs beside the generative translators.

The network sees the source brought to the target's shape (bicubic upsampling for super-resolution, the
luma or a repeated grey channel when channels differ) and predicts a residual added to it. Its last layer
starts at zero, so before training the model is exactly bicubic upsampling (or the identity), and
training only has to learn what interpolation misses.
"""
from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from zoo.contract import FamilyContext, StepContext
from zoo.translation import match_channels
from zoo_translate.common import Translator, TranslatorConfig


class RegressionFamily(Translator):
    Config = TranslatorConfig
    tiny: ClassVar[dict[str, Any]] = {"model.widths": [4, 8], "model.eval_images": 16, "data.batch_size": 8, "data.image_size": 16,
                                      "train.lr": 3e-3}

    def __init__(self, config: TranslatorConfig, info: dict[str, Any], context: FamilyContext) -> None:
        super().__init__(config, info, context)
        self.net = self.unet(self.channels, self.channels, zero_head=True)

    def base(self, source: Tensor) -> Tensor:
        """The source at the target's size and channels: what the residual is added to (N×C×H×W)."""
        return match_channels(self.at_size(source.float()), self.channels)

    def predict(self, source: Tensor) -> Tensor:
        base = self.base(source)
        return base + self.net(base)

    def train_step(self, batch: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        loss = (self.predict(batch["source"]) - batch["x"]).abs().mean()
        ctx.update("model", loss)
        return {"loss": loss.detach()}

    @torch.no_grad()
    def translate(self, source: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return self.predict(source).clamp(0, 1)
