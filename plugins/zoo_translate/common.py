"""What the three translating families share: the config of their U-Nets, pairs from zoo.translation, the
source's shape, the (source | output | target) sheet as samples, and scoring on seeded test pairs."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import torch
from torch import Tensor

from zoo.contract import Family, FamilyContext
from zoo.errors import UsageError
from zoo.nn.patchgan import PatchGAN, patch_grid
from zoo.nn.unet2d import Norm2d, UNet2d
from zoo.samples import ImageSamples
from zoo.translation import pairs, resize, source_shape, test_pairs, translation_sheet

if TYPE_CHECKING:
    from zoo.evaluation import EvalContext


@dataclass
class TranslatorConfig:
    widths: list[int] = field(default_factory=lambda: [32, 64, 128])  # U-Net channels per level (32→16→8 at 32×32)
    norm: Norm2d = "group"  # the U-Net's normalisation
    eval_images: int = 500  # test pairs the family's own numbers are measured on

    def __post_init__(self) -> None:
        if not self.widths or min(self.widths) < 4:
            raise UsageError(f"model.widths must be a non-empty list of channel counts >= 4, got {self.widths}")
        if self.eval_images <= 0:
            raise UsageError(f"model.eval_images must be a positive integer, got {self.eval_images}")


@dataclass
class AdversarialConfig(TranslatorConfig):
    """What the GAN translators add: their PatchGAN discriminators."""

    norm: Norm2d = "instance"  # in the generators and the discriminators
    ndf: int = 64  # the discriminator's first width (doubling per layer)
    d_layers: int = 2  # PatchGAN stride-2 convs: 2 sees 34×34 patches (6×6 logits at 32×32); 3 is the paper's 70×70

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.ndf <= 0 or self.d_layers <= 0:
            raise UsageError(f"model.ndf and model.d_layers must be positive integers, got {self.ndf}, {self.d_layers}")


def patchgan(cin: int, size: int, config: AdversarialConfig) -> PatchGAN:
    """The config's PatchGAN for cin×size×size inputs; a usage error when its stride-2 convs leave no patch."""
    if patch_grid(size, config.d_layers) < 1:
        deepest = max((k for k in range(1, 8) if patch_grid(size, k) >= 1), default=0)
        fix = f"use --set model.d_layers={deepest}" if deepest else "use a larger data.image_size (>= 6)"
        raise UsageError(f"model.d_layers={config.d_layers} leaves no patches of {size}×{size} images; {fix}")
    return PatchGAN(cin, config.ndf, config.d_layers, config.norm)


class Translator(Family):
    """A family that maps a source (`source_shape`) to a target image of the data's shape, trained on the
    batches `zoo.translation.pairs` makes (`x` target, `source`). Subclasses build their networks and
    implement `train_step` and `translate`."""

    modality = "image"

    def __init__(self, config: TranslatorConfig, info: dict[str, Any], context: FamilyContext) -> None:
        super().__init__(config, info, context)
        self.source_shape = source_shape(info, context.data)
        self.channels, self.size = info["channels"], info["image_size"]

    def unet(self, cin: int, cout: int, dropout: float = 0.0, zero_head: bool = False) -> UNet2d:
        """A U-Net of the config's widths at the target's size (checked)."""
        net = UNet2d(cin, cout, self.config.widths, self.config.norm, dropout, zero_head)
        net.check_size(self.size)
        return net

    def at_size(self, source: Tensor) -> Tensor:
        """Sources at the target's size: bicubic (zoo.translation.resize, as the bicubic baseline) when smaller or larger."""
        return source if source.shape[-1] == self.size else resize(source, self.size)

    def prepare(self, data: Any) -> Any:
        return pairs(data, self.context.data)

    def translate(self, source: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """`source` N×Cs×Hs×Ws in [0, 1] -> N×C×H×W in [0, 1]; deterministic (`generator` is unused)."""
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> ImageSamples:
        """Rows of (source | output | target) for n // 3 test items picked with `generator`."""
        return ImageSamples(translation_sheet(self, n, generator), nrow=3, meta={"mode": "translate"})

    def eval_pairs(self, ctx: EvalContext) -> tuple[Tensor, Tensor]:
        """(source, target) of `eval_images` test items picked (and degraded) with the evaluation seed."""
        source, target, _ = test_pairs(self, self.config.eval_images, ctx.generator())
        ctx.protocol.update(items=len(source), split="test", seed=ctx.seed)
        return source, target

    @staticmethod
    def chunked(ctx: EvalContext, fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
        """`fn` over `x` in evaluation-sized chunks, in the run's sampling precision, as fp32."""
        with ctx.autocast():
            return torch.cat([fn(x[start: start + ctx.batch_size]).float() for start in range(0, len(x), ctx.batch_size)])

    @torch.no_grad()
    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        """Mean absolute error of the translations against their targets ([0, 1] pixels)."""
        source, target = self.eval_pairs(ctx)
        return {"test_l1": float((self.chunked(ctx, self.translate, source) - target).abs().mean())}
