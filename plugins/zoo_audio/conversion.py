"""Voice conversion in the manner of StarGAN-VC (Kameoka et al. 2018): one generator maps a clip's log-mel
spectrogram to any target speaker's, rendered to audio by a vocoder run (zoo.vocoder, `--set vocoder=RUN`).

G: a 1-D conv encoder over time (mel bands as channels) whose instance norms carry no speaker, halving
time twice; residual blocks and an upsampling decoder whose norms are the target speaker's (conditional
instance norm: a learned scale and shift per speaker). D: a 1-D conv trunk with three heads: real/fake per
time position (least squares), a speaker head and, for labelled clips (FSDD's digits), a content head
(both cross-entropy).
Unlike StarGAN's, the speaker head also learns converted clips, as their *source* speaker: it becomes a
detector of whatever the conversion left of the source voice, so G cannot satisfy it with a small
perturbation that a head trained on real clips only would read as the target (that head was fooled by
100% of conversions the speaker classifier heard as the target 31% of the time; docs/audio.md).
G's loss: fool D as the target speaker (adversarial + D's speaker head), keep what is said (D's content
head, trained on real clips only, reads the source clip's label), come back to the clip when converted
back to its own speaker (cycle L1, ×10), and leave a clip that is already the target's as it is
(identity L1, ×5). The cycle alone does not keep the words: with the source-labelled speaker head and no
content loss, conversions were the target speaker 92% of the time but kept their digit 43%.

Mel settings are the vocoder's (zoo.nn.vocoder.MelFrontEnd); log-mels are standardised per band with
the training split's statistics (saved in the run's info).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.capabilities import Condition
from zoo.contract import Family, FamilyContext, StepContext
from zoo.data.tensors import TensorData
from zoo.errors import UsageError
from zoo.nn.vocoder import MelFrontEnd
from zoo.samples import AudioSamples
from zoo.vocoder import VOCODER, render_mel
from zoo_audio.classifier import as_speakers
from zoo_audio.fsdd import clip_seconds
from zoo_audio.vocoder import seed_of
from zoo_audio.wavfiles import read_clip, write_clip

SPEAKER = Condition("speaker", str, None, "the target speaker's name (`zoo info RUN` lists them; a random other speaker per clip when omitted)")
STRIDE = 4  # the encoder halves time twice: frames are padded to a multiple of 4


@dataclass
class ConversionConfig:
    n_fft: int = 128  # the mel settings: a vocoder run must share them
    hop: int = 64
    n_mels: int = 40
    channels: int = 128
    blocks: int = 3  # residual blocks at a quarter of the frame rate
    d_channels: int = 64
    cycle_weight: float = 10.0
    identity_weight: float = 5.0
    speaker_weight: float = 1.0  # D's speaker head on converted clips, for G
    content_weight: float = 5.0  # D's content head on converted clips, for G (labelled clips only; lower trades digits for speaker: docs/audio.md)


class SpeakerNorm(nn.Module):
    """Instance norm whose scale and shift are the speaker's (N×C×T, speakers N)."""

    def __init__(self, channels: int, speakers: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm1d(channels)
        self.scale, self.shift = nn.Embedding(speakers, channels), nn.Embedding(speakers, channels)
        nn.init.ones_(self.scale.weight)
        nn.init.zeros_(self.shift.weight)

    def forward(self, x: Tensor, speaker: Tensor) -> Tensor:
        return self.norm(x) * self.scale(speaker)[:, :, None] + self.shift(speaker)[:, :, None]


class Converter(nn.Module):
    """Standardised log-mel N×M×T (T a multiple of 4), target speakers N -> the target's N×M×T."""

    def __init__(self, mels: int, channels: int, blocks: int, speakers: int) -> None:
        super().__init__()
        c = channels
        self.encode = nn.Sequential(
            nn.Conv1d(mels, c, 5, padding=2), nn.InstanceNorm1d(c), nn.LeakyReLU(0.2),
            nn.Conv1d(c, c, 4, 2, 1), nn.InstanceNorm1d(c), nn.LeakyReLU(0.2),
            nn.Conv1d(c, c, 4, 2, 1), nn.InstanceNorm1d(c), nn.LeakyReLU(0.2),
        )
        self.blocks = nn.ModuleList(nn.Conv1d(c, c, 3, padding=1) for _ in range(2 * blocks))
        self.ups = nn.ModuleList(nn.ConvTranspose1d(c, c, 4, 2, 1) for _ in range(2))
        self.norms = nn.ModuleList(SpeakerNorm(c, speakers) for _ in range(2 * blocks + 2))
        self.out = nn.Conv1d(c, mels, 5, padding=2)

    def forward(self, mel: Tensor, speaker: Tensor) -> Tensor:
        h = self.encode(mel)  # N×C×T/4: the content, speaker-free norms
        norms = iter(self.norms)
        for a, b in zip(self.blocks[::2], self.blocks[1::2]):
            h = h + b(F.leaky_relu(next(norms)(a(F.leaky_relu(next(norms)(h, speaker), 0.2)), speaker), 0.2))
        for up in self.ups:
            h = F.leaky_relu(next(norms)(up(h), speaker), 0.2)  # N×C×2T'
        return self.out(h)  # N×M×T


class Critic(nn.Module):
    """log-mel N×M×T -> (real/fake logits N×T/8, speaker logits N×speakers, content logits N×classes or None)."""

    def __init__(self, mels: int, channels: int, speakers: int, classes: int) -> None:
        super().__init__()
        c = channels
        self.trunk = nn.Sequential(
            nn.Conv1d(mels, c, 5, padding=2), nn.LeakyReLU(0.2),
            nn.Conv1d(c, 2 * c, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv1d(2 * c, 2 * c, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv1d(2 * c, 2 * c, 4, 2, 1), nn.LeakyReLU(0.2),
        )
        self.real = nn.Conv1d(2 * c, 1, 3, padding=1)
        self.speaker = nn.Linear(2 * c, speakers)
        self.content = nn.Linear(2 * c, classes) if classes > 1 else None

    def forward(self, mel: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        h = self.trunk(mel)  # N×2C×T/8
        pooled = h.mean(dim=2)
        return self.real(h)[:, 0], self.speaker(pooled), None if self.content is None else self.content(pooled)


class VoiceConversion(Family):
    Config = ConversionConfig
    modality = "audio"
    conditions = (SPEAKER, VOCODER)
    input_suffixes = (".wav", ".flac", ".ogg", ".mp3")
    tiny: ClassVar[dict[str, Any]] = {"model.channels": 8, "model.blocks": 1, "model.d_channels": 4, "data.batch_size": 8, "data.clip_samples": 1024}

    def __init__(self, config: ConversionConfig, info: dict[str, Any], context: FamilyContext) -> None:
        super().__init__(config, info, context)
        self.speakers: list[str] = list(info["speakers"])
        self.front = MelFrontEnd(info["sample_rate"], config.n_fft, config.hop, config.n_mels)
        self.G = Converter(config.n_mels, config.channels, config.blocks, len(self.speakers))
        self.D = Critic(config.n_mels, config.d_channels, len(self.speakers), info.get("num_classes", 0))
        self.register_buffer("mel_mean", torch.tensor(info["mel_mean"])[:, None], persistent=False)  # M×1
        self.register_buffer("mel_std", torch.tensor(info["mel_std"])[:, None], persistent=False)
        self.mel_settings = {"sample_rate": info["sample_rate"], "n_fft": config.n_fft, "hop": config.hop, "n_mels": config.n_mels}

    @classmethod
    def setup(cls, config: ConversionConfig, train: TensorData, assets: Path) -> dict[str, Any]:
        as_speakers(train)  # a clear error for data without speakers
        if len(train.info["speakers"]) < 2:
            raise UsageError(f"voice conversion needs at least two speakers; data.speaker_regex found {train.info['speakers']}")
        front = MelFrontEnd(train.info["sample_rate"], config.n_fft, config.hop, config.n_mels)
        with torch.no_grad():
            mel = torch.cat([front(part) for part in train.fields["x"].split(256)])  # N×M×T
        return {**train.info, "mel_mean": mel.mean(dim=(0, 2)).tolist(), "mel_std": mel.std(dim=(0, 2)).tolist()}

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"d": list(self.D.parameters()), "g": list(self.G.parameters())}

    def features(self, waves: Tensor) -> Tensor:
        """waves N×T -> standardised log-mels N×M×frames, frames padded (with silence) to a multiple of STRIDE."""
        mel = torch.cat([self.front(part) for part in waves.split(256)])
        silence = torch.log(torch.tensor(1e-5)).item()
        mel = F.pad(mel, (0, -mel.shape[2] % STRIDE), value=silence)
        return (mel - self.mel_mean) / self.mel_std

    def prepare(self, data: TensorData) -> TensorData:
        """Standardised log-mels of every clip (once), with the speakers and digits."""
        with torch.no_grad():
            mel = self.features(data.fields["x"])
        return TensorData({"x": mel, "speaker": data.fields["speaker"], "y": data.fields["y"]}, data.info)

    def train_step(self, batch: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        cfg, real, source, said = self.config, batch["x"], batch["speaker"], batch["y"]
        target = (source + torch.randint(1, len(self.speakers), source.shape, device=source.device)) % len(self.speakers)
        fake = self.G(real, target)

        real_logit, real_speaker, real_content = self.D(real)
        fake_logit, fake_speaker, _ = self.D(fake.detach())
        loss_d = ((1 - real_logit).pow(2).mean() + fake_logit.pow(2).mean()
                  + F.cross_entropy(real_speaker, source) + F.cross_entropy(fake_speaker, source))  # conversions: still the source?
        if real_content is not None:
            loss_d = loss_d + F.cross_entropy(real_content, said)
        ctx.update("d", loss_d)

        self.D.requires_grad_(False)
        fake_logit, fake_speaker, fake_content = self.D(fake)
        self.D.requires_grad_(True)
        cycle = F.l1_loss(self.G(fake, source), real)
        identity = F.l1_loss(self.G(real, source), real)
        loss_g = ((1 - fake_logit).pow(2).mean() + cfg.speaker_weight * F.cross_entropy(fake_speaker, target)
                  + cfg.cycle_weight * cycle + cfg.identity_weight * identity)
        if fake_content is not None:
            loss_g = loss_g + cfg.content_weight * F.cross_entropy(fake_content, said)
        ctx.update("g", loss_g)
        return {"loss_g": loss_g.detach(), "loss_d": loss_d.detach(), "cycle": cycle.detach(), "identity": identity.detach()}

    # ---- converting -------------------------------------------------------------------------------
    def speaker_index(self, name: str) -> int:
        if name not in self.speakers:
            raise UsageError(f"unknown speaker {name!r}; this run knows {', '.join(self.speakers)}")
        return self.speakers.index(name)

    @torch.no_grad()
    def convert(self, waves: Tensor, targets: Tensor, vocoder: str | None = None, batch_size: int = 64) -> Tensor:
        """waves N×T and target speaker ids N -> the converted waves N×T (vocoder run, else Griffin-Lim)."""
        out = []
        for part, target in zip(waves.split(batch_size), targets.split(batch_size)):
            mel = self.G(self.features(part.to(self.device)), target.to(self.device)) * self.mel_std + self.mel_mean
            out.append(render_mel(mel, self.mel_settings, part.shape[1], vocoder))
        return torch.cat(out)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, speaker: str | None = None, vocoder: str | None = None) -> AudioSamples:
        """n test clips converted to `speaker` (each to a random other speaker when None); labels are their digits."""
        test = self.context.split("test")
        gen = torch.Generator().manual_seed(seed_of(generator))
        pick = torch.randperm(len(test), generator=gen).repeat(n // len(test) + 1)[:n]
        source = test.fields["speaker"][pick]
        if speaker is None:
            targets = (source + torch.randint(1, len(self.speakers), (n,), generator=gen)) % len(self.speakers)
        else:
            targets = torch.full((n,), self.speaker_index(speaker))
        waves = self.convert(test.fields["x"][pick], targets, vocoder)
        meta = {k: v for k, v in {"speaker": speaker, "vocoder": vocoder}.items() if v is not None}
        return AudioSamples(waves.clamp(-1, 1), self.info["sample_rate"], test.fields["y"][pick].to(waves.device), meta=meta)

    def translate_file(self, source: Path, out: Path, generator: torch.Generator | None = None, speaker: str | None = None,
                       vocoder: str | None = None) -> Path:
        """An audio file spoken again by `speaker`, written as WAV at `out`."""
        if speaker is None:
            raise UsageError(f"say whose voice: --set speaker=NAME, one of {', '.join(self.speakers)}")
        target = torch.tensor([self.speaker_index(speaker)])
        wave = read_clip(source, self.info["sample_rate"], min_samples=self.config.n_fft)
        out = out.with_suffix(".wav")
        write_clip(out, self.convert(wave[None], target, vocoder)[0].clamp(-1, 1).cpu(), self.info["sample_rate"])
        return out

    def throughput_unit(self) -> tuple[str, float]:
        return clip_seconds(self.info)
