"""The spectrogram diffusion family: the same UNet, objectives and samplers on normalised log-magnitude
spectrograms of clips (zoo.nn.spectrogram, as SpecGAN uses), with audio back through Griffin-Lim (or, with
`--set vocoder=RUN`, through a trained vocoder run: zoo.vocoder).

With 16 ms windows (n_fft=128) and 8 ms hops at 8 kHz, an 8192-sample clip is a 1×64×128 array.
Conditional presets draw the digit asked for with classifier-free guidance.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from zoo.capabilities import Condition, requested_labels
from zoo.data.tensors import TensorData
from zoo.errors import UsageError
from zoo.nn.spectrogram import bin_statistics, denormalize, griffin_lim, spectrogram_images
from zoo.samples import AudioSamples
from zoo.vocoder import VOCODER, render
from zoo_diffusion.family import CONDITIONS, Diffusion, DiffusionConfig


@dataclass
class SpectrogramDiffusionConfig(DiffusionConfig):
    n_fft: int = 128  # 64 frequency bins once the Nyquist bin is dropped
    hop: int = 64  # 128 frames for an 8192-sample clip
    griffin_lim_iters: int = 32  # phase-recovery iterations per sample


class SpectrogramDiffusionFamily(Diffusion):
    Config = SpectrogramDiffusionConfig
    modality = "audio"
    conditions: ClassVar[tuple[Condition, ...]] = (*CONDITIONS, VOCODER)
    tiny: ClassVar[dict[str, Any]] = {"model.widths": [8, 8], "model.attention": [1], "model.steps": 2, "model.eval_images": 16,
                                      "model.griffin_lim_iters": 2, "data.batch_size": 8, "data.clip_samples": 1024, "train.lr": 3e-3}

    def __init__(self, config: SpectrogramDiffusionConfig, info: dict[str, Any], context: Any) -> None:
        super().__init__(config, info, context)
        # Per-bin statistics of the training log-magnitudes (F×1), from `setup`; they live in the run's info.
        self.register_buffer("spec_mean", torch.tensor(info["spec_mean"]).unsqueeze(1), persistent=False)
        self.register_buffer("spec_std", torch.tensor(info["spec_std"]).unsqueeze(1), persistent=False)

    @staticmethod
    def check_frames(config: SpectrogramDiffusionConfig, clip_samples: int) -> None:
        if config.n_fft <= 0 or config.hop <= 0 or clip_samples % config.hop:
            raise UsageError(f"data.clip_samples ({clip_samples}) must be a multiple of model.hop ({config.hop}), both positive")

    def array_shape(self, config: SpectrogramDiffusionConfig, info: dict[str, Any]) -> tuple[int, int, int]:
        self.check_frames(config, info["clip_samples"])
        return 1, config.n_fft // 2, info["clip_samples"] // config.hop

    @classmethod
    def setup(cls, config: SpectrogramDiffusionConfig, train: TensorData, assets: Path) -> dict[str, Any]:
        cls.check_frames(config, train.info["clip_samples"])
        return {**train.info, **bin_statistics(train.fields["x"], config.n_fft, config.hop)}

    def prepare(self, data: TensorData) -> TensorData:
        """Spectrograms once for the whole split: N×1×F×frames in [0, 1], with the digits."""
        x = spectrogram_images(data.fields["x"], self.config.n_fft, self.config.hop, self.spec_mean, self.spec_std)
        return TensorData({"x": x, "y": data.fields["y"]}, data.info)

    def throughput_unit(self) -> tuple[str, float]:
        return "audio_s", self.info["clip_samples"] / self.info["sample_rate"]

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, label: int | None = None, guidance: float | None = None,
               sampler: str | None = None, steps: int | None = None, eta: float | None = None, vocoder: str | None = None) -> AudioSamples:
        settings = self.settings(guidance, sampler, steps, eta)
        x = self.generate(n, generator, label, settings).float()  # N×1×F×frames in [-1, 1]
        logmag = denormalize(x[:, 0], self.spec_mean, self.spec_std)
        cfg, length = self.config, self.info["clip_samples"]
        spectrogram = {"sample_rate": self.info["sample_rate"], "n_fft": cfg.n_fft, "hop": cfg.hop}
        waves = render(logmag, spectrogram, length, lambda s: griffin_lim(s, cfg.n_fft, cfg.hop, length, cfg.griffin_lim_iters), vocoder)
        labels = requested_labels(n, label, self.num_classes, self.device)  # the digits `generate` drew
        meta = {**settings, **({"label": label} if label is not None else {}), **({"vocoder": vocoder} if vocoder else {})}
        return AudioSamples(waves.clamp(-1, 1), self.info["sample_rate"], labels, meta=meta)
