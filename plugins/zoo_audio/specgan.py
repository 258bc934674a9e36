"""SpecGAN (Donahue et al. 2019): a DCGAN on log-magnitude spectrograms, turned into audio with Griffin-Lim.

With 16 ms windows (n_fft=128) and 8 ms hops at 8 kHz, an 8192-sample clip is a 64×128 image (the
Nyquist bin is dropped). As in the paper, every frequency bin is standardised with the training
set's mean and std (computed once in `setup`), clipped at 3 std and scaled to [-1, 1]. Training is
the GAN family's own: losses, class conditioning (projection discriminator), EMA and the update order
come from `zoo_gan.family.GANFamily`; only the networks and the data's form differ.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
import torchaudio.functional as AF
from torch import Tensor

from zoo.contract import Family
from zoo.data.tensors import TensorData
from zoo.errors import UsageError
from zoo.samples import AudioSamples
from zoo_audio.conditioning import requested_labels
from zoo_audio.fsdd import clip_seconds
from zoo_gan.dcgan import Discriminator, Generator
from zoo_gan.family import GANConfig, GANFamily

LOG_FLOOR = 1e-3  # log(|S| + floor): about the recordings' noise floor, so silence is one flat value
CLIP_STD = 3.0  # normalised log-magnitudes are clipped at ±3 std, then divided by 3


def log_magnitude(waves: Tensor, n_fft: int, hop: int) -> Tensor:
    """N×T waves -> N×(n_fft/2)×(T/hop) log-magnitudes (Hann window; Nyquist bin and last frame dropped)."""
    window = torch.hann_window(n_fft, device=waves.device)
    spec = torch.stft(waves, n_fft, hop_length=hop, window=window, return_complex=True)  # N×(n_fft/2+1)×(T/hop+1)
    return torch.log(spec.abs()[:, :-1, : waves.shape[1] // hop] + LOG_FLOOR)


def griffin_lim(logmag: Tensor, n_fft: int, hop: int, length: int, n_iter: int) -> Tensor:
    """Invert `log_magnitude` (N×F×frames) to N×length waves, recovering the phase by Griffin-Lim."""
    mag = (logmag.exp() - LOG_FLOOR).clamp_min(0)
    mag = F.pad(mag, (0, 1, 0, 1))  # restore the dropped Nyquist bin and last frame as zeros
    window = torch.hann_window(n_fft, device=mag.device)
    return AF.griffinlim(mag, window, n_fft, hop, n_fft, power=1.0, n_iter=n_iter, momentum=0.99, length=length, rand_init=False)


def num_doublings(bins: int, frames: int) -> int:
    """Stride-2 layers between the base and the spectrogram: the smaller side of the base is 4."""
    ups = int(math.log2(max(min(bins, frames), 1))) - 2
    if ups < 1 or bins % 2**ups or frames % 2**ups:
        raise UsageError(
            f"SpecGAN needs n_fft/2 ({bins}) and clip_samples/hop ({frames}) divisible by a power of two >= 2 "
            "with the smaller one >= 8; e.g. model.n_fft=128, model.hop=64, data.clip_samples=8192"
        )
    return ups


@dataclass
class SpecGANConfig(GANConfig):
    arch: Literal["specgan"] = "specgan"
    n_fft: int = 128  # 16 ms windows at 8 kHz: 64 frequency bins once the Nyquist bin is dropped
    hop: int = 64  # 8 ms hops: 128 frames for an 8192-sample clip
    griffin_lim_iters: int = 32  # phase-recovery iterations per sample


class SpecGANFamily(GANFamily):
    Config = SpecGANConfig
    modality = "audio"
    tiny: ClassVar[dict[str, Any]] = {
        "model.nz": 8, "model.ngf": 4, "model.ndf": 4, "model.griffin_lim_iters": 2, "data.batch_size": 8, "data.clip_samples": 1024,
    }

    def __init__(self, config: SpecGANConfig, info: dict[str, Any]) -> None:
        Family.__init__(self, config, info)  # not GANFamily.__init__: that builds the image networks
        self.num_classes = info["num_classes"] if config.conditional else 0
        bins, frames = self.shape(config, info["clip_samples"])
        norm = "none" if config.loss == "wgan-gp" else ("spectral" if config.spectral_norm else "batch")
        ups = num_doublings(bins, frames)
        base = (bins >> ups, frames >> ups)
        self.G = Generator(config.nz, config.ngf, 1, (bins, frames), self.num_classes, base)  # N×1×bins×frames
        self.D = Discriminator(config.ndf, 1, (bins, frames), self.num_classes, norm, base)
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False) if config.ema_decay else None
        # Per-bin statistics of the training log-magnitudes (F×1), from `setup`; they live in the run's info.
        self.register_buffer("spec_mean", torch.tensor(info["spec_mean"]).unsqueeze(1), persistent=False)
        self.register_buffer("spec_std", torch.tensor(info["spec_std"]).unsqueeze(1), persistent=False)

    @staticmethod
    def shape(config: SpecGANConfig, clip_samples: int) -> tuple[int, int]:
        """(frequency bins, frames) of one clip's spectrogram, checked against the architecture."""
        if config.n_fft <= 0 or config.hop <= 0 or clip_samples % config.hop:
            raise UsageError(f"data.clip_samples ({clip_samples}) must be a multiple of model.hop ({config.hop}), both positive")
        bins, frames = config.n_fft // 2, clip_samples // config.hop
        num_doublings(bins, frames)
        return bins, frames

    @classmethod
    def setup(cls, config: SpecGANConfig, train: TensorData, assets: Path) -> dict[str, Any]:
        cls.shape(config, train.info["clip_samples"])
        logmag = torch.cat([log_magnitude(part, config.n_fft, config.hop) for part in train.fields["x"].split(512)])  # N×F×frames
        return {**train.info, "spec_mean": logmag.mean(dim=(0, 2)).tolist(), "spec_std": logmag.std(dim=(0, 2)).tolist()}

    def normalize(self, logmag: Tensor) -> Tensor:
        """Log-magnitudes -> [-1, 1] per bin."""
        mean, std = self.spec_mean.to(logmag.device), self.spec_std.to(logmag.device)
        return ((logmag - mean) / std).clamp(-CLIP_STD, CLIP_STD) / CLIP_STD

    def denormalize(self, x: Tensor) -> Tensor:
        return x * CLIP_STD * self.spec_std + self.spec_mean

    def prepare(self, data: TensorData) -> TensorData:
        """Spectrograms once for the whole split, as N×1×F×frames in [0, 1] (the GAN family's image range)."""
        cfg = self.config
        spec = torch.cat([self.normalize(log_magnitude(part, cfg.n_fft, cfg.hop)) for part in data.fields["x"].split(512)])
        return TensorData({"x": (spec.unsqueeze(1) + 1) / 2, "y": data.fields["y"]}, data.info)

    def throughput_unit(self) -> tuple[str, float]:
        return clip_seconds(self.info)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, label: int | None = None) -> AudioSamples:
        labels = requested_labels(n, label, self.num_classes, "cspecgan-digits", self.device)
        images = super().sample(n, generator, label)  # N×1×F×frames in [0, 1], same labels as above
        logmag = self.denormalize(images.images[:, 0] * 2 - 1)
        cfg = self.config
        waves = griffin_lim(logmag, cfg.n_fft, cfg.hop, self.info["clip_samples"], cfg.griffin_lim_iters)
        return AudioSamples(waves.clamp(-1, 1), self.info["sample_rate"], labels, meta=images.meta)
