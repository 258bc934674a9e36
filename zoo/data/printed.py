"""Printed digits: 0-9 rendered from the machine's TrueType fonts, MNIST-style, for printed -> handwritten.

Each image is one digit in a random face (every DejaVu and Liberation file found: regular, bold, italic,
mono, serif, condensed), stroke width, size, rotation (±10°) and shift, white on black, normalised the way
MNIST was: the digit's bounding box scaled so its longer side is 16-20 px (MNIST: 20) and its centre of
mass put at the centre of the 28×28 image (then shifted by up to ±1 px). Splits are fixed by their seeds
(train 60,000, test 10,000), generated once and cached under `<cache>/printed-digits/`, keyed by the fonts
found (names and sizes) and GENERATOR_VERSION, so a machine with other fonts gets its own copy.

Vectorised: each (face, stroke, digit) glyph is rendered once by Pillow at 40 px; every image is then one
affine resample of its glyph (torch `grid_sample`, 2× supersampled and box-filtered down to 28×28),
whose scale comes from the convex hull of the glyph's ink rotated by the image's angle, so the bounding
box is exact without rendering each rotation.
"""
from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from zoo.config import DataConfig
from zoo.data.spec import DatasetSpec, ImageDataConfig, cache_dir
from zoo.data.tensors import TensorData
from zoo.errors import ZooError

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation"))
PACKAGES = "fonts-dejavu-core fonts-liberation"
SPLITS = {"train": (60000, 20220), "test": (10000, 20221)}  # images, seed
GENERATOR_VERSION = 1  # bump when the rendering changes: cached splits are then made again
RENDER_PX = 40  # font size glyphs are rendered at
CANVAS = 60  # side of the square each glyph is centred in
STROKES = (0, 1, 2)  # Pillow stroke widths at RENDER_PX (0: the face's own weight; 3 fills the counters of bold faces)
MAX_ANGLE = 10.0  # degrees, either way
BOX = (16.0, 20.0)  # the longer side of the digit's bounding box, in output pixels
SHIFT = 1.0  # pixels, either way, after centring by centre of mass
SIZE = 28  # MNIST's side
SUPERSAMPLE = 2  # samples per output pixel along each axis, averaged (antialiasing)
INK = 0.25  # a glyph pixel at least this bright counts toward the bounding box
CHUNK = 2048  # images resampled at once (bounds memory)


def find_fonts(dirs: tuple[Path, ...] | None = None) -> list[Path]:
    """The TrueType files under the font folders, sorted by name; none is one line naming the packages."""
    dirs = FONT_DIRS if dirs is None else dirs
    fonts = sorted((f for d in dirs if d.is_dir() for f in d.glob("*.ttf")), key=lambda f: f.name)
    if not fonts:
        raise ZooError(f"printed-digits needs TrueType fonts and found none under {', '.join(map(str, dirs))}; "
                       f"install them: apt-get install {PACKAGES}")
    return fonts


