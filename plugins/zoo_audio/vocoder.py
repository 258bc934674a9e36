"""A neural vocoder: a small HiFi-GAN (zoo.nn.vocoder) from log-mel spectrograms to 8 kHz waves.

Training draws a random `segment` of each clip inside its recording (FSDD pads clips with silence),
its mel frames sliced from the split's mel spectrograms (computed once in `prepare`). The generator's
loss is HiFi-GAN's: least-squares adversarial + 2·feature matching + 45·mel L1; for the first
`gan_start` steps only the mel L1 trains it (the discriminators wait: a cheap start on a CPU).

The run `Vocodes`: spectrogram families render through it (`--set vocoder=RUN`, zoo.vocoder), and it
`TranslatesFiles`: `zoo translate RUN clips/ --out out/` resynthesises WAV files (copy synthesis).
`sample(n)` resynthesises n test clips, so a run's samples sit beside real recordings.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.contract import Family, FamilyContext, StepContext
from zoo.data.tensors import TensorData
from zoo.errors import UsageError
from zoo.nn.vocoder import Discriminators, Generator, MelFrontEnd, feature_matching, lsgan_d_loss, lsgan_g_loss
from zoo.samples import AudioSamples
from zoo_audio.fsdd import clip_seconds
from zoo_audio.wavfiles import read_clip, write_clip


@dataclass
class VocoderConfig:
    n_fft: int = 128  # the mel front end: 16 ms windows at 8 kHz, as the spectrogram families'
    hop: int = 64  # 8 ms: the generator upsamples each mel frame to `hop` samples
    n_mels: int = 40
    channels: int = 128  # after the first conv; halved by every upsampling
    rates: list[int] = field(default_factory=lambda: [4, 4, 4])  # upsampling factors, product = hop
    kernel: int = 3
    dilations: list[int] = field(default_factory=lambda: [1, 3, 9])  # one residual conv per dilation, after each upsampling
    periods: list[int] = field(default_factory=lambda: [2, 3, 5, 7, 11])  # multi-period discriminators
    scales: int = 2  # multi-scale discriminators (the wave, then 2x average-pooled)
    d_width: int = 8  # the discriminators' first width
    segment: int = 2048  # training samples per clip (32 frames)
    mel_weight: float = 45.0
    fm_weight: float = 2.0
    gan_start: int = 0  # steps of mel-L1-only training before the adversarial losses join

    def __post_init__(self) -> None:
        if math.prod(self.rates) != self.hop or self.segment % self.hop:
            raise UsageError(f"model.rates {self.rates} must multiply to model.hop ({self.hop}), and model.segment "
                             f"({self.segment}) be a multiple of it; e.g. rates [4, 4, 4] for hop 64")
        if self.d_width % 4:
            raise UsageError(f"model.d_width ({self.d_width}) must be a multiple of 4 (the scale discriminators' grouped convs)")
        if self.channels % 2 ** len(self.rates):
            raise UsageError(f"model.channels ({self.channels}) must be divisible by 2^{len(self.rates)} (it halves at every upsampling)")


class Vocoder(Family):
    Config = VocoderConfig
    modality = "audio"
    input_suffixes = (".wav",)
    tiny: ClassVar[dict[str, Any]] = {"model.channels": 8, "model.rates": [4, 4, 4], "model.dilations": [1], "model.periods": [2],
                                      "model.scales": 1, "model.d_width": 4, "model.segment": 256, "model.gan_start": 4,
                                      "data.batch_size": 4, "data.clip_samples": 1024}

    def __init__(self, config: VocoderConfig, info: dict[str, Any], context: FamilyContext) -> None:
        super().__init__(config, info, context)
        if config.segment > info["clip_samples"]:
            raise UsageError(f"model.segment ({config.segment}) is longer than data.clip_samples ({info['clip_samples']})")
        self.front = MelFrontEnd(info["sample_rate"], config.n_fft, config.hop, config.n_mels)
        self.G = Generator(config.n_mels, config.channels, tuple(config.rates), config.kernel, tuple(config.dilations))
        self.D = Discriminators(tuple(config.periods), config.scales, config.d_width)
        self.mel_settings = {"sample_rate": info["sample_rate"], "n_fft": config.n_fft, "hop": config.hop, "n_mels": config.n_mels}

    def param_groups(self) -> dict[str, list[torch.nn.Parameter]]:
        return {"d": list(self.D.parameters()), "g": list(self.G.parameters())}

    def prepare(self, data: TensorData) -> TensorData:
        """Waves N×T, their log-mels N×M×(T/hop) and how many frames each recording fills (N), once per split."""
        waves = data.fields["x"]
        with torch.no_grad():
            mel = torch.cat([self.front(part) for part in waves.split(256)])
        nonzero = waves.ne(0)
        length = torch.where(nonzero.any(1), waves.shape[1] - nonzero.flip(1).int().argmax(1), 0)
        fields = {"x": waves, "mel": mel, "frames": torch.div(length + self.config.hop - 1, self.config.hop, rounding_mode="floor")}
        return TensorData({**fields, **{k: v for k, v in data.fields.items() if k in ("y", "speaker")}}, data.info)

    def segments(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """A random `segment` of each clip inside its recording: (log-mel N×M×F, wave N×segment)."""
        hop, width = self.config.hop, self.config.segment // self.config.hop
        mel, waves = batch["mel"], batch["x"]
        room = (batch["frames"] - width).clamp(0, mel.shape[2] - width)  # N: the latest start that stays in the recording
        start = (torch.rand(len(room), device=mel.device) * (room + 1)).long()  # N
        frames = start[:, None] + torch.arange(width, device=mel.device)  # N×F
        samples = start[:, None] * hop + torch.arange(width * hop, device=mel.device)  # N×segment
        return mel.gather(2, frames[:, None, :].expand(-1, mel.shape[1], -1)), waves.gather(1, samples)

    def train_step(self, batch: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        cfg = self.config
        mel, real = self.segments(batch)
        fake = self.G(mel)  # N×segment
        adversarial = ctx.step >= cfg.gan_start
        logs: dict[str, Tensor] = {}
        if adversarial:  # the discriminators on real vs detached fakes
            loss_d = lsgan_d_loss(self.D(real), self.D(fake.detach()))
            ctx.update("d", loss_d)
            logs["loss_d"] = loss_d.detach()
        loss_mel = F.l1_loss(self.front(fake), mel)
        loss_g = cfg.mel_weight * loss_mel
        if adversarial:  # through the updated discriminators, which get no gradient
            self.D.requires_grad_(False)
            with torch.no_grad():
                on_real = self.D(real)
            on_fake = self.D(fake)
            loss_g = loss_g + lsgan_g_loss(on_fake) + cfg.fm_weight * feature_matching(on_real, on_fake)
            self.D.requires_grad_(True)
        ctx.update("g", loss_g)
        return {"loss_mel": loss_mel.detach(), **logs, "loss_g": loss_g.detach()}  # loss_mel first: the loss that must fall

    # ---- vocoding -------------------------------------------------------------------------------
    @torch.no_grad()
    def vocode(self, log_mel: Tensor) -> Tensor:
        """Log-mel N×n_mels×frames -> waves N×(frames·hop) in [-1, 1]."""
        return self.G(log_mel.to(self.device).float())

    @torch.no_grad()
    def vocode_magnitude(self, magnitude: Tensor) -> Tensor:
        """Linear STFT magnitude N×(n_fft/2+1)×frames (a spectrogram model's) -> waves N×(frames·hop)."""
        return self.vocode(self.front.from_magnitude(magnitude.to(self.device)))

    @torch.no_grad()
    def resynthesize(self, waves: Tensor, batch_size: int = 64) -> Tensor:
        """Copy synthesis: waves N×T -> their mel spectrograms -> the vocoder's waves N×T."""
        out = torch.cat([self.vocode(self.front(part.to(self.device))) for part in waves.split(batch_size)])
        return F.pad(out, (0, waves.shape[1] - out.shape[1]))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> AudioSamples:
        """Copy synthesis of n test clips, picked with `generator` (all of them, shuffled, for n = the split's size)."""
        test = self.context.split("test")
        pick = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed_of(generator)))
        pick = pick.repeat(n // len(test) + 1)[:n]
        waves = self.resynthesize(test.fields["x"][pick])
        return AudioSamples(waves.clamp(-1, 1), self.info["sample_rate"], test.fields["y"][pick].to(waves.device))

    def translate_file(self, source: Path, out: Path, generator: torch.Generator | None = None) -> Path:
        """A WAV file resynthesised through the mel spectrogram (copy synthesis), written as WAV at `out`."""
        wave = read_clip(source, self.info["sample_rate"], min_samples=self.config.n_fft)
        out = out.with_suffix(".wav")
        write_clip(out, self.resynthesize(wave[None])[0].clamp(-1, 1).cpu(), self.info["sample_rate"])
        return out

    def throughput_unit(self) -> tuple[str, float]:
        return clip_seconds(self.info, self.config.segment)


def seed_of(generator: torch.Generator | None) -> int:
    """A seed drawn from `generator` (or the global stream): what picks the test clips."""
    return int(torch.randint(2**31 - 1, (1,), generator=generator, device=generator.device if generator else "cpu"))
