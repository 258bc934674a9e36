"""CycleGAN (Zhu et al. 2017): unpaired translation with two generators, G (source → target) and F (target →
source), and two PatchGAN discriminators, trained with LSGAN losses, the cycle loss λ·(|F(G(a)) - a| +
|G(F(b)) - b|) (λ = 10) and the identity loss λ_id·λ·(|G(b) - b| + |F(a) - a|) (λ_id = 0.5, only when
both domains have one shape). Each discriminator is shown fakes from a history pool of 50 past ones.

Batches hold `x` (target-domain images) and `source` (source-domain images); the family never uses that
they may happen to be aligned. Every network runs at the target's size: a smaller source domain (×4
super-resolution) is brought up by bicubic interpolation, and F's outputs are brought down to the source
size, differentiably, so the cycle closes through both resizes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.contract import FamilyContext, StepContext
from zoo.errors import UsageError
from zoo.nn.history import HistoryPool
from zoo.nn.patchgan import adversarial
from zoo_translate.common import AdversarialConfig, Translator, patchgan

if TYPE_CHECKING:
    from zoo.evaluation import EvalContext


@dataclass
class CycleGANConfig(AdversarialConfig):
    cycle_weight: float = 10.0  # λ of the cycle loss
    identity: float = 0.5  # the identity loss's weight as a fraction of λ (when source and target shapes match)
    pool_size: int = 50  # past fakes each discriminator draws from (Shrivastava et al. 2017); 0: only the current ones

    def __post_init__(self) -> None:
        super().__post_init__()
        if min(self.cycle_weight, self.identity) < 0 or self.pool_size < 0:
            raise UsageError(f"model.cycle_weight, identity and pool_size must be >= 0, got {self.cycle_weight}, {self.identity}, {self.pool_size}")


def fit(x: Tensor, size: int) -> Tensor:
    """x at size×size by bicubic interpolation (antialiased when shrinking), differentiable; unchanged when it fits."""
    return x if x.shape[-1] == size else F.interpolate(x, size=(size, size), mode="bicubic", antialias=True, align_corners=False)


class CycleGANFamily(Translator):
    Config = CycleGANConfig
    tiny: ClassVar[dict[str, Any]] = {"model.widths": [4, 8], "model.ndf": 4, "model.d_layers": 1, "model.pool_size": 8,
                                      "model.eval_images": 16, "data.batch_size": 8, "data.image_size": 16, "train.lr": 2e-3}

    def __init__(self, config: CycleGANConfig, info: dict[str, Any], context: FamilyContext) -> None:
        super().__init__(config, info, context)
        cs, ss, _ = self.source_shape
        self.G = self.unet(cs, self.channels)  # source -> target
        self.F = self.unet(self.channels, cs)  # target -> source (at the target's size, then resized)
        self.D_target = patchgan(self.channels, self.size, config)
        self.D_source = patchgan(cs, self.size, config)  # source-domain images, judged at the target's size
        self.pool_target = HistoryPool(config.pool_size, (self.channels, self.size, self.size))
        self.pool_source = HistoryPool(config.pool_size, (cs, ss, ss))
        self.use_identity = config.identity > 0 and self.source_shape == (self.channels, self.size, self.size)

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"d": [*self.D_target.parameters(), *self.D_source.parameters()], "g": [*self.G.parameters(), *self.F.parameters()]}

    def to_target(self, a: Tensor) -> Tensor:
        """G: source-domain images N×Cs×Hs×Ws in [-1, 1] -> N×C×H×W in [-1, 1]."""
        return torch.tanh(self.G(fit(a, self.size)))

    def to_source(self, b: Tensor) -> Tensor:
        """F: target-domain images N×C×H×W in [-1, 1] -> N×Cs×Hs×Ws in [-1, 1]."""
        return fit(torch.tanh(self.F(b)), self.source_shape[-1])

    def train_step(self, batch: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        a, b = batch["source"].float() * 2 - 1, batch["x"] * 2 - 1  # unaligned source- and target-domain images
        fake_b, fake_a = self.to_target(a), self.to_source(b)
        discriminators = (self.D_target, self.D_source)

        # Generators: fool both discriminators (their weights get no gradient) and close both cycles.
        for d in discriminators:
            d.requires_grad_(False)
        loss_adv = adversarial(self.D_target(fake_b), True, "lsgan") + adversarial(self.D_source(fit(fake_a, self.size)), True, "lsgan")
        loss_cycle = (self.to_source(fake_b) - a).abs().mean() + (self.to_target(fake_a) - b).abs().mean()
        loss_g = loss_adv + self.config.cycle_weight * loss_cycle
        logs = {"loss_cycle": loss_cycle.detach(), "loss_adv": loss_adv.detach()}
        if self.use_identity:
            loss_identity = (self.to_target(b) - b).abs().mean() + (self.to_source(a) - a).abs().mean()
            loss_g = loss_g + self.config.identity * self.config.cycle_weight * loss_identity
            logs["loss_identity"] = loss_identity.detach()
        ctx.update("g", loss_g)
        for d in discriminators:
            d.requires_grad_(True)

        # Discriminators: real images against fakes drawn from the history pools, each loss halved as in the paper.
        pooled_b, pooled_a = self.pool_target(fake_b), self.pool_source(fake_a)
        loss_d = 0.5 * (adversarial(self.D_target(b), True, "lsgan") + adversarial(self.D_target(pooled_b), False, "lsgan")
                        + adversarial(self.D_source(fit(a, self.size)), True, "lsgan")
                        + adversarial(self.D_source(fit(pooled_a, self.size)), False, "lsgan"))
        ctx.update("d", loss_d)
        logs["loss_d"] = loss_d.detach()
        return logs

    @torch.no_grad()
    def translate(self, source: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return ((self.to_target(source.float() * 2 - 1) + 1) / 2).clamp(0, 1)

    @torch.no_grad()
    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        """Mean absolute cycle errors in [0, 1] pixels: |F(G(a)) - a| on test sources, |G(F(b)) - b| on test targets."""
        source, target = self.eval_pairs(ctx)
        cycled_source = self.chunked(ctx, lambda s: (self.to_source(self.to_target(s * 2 - 1)) + 1) / 2, source)
        cycled_target = self.chunked(ctx, lambda t: (self.to_target(self.to_source(t * 2 - 1)) + 1) / 2, target)
        return {"cycle_l1_source": float((cycled_source - source).abs().mean()), "cycle_l1_target": float((cycled_target - target).abs().mean())}
