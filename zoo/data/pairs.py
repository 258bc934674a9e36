"""Paired images for translation (pix2pix's setting), read from `--data PATH`:

- `data.layout: folders` (the default): PATH/source/ and PATH/target/ hold the same relative file names,
  nested folders allowed; the extensions may differ (edge maps as PNG beside photos as JPEG);
- `data.layout: side-by-side`: pix2pix's A|B files (facades, edges2shoes), A the left half, B the right.

A is the source (source/, the left half) and B the target; `data.direction: BtoA` swaps them. Each side
is decoded once into the prepared cache (zoo.data.prepared) by the image-folder decoder: the target at
`data.image_size`, the source at `data.source_size` (default: the same), each with its own channels.
The test split is held out by a hash of each A file's relative path, or given by train/ and test/ (or
val/) folders, as for image folders, so both directions split alike.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from zoo.data.own import (IMAGE_EXTS, ImageFolderConfig, OwnTensorData, auto_channels, decode_image, list_files, own_data, read_pixels,
                          relative, split_files, square, streams)
from zoo.data.spec import DatasetSpec
from zoo.errors import UsageError

SIDES = ("source", "target")  # the folders of the folders layout (A, B), and the two sides of a pair
SHOWN = 3  # unmatched names listed per side


@dataclass
class PairedFolderConfig(ImageFolderConfig):
    """Source/target pairs given with `--data PATH` (see the module docstring); `flip` flips both alike."""

    layout: Literal["folders", "side-by-side"] = "folders"
    direction: Literal["AtoB", "BtoA"] = "AtoB"
    source_size: int | None = None  # the source's side in pixels; default: data.image_size
    source_channels: Literal[1, 3, "auto"] = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.source_size is not None and self.source_size <= 0:
            raise UsageError(f"data.source_size must be a positive integer, got {self.source_size}")


def load_pairs(folder: Path, split: str, config: PairedFolderConfig) -> OwnTensorData:
    """`x` (targets, uint8 N×C×S×S) and `source` (uint8 N×Cs×Ss×Ss) of one split, aligned by pair."""
    from zoo.data.prepared import prepare

    root = Path(config.path)
    size, source_size = config.image_size, config.source_size or config.image_size
    sides = side_by_side(root, split, config) if config.layout == "side-by-side" else folders(root, split, config)
    decode = decode_half if config.layout == "side-by-side" else decode_image
    settings = {side: {**sides[side]["kind"], "size": px, "channels": channel_count(channels, sides[side]["all"])}
                for side, px, channels in (("target", size, config.channels), ("source", source_size, config.source_channels))}
    arrays = {side: prepare(sides[side]["files"], settings[side], decode, strict=config.strict) for side in SIDES}
    x, src = aligned(arrays, {side: sides[side]["files"] for side in SIDES})
    info: dict[str, Any] = {
        "channels": settings["target"]["channels"], "image_size": size,
        "source_channels": settings["source"]["channels"], "source_size": source_size, "num_classes": 0,
        "source": {"path": str(root), "layout": config.layout, "direction": config.direction,
                   "manifest": {side: arrays[side]["key"] for side in SIDES}, "decode": settings},
    }
    stream = any(streams(a, config.memory_limit_mb) for a in (x, src))
    return own_data({"x": x, "source": src}, info, flip=config.flip, stream=stream)


def folders(root: Path, split: str, config: PairedFolderConfig) -> dict[str, dict[str, Any]]:
    """Per side (source, target): the split's files, every file (for auto channels) and the decode kind."""
    pairs = matched(root)
    keep = set(chosen(root / "source", [a for a, _ in pairs], split, config.test_fraction))  # split by A, whatever the direction
    picked = [p for p in pairs if p[0] in keep]
    if config.direction == "BtoA":
        pairs, picked = ([(b, a) for a, b in ps] for ps in (pairs, picked))
    return {side: {"files": [p[i] for p in picked], "all": [p[i] for p in pairs], "kind": {"kind": "image"}} for i, side in enumerate(SIDES)}


