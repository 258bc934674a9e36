"""Image-to-image translation: "given a source, produce a target", for every family that `Translates`.

Pairs come from any image data in three ways, all batched by indexing:
- a degradation of the target made on the fly (`data.degrade: sr:4 | noise:0.4 | blur:1.5 | gray | edges |
  mask:center`): the target is the dataset's image, the source its degraded copy;
- a paired folder or side-by-side A|B images (zoo.data.pairs): both halves decoded from files;
- two unpaired domains (`data.source`, `data.target`): CycleGAN's setting, where no source has a partner.

A translating batch holds `x` (target, N×C×H×W in [0, 1]), `source` (N×Cs×Hs×Ws in [0, 1]) and `y`
(labels, when the data has them). A family gets its source's shape from `source_shape(info, context.data)`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.capabilities import Translates
from zoo.errors import UsageError

KINDS: dict[str, str] = {
    "sr": "sr:F - downsampled by F (2..8) with bicubic resampling (PIL's BICUBIC filter, antialiased)",
    "noise": "noise:S - Gaussian noise of standard deviation S (0 < S <= 1) on [0, 1] pixels, clipped to [0, 1]",
    "blur": "blur:S - Gaussian blur of standard deviation S pixels (0 < S <= 5)",
    "gray": "gray - the ITU-R BT.601 luma of an RGB image (colorization)",
    "edges": "edges - a binary edge map: Sobel gradient magnitude of the luma after a 3×3 Gaussian blur, "
             "above 20% of the image's largest gradient; black lines on white (the edges2shoes setting)",
    "mask:center": "mask:K - hidden pixels set to grey (K: center, left or random), as inpainting hides them",
}
MASK_KINDS = ("center", "left", "random")
EDGE_THRESHOLD = 0.2  # of each image's largest gradient magnitude


@dataclass(frozen=True)
class Degradation:
    """How a source is made from a target: `kind` and its one parameter (`sr` factor, `noise`/`blur` σ, mask kind)."""

    kind: str
    value: float = 0.0
    mask: str = "center"

    @classmethod
    def parse(cls, text: str) -> "Degradation":
        """`sr:4`, `noise:0.4`, `blur:1.5`, `gray`, `edges`, `mask:center` -> a checked Degradation."""
        kind, _, arg = text.strip().partition(":")
        valid = "; ".join(KINDS.values())
        if kind == "mask":
            mask = arg or "center"
            if mask not in MASK_KINDS:
                raise UsageError(f"unknown mask {mask!r} in data.degrade={text}; choose from {', '.join(MASK_KINDS)}")
            return cls("mask", mask=mask)
        if kind in ("gray", "edges"):
            if arg:
                raise UsageError(f"data.degrade={text}: {kind} takes no parameter")
            return cls(kind)
        if kind not in ("sr", "noise", "blur"):
            raise UsageError(f"unknown degradation {text!r}; valid: {valid}")
        try:
            value = float(arg)
        except ValueError:
            raise UsageError(f"data.degrade={text}: {KINDS[kind]}") from None
        if kind == "sr" and (value != int(value) or not 2 <= value <= 8):
            raise UsageError(f"data.degrade={text}: the sr factor must be an integer from 2 to 8")
        if kind == "noise" and not 0 < value <= 1:
            raise UsageError(f"data.degrade={text}: the noise σ must be in (0, 1]")
        if kind == "blur" and not 0 < value <= 5:
            raise UsageError(f"data.degrade={text}: the blur σ must be in (0, 5]")
        return cls(kind, int(value) if kind == "sr" else value)

    def __str__(self) -> str:
        if self.kind == "mask":
            return f"mask:{self.mask}"
        if self.kind in ("gray", "edges"):
            return self.kind
        return f"{self.kind}:{self.value:g}"

    def source_shape(self, channels: int, size: int) -> tuple[int, int]:
        """(channels, size) of the source made from a channels×size×size target."""
        if self.kind == "sr":
            if size % int(self.value):
                raise UsageError(f"data.image_size={size} is not divisible by the sr factor {int(self.value)}; "
                                 f"use a multiple, e.g. --set data.image_size={size - size % int(self.value) or int(self.value)}")
            return channels, size // int(self.value)
        if self.kind == "gray":
            if channels != 3:
                raise UsageError("data.degrade=gray (colorization) needs colour images; set data.channels=3 or pick another degradation")
            return 1, size
        if self.kind == "edges":
            return 1, size
        return channels, size

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The source for targets `x` (N×C×H×W in [0, 1]), on x's device."""
        if self.kind == "sr":
            return resize(x, x.shape[-1] // int(self.value))
        if self.kind == "noise":
            return (x + self.value * torch.randn(x.shape, device=x.device, generator=generator)).clamp(0, 1)
        if self.kind == "blur":
            return gaussian_blur(x, self.value)
        if self.kind == "gray":
            return luma(x)
        if self.kind == "edges":
            return 1 - edge_map(x)
        from zoo.restoration import masks

        known = masks(self.mask, len(x), tuple(x.shape[-2:]), generator, x.device)
        return known * x + (1 - known) * 0.5

    def describe(self) -> dict[str, Any]:
        """What a score's protocol records, so scores under different degradations are never mixed."""
        return {"degradation": str(self)}


def resize(x: Tensor, size: int) -> Tensor:
    """Bicubic resize to size×size with antialiasing (the kernel PIL's BICUBIC uses, a = -0.5), quantised to
    8 bits as a PIL image would be, so sources made here equal a user's own small images."""
    out = F.interpolate(x.float(), size=(size, size), mode="bicubic", antialias=True, align_corners=False)
    return out.clamp(0, 1).mul(255).round().div(255)


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur, kernel radius ceil(3σ), reflected borders."""
    radius = max(1, math.ceil(3 * sigma))
    coords = torch.arange(-radius, radius + 1, device=x.device, dtype=torch.float32)
    g = torch.exp(-coords**2 / (2 * sigma**2))
    g = g / g.sum()
    c = x.shape[1]
    padded = F.pad(x.float(), (radius, radius, radius, radius), mode="reflect" if min(x.shape[-2:]) > radius else "replicate")
    out = F.conv2d(padded, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return F.conv2d(out, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)


def luma(x: Tensor) -> Tensor:
    """N×1×H×W BT.601 luma of RGB images (grey images pass through)."""
    if x.shape[1] == 1:
        return x
    weights = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * weights).sum(1, keepdim=True)


def edge_map(x: Tensor) -> Tensor:
    """N×1×H×W in {0, 1}: 1 where the smoothed luma's Sobel gradient exceeds EDGE_THRESHOLD of the image's maximum."""
    y = gaussian_blur(luma(x.float()), 0.8)
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=x.device)
    kernels = torch.stack([sobel, sobel.t()]).unsqueeze(1)  # 2×1×3×3: d/dx, d/dy
    grad = F.conv2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), kernels).pow(2).sum(1, keepdim=True).sqrt()
    peak = grad.flatten(1).amax(1).clamp_min(1e-8).view(-1, 1, 1, 1)
    return (grad > EDGE_THRESHOLD * peak).float()


class Pairs:
    """A split's images as (source, target) pairs: each batch's sources made from its targets on the
    device. Random degradations (noise, random masks) draw from the global RNG in training, so exact
    resume holds, and from an explicit generator in evaluation."""

    def __init__(self, data: Any, degradation: Degradation) -> None:
        self.data, self.degradation = data, degradation
        self.info = getattr(data, "info", {})
        self.generator: torch.Generator | None = None

    def __len__(self) -> int:
        return len(self.data)

    def batch(self, idx: Tensor) -> dict[str, Tensor]:
        out = self.data.batch(idx)
        out["source"] = self.degradation(out["x"], self.generator)
        return out

    def prefetch(self, idx: Tensor) -> None:
        if hasattr(self.data, "prefetch"):
            self.data.prefetch(idx)

    def to(self, device: torch.device) -> "Pairs":
        return Pairs(self.data.to(device), self.degradation)


def degradation_of(data_config: Any) -> Degradation | None:
    """The run's degradation (`data.degrade`), or None when its data already holds sources."""
    text = getattr(data_config, "degrade", "") or ""
    return Degradation.parse(text) if text else None


def pairs(data: Any, data_config: Any) -> Any:
    """What a translating family's `prepare` returns: `data` itself when it holds sources (paired or
    unpaired data, whose `info` has `source_channels` and `source_size`), else its images paired with
    degraded copies."""
    degradation = degradation_of(data_config)
    if degradation is None:
        if "source_channels" not in getattr(data, "info", {}):  # paired and unpaired data say their sources' shape
            raise UsageError("this family translates: give it pairs with data.degrade (sr:4, noise:0.4, blur:1.5, gray, edges, "
                             "mask:center), a paired folder (source/ and target/), or two domains (data.source, data.target)")
        return data
    return Pairs(data, degradation)


def source_shape(info: dict[str, Any], data_config: Any) -> tuple[int, int, int]:
    """C×H×W of a source for a translating family built on `info` (its target's shape) and its data config:
    made by the degradation, or the data's own `source_channels`/`source_size` (paired and unpaired data)."""
    degradation = degradation_of(data_config)
    if degradation is not None:
        channels, size = degradation.source_shape(info["channels"], info["image_size"])
    else:
        channels, size = info.get("source_channels", info["channels"]), info.get("source_size", info["image_size"])
    return channels, size, size


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


def collect(inputs: list[Path], suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> list[tuple[Path, Path]]:
    """(file, name to write it under) for each input: a file keeps its name, a folder's files with one of
    `suffixes` keep their paths relative to it."""
    found: list[tuple[Path, Path]] = []
    for item in inputs:
        if item.is_dir():
            files = sorted(f for f in item.rglob("*") if f.is_file() and f.suffix.lower() in suffixes)
            if not files:
                raise UsageError(f"{item} holds no files this run translates ({', '.join(suffixes)})")
            found += [(f, f.relative_to(item)) for f in files]
        elif item.is_file():
            found.append((item, Path(item.name)))
        else:
            raise UsageError(f"{item}: no such file or folder")
    names = [name for _, name in found]
    clashes = sorted({str(n) for n in names if names.count(n) > 1})
    if clashes:
        raise UsageError(f"two inputs would be written as {', '.join(clashes[:3])}; translate them in separate calls")
    return found


def check_translates(model: Any) -> Translates:
    if not isinstance(model, Translates):
        raise UsageError(f"the {type(model).__name__} family cannot translate images (it lacks the Translates capability); "
                         "train a translation preset (zoo list shows sr4-fashion, denoise-fashion, edges2fashion, printed2mnist)")
    return model


def test_pairs(model: Any, count: int, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor | None]:
    """(source, target, labels) of `count` test items picked with `generator`'s seed, on the model's device."""
    test = pairs(model.context.split("test"), model.context.data)
    seed = int(torch.randint(2**31 - 1, (1,), generator=generator, device=generator.device))
    pick = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[: max(1, min(count, len(test)))]
    if isinstance(test, Pairs):
        test.generator = torch.Generator().manual_seed(seed)
    batch = test.batch(pick)
    return batch["source"].to(model.device).float(), batch["x"].to(model.device).float(), batch.get("y")


def match_channels(x: Tensor, channels: int) -> Tensor:
    """`x` with `channels` channels: grey repeated, or colour reduced to its luma (and repeated)."""
    if x.shape[1] == channels:
        return x
    return (x if x.shape[1] == 1 else luma(x)).expand(-1, channels, -1, -1)


def show_as(source: Tensor, like: Tensor) -> Tensor:
    """`source` upsampled (nearest) and given `like`'s channels, so it sits beside outputs in one sheet."""
    if source.shape[-1] != like.shape[-1]:
        source = F.interpolate(source, size=like.shape[-2:], mode="nearest")
    return match_channels(source, like.shape[1])


def translation_sheet(model: Any, n: int, generator: torch.Generator | None, **conditions: Any) -> Tensor:
    """(source | output | target) for each of n // 3 test items (at least one), in rows of three."""
    translator = check_translates(model)
    if generator is None:  # the pick still needs a seed: take one from the global stream
        generator = torch.Generator(model.device).manual_seed(int(torch.randint(2**31 - 1, (1,))))
    source, target, _ = test_pairs(model, max(1, n // 3), generator)
    out = translator.translate(source, generator=generator, **conditions).float().clamp(0, 1)
    return torch.stack([show_as(source, out), out, target], dim=1).flatten(0, 1)



def read_sources(files: list[Path], shape: tuple[int, int, int], resize_to_fit: bool = False) -> Tensor:
    """Image files as sources N×C×H×W in [0, 1] for a run whose sources are `shape` (C, H, W): converted to
    its channels; a different size is an error naming the size that fits, or resized (bicubic) when asked."""
    from PIL import Image, UnidentifiedImageError

    channels, height, width = shape
    out = []
    for file in files:
        try:
            with Image.open(file) as img:
                img = img.convert("L" if channels == 1 else "RGB")
        except (OSError, UnidentifiedImageError) as err:
            raise UsageError(f"cannot read {file} as an image ({err})") from None
        if img.size != (width, height):
            if not resize_to_fit:
                raise UsageError(f"{file} is {img.size[0]}×{img.size[1]} but this run translates {width}×{height} images; "
                                 f"pass --resize to resize inputs (bicubic), or give {width}×{height} images")
            img = img.resize((width, height), Image.BICUBIC)
        array = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).view(height, width, channels)
        out.append(array.permute(2, 0, 1).float() / 255)
    return torch.stack(out)


def write_images(images: Tensor, files: list[Path]) -> None:
    """Each N×C×H×W image in [0, 1] to its file, in the format its suffix names (atomic writes)."""
    import io

    from PIL import Image

    from zoo.samples import atomic_write_bytes

    for image, file in zip(images, files):
        array = image.clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
        pil = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
        buffer = io.BytesIO()
        pil.save(buffer, format=Image.registered_extensions().get(file.suffix.lower(), "PNG"))
        atomic_write_bytes(file, buffer.getvalue())
