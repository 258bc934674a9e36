"""Clips as files: animated GIF (Pillow), MP4 (PyAV, whose wheel ships FFmpeg) and frame sheets (PNG,
time across, clips down). Clips are float tensors T×C×H×W in [0, 1] (C = 1 or 3); reading returns uint8
T×H×W×C so a folder of clips decodes straight into the prepared cache.
"""
from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from zoo.errors import UsageError

CLIP_SUFFIXES = (".gif", ".mp4")  # what `zoo sample --out` writes a clip batch as (beside .png sheets, .npz and folders)
READ_SUFFIXES = (".gif", ".mp4", ".webm", ".avi", ".mov", ".mkv")  # what own-video folders and --context read
FPS = 8  # default playback rate of written clips (Moving MNIST has none of its own)


@runtime_checkable
class Predicts(Protocol):
    """Frame prediction: the first `context_frames` frames of clips (N×k×C×H×W in [0, 1]) -> the next
    `frames - k` frames (N×(T-k)×C×H×W in [0, 1]). `zoo sample --mode predict --context CLIP` and the
    `prediction` metric use it; stochastic predictors draw from `generator`, deterministic ones ignore it."""

    context_frames: int
    frames: int

    def predict(self, context: Tensor, generator: torch.Generator | None = None, **conditions: Any) -> Tensor: ...


@runtime_checkable
class RestoresClips(Protocol):
    """Video restoration: degraded clips N×T×C×H×W in [0, 1] -> restored ones, same shape (the `clip_restoration`
    metric scores it against per-frame classical filters; clip files go through `zoo translate`)."""

    def translate_clips(self, source: Tensor, generator: torch.Generator | None = None) -> Tensor: ...


def check_predicts(model: Any) -> Predicts:
    if not isinstance(model, Predicts):
        raise UsageError(f"the {type(model).__name__} family cannot predict frames (it lacks the Predicts capability); "
                         "train a prediction preset (predict-mmnist, convlstm-mmnist)")
    return model


def prediction_clips(model: Any, n: int, generator: torch.Generator | None, mode: str | None, context: str | None,
                     **conditions: Any) -> tuple[Tensor, dict[str, Any]]:
    """What a predicting family's `sample` shows: with `mode="predict"` and a `context` clip file, n continuations
    of its first k frames; with neither, continuations of n test clips. Full clips N×T×C×H×W (context, then
    prediction) and the meta that says which."""
    predictor = check_predicts(model)
    k = predictor.context_frames
    if mode not in (None, "predict"):
        raise UsageError(f"unknown mode {mode!r} for this model; it samples with --mode predict --context CLIP")
    if mode == "predict" and not context:
        raise UsageError(f"--mode predict needs --context CLIP: a .gif/.mp4 (or frame folder) with at least {k} frames")
    if context and mode != "predict":
        raise UsageError("--context is read by --mode predict; add --mode predict")
    if context:
        shape = (model.info["channels"], model.info["image_size"], model.info["image_size"])
        given = read_context(context, shape, k).to(model.device).expand(n, -1, -1, -1, -1)
        meta: dict[str, Any] = {"mode": "predict", "context": str(context), "context_frames": k}
    else:
        test = model.context.split("test")
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator, device=generator.device)) if generator is not None else 0
        pick = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:n]
        given = test.batch(pick)["x"][:, :k].to(model.device).float()
        meta = {"mode": "predict-test", "context_frames": k}
    future = predictor.predict(given, generator=generator, **conditions).float().clamp(0, 1)
    return torch.cat([given.float(), future], 1), meta


def _uint8(clip: Tensor) -> np.ndarray:
    """T×C×H×W in [0, 1] -> uint8 T×H×W×C."""
    return clip.detach().float().cpu().clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def tile(clips: Tensor, nrow: int | None = None, pad: int = 2) -> Tensor:
    """N×T×C×H×W clips -> one T×C×H'×W' clip of them in a grid (white gaps), so a batch plays as one animation."""
    from torchvision.utils import make_grid

    n = len(clips)
    nrow = nrow or max(1, int(np.ceil(np.sqrt(n))))
    return torch.stack([make_grid(clips[:, t].float().cpu().clamp(0, 1), nrow=nrow, padding=pad, pad_value=1.0) for t in range(clips.shape[1])])


