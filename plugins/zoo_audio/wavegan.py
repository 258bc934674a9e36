"""WaveGAN (Donahue et al. 2019): a 1-D DCGAN on raw waveforms, with phase shuffle in the discriminator.

The generator maps z through a dense layer to a short, wide sequence, then five stride-4 transposed
convolutions (kernel 25) up to the clip length; the discriminator mirrors it (the rank-1 stacks of
`zoo.nn.dcgan`, without BatchNorm). Between its layers the discriminator shifts each clip's
activations by a random -2..2 samples (phase shuffle), so it cannot tell real from fake by the phase
of the generator's periodic upsampling artefacts. Training is the core GAN family's
(`zoo.nn.gan.GANFamily`); the config's defaults are the paper's WGAN-GP loss and 5 critic steps, the
`wavegan-digits` preset trains with the non-saturating loss and an R1 penalty, one critic step each
(docs/audio.md: better numbers in less CPU time).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.data.tensors import TensorData
from zoo.errors import UsageError
from zoo.nn.dcgan import Discriminator, Generator
from zoo.nn.gan import GANConfig, GANFamily, discriminator_norm
from zoo.samples import AudioSamples
from zoo_audio.fsdd import clip_seconds

STRIDE = 4
LAYERS = 5  # the clip is STRIDE**LAYERS = 1024 times longer than the generator's first sequence


def phase_shuffle(x: Tensor, radius: int) -> Tensor:
    """Shift each clip of N×C×T by its own random -radius..radius samples, reflecting at the edges."""
    n, c, t = x.shape
    shift = torch.randint(-radius, radius + 1, (n, 1, 1), device=x.device)
    idx = torch.arange(t, device=x.device) + radius - shift  # N×1×T: out[t] = x[t - shift]
    return F.pad(x, (radius, radius), mode="reflect").gather(2, idx.expand(n, c, t))


class PhaseShuffle(nn.Module):
    """`phase_shuffle` while training; the identity in evaluation."""

    def __init__(self, radius: int) -> None:
        super().__init__()
        self.radius = radius

    def forward(self, x: Tensor) -> Tensor:
        return phase_shuffle(x, self.radius) if self.training else x  # N×C×T


@dataclass
class WaveGANConfig(GANConfig):
    arch: Literal["wavegan"] = "wavegan"
    loss: Literal["nonsaturating", "hinge", "wgan-gp"] = "wgan-gp"
    d_steps: int = 5
    ngf: int = 16  # the generator's last hidden width; its first is 16× this (the paper's d=64 is ngf=64)
    ndf: int = 16
    kernel_size: int = 25
    phase_shuffle: int = 2  # the discriminator's random shift radius, in samples (0 turns it off)


class WaveGANFamily(GANFamily):
    Config = WaveGANConfig
    modality = "audio"
    label_hint = "train a conditional WaveGAN (--set model.conditional=true) to choose the digit"
    tiny: ClassVar[dict[str, Any]] = {
        "model.nz": 8, "model.ngf": 2, "model.ndf": 2, "model.kernel_size": 8, "data.batch_size": 8, "data.clip_samples": 1024,
    }

    def build_networks(self, config: WaveGANConfig, info: dict[str, Any]) -> tuple[nn.Module, nn.Module]:
        length, kernel, radius = info["clip_samples"], config.kernel_size, config.phase_shuffle
        if length % STRIDE**LAYERS or kernel < STRIDE or radius < 0:
            raise UsageError(f"WaveGAN needs data.clip_samples divisible by 1024 (got {length}), model.kernel_size >= 4 "
                             f"(got {kernel}) and model.phase_shuffle >= 0 (got {radius})")
        base = (length // STRIDE**LAYERS,)
        shared = {"num_classes": self.num_classes, "kernel": kernel, "stride": STRIDE}
        G = Generator(config.nz, config.ngf, 1, base, LAYERS, batch_norm=False, stem="linear", **shared)  # N×1×T
        D = Discriminator(config.ndf, 1, base, LAYERS, norm=discriminator_norm(config, plain="none"),
                          between=(lambda: PhaseShuffle(radius)) if radius else None, **shared)
        return G, D

    def prepare(self, data: TensorData) -> TensorData:
        """Waves as N×1×T in [0, 1]: the GAN family's step maps its inputs from [0, 1] to [-1, 1]."""
        return TensorData({"x": (data.fields["x"].unsqueeze(1) + 1) / 2, "y": data.fields["y"]}, data.info)

    def throughput_unit(self) -> tuple[str, float]:
        return clip_seconds(self.info)

    def to_samples(self, x: Tensor, labels: Tensor | None, meta: dict[str, Any]) -> AudioSamples:
        return AudioSamples(x.clamp(-1, 1)[:, 0], self.info["sample_rate"], labels, meta=meta)  # N×T
