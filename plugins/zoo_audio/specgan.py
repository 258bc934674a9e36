"""SpecGAN (Donahue et al. 2019): a DCGAN on log-magnitude spectrograms, turned into audio with Griffin-Lim
(or, with `--set vocoder=RUN`, through a trained vocoder run: zoo.vocoder).

With 16 ms windows (n_fft=128) and 8 ms hops at 8 kHz, an 8192-sample clip is a 64×128 image (the
Nyquist bin is dropped). As in the paper, every frequency bin is standardised with the training
set's statistics (zoo.nn.spectrogram, computed once in `setup`). Training is
the core GAN family's (`zoo.nn.gan.GANFamily`): losses, class conditioning (projection discriminator)
and the update order; only the networks (`zoo.nn.dcgan` at the spectrogram's shape) and the data's
form differ.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from zoo.capabilities import LABEL
from zoo.contract import FamilyContext
from zoo.data.tensors import TensorData
from zoo.errors import UsageError
from zoo.nn.dcgan import Discriminator, Generator, dcgan_init, plan
from zoo.nn.gan import TRUNCATION, GANConfig, GANFamily, discriminator_norm
from zoo.nn.spectrogram import bin_statistics, denormalize, griffin_lim, spectrogram_images
from zoo.samples import AudioSamples
from zoo.vocoder import VOCODER, render
from zoo_audio.fsdd import clip_seconds

@dataclass
class SpecGANConfig(GANConfig):
    arch: Literal["specgan"] = "specgan"
    n_fft: int = 128  # 16 ms windows at 8 kHz: 64 frequency bins once the Nyquist bin is dropped
    hop: int = 64  # 8 ms hops: 128 frames for an 8192-sample clip
    griffin_lim_iters: int = 32  # phase-recovery iterations per sample


class SpecGANFamily(GANFamily):
    Config = SpecGANConfig
    modality = "audio"
    conditions = (LABEL, TRUNCATION, VOCODER)
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
        return {**train.info, **bin_statistics(train.fields["x"], config.n_fft, config.hop)}

    def prepare(self, data: TensorData) -> TensorData:
        """Spectrograms once for the whole split, as N×1×F×frames in [0, 1] (the GAN family's input range)."""
        x = spectrogram_images(data.fields["x"], self.config.n_fft, self.config.hop, self.spec_mean, self.spec_std)
        return TensorData({"x": x, "y": data.fields["y"]}, data.info)

    def throughput_unit(self) -> tuple[str, float]:
        return clip_seconds(self.info)

    def to_samples(self, x: Tensor, labels: Tensor | None, meta: dict[str, Any]) -> AudioSamples:
        """N×1×F×frames normalised spectrograms -> N×T waves by Griffin-Lim, or the vocoder run `meta["vocoder"]`."""
        cfg, length = self.config, self.info["clip_samples"]
        logmag = denormalize(x.clamp(-1, 1)[:, 0], self.spec_mean, self.spec_std)
        settings = {"sample_rate": self.info["sample_rate"], "n_fft": cfg.n_fft, "hop": cfg.hop}
        waves = render(logmag, settings, length, lambda s: griffin_lim(s, cfg.n_fft, cfg.hop, length, cfg.griffin_lim_iters), meta.get("vocoder"))
        return AudioSamples(waves.clamp(-1, 1), self.info["sample_rate"], labels, meta=meta)
