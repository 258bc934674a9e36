"""How far a resynthesised clip is from its original, frame by frame (the two are time-aligned).

    log_spectral_distance   LSD in dB: per frame, the RMS over frequency of 10·log10 of the power
                            spectra's ratio, averaged over frames (256-point STFT, 64-sample hop)
    mel_cepstral_distortion MCD in dB: (10 / ln 10)·sqrt(2·Σ_d (c_d - c'_d)²) over mel cepstra c_1..c_12
                            (natural-log mel power, orthonormal DCT; c_0, the level, left out), averaged over frames

Only the frames inside each original recording count: FSDD clips are zero-padded to a fixed length,
and exact zeros would make any output's faint noise look infinitely far. Both front ends differ from
the vocoder's own (128-point STFT, 40 mels), so neither distance is the quantity it was trained on.
"""
from __future__ import annotations

import math

import torch
import torchaudio
from torch import Tensor

N_FFT, HOP, N_MELS, N_CEPS = 256, 64, 40, 13
POWER_FLOOR = 1e-10


def active_frames(original: Tensor, hop: int = HOP) -> Tensor:
    """N×frames bool: the frames whose centre lies before each clip's last non-zero sample."""
    n, t = original.shape
    nonzero = original.ne(0)
    last = torch.where(nonzero.any(1), t - nonzero.flip(1).int().argmax(1), torch.zeros(n, dtype=torch.long))  # N: recording length
    centres = torch.arange(t // hop + 1) * hop
    return centres[None, :] < last[:, None]


def power_spectra(waves: Tensor) -> Tensor:
    """N×(N_FFT/2+1)×frames power spectra (Hann window, centred frames)."""
    return torch.stft(waves.float(), N_FFT, HOP, window=torch.hann_window(N_FFT), return_complex=True).abs().pow(2)


def frame_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Per clip (N), the mean of N×frames `values` over its masked frames."""
    return (values * mask).sum(1) / mask.sum(1).clamp_min(1)


def log_spectral_distance(output: Tensor, original: Tensor) -> Tensor:
    """LSD in dB of each clip (N), over the original's active frames."""
    ratio_db = 10 * torch.log10((power_spectra(output) + POWER_FLOOR) / (power_spectra(original) + POWER_FLOOR))
    return frame_mean(ratio_db.pow(2).mean(1).sqrt(), active_frames(original))


def mel_cepstra(waves: Tensor, sample_rate: int) -> Tensor:
    """N×N_CEPS×frames cepstra of the natural-log mel power spectrum."""
    mel = torchaudio.functional.melscale_fbanks(N_FFT // 2 + 1, 0.0, sample_rate / 2, N_MELS, sample_rate)  # bins×mels
    log_mel = torch.log(torch.einsum("nft,fm->nmt", power_spectra(waves), mel) + POWER_FLOOR)
    dct = torchaudio.functional.create_dct(N_CEPS, N_MELS, norm="ortho")  # mels×ceps
    return torch.einsum("nmt,mc->nct", log_mel, dct)


def mel_cepstral_distortion(output: Tensor, original: Tensor, sample_rate: int) -> Tensor:
    """MCD in dB of each clip (N), over the original's active frames (c_0 excluded)."""
    diff = (mel_cepstra(output, sample_rate) - mel_cepstra(original, sample_rate))[:, 1:]
    per_frame = 10 / math.log(10) * (2 * diff.pow(2).sum(1)).sqrt()
    return frame_mean(per_frame, active_frames(original))
