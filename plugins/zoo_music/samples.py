"""MusicSamples: piano rolls that save themselves as MIDI, WAV and a piano-roll PNG sheet."""
from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from zoo.errors import UsageError
from zoo.samples import IMAGE_SUFFIXES, Samples, atomic_write_bytes, image_file_bytes
from zoo_music import render

GAP_QUARTERS = 2  # silence between pieces in one .mid or .wav


@dataclass
class MusicSamples(Samples):
    """Piano rolls N×T×88 (1 where key k, MIDI pitch 21 + k, sounds) with `frames_per_quarter` frames a quarter note.

    `save("x.mid")`, `save("x.wav")`: every piece in one file, one after another; `save("x.png")` (or .jpg): the
    piano-roll sheet (training previews); `save("folder/")`: per piece NNNNN.mid and NNNNN.wav, and
    pianoroll.png for all."""

    rolls: torch.Tensor
    frames_per_quarter: int = 1
    tempo: float = render.TEMPO

    def __len__(self) -> int:
        return len(self.rolls)

    def numpy(self) -> np.ndarray:
        return self.rolls.cpu().numpy().astype(np.uint8)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"rolls": self.numpy(), "frames_per_quarter": np.array(self.frames_per_quarter)}

    def save_combined(self, out: Path) -> list[Path]:
        suffix = out.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            atomic_write_bytes(out, image_file_bytes(self._repr_png_(), suffix, self.meta))
        elif suffix in (".mid", ".midi", ".wav"):
            joined = render.join(self.numpy(), GAP_QUARTERS * self.frames_per_quarter)
            write = render.wav_file if suffix == ".wav" else render.midi_bytes
            atomic_write_bytes(out, write(joined, self.frames_per_quarter, self.tempo))
        else:
            raise UsageError(f"cannot write music to {out}: use a .mid, .wav, .png or .jpg path, a .npz path or a folder")
        return [out]

    def save_each(self, folder: Path) -> list[Path]:
        paths = []
        for i, roll in enumerate(self.numpy()):
            for suffix, write in ((".mid", render.midi_bytes), (".wav", render.wav_file)):
                atomic_write_bytes(folder / f"{i:05d}{suffix}", write(roll, self.frames_per_quarter, self.tempo))
                paths.append(folder / f"{i:05d}{suffix}")
        atomic_write_bytes(folder / "pianoroll.png", self._repr_png_())
        return paths + [folder / "pianoroll.png"]

    def _repr_png_(self) -> bytes:
        """The piano-roll sheet as PNG bytes."""
        return render.sheet_png(self.numpy(), self.meta)

    def _repr_html_(self) -> str:
        """The piano-roll sheet and a player per piece, embedded as base64 (Jupyter, zoo report, zoo serve)."""
        sheet = base64.b64encode(self._repr_png_()).decode()
        players = "".join(
            f'<figure class="zoo-piece" style="display:inline-block;margin:4px;text-align:center">'
            f'<audio controls preload="none" src="data:audio/wav;base64,{base64.b64encode(render.wav_file(roll, self.frames_per_quarter, self.tempo)).decode()}"></audio>'
            f"<figcaption>piece {i} · {len(roll) / self.frames_per_quarter:g} quarter notes</figcaption></figure>"
            for i, roll in enumerate(self.numpy())
        )
        return f'<div><img alt="piano rolls of {len(self)} pieces" src="data:image/png;base64,{sheet}" style="image-rendering:pixelated;max-width:100%"><div>{players}</div></div>'
