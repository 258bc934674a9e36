"""A user's audio files in and out: read as the audio-folder source reads them (zoo.data.own: any rate,
channel count and PCM width, mixed to mono, resampled), written as 16-bit mono WAV.

A clip is peak-normalised as FSDD's clips are; one too short to fill a single analysis window, or
silent, is skipped and counted by `zoo translate` (an error naming the file when it is the only input).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from zoo.errors import Skipped, UsageError

SILENCE = 1e-4  # a clip whose peak is below this (about -80 dBFS) is silent


def read_clip(path: Path, sample_rate: int, min_samples: int) -> Tensor:
    """`path` as a float wave T at `sample_rate`, peak-normalised to 1."""
    import numpy as np
    from scipy.signal import resample_poly

    from zoo.data.own import read_wave

    try:
        rate, pcm = read_wave(str(path))
    except (ValueError, OSError, RuntimeError) as err:
        raise UsageError(f"cannot read {path} as audio ({err})") from None
    pcm = np.asarray(pcm, dtype=np.float32)
    pcm = pcm.mean(axis=1) if pcm.ndim == 2 else pcm
    if rate != sample_rate:
        g = np.gcd(int(rate), sample_rate)
        pcm = resample_poly(pcm, sample_rate // g, int(rate) // g).astype(np.float32)
    if len(pcm) < min_samples:
        raise Skipped(f"{path} is too short ({len(pcm)} samples at {sample_rate} Hz; at least {min_samples}); give a longer clip")
    peak = float(np.abs(pcm).max())
    if peak < SILENCE:
        raise Skipped(f"{path} is silent (peak {peak:.1e}); give a clip with speech in it")
    return torch.from_numpy(pcm / peak)


def write_clip(path: Path, wave: Tensor, sample_rate: int) -> None:
    from zoo.samples import atomic_write_bytes, wav_bytes

    atomic_write_bytes(path, wav_bytes(wave.float().cpu(), sample_rate))
