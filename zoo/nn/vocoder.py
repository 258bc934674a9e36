"""A small HiFi-GAN (Kong et al. 2020): log-mel frames -> waveform, with its two discriminators.

The generator upsamples mel frames by transposed convolutions (rates whose product is the hop), each
followed by a residual stack of dilated convolutions (HiFi-GAN V3's ResBlock2). The discriminators are
HiFi-GAN's multi-period one (the wave folded into P columns, 2-D convs, for several prime P) and
MelGAN's multi-scale one (1-D strided convs on the wave and its average-pooled copies). Both return
their logits and every hidden activation, for the feature-matching loss.

`MelFrontEnd` is the mel spectrogram every vocoder input goes through: torchaudio's STFT magnitude
(Hann window, centred frames) and mel filterbank, one frame per hop (the last, centred-padding frame
dropped), log-compressed. `from_magnitude` takes a linear STFT magnitude instead of a wave, so a
spectrogram model with the same sample rate, n_fft and hop renders through the vocoder.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
import torchaudio.functional as AF
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

LOG_MEL_FLOOR = 1e-5  # log(max(mel, floor)): HiFi-GAN's dynamic-range compression
SLOPE = 0.1  # leaky ReLU slope throughout (HiFi-GAN's)


class MelFrontEnd(nn.Module):
    """waves N×T -> log-mel N×n_mels×(T // hop). Window and filterbank are fixed (not saved with the weights)."""

    def __init__(self, sample_rate: int, n_fft: int, hop: int, n_mels: int) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        fbank = AF.melscale_fbanks(n_fft // 2 + 1, 0.0, sample_rate / 2, n_mels, sample_rate)  # bins×mels, HTK scale
        self.register_buffer("fbank", fbank, persistent=False)

    def mel(self, waves: Tensor) -> Tensor:
        """Mel-filtered STFT magnitude N×n_mels×(T // hop), before the log (centred frames, reflect padding)."""
        spec = AF.spectrogram(waves.float(), 0, self.window, self.n_fft, self.hop, self.n_fft, power=1.0, normalized=False)
        return self.filter(spec[..., : waves.shape[-1] // self.hop])

    def filter(self, magnitude: Tensor) -> Tensor:
        return torch.einsum("nft,fm->nmt", magnitude, self.fbank)

    def from_magnitude(self, magnitude: Tensor) -> Tensor:
        """Linear STFT magnitude N×(n_fft/2+1)×frames -> log-mel N×n_mels×frames."""
        return torch.log(self.filter(magnitude.float()).clamp_min(LOG_MEL_FLOOR))

    def forward(self, waves: Tensor) -> Tensor:
        return torch.log(self.mel(waves).clamp_min(LOG_MEL_FLOOR))


class ResStack(nn.Module):
    """x + conv_d(lrelu(x)) for each dilation d in turn (HiFi-GAN's ResBlock2); length kept."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(weight_norm(nn.Conv1d(channels, channels, kernel, dilation=d, padding=d * (kernel - 1) // 2))
                                   for d in dilations)

    def forward(self, x: Tensor) -> Tensor:
        for conv in self.convs:
            x = x + conv(F.leaky_relu(x, SLOPE))  # N×C×T
        return x


class Generator(nn.Module):
    """log-mel N×n_mels×frames -> waves N×(frames·prod(rates)) in [-1, 1]."""

    def __init__(self, n_mels: int, channels: int, rates: tuple[int, ...], kernel: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.pre = weight_norm(nn.Conv1d(n_mels, channels, 7, padding=3))
        ups, stacks = [], []
        for i, r in enumerate(rates):
            c_in, c_out = channels // 2**i, channels // 2 ** (i + 1)
            ups.append(weight_norm(nn.ConvTranspose1d(c_in, c_out, 2 * r, stride=r, padding=r // 2 + r % 2, output_padding=r % 2)))
            stacks.append(ResStack(c_out, kernel, dilations))
        self.ups, self.stacks = nn.ModuleList(ups), nn.ModuleList(stacks)
        self.post = weight_norm(nn.Conv1d(channels // 2 ** len(rates), 1, 7, padding=3))

    def forward(self, mel: Tensor) -> Tensor:
        x = self.pre(mel)  # N×C×frames
        for up, stack in zip(self.ups, self.stacks):
            x = stack(up(F.leaky_relu(x, SLOPE)))  # N×C/2^i×(frames·r1·…·ri)
        return torch.tanh(self.post(F.leaky_relu(x, SLOPE)))[:, 0]  # N×T


class PeriodDiscriminator(nn.Module):
    """A wave N×T folded into N×1×(T/P)×P; 2-D convs along time only, so each of the P phases is judged apart."""

    def __init__(self, period: int, width: int) -> None:
        super().__init__()
        self.period = period
        chans = [1, width, 2 * width, 4 * width, 4 * width]
        self.convs = nn.ModuleList(weight_norm(nn.Conv2d(a, b, (5, 1), (3 if i < 3 else 1, 1), padding=(2, 0)))
                                   for i, (a, b) in enumerate(zip(chans, chans[1:])))
        self.out = weight_norm(nn.Conv2d(chans[-1], 1, (3, 1), padding=(1, 0)))

    def forward(self, wave: Tensor) -> tuple[Tensor, list[Tensor]]:
        n, t = wave.shape
        x = F.pad(wave, (0, -t % self.period), mode="reflect").view(n, 1, -1, self.period)  # N×1×T/P×P
        return through(self.convs, self.out, x)


def through(convs: nn.ModuleList, out: nn.Module, x: Tensor) -> tuple[Tensor, list[Tensor]]:
    """A discriminator's conv stack: (flattened logits, every layer's activations for feature matching)."""
    features = []
    for conv in convs:
        x = F.leaky_relu(conv(x), SLOPE)
        features.append(x)
    x = out(x)
    return x.flatten(1), features + [x]


class ScaleDiscriminator(nn.Module):
    """MelGAN's: strided, grouped 1-D convs over the wave (or an average-pooled copy of it)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        w = width
        self.convs = nn.ModuleList([
            weight_norm(nn.Conv1d(1, w, 15, padding=7)),
            weight_norm(nn.Conv1d(w, 4 * w, 41, stride=4, groups=4, padding=20)),
            weight_norm(nn.Conv1d(4 * w, 8 * w, 41, stride=4, groups=16, padding=20)),
            weight_norm(nn.Conv1d(8 * w, 8 * w, 5, padding=2)),
        ])
        self.out = weight_norm(nn.Conv1d(8 * w, 1, 3, padding=1))

    def forward(self, wave: Tensor) -> tuple[Tensor, list[Tensor]]:
        return through(self.convs, self.out, wave.unsqueeze(1))  # N×1×T in


class Discriminators(nn.Module):
    """Every period and scale discriminator; `forward` returns (logits, features) of each."""

    def __init__(self, periods: tuple[int, ...], scales: int, width: int) -> None:
        super().__init__()
        self.periods = nn.ModuleList(PeriodDiscriminator(p, width) for p in periods)
        self.scales = nn.ModuleList(ScaleDiscriminator(width) for _ in range(scales))

    def forward(self, wave: Tensor) -> list[tuple[Tensor, list[Tensor]]]:
        out = [d(wave) for d in self.periods]
        for i, d in enumerate(self.scales):
            out.append(d(wave if i == 0 else F.avg_pool1d(wave.unsqueeze(1), 2**i * 2, 2**i, padding=2**i)[:, 0]))
        return out


def lsgan_d_loss(real: list[tuple[Tensor, list[Tensor]]], fake: list[tuple[Tensor, list[Tensor]]]) -> Tensor:
    """Least-squares GAN (HiFi-GAN's): real logits to 1, fake to 0, summed over discriminators."""
    return sum(((1 - r) ** 2).mean() + (f**2).mean() for (r, _), (f, _) in zip(real, fake))  # type: ignore[return-value]


def lsgan_g_loss(fake: list[tuple[Tensor, list[Tensor]]]) -> Tensor:
    return sum(((1 - f) ** 2).mean() for f, _ in fake)  # type: ignore[return-value]


def feature_matching(real: list[tuple[Tensor, list[Tensor]]], fake: list[tuple[Tensor, list[Tensor]]]) -> Tensor:
    """L1 between the discriminators' hidden activations on real (detached) and generated waves."""
    return sum(F.l1_loss(f, r.detach()) for (_, rs), (_, fs) in zip(real, fake) for r, f in zip(rs, fs))  # type: ignore[return-value]
