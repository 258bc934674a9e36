"""WaveGAN (Donahue et al. 2019): a 1-D DCGAN on raw waveforms, with phase shuffle in the discriminator.

The generator maps z through a dense layer to a short, wide sequence, then five stride-4 transposed
convolutions (kernel 25) up to the clip length; the discriminator mirrors it. Between its layers the
discriminator shifts each clip's activations by a random -2..2 samples (phase shuffle), so it cannot
tell real from fake by the phase of the generator's periodic upsampling artefacts. Training is the GAN
family's (`zoo_gan.family.GANFamily`), with the paper's WGAN-GP loss and 5 critic steps by default.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from zoo.contract import Family
from zoo.data.tensors import TensorData
from zoo.errors import UsageError
from zoo.samples import AudioSamples
from zoo_audio.conditioning import requested_labels
from zoo_audio.fsdd import clip_seconds
from zoo_gan.family import GANConfig, GANFamily

STRIDE = 4
LAYERS = 5  # the clip is STRIDE**LAYERS = 1024 times longer than the generator's first sequence


def padding(kernel: int) -> tuple[int, int]:
    """(padding, output_padding) that make a stride-4 (transposed) conv scale lengths by exactly 4."""
    extra = (kernel - STRIDE) % 2
    return (kernel - STRIDE + extra) // 2, extra


def phase_shuffle(x: Tensor, radius: int) -> Tensor:
    """Shift each clip of N×C×T by its own random -radius..radius samples, reflecting at the edges."""
    n, c, t = x.shape
    shift = torch.randint(-radius, radius + 1, (n, 1, 1), device=x.device)
    idx = torch.arange(t, device=x.device) + radius - shift  # N×1×T: out[t] = x[t - shift]
    return F.pad(x, (radius, radius), mode="reflect").gather(2, idx.expand(n, c, t))


class Generator(nn.Module):
    def __init__(self, nz: int, ngf: int, length: int, kernel: int, num_classes: int = 0) -> None:
        super().__init__()
        self.base, width = length // STRIDE**LAYERS, ngf * 2 ** (LAYERS - 1)
        self.embed = nn.Embedding(num_classes, nz) if num_classes else None
        self.dense = nn.Linear(nz * (2 if num_classes else 1), width * self.base)  # -> N×16ngf×base
        pad, out_pad = padding(kernel)
        layers: list[nn.Module] = []
        for _ in range(LAYERS - 1):  # each: N×w×t -> N×(w/2)×4t
            layers += [nn.ReLU(), nn.ConvTranspose1d(width, width // 2, kernel, STRIDE, pad, out_pad)]
            width //= 2
        layers += [nn.ReLU(), nn.ConvTranspose1d(width, 1, kernel, STRIDE, pad, out_pad), nn.Tanh()]  # N×1×T in [-1, 1]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        # z: N×nz -> N×1×T
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], dim=1)
        return self.net(self.dense(z).view(len(z), -1, self.base))


class Discriminator(nn.Module):
    """Five stride-4 convs with leaky ReLU and phase shuffle, then a linear logit (+ a projection term)."""

    def __init__(self, ndf: int, length: int, kernel: int, radius: int, num_classes: int = 0, norm: str = "none") -> None:
        super().__init__()
        wrap = spectral_norm if norm == "spectral" else (lambda m: m)
        pad, _ = padding(kernel)
        widths = [1] + [ndf * 2**i for i in range(LAYERS)]  # 1 -> ndf -> ... -> 16ndf
        self.convs = nn.ModuleList(wrap(nn.Conv1d(a, b, kernel, STRIDE, pad)) for a, b in zip(widths, widths[1:]))
        self.radius = radius
        self.head = wrap(nn.Linear(widths[-1] * (length // STRIDE**LAYERS), 1))
        self.embed = wrap(nn.Embedding(num_classes, widths[-1])) if num_classes else None

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = x  # N×1×T
        for i, conv in enumerate(self.convs):
            h = F.leaky_relu(conv(h), 0.2)  # N×w×t/4
            if self.training and self.radius and i < len(self.convs) - 1:
                h = phase_shuffle(h, self.radius)
        logit = self.head(h.flatten(1)).flatten()  # N
        if self.embed is not None:
            logit = logit + (self.embed(y) * h.sum(dim=2)).sum(dim=1)
        return logit


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
    tiny: ClassVar[dict[str, Any]] = {
        "model.nz": 8, "model.ngf": 2, "model.ndf": 2, "model.kernel_size": 8, "data.batch_size": 8, "data.clip_samples": 1024,
    }

    def __init__(self, config: WaveGANConfig, info: dict[str, Any]) -> None:
        Family.__init__(self, config, info)  # not GANFamily.__init__: that builds the image networks
        length = info["clip_samples"]
        if length % STRIDE**LAYERS or config.kernel_size < STRIDE:
            raise UsageError(f"WaveGAN needs data.clip_samples divisible by 1024 (got {length}) and model.kernel_size >= 4 (got {config.kernel_size})")
        self.num_classes = info["num_classes"] if config.conditional else 0
        norm = "spectral" if config.spectral_norm and config.loss != "wgan-gp" else "none"
        self.G = Generator(config.nz, config.ngf, length, config.kernel_size, self.num_classes)
        self.D = Discriminator(config.ndf, length, config.kernel_size, config.phase_shuffle, self.num_classes, norm)
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False) if config.ema_decay else None

    def prepare(self, data: TensorData) -> TensorData:
        """Waves as N×1×T in [0, 1]: the GAN family's step maps its inputs from [0, 1] to [-1, 1]."""
        return TensorData({"x": (data.fields["x"].unsqueeze(1) + 1) / 2, "y": data.fields["y"]}, data.info)

    def throughput_unit(self) -> tuple[str, float]:
        return clip_seconds(self.info)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, label: int | None = None) -> AudioSamples:
        labels = requested_labels(n, label, self.num_classes, "a conditional WaveGAN (--set model.conditional=true)", self.device)
        out = super().sample(n, generator, label)  # N×1×T in [0, 1]
        return AudioSamples(out.images[:, 0] * 2 - 1, self.info["sample_rate"], labels, meta=out.meta)
