"""Issue 26's listening material for docs/audio.md: WAVs and spectrogram sheets from measured runs.

    .venv/bin/python bench/vocoder_sheets.py --vocoder /tmp/audio26/vocoder-digits [--vc /tmp/audio26/vc-digits] [--cspecgan RUN]

Writes docs/audio26/: copy-synthesis.png (rows: 4 test clips, Griffin-Lim's resynthesis, the vocoder's) with the
WAVs; conversion.png (rows: 3 test clips as recorded, then each converted to every speaker, in zoo_audio's
speaker order) with the WAVs; cspecgan.png (digits 0-9 through Griffin-Lim, then through the vocoder).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torchvision.utils import make_grid

import zoo
from zoo.data import load_dataset
from zoo.samples import atomic_write_bytes, png_bytes, wav_bytes
from zoo_audio.classifier import griffin_lim_resynthesis
from zoo_audio.fsdd import AudioDataConfig

OUT = Path(__file__).resolve().parents[1] / "docs" / "audio26"


def sheet(rows: list[torch.Tensor], name: str) -> None:
    """One spectrogram tile per clip (256-point STFT, dB over 80 dB), one row per tensor of N×T waves."""
    waves = torch.cat(rows).float()
    spec = torch.stft(waves, 256, hop_length=64, window=torch.hann_window(256), return_complex=True)
    db = 20 * torch.log10(spec.abs().clamp_min(1e-5))
    db = ((db - db.amax(dim=(1, 2), keepdim=True)).clamp_min(-80) + 80) / 80
    grid = make_grid(db.flip(1).unsqueeze(1), nrow=len(rows[0]), padding=2, pad_value=1.0)
    atomic_write_bytes(OUT / name, png_bytes(grid, {"rows": name}))


def wavs(waves: torch.Tensor, names: list[str]) -> None:
    for wave, name in zip(waves, names):
        atomic_write_bytes(OUT / f"{name}.wav", wav_bytes(wave.float().clamp(-1, 1), 8000))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vocoder", required=True)
    parser.add_argument("--vc")
    parser.add_argument("--cspecgan")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    test = load_dataset(AudioDataConfig(dataset="fsdd", clip_samples=8192), "test")
    speakers = test.info["speakers"]
    pick = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[:4]
    clips = test.fields["x"][pick]
    names = [f"{int(test.fields['y'][i])}_{speakers[int(test.fields['speaker'][i])]}" for i in pick]
    vocoder = zoo.load(args.vocoder)
    gl, vocoded = griffin_lim_resynthesis(clips, torch.Generator().manual_seed(0)), vocoder.resynthesize(clips)
    sheet([clips, gl, vocoded], "copy-synthesis.png")
    wavs(clips, [f"original-{n}" for n in names])
    wavs(gl, [f"griffin-lim-{n}" for n in names])
    wavs(vocoded, [f"vocoder-{n}" for n in names])
    if args.vc:
        vc = zoo.load(args.vc)
        rows = [clips[:3]]
        for k, speaker in enumerate(vc.speakers):
            converted = vc.convert(clips[:3], torch.full((3,), k), args.vocoder)
            rows.append(converted)
            wavs(converted, [f"vc-{n}-as-{speaker}" for n in names[:3]])
        sheet([torch.stack([r[i] for r in rows]) for i in range(3)], "conversion.png")  # one row per clip
    if args.cspecgan:
        gen = lambda **c: zoo.sample(args.cspecgan, 10, seed=0, **c).waves  # noqa: E731
        plain, through = gen(), gen(vocoder=args.vocoder)
        sheet([plain, through], "cspecgan.png")
        wavs(plain, [f"cspecgan-griffin-lim-{d}" for d in range(10)])
        wavs(through, [f"cspecgan-vocoder-{d}" for d in range(10)])


if __name__ == "__main__":
    main()