def gif_bytes(clip: Tensor, fps: int = FPS, comment: str = "") -> bytes:
    """A T×C×H×W clip as an endlessly looping animated GIF (grey kept as a grey palette)."""
    from PIL import Image

    frames = _uint8(clip)
    pils = [Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f) for f in frames]
    if frames.shape[-1] == 3:
        pils = [p.quantize(256, dither=Image.Dither.NONE) for p in pils]
    buf = io.BytesIO()
    pils[0].save(buf, format="GIF", save_all=True, append_images=pils[1:], duration=round(1000 / fps), loop=0, optimize=False,
                 disposal=1, comment=comment.encode() if comment else b"")
    return buf.getvalue()


def mp4_bytes(clip: Tensor, fps: int = FPS) -> bytes:
    """A T×C×H×W clip as H.264 MP4 (yuv420p, so ordinary players open it; odd sides padded to even)."""
    import av

    frames = _uint8(clip)
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    t, h, w, _ = frames.shape
    frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": "12", "preset": "medium"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        container.mux(stream.encode())
    return buf.getvalue()


def sheet(clips: Tensor, pad: int = 2) -> Tensor:
    """N×T×C×H×W clips -> one C×H'×W' image: time across, clips down."""
    from torchvision.utils import make_grid

    n, t = clips.shape[:2]
    return make_grid(clips.float().cpu().clamp(0, 1).flatten(0, 1), nrow=t, padding=pad, pad_value=1.0)


def read_clip(path: str | Path, channels: int = 1) -> np.ndarray:
    """A clip file (GIF with Pillow; MP4 and other containers with PyAV) or a folder of frame images (sorted by
    name) as uint8 T×H×W×C, C = `channels` (grey: BT.601 luma). Unreadable input raises ValueError/OSError."""
    path = Path(path)
    mode = "L" if channels == 1 else "RGB"
    if path.is_dir():
        from PIL import Image

        from zoo.data.own import IMAGE_EXTS

        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith("."))
        if not files:
            raise ValueError(f"no frame images in {path}")
        frames = []
        for file in files:
            with Image.open(file) as img:
                frames.append(np.array(img.convert(mode), dtype=np.uint8))
    elif path.suffix.lower() == ".gif":
        from PIL import Image, ImageSequence

        with Image.open(path) as img:
            frames, durations = [], []
            for f in ImageSequence.Iterator(img):
                frames.append(np.array(f.convert(mode), dtype=np.uint8))
                durations.append(f.info.get("duration", 0) or 0)
        base = min((d for d in durations if d > 0), default=0)
        if base:  # a frame held longer (writers merge identical frames, adding their durations) repeats at the shortest duration
            frames = [f for f, d in zip(frames, durations) for _ in range(max(1, round(d / base)))]
    else:
        import av

        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="gray" if channels == 1 else "rgb24") for f in container.decode(video=0)]
    if not frames:
        raise ValueError(f"{path.name} holds no frames")
    if len({f.shape for f in frames}) > 1:
        raise ValueError(f"{path.name}: frames of different sizes")
    out = np.stack(frames)
    return out[..., None] if out.ndim == 3 else out


def clip_tensor(frames: np.ndarray) -> Tensor:
    """uint8 T×H×W×C -> float T×C×H×W in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255


def read_context(path: str | Path, shape: tuple[int, int, int], frames: int) -> Tensor:
    """The first `frames` frames of a clip file (`--context`) as 1×frames×C×H×W in [0, 1] for a run whose clips are
    `shape` (C, H, W): a missing file, too few frames or another size is a one-line usage error."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"--context {path}: no such file or folder; give a clip (.gif, .mp4) or a folder of frames")
    channels, height, width = shape
    try:
        clip = read_clip(path, channels)
    except (OSError, ValueError) as err:
        raise UsageError(f"--context {path}: cannot read it as a clip ({str(err).splitlines()[0][:80]})") from None
    if clip.shape[1:3] != (height, width):
        raise UsageError(f"--context {path} is {clip.shape[2]}×{clip.shape[1]} but this run predicts {width}×{height} clips; "
                         f"resize it to {width}×{height}")
    if len(clip) < frames:
        raise UsageError(f"--context {path} has {len(clip)} frame(s) but this run is given {frames}; pass a clip with at least {frames}")
    return clip_tensor(clip[:frames])[None]


def describe(meta: dict[str, Any]) -> str:
    """Provenance as one comment line for GIF files."""
    import json

    return json.dumps({"zoo": meta}, default=str)
