"""Log-magnitude spectrograms as images, and back to audio by Griffin-Lim: what SpecGAN and the
spectrogram diffusion family share.

Every frequency bin is standardised with the training set's mean and std (computed once, saved in the
run's info), clipped at ±3 std and scaled to [-1, 1] (Donahue et al. 2019).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
import torchaudio.functional as AF
from torch import Tensor

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


def bin_statistics(waves: Tensor, n_fft: int, hop: int) -> dict[str, list[float]]:
    """Per-bin mean and std of the training clips' log-magnitudes, for the run's info."""
    logmag = torch.cat([log_magnitude(part, n_fft, hop) for part in waves.split(512)])  # N×F×frames
    return {"spec_mean": logmag.mean(dim=(0, 2)).tolist(), "spec_std": logmag.std(dim=(0, 2)).tolist()}


def normalize(logmag: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """Log-magnitudes N×F×frames -> [-1, 1] per bin (`mean`, `std`: F×1)."""
    return ((logmag - mean.to(logmag.device)) / std.to(logmag.device)).clamp(-CLIP_STD, CLIP_STD) / CLIP_STD


def denormalize(x: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    return x * CLIP_STD * std.to(x.device) + mean.to(x.device)


def spectrogram_images(waves: Tensor, n_fft: int, hop: int, mean: Tensor, std: Tensor) -> Tensor:
    """N×T waves -> N×1×F×frames normalised spectrograms in [0, 1], the image families' input range."""
    return (torch.cat([normalize(log_magnitude(part, n_fft, hop), mean, std) for part in waves.split(512)]).unsqueeze(1) + 1) / 2
