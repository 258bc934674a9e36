"""The Free Spoken Digit Dataset: 3,000 recordings of the digits 0-9 by six speakers, 8 kHz mono.

Decoded once into a float tensor N×T: each clip is peak-normalised to 1 and zero-padded (or trimmed)
at its end to `clip_samples`. The split is upstream's: recordings 0-4 of every (digit, speaker) pair
are the test set (300 clips), 5-49 the training set (2,700 clips).
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from zoo.config import DataConfig
from zoo.data.spec import DatasetSpec
from zoo.errors import UsageError, ZooError

if TYPE_CHECKING:
    from zoo.data.tensors import TensorData

SAMPLE_RATE = 8000
TEST_INDICES = range(5)  # upstream's convention: indices 0-4 of each digit and speaker are the test set
SOURCE_COMMIT = "26eb9aa"  # the upstream commit the checksums were taken from
MANIFEST = "fsdd.sha256"  # package data in `sha256sum` format: `sha256sum -c` works on a recordings folder


def read_sha256sums(text: str) -> dict[str, str]:
    """File name -> sha256 from `sha256sum` output ("<digest>  <name>", or "<digest> *<name>" for binary mode)."""
    pairs = (line.split(maxsplit=1) for line in text.splitlines() if line.strip())
    return {name.removeprefix("*"): digest for digest, name in pairs}


# sha256 of every recording, byte-identical to Jakobovski/free-spoken-digit-dataset at SOURCE_COMMIT, in
# upstream's order (the order of the decoded tensors); generated from the offline copy's SHA256SUMS.
SHA256 = read_sha256sums(resources.files(__package__).joinpath(MANIFEST).read_text())


@dataclass
class AudioDataConfig(DataConfig):
    """Audio datasets: every clip is padded or trimmed to `clip_samples` at load time."""

    clip_samples: int = 8192  # 1.02 s at 8 kHz; 99% of FSDD recordings are shorter


def parse_name(name: str) -> tuple[int, str, int]:
    """`7_jackson_32.wav` -> (7, "jackson", 32)."""
    digit, speaker, index = name.removesuffix(".wav").split("_")
    return int(digit), speaker, int(index)


def load_fsdd(folder: Path, split: str, config: AudioDataConfig) -> TensorData:
    """Waves as float32 N×clip_samples in [-1, 1], digits `y` and speaker ids `speaker` as int64 N."""
    import numpy as np
    import torch
    from scipy.io import wavfile

    from zoo.data.tensors import TensorData

    if split not in ("train", "test"):
        raise UsageError(f"fsdd has the splits train and test, not {split!r}")
    length = config.clip_samples
    if length <= 0:
        raise UsageError(f"data.clip_samples must be a positive integer, got {length}")
    names = [n for n in SHA256 if (parse_name(n)[2] in TEST_INDICES) == (split == "test")]
    speakers = sorted({parse_name(n)[1] for n in SHA256})
    waves = torch.zeros(len(names), length)
    labels, speaker_ids = [], []
    for i, name in enumerate(names):
        rate, pcm = wavfile.read(folder / name)
        if rate != SAMPLE_RATE or pcm.ndim != 1:
            raise ZooError(f"{folder / name} is not 8 kHz mono (rate {rate}, shape {pcm.shape})", hint="re-copy the FSDD recordings")
        clip = torch.from_numpy(pcm[:length].astype(np.float32))
        waves[i, : len(clip)] = clip / clip.abs().max().clamp_min(1.0)  # peak-normalise (silence stays silence)
        digit, speaker, _ = parse_name(name)
        labels.append(digit)
        speaker_ids.append(speakers.index(speaker))
    info = {"sample_rate": SAMPLE_RATE, "clip_samples": length, "num_classes": 10, "speakers": speakers}
    return TensorData({"x": waves, "y": torch.tensor(labels), "speaker": torch.tensor(speaker_ids)}, info)


def clip_seconds(info: dict, samples: int | None = None) -> tuple[str, float]:
    """Audio families' throughput unit: seconds of audio per training item (a clip, or a window of one)."""
    return "audio_s", min(samples or info["clip_samples"], info["clip_samples"]) / info["sample_rate"]


FSDD = DatasetSpec(
    name="fsdd",
    modality="audio",
    description="Free Spoken Digit Dataset: digits 0-9 by 6 speakers, 8 kHz mono, 2,700 train / 300 test",
    files={name: f"sha256:{digest}" for name, digest in SHA256.items()},
    loader="zoo_audio.fsdd:load_fsdd",
    config=AudioDataConfig,
    subdirs=["fsdd/recordings", "free-spoken-digit-dataset/recordings", "recordings"],
    urls={name: f"https://github.com/Jakobovski/free-spoken-digit-dataset/raw/{SOURCE_COMMIT}/recordings/{name}" for name in SHA256},
    license="CC BY-SA 4.0 (Zohar Jackson and contributors)",
)
