"""Samples by modality. Each knows how to save itself: a grid PNG, a folder of files, or an .npz."""
from __future__ import annotations

import base64
import html
import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.errors import UsageError

PREVIEW_SUFFIX = {"image": ".png", "audio": ".wav", "text": ".txt", "music": ".png", "video": ".gif"}  # a preview file per modality (music: its piano roll)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")  # what a picture (a grid, spectrograms, piano rolls) may be saved as


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write to a temp file beside `path`, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@dataclass
class Samples:
    """Base: generated outputs plus provenance (run, checkpoint step, seed, conditions)."""

    meta: dict[str, Any] = field(default_factory=dict, kw_only=True)

    def __len__(self) -> int:
        raise NotImplementedError

    def save(self, out: str | os.PathLike[str]) -> list[Path]:
        """`.npz` writes the raw arrays; a path with the modality's suffix writes one combined file;
        anything else is a folder of one file per sample. Returns the files written."""
        out = Path(out)
        if out.suffix == ".npz":
            buf = io.BytesIO()
            np.savez(buf, **self.arrays(), meta=json.dumps(self.meta))
            atomic_write_bytes(out, buf.getvalue())
            return [out]
        if out.suffix:
            return self.save_combined(out)
        out.mkdir(parents=True, exist_ok=True)
        written = self.save_each(out)
        atomic_write_bytes(out / "samples.json", json.dumps(self.meta, indent=2).encode())
        return written + [out / "samples.json"]

    def arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def save_combined(self, out: Path) -> list[Path]:
        raise NotImplementedError

    def save_each(self, folder: Path) -> list[Path]:
        raise NotImplementedError


@dataclass
class ImageSamples(Samples):
    """Images N×C×H×W in [0, 1]; `nrow` images per grid row (default: a square grid)."""

    images: torch.Tensor
    nrow: int | None = None

    def __len__(self) -> int:
        return len(self.images)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"images": self.images.float().cpu().numpy()}

    def save_combined(self, out: Path) -> list[Path]:
        if out.suffix.lower() not in IMAGE_SUFFIXES:
            raise UsageError(f"cannot write images to {out}: use a .png or .jpg path (grid), a .npz path or a folder")
        atomic_write_bytes(out, image_file_bytes(self._repr_png_(), out.suffix, self.meta))
        return [out]

    def _repr_png_(self) -> bytes:
        """The grid as PNG bytes: what `save("grid.png")` writes and what Jupyter shows inline."""
        from torchvision.utils import make_grid

        nrow = self.nrow or max(1, int(np.ceil(np.sqrt(len(self.images)))))
        grid = make_grid(self.images.float().cpu().clamp(0, 1), nrow=nrow, padding=2, pad_value=1.0)
        return png_bytes(grid, self.meta)

    def save_each(self, folder: Path) -> list[Path]:
        paths = []
        for i, image in enumerate(self.images.float().cpu().clamp(0, 1)):
            path = folder / f"{i:05d}.png"
            atomic_write_bytes(path, png_bytes(image, {**self.meta, "index": i}))
            paths.append(path)
        return paths


