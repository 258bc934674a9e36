"""SpecGAN (Donahue et al. 2019): a DCGAN on log-magnitude spectrograms, turned into audio with Griffin-Lim.

With 16 ms windows (n_fft=128) and 8 ms hops at 8 kHz, an 8192-sample clip is a 64×128 image (the
Nyquist bin is dropped). As in the paper, every frequency bin is standardised with the training
set's mean and std (computed once in `setup`), clipped at 3 std and scaled to [-1, 1]. Training is
the core GAN family's (`zoo.nn.gan.GANFamily`): losses, class conditioning (projection discriminator)
and the update order; only the networks (`zoo.nn.dcgan` at the spectrogram's shape) and the data's
form differ.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
import torchaudio.functional as AF
from torch import Tensor, nn

from zoo.contract import FamilyContext
from zoo.data.tensors import TensorData
from zoo.errors import UsageError
from zoo.nn.dcgan import Discriminator, Generator, dcgan_init, plan
from zoo.nn.gan import GANConfig, GANFamily, discriminator_norm
from zoo.samples import AudioSamples
from zoo_audio.fsdd import clip_seconds

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


@dataclass
class SpecGANConfig(GANConfig):
    arch: Literal["specgan"] = "specgan"
    n_fft: int = 128  # 16 ms windows at 8 kHz: 64 frequency bins once the Nyquist bin is dropped
    hop: int = 64  # 8 ms hops: 128 frames for an 8192-sample clip
    griffin_lim_iters: int = 32  # phase-recovery iterations per sample


class SpecGANFamily(GANFamily):
    Config = SpecGANConfig
    modality = "audio"
    label_hint = "train cspecgan-digits to choose the digit"
    tiny: ClassVar[dict[str, Any]] = {
        "model.nz": 8, "model.ngf": 4, "model.ndf": 4, "model.griffin_lim_iters": 2, "data.batch_size": 8, "data.clip_samples": 1024,
    }

    def __init__(self, config: SpecGANConfig, info: dict[str, Any], context: FamilyContext) -> None:
        super().__init__(config, info, context)
        # Per-bin statistics of the training log-magnitudes (F×1), from `setup`; they live in the run's info.
        self.register_buffer("spec_mean", torch.tensor(info["spec_mean"]).unsqueeze(1), persistent=False)
        self.register_buffer("spec_std", torch.tensor(info["spec_std"]).unsqueeze(1), persistent=False)

    @staticmethod
    def stack(config: SpecGANConfig, clip_samples: int) -> tuple[tuple[int, int], int]:
        """(base, doublings) of the DCGAN stack for one clip's bins×frames spectrogram, checked."""
        if config.n_fft <= 0 or config.hop <= 0 or clip_samples % config.hop:
            raise UsageError(f"data.clip_samples ({clip_samples}) must be a multiple of model.hop ({config.hop}), both positive")
        bins, frames = config.n_fft // 2, clip_samples // config.hop
        stack = plan((bins, frames))
        if stack is None:
            raise UsageError(
                f"SpecGAN needs n_fft/2 ({bins}) and clip_samples/hop ({frames}) both even and >= 8; "
                "e.g. model.n_fft=128, model.hop=64, data.clip_samples=8192"
            )
        return stack

    def build_networks(self, config: SpecGANConfig, info: dict[str, Any]) -> tuple[nn.Module, nn.Module]:
        base, ups = self.stack(config, info["clip_samples"])
        G = Generator(config.nz, config.ngf, 1, base, ups, num_classes=self.num_classes).apply(dcgan_init)  # N×1×bins×frames
        D = Discriminator(config.ndf, 1, base, ups, num_classes=self.num_classes, norm=discriminator_norm(config))
        return G, D.apply(dcgan_init)

    @classmethod
    def setup(cls, config: SpecGANConfig, train: TensorData, assets: Path) -> dict[str, Any]:
        cls.stack(config, train.info["clip_samples"])
        logmag = torch.cat([log_magnitude(part, config.n_fft, config.hop) for part in train.fields["x"].split(512)])  # N×F×frames
        return {**train.info, "spec_mean": logmag.mean(dim=(0, 2)).tolist(), "spec_std": logmag.std(dim=(0, 2)).tolist()}

    def normalize(self, logmag: Tensor) -> Tensor:
        """Log-magnitudes -> [-1, 1] per bin."""
        mean, std = self.spec_mean.to(logmag.device), self.spec_std.to(logmag.device)
        return ((logmag - mean) / std).clamp(-CLIP_STD, CLIP_STD) / CLIP_STD

    def denormalize(self, x: Tensor) -> Tensor:
        return x * CLIP_STD * self.spec_std + self.spec_mean

    def prepare(self, data: TensorData) -> TensorData:
        """Spectrograms once for the whole split, as N×1×F×frames in [0, 1] (the GAN family's input range)."""
        cfg = self.config
        spec = torch.cat([self.normalize(log_magnitude(part, cfg.n_fft, cfg.hop)) for part in data.fields["x"].split(512)])
        return TensorData({"x": (spec.unsqueeze(1) + 1) / 2, "y": data.fields["y"]}, data.info)

    def throughput_unit(self) -> tuple[str, float]:
        return clip_seconds(self.info)

    def to_samples(self, x: Tensor, labels: Tensor | None, meta: dict[str, Any]) -> AudioSamples:
        """N×1×F×frames normalised spectrograms -> N×T waves by Griffin-Lim."""
        cfg = self.config
        logmag = self.denormalize(x.clamp(-1, 1)[:, 0])
        waves = griffin_lim(logmag, cfg.n_fft, cfg.hop, self.info["clip_samples"], cfg.griffin_lim_iters)
        return AudioSamples(waves.clamp(-1, 1), self.info["sample_rate"], labels, meta=meta)
