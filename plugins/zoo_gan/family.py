"""The image GAN family: DCGAN networks (zoo.nn.dcgan) under the core GAN update rule (zoo.nn.gan).

At 32×32 with ngf=64 the generator is the classic 100→256→128→64→C stack of transposed convs; each
doubling of the image size adds one layer. Class conditioning: the generator takes a learned label
embedding beside z; the discriminator adds a projection term (Miyato & Koyama 2018).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from torch import Tensor, nn

from zoo.errors import UsageError
from zoo.nn.dcgan import Discriminator, Generator, dcgan_init, plan
from zoo.nn.gan import GANConfig, GANFamily, discriminator_norm
from zoo.samples import ImageSamples


@dataclass
class DCGANConfig(GANConfig):
    arch: Literal["dcgan"] = "dcgan"


class DCGANFamily(GANFamily):
    Config = DCGANConfig
    modality = "image"
    label_hint = "train a cgan preset for labels"
    tiny: ClassVar[dict[str, Any]] = {"model.nz": 8, "model.ngf": 4, "model.ndf": 4, "data.batch_size": 8}

    def build_networks(self, config: DCGANConfig, info: dict[str, Any]) -> tuple[nn.Module, nn.Module]:
        size, channels = info["image_size"], info["channels"]
        stack = plan((size, size))
        if stack is None:
            raise UsageError(f"DCGAN needs an even data.image_size >= 8 (e.g. 32 or 64), got {size}")
        base, ups = stack
        G = Generator(config.nz, config.ngf, channels, base, ups, num_classes=self.num_classes).apply(dcgan_init)
        D = Discriminator(config.ndf, channels, base, ups, num_classes=self.num_classes, norm=discriminator_norm(config))
        return G, D.apply(dcgan_init)

    def to_samples(self, x: Tensor, labels: Tensor | None, meta: dict[str, Any]) -> ImageSamples:
        return ImageSamples(((x + 1) / 2).clamp(0, 1), meta=meta)  # N×C×H×W in [0, 1]