@dataclass
class VideoSamples(Samples):
    """Clips N×T×C×H×W in [0, 1] played at `fps`. A .gif or .mp4 path writes them tiled into one animation,
    a .png/.jpg path a frame sheet (time across, clips down), a folder one GIF per clip plus the sheet."""

    clips: torch.Tensor
    fps: int = 8
    nrow: int | None = None

    def __len__(self) -> int:
        return len(self.clips)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"clips": self.clips.float().cpu().numpy(), "fps": np.array(self.fps)}

    def save_combined(self, out: Path) -> list[Path]:
        from zoo import video

        suffix = out.suffix.lower()
        if suffix == ".gif":
            atomic_write_bytes(out, video.gif_bytes(video.tile(self.clips, self.nrow), self.fps, video.describe(self.meta)))
        elif suffix == ".mp4":
            atomic_write_bytes(out, video.mp4_bytes(video.tile(self.clips, self.nrow), self.fps))
        elif suffix in IMAGE_SUFFIXES:
            atomic_write_bytes(out, image_file_bytes(self._repr_png_(), out.suffix, self.meta))
        else:
            raise UsageError(f"cannot write clips to {out}: use a .gif or .mp4 path (one animation), a .png or .jpg path "
                             "(frame sheet), a .npz path or a folder")
        return [out]

    def _repr_png_(self) -> bytes:
        """The frame sheet: time across, clips down."""
        from zoo import video

        return png_bytes(video.sheet(self.clips), {**self.meta, "fps": self.fps})

    def _repr_html_(self) -> str:
        """The clips as one looping GIF beside the frame sheet (Jupyter, zoo report, zoo serve)."""
        from zoo import video

        gif = base64.b64encode(video.gif_bytes(video.tile(self.clips, self.nrow), self.fps)).decode()
        png = base64.b64encode(self._repr_png_()).decode()
        n, t, _, h, w = self.clips.shape
        scale = max(1, min(4, 256 // max(1, w * int(np.ceil(np.sqrt(n))))))
        return (f'<div class="zoo-video"><img alt="{n} clips of {t} frames" src="data:image/gif;base64,{gif}" '
                f'style="image-rendering:pixelated;zoom:{scale};margin-right:12px;vertical-align:top">'
                f'<img alt="frame sheet: time across, clips down" src="data:image/png;base64,{png}" style="image-rendering:pixelated;vertical-align:top">'
                f"<div class=\"small muted\">{n} clips · {t} frames of {w}×{h} · {self.fps} fps</div></div>")

    def save_each(self, folder: Path) -> list[Path]:
        from zoo import video

        paths = []
        for i, clip in enumerate(self.clips):
            path = folder / f"{i:05d}.gif"
            atomic_write_bytes(path, video.gif_bytes(clip, self.fps))
            paths.append(path)
        atomic_write_bytes(folder / "sheet.png", self._repr_png_())
        return paths + [folder / "sheet.png"]


def png_bytes(image: torch.Tensor, meta: dict[str, Any]) -> bytes:
    """A C×H×W tensor in [0, 1] as PNG bytes, with `meta` in tEXt chunks (provenance)."""
    from PIL import Image, PngImagePlugin

    array = (image.mul(255).round().clamp(0, 255).to(torch.uint8)).permute(1, 2, 0).numpy()
    pil = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    info = PngImagePlugin.PngInfo()
    for key, value in meta.items():
        info.add_text(f"zoo:{key}", json.dumps(value) if not isinstance(value, str) else value)
    buf = io.BytesIO()
    pil.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def image_file_bytes(png: bytes, suffix: str, meta: dict[str, Any]) -> bytes:
    """PNG bytes as the file `suffix` names: the PNG itself, or a JPEG (quality 95) whose comment holds the
    provenance as JSON (JPEG has no text chunks)."""
    if suffix.lower() == ".png":
        return png
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        buf = io.BytesIO()
        image.convert("L" if image.mode in ("1", "L", "I;16") else "RGB").save(buf, format="JPEG", quality=95, comment=json.dumps({"zoo": meta}).encode())
    return buf.getvalue()


@dataclass
class TextSamples(Samples):
    """Generated strings."""

    texts: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"texts": np.array(self.texts, dtype=object).astype(str)}

    def save_combined(self, out: Path) -> list[Path]:
        separator = "\n\n" + "-" * 40 + "\n\n"
        atomic_write_bytes(out, separator.join(self.texts).encode())
        atomic_write_bytes(out.with_name(out.name + ".json"), json.dumps(self.meta, indent=2).encode())
        return [out, out.with_name(out.name + ".json")]

    def _repr_html_(self) -> str:
        """Each text as preformatted text (Jupyter, zoo report, zoo serve)."""
        style = "white-space:pre-wrap;border-left:3px solid #ccc;padding:4px 8px;margin:6px 0"
        return "".join(f'<pre class="zoo-text" style="{style}">{html.escape(text)}</pre>' for text in self.texts)

    def save_each(self, folder: Path) -> list[Path]:
        paths = []
        for i, text in enumerate(self.texts):
            atomic_write_bytes(folder / f"{i:05d}.txt", text.encode())
            paths.append(folder / f"{i:05d}.txt")
        return paths


@dataclass
class AudioSamples(Samples):
    """Waveforms N×T in [-1, 1] at `sample_rate` Hz; `labels` (N) is the class each clip was asked for."""

    waves: torch.Tensor
    sample_rate: int
    labels: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.waves)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"waves": self.waves.float().cpu().numpy(), "sample_rate": np.array(self.sample_rate)}
        return out if self.labels is None else {**out, "labels": self.labels.cpu().numpy()}

    def save_combined(self, out: Path) -> list[Path]:
        if out.suffix.lower() == ".wav":  # one file: the clips one after another, with short silences
            gap = torch.zeros(len(self.waves), self.sample_rate // 4)
            joined = torch.cat([self.waves.float().cpu(), gap], dim=1).reshape(-1)
            atomic_write_bytes(out, wav_bytes(joined, self.sample_rate))
            return [out]
        if out.suffix.lower() in IMAGE_SUFFIXES:
            atomic_write_bytes(out, image_file_bytes(spectrogram_png(self.waves, self.sample_rate, self.meta), out.suffix, self.meta))
            return [out]
        raise UsageError(f"cannot write audio to {out}: use a .wav, .png or .jpg path, a .npz path or a folder")

    def _repr_html_(self) -> str:
        """One player per clip (WAV embedded as base64) with its spectrogram (Jupyter, zoo report, zoo serve)."""
        tiles = []
        for i, wave in enumerate(self.waves.float().cpu()):
            wav = base64.b64encode(wav_bytes(wave, self.sample_rate)).decode()
            png = base64.b64encode(spectrogram_png(wave[None], self.sample_rate, {})).decode()
            label = "" if self.labels is None else f" · label {int(self.labels[i])}"
            tiles.append(
                f'<figure class="zoo-clip" style="display:inline-block;margin:4px;text-align:center">'
                f'<img alt="spectrogram of clip {i}" src="data:image/png;base64,{png}" style="width:200px;height:100px;image-rendering:pixelated;display:block">'
                f'<audio controls preload="auto" src="data:audio/wav;base64,{wav}" style="width:200px"></audio>'
                f"<figcaption>clip {i}{label} · {wave.numel() / self.sample_rate:.2f} s</figcaption></figure>"
            )
        return "<div>" + "".join(tiles) + "</div>"

    def save_each(self, folder: Path) -> list[Path]:
        paths = []
        for i, wave in enumerate(self.waves.float().cpu()):
            atomic_write_bytes(folder / f"{i:05d}.wav", wav_bytes(wave, self.sample_rate))
            paths.append(folder / f"{i:05d}.wav")
        atomic_write_bytes(folder / "spectrograms.png", spectrogram_png(self.waves, self.sample_rate, self.meta))
        return paths + [folder / "spectrograms.png"]


def wav_bytes(wave: torch.Tensor, sample_rate: int) -> bytes:
    """16-bit PCM mono WAV."""
    from scipy.io import wavfile

    pcm = (wave.clamp(-1, 1) * 32767).round().to(torch.int16).numpy()
    buf = io.BytesIO()
    wavfile.write(buf, sample_rate, pcm)
    return buf.getvalue()


def spectrogram_png(waves: torch.Tensor, sample_rate: int, meta: dict[str, Any]) -> bytes:
    """A grid of log-magnitude spectrograms (low frequencies at the bottom), one tile per clip."""
    from torchvision.utils import make_grid

    n_fft = 256
    spec = torch.stft(waves.float().cpu(), n_fft, hop_length=n_fft // 4, window=torch.hann_window(n_fft), return_complex=True)
    db = 20 * torch.log10(spec.abs().clamp_min(1e-5))  # N×F×T
    db = ((db - db.amax(dim=(1, 2), keepdim=True)).clamp_min(-80) + 80) / 80
    tiles = db.flip(1).unsqueeze(1)
    nrow = max(1, int(np.ceil(np.sqrt(len(tiles)))))
    return png_bytes(make_grid(tiles, nrow=nrow, padding=2, pad_value=1.0), {**meta, "sample_rate": sample_rate})
