"""Rendering spectrograms through a trained vocoder run, by composition.

A family that `Vocodes` (the audio plugin's HiFi-GAN) turns linear STFT magnitudes into waves. Any
spectrogram family declares the `vocoder` condition (`--set vocoder=RUN` at sampling and in
evaluation, where the protocol records it) and calls `render`: Griffin-Lim without a vocoder, else the
core loads that run once (no plugin imports another) after checking that its mel settings are the
spectrogram's.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.capabilities import Condition
from zoo.errors import UsageError, ZooError

VOCODER = Condition("vocoder", str, None, "a trained vocoder run (e.g. runs/vocoder-digits) to render the spectrograms with, instead of Griffin-Lim")
MATCHED = ("sample_rate", "n_fft", "hop")  # what a spectrogram and its vocoder must share


@runtime_checkable
class Vocodes(Protocol):
    """Mel vocoder: `mel_settings` (sample_rate, n_fft, hop, n_mels); log-mels N×n_mels×frames (`vocode`) or
    linear STFT magnitudes N×(n_fft/2+1)×frames (`vocode_magnitude`) -> waves N×(frames·hop) in [-1, 1]."""

    mel_settings: dict[str, int]

    def vocode(self, log_mel: Tensor) -> Tensor: ...

    def vocode_magnitude(self, magnitude: Tensor) -> Tensor: ...


@lru_cache(maxsize=4)
def _load(run_dir: str, device: str) -> Any:
    from zoo.api import load

    return load(run_dir, device)


def load_vocoder(run_dir: str, settings: dict[str, int], device: torch.device, matched: tuple[str, ...] = MATCHED) -> Vocodes:
    """The vocoder run at `run_dir` (loaded once per process), checked against a spectrogram's `settings`."""
    if not Path(run_dir, "config.yaml").is_file():
        raise UsageError(f"vocoder={run_dir}: no run there; train one with `zoo train vocoder-digits --out {run_dir}`")
    try:
        vocoder = _load(str(Path(run_dir).resolve()), str(device))
    except ZooError as err:
        raise UsageError(f"vocoder={run_dir}: {err}") from None
    if not isinstance(vocoder, Vocodes):
        raise UsageError(f"vocoder={run_dir} is a {type(vocoder).__name__} run, not a vocoder; train vocoder-digits for one")
    differ = [f"{k} {vocoder.mel_settings.get(k)} (this run: {settings[k]})" for k in matched if vocoder.mel_settings.get(k) != settings[k]]
    if differ:
        raise UsageError(f"vocoder={run_dir} does not fit this run's spectrograms: {', '.join(differ)}; "
                         "train a vocoder with the same settings (--set model.n_fft=... model.hop=... model.n_mels=...)")
    return vocoder


def render(logmag: Tensor, settings: dict[str, int], length: int, griffin_lim: Any, vocoder: str | None = None) -> Tensor:
    """Log-magnitudes N×(n_fft/2)×frames (Nyquist bin and last frame dropped, `zoo.nn.spectrogram`) -> N×length
    waves: by `griffin_lim(logmag)`, or through the vocoder run at `vocoder`."""
    if vocoder is None:
        return griffin_lim(logmag)
    from zoo.nn.spectrogram import LOG_FLOOR

    model = load_vocoder(vocoder, settings, logmag.device)
    magnitude = F.pad((logmag.float().exp() - LOG_FLOOR).clamp_min(0), (0, 0, 0, 1))  # the Nyquist bin back, as zeros
    waves = model.vocode_magnitude(magnitude.to(model.device)).to(logmag.device)
    return F.pad(waves, (0, max(0, length - waves.shape[1])))[:, :length]


def render_mel(log_mel: Tensor, settings: dict[str, int], length: int, vocoder: str | None = None, iters: int = 32) -> Tensor:
    """Log-mels N×n_mels×frames (`zoo.nn.vocoder.MelFrontEnd`'s, at `settings`) -> N×length waves: through the
    vocoder run at `vocoder` (its n_mels must match too), else by Griffin-Lim on the filterbank's pseudo-inverse."""
    if vocoder is not None:
        model = load_vocoder(vocoder, settings, log_mel.device, (*MATCHED, "n_mels"))
        waves = model.vocode(log_mel.to(model.device)).to(log_mel.device)
    else:
        import torchaudio.functional as AF

        n_fft, hop = settings["n_fft"], settings["hop"]
        fbank = AF.melscale_fbanks(n_fft // 2 + 1, 0.0, settings["sample_rate"] / 2, settings["n_mels"], settings["sample_rate"])
        magnitude = torch.einsum("nmt,mf->nft", log_mel.float().exp().cpu(), torch.linalg.pinv(fbank)).clamp_min(0)
        window = torch.hann_window(n_fft)
        waves = AF.griffinlim(F.pad(magnitude, (0, 1)), window, n_fft, hop, n_fft, 1.0, iters, 0.99, None, False).to(log_mel.device)
    return F.pad(waves, (0, max(0, length - waves.shape[1])))[:, :length]
