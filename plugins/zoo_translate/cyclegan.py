"""CycleGAN (Zhu et al. 2017): unpaired translation with two generators, G (source → target) and F (target →
source), and two PatchGAN discriminators, trained with LSGAN losses, the cycle loss λ·(|F(G(a)) - a| +
|G(F(b)) - b|) (λ = 10) and the identity loss λ_id·λ·(|G(b) - b| + |F(a) - a|) (λ_id = 0.5, only when
both domains have one shape). Each discriminator is shown fakes from a history pool of 50 past ones.
An optional semantic loss (CyCADA, Hoffman et al. 2018) asks a classifier trained on the labelled source
domain (never on G's outputs) to read G(a) as a's class, so a translation keeps its content: on printed →
handwritten digits the cycle alone lets G add marks that turn a 1 into a 2.
With `semantic_from: both` the classifier also learns the target domain's labelled images (MNIST's digits),
so it reads G's outputs as a reader of the target domain would; it still never sees G's outputs as examples.

Batches hold `x` (target-domain images) and `source` (source-domain images); the family never uses that
they may happen to be aligned. Every network runs at the target's size: a smaller source domain (×4
super-resolution) is brought up by bicubic interpolation, and F's outputs are brought down to the source
size, differentiably, so the cycle closes through both resizes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

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
    semantic: float = 0.0  # weight of CyCADA's semantic loss: a classifier of the labelled source must read G(a) as a's class
    semantic_from: Literal["source", "both"] = "source"  # "both": the classifier also learns the target domain's labels, so it reads G(a) as a target-domain reader would

    def __post_init__(self) -> None:
        super().__post_init__()
        if min(self.cycle_weight, self.identity, self.semantic) < 0 or self.pool_size < 0:
            raise UsageError(f"model.cycle_weight, identity, semantic and pool_size must be >= 0, "
                             f"got {self.cycle_weight}, {self.identity}, {self.semantic}, {self.pool_size}")


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
        self.C = self.source_classifier(info) if config.semantic > 0 else None

    def source_classifier(self, info: dict[str, Any]) -> nn.Module:
        """conv 5×5/2 (32) → conv 3×3/2 (64) → FC classes, on source-size images in [-1, 1]; trained on the
        labelled sources (and, with semantic_from=both, the labelled targets) alongside the GAN and never on G's
        outputs, so it cannot learn G's label flips."""
        classes = info.get("source_num_classes", 0)
        if not classes:
            raise UsageError(f"model.semantic needs labels on the source domain ({info.get('domains', {}).get('source', 'data.source')} has none; "
                             "a folder gives labels through class subfolders); use --set model.semantic=0")
        cs, ss, _ = self.source_shape
        if cs != self.channels:
            raise UsageError(f"model.semantic reads G's outputs with a classifier of the sources, so both need one channel count (got {cs} and {self.channels}); "
                             "use --set model.semantic=0")
        if self.config.semantic_from == "both" and info.get("num_classes", 0) != classes:
            raise UsageError(f"model.semantic_from=both needs the target domain labelled with the source's {classes} classes "
                             f"(it has {info.get('num_classes', 0)}); use --set model.semantic_from=source")
        side = (ss + 3) // 4
        return nn.Sequential(nn.Conv2d(cs, 32, 5, 2, 2), nn.LeakyReLU(0.2), nn.Conv2d(32, 64, 3, 2, 1), nn.LeakyReLU(0.2),
                             nn.Flatten(), nn.Linear(64 * side * side, classes))

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        groups = {"d": [*self.D_target.parameters(), *self.D_source.parameters()], "g": [*self.G.parameters(), *self.F.parameters()]}
        if self.C is not None:
            groups["c"] = list(self.C.parameters())
        return groups

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
        judges = (*discriminators, self.C) if self.C is not None else discriminators

        # Generators: fool both discriminators (their weights get no gradient) and close both cycles.
        for d in judges:
            d.requires_grad_(False)
        loss_adv = adversarial(self.D_target(fake_b), True, "lsgan") + adversarial(self.D_source(fit(fake_a, self.size)), True, "lsgan")
        loss_cycle = (self.to_source(fake_b) - a).abs().mean() + (self.to_target(fake_a) - b).abs().mean()
        loss_g = loss_adv + self.config.cycle_weight * loss_cycle
        logs = {"loss_cycle": loss_cycle.detach(), "loss_adv": loss_adv.detach()}
        if self.use_identity:
            loss_identity = (self.to_target(b) - b).abs().mean() + (self.to_source(a) - a).abs().mean()
            loss_g = loss_g + self.config.identity * self.config.cycle_weight * loss_identity
            logs["loss_identity"] = loss_identity.detach()
        if self.C is not None:
            loss_semantic = F.cross_entropy(self.C(fit(fake_b, self.source_shape[-1])), batch["source_y"])
            loss_g = loss_g + self.config.semantic * loss_semantic
            logs["loss_semantic"] = loss_semantic.detach()
        ctx.update("g", loss_g)
        for d in judges:
            d.requires_grad_(True)
        if self.C is not None:  # the classifier learns the labelled sources (and targets), never G's outputs
            loss_c = F.cross_entropy(self.C(a), batch["source_y"])
            if self.config.semantic_from == "both":
                loss_c = loss_c + F.cross_entropy(self.C(fit(b, self.source_shape[-1])), batch["y"])
            ctx.update("c", loss_c)
            logs["loss_c"] = loss_c.detach()

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
