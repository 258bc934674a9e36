"""pix2pix (Isola et al. 2017): a U-Net generator with skips and a conditional PatchGAN discriminator,
trained with an adversarial loss plus λ·L1 to the paired target (λ = 100, as in the paper).

The generator maps the source, brought to the target's size by bicubic upsampling, to a tanh image in
[-1, 1]. The discriminator sees the source and an image concatenated on the channels, so it judges
whether the image is a plausible translation of that source, patch by patch; the L1 term keeps the
output close to the target, the adversarial one keeps it sharp. Normalisation defaults to instance
norm: what the paper's batch norm at batch size 1 computes, and free of train/eval differences.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from zoo.contract import FamilyContext, StepContext
from zoo.errors import UsageError
from zoo.nn.patchgan import AdversarialLoss, adversarial
from zoo_translate.common import AdversarialConfig, Translator, patchgan


@dataclass
class Pix2PixConfig(AdversarialConfig):
    loss: AdversarialLoss = "nonsaturating"  # or lsgan
    l1_weight: float = 100.0  # λ of the L1 term
    dropout: float = 0.0  # in the generator's decoder blocks while training (the paper's noise uses 0.5)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.l1_weight < 0 or not 0 <= self.dropout < 1:
            raise UsageError(f"model.l1_weight must be >= 0 and model.dropout in [0, 1), got {self.l1_weight}, {self.dropout}")


class Pix2PixFamily(Translator):
    Config = Pix2PixConfig
    tiny: ClassVar[dict[str, Any]] = {"model.widths": [4, 8], "model.ndf": 4, "model.d_layers": 1, "model.eval_images": 16,
                                      "data.batch_size": 8, "data.image_size": 16, "train.lr": 2e-3}

    def __init__(self, config: Pix2PixConfig, info: dict[str, Any], context: FamilyContext) -> None:
        super().__init__(config, info, context)
        cs = self.source_shape[0]
        self.G = self.unet(cs, self.channels, dropout=config.dropout)
        self.D = patchgan(cs + self.channels, self.size, config)  # judges concat(source, image)

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"d": list(self.D.parameters()), "g": list(self.G.parameters())}

    def generate(self, source: Tensor) -> tuple[Tensor, Tensor]:
        """(source at the target's size, translation), both N×·×H×W in [-1, 1]."""
        src = self.at_size(source.float()) * 2 - 1
        return src, torch.tanh(self.G(src))

    def train_step(self, batch: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        src, fake = self.generate(batch["source"])
        real = batch["x"] * 2 - 1  # N×C×H×W in [-1, 1]

        # Discriminator: (source, target) is real, (source, detached output) fake; halved as in the paper.
        d_real, d_fake = self.D(torch.cat([src, real], 1)), self.D(torch.cat([src, fake.detach()], 1))
        loss_d = 0.5 * (adversarial(d_real, True, self.config.loss) + adversarial(d_fake, False, self.config.loss))
        ctx.update("d", loss_d)

        # Generator: fool the updated D, stay near the target; D's weights get no gradient.
        self.D.requires_grad_(False)
        loss_adv = adversarial(self.D(torch.cat([src, fake], 1)), True, self.config.loss)
        loss_l1 = (fake - real).abs().mean()
        ctx.update("g", loss_adv + self.config.l1_weight * loss_l1)
        self.D.requires_grad_(True)
        return {"loss_l1": loss_l1.detach(), "loss_adv": loss_adv.detach(), "loss_d": loss_d.detach()}

    @torch.no_grad()
    def translate(self, source: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return ((self.generate(source)[1] + 1) / 2).clamp(0, 1)