@lru_cache(maxsize=2)
def glyph_bank(fonts: tuple[Path, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every (face, stroke, digit) glyph, white on black, centred in a CANVAS square:
    (glyphs G×1×CANVAS×CANVAS float in [0, 1], ink centres of mass G×2 (x, y), ink hulls G×M×2),
    G = faces·strokes·10, in that order; coordinates in canvas pixels, pixel i spanning [i, i+1)."""
    from PIL import Image, ImageDraw, ImageFont
    from scipy.spatial import ConvexHull

    glyphs, centres, hulls = [], [], []
    ys, xs = np.mgrid[0:CANVAS, 0:CANVAS] + 0.5
    corners = np.array([[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5], [0.5, 0.5]])
    for path in fonts:
        font = ImageFont.truetype(str(path), RENDER_PX)
        for stroke in STROKES:
            for digit in "0123456789":
                img = Image.new("L", (CANVAS, CANVAS), 0)
                draw = ImageDraw.Draw(img)
                left, top, right, bottom = draw.textbbox((0, 0), digit, font=font, stroke_width=stroke)
                at = (round(CANVAS / 2 - (left + right) / 2), round(CANVAS / 2 - (top + bottom) / 2))
                draw.text(at, digit, fill=255, font=font, stroke_width=stroke, stroke_fill=255)
                a = np.asarray(img, dtype=np.float64) / 255
                if a.sum() == 0:
                    raise ZooError(f"{path.name} renders no ink for the digit {digit}", hint=f"reinstall {PACKAGES}")
                glyphs.append(a)
                centres.append([(a * xs).sum() / a.sum(), (a * ys).sum() / a.sum()])
                ink = np.stack([xs[a >= INK], ys[a >= INK]], 1)  # pixel centres
                points = (ink[:, None, :] + corners[None]).reshape(-1, 2)  # and their corners: the ink's full extent
                hulls.append(points[ConvexHull(points).vertices])
    m = max(len(h) for h in hulls)
    padded = np.stack([np.concatenate([h, np.repeat(h[:1], m - len(h), 0)]) for h in hulls])  # repeats change no extent
    return (torch.from_numpy(np.stack(glyphs)).float().unsqueeze(1), torch.from_numpy(np.array(centres)), torch.from_numpy(padded))


def render(n: int, seed: int, fonts: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """n printed digits (uint8 n×28×28) and their labels (int64 n), the same for the same seed and fonts.
    Image i depends only on the seed's i-th draws, so any prefix of a split equals a shorter split."""
    glyphs, centres, hulls = glyph_bank(tuple(fonts))
    rng = np.random.default_rng(seed)
    u = rng.random((n, 7))  # per image: face, stroke, digit, angle, box size, shift x, shift y
    face = (u[:, 0] * len(fonts)).astype(np.int64)
    stroke = (u[:, 1] * len(STROKES)).astype(np.int64)
    labels = (u[:, 2] * 10).astype(np.int64)
    index = torch.from_numpy((face * len(STROKES) + stroke) * 10 + labels)
    angle = torch.from_numpy(np.radians((2 * u[:, 3] - 1) * MAX_ANGLE))
    box = torch.from_numpy(BOX[0] + (BOX[1] - BOX[0]) * u[:, 4])
    shift = torch.from_numpy((2 * u[:, 5:7] - 1) * SHIFT)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # n×2×2: canvas -> image axes
    # The bounding box of the rotated ink (rotation is rigid, so the hull's extent is the ink's).
    turned = torch.einsum("nij,nmj->nmi", rotation, hulls[index])
    extent = (turned.amax(1) - turned.amin(1)).amax(1)  # n: the longer side, canvas pixels
    scale = extent / box  # canvas pixels per output pixel
    # Output point u (pixels) <- canvas point  com + scale · Rᵀ (u - centre - shift), in grid_sample's [-1, 1] units.
    back = rotation.transpose(1, 2) * scale[:, None, None]  # n×2×2
    offset = centres[index] - torch.einsum("nij,nj->ni", back, shift)
    linear, bias = (back * (SIZE / CANVAS)).float(), (2 * offset / CANVAS - 1).float()  # n×2×2, n×2: as affine_grid's theta
    steps = SIZE * SUPERSAMPLE
    along = (torch.arange(steps, dtype=torch.float32) * 2 + 1) / steps - 1  # sample centres in [-1, 1]
    out = np.empty((n, SIZE, SIZE), np.uint8)
    for start in range(0, n, CHUNK):
        part = slice(start, start + CHUNK)
        a, b = linear[part, :, :, None, None], bias[part, :, None, None]  # (affine_grid's batched matmul is 5× slower)
        grid = torch.stack([a[:, i, 0] * along[None, None, :] + a[:, i, 1] * along[None, :, None] + b[:, i] for i in (0, 1)], -1)
        fine = F.grid_sample(glyphs[index[part]], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        out[part] = F.avg_pool2d(fine, SUPERSAMPLE).squeeze(1).mul(255).round().clamp(0, 255).to(torch.uint8).numpy()
    return out, labels


def cached_split(split: str, fonts: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """A split's (images, labels), rendered once per font set and generator version and cached."""
    n, seed = SPLITS[split]
    key = hashlib.sha256(json.dumps({"version": GENERATOR_VERSION, "n": n, "seed": seed,
                                     "fonts": [(f.name, f.stat().st_size) for f in fonts]}).encode()).hexdigest()[:16]
    file = cache_dir() / "printed-digits" / f"{split}-{key}.npz"
    if file.is_file():
        with np.load(file) as saved:
            return saved["x"], saved["y"]
    images, labels = render(n, seed, fonts)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        partial = file.with_name(f".partial-{os.getpid()}-{file.name}")
        np.savez(partial, x=images, y=labels)
        os.replace(partial, file)
    except OSError:
        pass  # only the cache is lost: the next run renders again
    return images, labels


def load_printed(folder: Path, split: str, config: DataConfig) -> TensorData:
    """Images as uint8 N×1×S×S (resized once to `config.image_size`), labels as int64 N, like MNIST's."""
    from zoo.data.idx import resize_uint8

    if split not in SPLITS:
        raise ZooError(f"printed-digits has the splits train and test, not {split!r}")
    images, labels = cached_split(split, find_fonts())
    x = torch.from_numpy(images).unsqueeze(1)
    size = config.image_size if isinstance(config, ImageDataConfig) else SIZE
    if size != SIZE:
        x = resize_uint8(x, size)
    info = {"channels": 1, "image_size": size, "num_classes": 10, "classes": [str(d) for d in range(10)]}
    return TensorData({"x": x, "y": torch.from_numpy(labels)}, info)


PRINTED_DIGITS = DatasetSpec(
    name="printed-digits",
    modality="image",
    description="printed digits 0-9 rendered from the DejaVu and Liberation fonts, MNIST-style 28×28 grey, 60k train / 10k test",
    files={},
    loader="zoo.data.printed:load_printed",
    config=ImageDataConfig,
    license=f"generated by zoo from the system's fonts (Debian: {PACKAGES}; free licences)",
)