def side_by_side(root: Path, split: str, config: PairedFolderConfig) -> dict[str, dict[str, Any]]:
    """As `folders`, for A|B files: both sides read the same files, each its own half."""
    everything = list_files(root, IMAGE_EXTS)
    files = chosen(root, everything, split, config.test_fraction)
    halves = {"source": "left", "target": "right"} if config.direction == "AtoB" else {"source": "right", "target": "left"}
    return {side: {"files": files, "all": everything, "kind": {"kind": "image-half", "half": halves[side]}} for side in SIDES}


def chosen(root: Path, files: list[Path], split: str, test_fraction: float) -> list[Path]:
    """The files of `split` (see zoo.data.own.split_files); an empty split is one clear error."""
    _, picked = split_files(root, files, split, test_fraction)
    if not picked:
        raise UsageError(f"the {split} split of {root} is empty; add pairs or change data.test_fraction")
    return picked


def matched(root: Path) -> list[tuple[Path, Path]]:
    """(file in source/, its partner in target/), in source/'s order; unmatched names are one error
    listing the first few on each side."""
    missing = [s for s in SIDES if not (root / s).is_dir()]
    if missing:
        raise UsageError(f"paired data {root} needs the folders source/ and target/ (missing: {', '.join(f'{m}/' for m in missing)}); "
                         "for pix2pix's side-by-side A|B images pass --set data.layout=side-by-side")
    found = {side: by_name(root / side) for side in SIDES}
    parts = []
    for side, other in (SIDES, SIDES[::-1]):
        names = [name for name in found[side] if name not in found[other]]
        if names:
            listed = ", ".join(names[:SHOWN]) + (", ..." if len(names) > SHOWN else "")
            parts.append(f"{len(names)} file(s) in {side}/ have no partner in {other}/ ({listed})")
    if parts:
        raise UsageError(f"unmatched pairs in {root}: {'; '.join(parts)}; give each pair the same relative name (any extension) in source/ and target/")
    return [(f, found["target"][name]) for name, f in found["source"].items()]


def by_name(folder: Path) -> dict[str, Path]:
    """A folder's images by relative path without extension (their pairing name), in sorted order."""
    out: dict[str, Path] = {}
    for f in list_files(folder, IMAGE_EXTS):
        name = os.path.splitext(relative(folder, f))[0]
        if name in out:
            raise UsageError(f"{out[name].name} and {f.name} in {f.parent} have the same name; a pair's partner must be one file")
        out[name] = f
    return out


def channel_count(channels: Any, files: list[Path]) -> int:
    """`channels`, or for auto: 3 when any of `files` (both splits, so they agree) has colour, else 1."""
    return int(channels) if channels != "auto" else auto_channels(files)


def aligned(arrays: dict[str, dict[str, Any]], files: dict[str, list[Path]]) -> tuple[Any, Any]:
    """(targets, sources) restricted to the pairs whose two images both decoded (a skipped corrupt file drops its pair)."""
    if all(len(arrays[side]["paths"]) == len(files[side]) for side in SIDES):
        return arrays["target"]["x"], arrays["source"]["x"]
    rows = {side: {p: i for i, p in enumerate(arrays[side]["paths"])} for side in SIDES}
    both = [(rows["target"][str(t)], rows["source"][str(s)]) for t, s in zip(files["target"], files["source"])
            if str(t) in rows["target"] and str(s) in rows["source"]]
    if not both:
        raise UsageError("no pair has both of its images readable")
    target_rows, source_rows = (np.array(i) for i in zip(*both))
    return arrays["target"]["x"][target_rows], arrays["source"]["x"][source_rows]


def decode_half(path: str, settings: dict[str, Any]) -> Any:
    """One side-by-side A|B file -> its `half` (left: A, right: B, split as pix2pix does) as uint8 C×S×S."""
    pixels = read_pixels(path, settings["channels"])
    cut = pixels.shape[1] // 2
    half = pixels[:, :cut] if settings["half"] == "left" else pixels[:, cut:]
    if min(half.shape[:2]) == 0:
        raise ValueError(f"{half.shape[1]}×{half.shape[0]} is no half of an A|B image")
    return square(half, settings["size"])


PAIRED_FOLDER = DatasetSpec(
    name="paired-folder", modality="image", files={}, loader="zoo.data.pairs:load_pairs", config=PairedFolderConfig, source=True,
    description="your image pairs: `--data FOLDER` with source/ and target/ (same relative names), or A|B images (data.layout=side-by-side)",
)
