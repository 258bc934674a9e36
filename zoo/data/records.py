"""Data stored as records instead of one file per item: Parquet tables and `datasets` save_to_disk folders
(zoo.data.tables) and WebDataset tar shards (zoo.data.shards).

`--data` takes them as it takes folders, through the same sources (image-folder, audio-folder,
text-files): images and clips are decoded once into the prepared cache (zoo.data.prepared) by the
folder's own decoders, streamed record by record; the splits are the source's train/test parts, or the
same hash hold-out of each item's name (its relative path where the source keeps one, so a folder
turned into shards or Parquet splits as the folder did); labels get class names as folders do.
"""
from __future__ import annotations

import dataclasses
import glob
import io
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Protocol

import torch

from zoo.errors import UsageError

TEST_SPLITS = ("test", "validation", "valid", "val")  # the first present is the test split, as test/ before val/ for folders


@dataclass(frozen=True)
class Entry:
    """One record of a kind (image, audio or text): its name, the split its source puts it in (None when
    the source has no splits), and its raw label (a class name or index; None without labels)."""

    name: str
    split: str | None
    label: str | int | None


class Source(Protocol):
    """What a record format gives the loaders below."""

    files: list[Path]  # what the cache key covers (their paths, sizes and mtimes)
    classes: list[str] | None  # class names the source declares (a ClassLabel), else None

    def entries(self, kind: str) -> list[Entry]:
        """Every record holding a `kind` payload, in order; cheap (payloads are not read)."""

    def payloads(self, kind: str, rows: list[int]) -> Iterator[Any]:
        """The encoded payloads (bytes; str for text) of `rows` (sorted indices into entries), streamed in order."""


def expand(pattern: str) -> list[Path]:
    """`shards-{000000..000009}.tar` (braces, as WebDataset writes them) and globs -> the files that exist."""
    from braceexpand import braceexpand

    return [Path(p) for part in braceexpand(pattern) for p in (sorted(glob.glob(part)) if glob.has_magic(part) else [part]) if os.path.isfile(p)]


def _patterned(path: str) -> bool:
    return "{" in path or glob.has_magic(path)


def is_records(path: str | os.PathLike[str]) -> bool:
    """Whether `--data PATH` names records rather than a folder of files: a Parquet file or folder, a
    save_to_disk folder, tar shards or a shard pattern."""
    text = str(path)
    if _patterned(text) or text.endswith((".tar", ".parquet")):
        return True
    root = Path(text)
    return root.is_dir() and ((root / "dataset_dict.json").is_file() or (root / "state.json").is_file() or bool(_parquet_files(root)))


def _parquet_files(root: Path) -> list[Path]:
    """Parquet files up to three folders deep (the Hugging Face layout keeps them in data/ or split folders)."""
    return sorted(p for depth in ("*.parquet", "*/*.parquet", "*/*/*.parquet") for p in root.glob(depth))


def open_records(path: str) -> Source:
    """The source behind `--data PATH`; a pattern that matches nothing is a usage error."""
    from zoo.data.shards import Shards
    from zoo.data.tables import Table

    root = Path(path)
    if root.is_dir():
        if (root / "dataset_dict.json").is_file() or (root / "state.json").is_file():
            return Table.from_disk(root)
        return Table.from_parquet(root, _parquet_files(root))
    files = expand(path) if _patterned(path) else [root] if root.is_file() else []
    if not files:
        raise UsageError(f"--data {path}: {'no file matches that pattern' if _patterned(path) else 'no such file'}"
                         + (" (shards are named like shards-{000000..000009}.tar)" if ".tar" in path else ""))
    tars = [f for f in files if f.name.endswith((".tar", ".tar.gz", ".tgz"))]
    if len(tars) == len(files):
        return Shards(path, files)
    if all(f.suffix == ".parquet" for f in files):
        return Table.from_parquet(Path(os.path.commonpath([f.parent for f in files])), files)
    raise UsageError(f"--data {path} mixes {', '.join(sorted({f.suffix or f.name for f in files}))} files; name tar shards or Parquet files")


def split_of(relative: str) -> str | None:
    """The split a file's place says (data/train-00000-of-00001.parquet, test/part-0.parquet), if any."""
    match = re.search(r"(?:^|[/_.-])(train|" + "|".join(TEST_SPLITS) + r")(?=[/_.-]|$)", relative)
    return match.group(1) if match else None


def index(source: Source, kind: str) -> list[Entry]:
    """`source.entries(kind)`, remembered per file manifest: a second run (or split) reads a small JSON
    file instead of scanning every shard's headers again."""
    from zoo.data.prepared import manifest_key, remembered

    key = manifest_key(source.files, {"kind": "index", "of": kind, "format": type(source).__name__})
    return [Entry(*row) for row in remembered(f"index-{key}", lambda: [[e.name, e.split, e.label] for e in source.entries(kind)])]


def choose(entries: list[Entry], split: str, test_fraction: float, where: str) -> list[int]:
    """The rows of `split`: the source's own train and test parts when it has both, else a hold-out of
    `test_fraction` by the hash of each name (zoo.data.own.held_out, as for folders)."""
    from zoo.data.own import held_out

    if split not in ("train", "test"):
        raise UsageError(f"own data has the splits train and test, not {split!r}")
    named = {e.split for e in entries}
    test = next((s for s in TEST_SPLITS if s in named), None)
    if "train" in named and test is not None:
        rows = [i for i, e in enumerate(entries) if e.split == ("train" if split == "train" else test)]
    else:
        if not 0 <= test_fraction < 1:
            raise UsageError(f"data.test_fraction must be in [0, 1), got {test_fraction}")
        rows = [i for i, e in enumerate(entries) if held_out(e.name, test_fraction) == (split == "test")]
    if not rows:
        raise UsageError(f"the {split} split of {where} is empty; add records or change data.test_fraction")
    return rows


def class_names(source: Source, labels: list[Any]) -> list[str] | None:
    """Class names: the ones the source declares, else the training labels' names sorted (as class
    folders are), or 0..max for integer labels; None for fewer than two classes (as folders)."""
    if source.classes:
        return list(source.classes)
    present = [label for label in labels if label is not None]
    if not present:
        return None
    if all(isinstance(label, int) for label in present):
        names = [str(i) for i in range(max(present) + 1)]
    else:
        names = sorted({str(label) for label in present})
    return names if len(names) > 1 else None


def _aligned(names: list[str], kept: list[str]) -> list[int]:
    """Positions in `names` of the items that decoded (`kept`: a subsequence of `names`, in order)."""
    out, i = [], 0
    for name in kept:
        while names[i] != name:
            i += 1
        out.append(i)
        i += 1
    return out


def decode_image_bytes(data: bytes, settings: dict[str, Any]) -> Any:
    """An encoded image (PNG, JPEG, ...) -> uint8 C×S×S, exactly as zoo.data.own decodes the same file."""
    from zoo.data.own import decode_image

    return decode_image(io.BytesIO(data), settings)  # type: ignore[arg-type]


def decode_audio_bytes(data: bytes, settings: dict[str, Any]) -> Any:
    """An encoded clip (WAV; other formats where torchaudio decodes them) -> float16 T, as zoo.data.own decodes the file."""
    from zoo.data.own import fit_clip, read_wave

    return fit_clip(*read_wave(io.BytesIO(data)), settings)


def _decoded(kind: str, config: Any, split: str, settings: dict[str, Any], decode: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(fields x and maybe y, info) of a split's records of `kind`, decoded once into the prepared cache."""
    from zoo.data.prepared import prepare

    source = open_records(config.path)
    entries = index(source, kind)
    rows = choose(entries, split, config.test_fraction, config.path)
    picked = [entries[i] for i in rows]
    settings = {**settings, "records": split, "test_fraction": config.test_fraction}
    arrays = prepare(source.files, settings, decode, strict=config.strict,
                     items=([e.name for e in picked], lambda: source.payloads(kind, rows)))
    kept = [picked[i] for i in _aligned([e.name for e in picked], arrays["paths"])]
    fields: dict[str, Any] = {"x": arrays["x"]}
    info: dict[str, Any] = {"source": {"path": config.path, "manifest": arrays["key"], "decode": settings}}
    train = picked if split == "train" else [entries[i] for i in choose(entries, "train", config.test_fraction, config.path)]
    classes = class_names(source, [e.label for e in train])
    if classes:
        fields["y"] = _indices([e.label for e in kept], classes, config.path)
        info.update(num_classes=len(classes), classes=classes)
    return fields, info


def _indices(labels: list[Any], classes: list[str], where: str) -> torch.Tensor:
    """Class indices (int64 N): an integer label is an index, a name is looked up; a label outside the
    classes is an error naming it, as a class folder the training split lacks is."""
    out = []
    for label in labels:
        index = label if isinstance(label, int) else classes.index(str(label)) if str(label) in classes else None
        if index is None or not 0 <= index < len(classes):
            raise UsageError(f"label {label!r} in {where} is not among the training classes ({', '.join(classes)})")
        out.append(index)
    return torch.tensor(out, dtype=torch.int64)


def load_images(split: str, config: Any) -> Any:
    """The image records of `split` as zoo.data.own.load_images gives a folder: uint8 N×C×S×S, labels `y`."""
    from zoo.data.own import own_data, scan_channels, streams
    from zoo.data.prepared import manifest_key, remembered

    channels = config.channels
    if channels == "auto":  # both splits alike: 3 when any image has colour
        source = open_records(config.path)
        rows = list(range(len(index(source, "image"))))
        channels = int(remembered(f"channels-{manifest_key(source.files, {'kind': 'channels', 'records': True})}",
                                  lambda: scan_channels(io.BytesIO(b) for b in source.payloads("image", rows))))  # type: ignore[arg-type]
    fields, info = _decoded("image", config, split, {"kind": "image", "size": config.image_size, "channels": channels}, decode_image_bytes)
    info.update(channels=channels, image_size=config.image_size)
    return own_data(fields, info, flip=config.flip, stream=streams(fields["x"], config.memory_limit_mb))


def load_audio(split: str, config: Any) -> Any:
    """The audio records of `split` as zoo.data.own.load_audio gives a folder of clips."""
    from zoo.data.own import own_data, streams

    if config.clip_samples <= 0 or config.sample_rate <= 0:
        raise UsageError("data.clip_samples and data.sample_rate must be positive integers")
    fields, info = _decoded("audio", config, split, {"kind": "audio", "rate": config.sample_rate, "clip": config.clip_samples}, decode_audio_bytes)
    info = {"sample_rate": config.sample_rate, "clip_samples": config.clip_samples, "num_classes": 0, **info}
    stream = streams(fields["x"], config.memory_limit_mb)
    data = own_data(fields, info, stream=stream)
    if not stream:  # in memory: float32 once, as the registered audio datasets hold it
        data.fields["x"] = data.fields["x"].float()
    return data


def load_text(split: str, config: Any) -> Any:
    """The text records as a corpus: each split's records joined by newlines into train.txt and val.txt
    once (in the prepared cache), then read as zoo.data.own.load_text reads a folder with those files."""
    from zoo.data.own import load_text as load_text_files
    from zoo.data.prepared import manifest_key
    from zoo.data.spec import cache_dir

    source = open_records(config.path)
    entries = index(source, "text")
    folder = cache_dir() / "prepared" / f"records-text-{manifest_key(source.files, {'kind': 'text', 'test_fraction': config.test_fraction})}"
    if not (folder / "val.txt").is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".partial-", dir=folder.parent))
        for part, name in (("train", "train.txt"), ("test", "val.txt")):
            rows = choose(entries, part, config.test_fraction, config.path)
            with open(scratch / name, "w", encoding="utf-8") as out:
                for text in source.payloads("text", rows):
                    out.write(text.rstrip("\n") + "\n")
        try:
            os.replace(scratch, folder)
        except OSError:  # another process wrote it first
            shutil.rmtree(scratch, ignore_errors=True)
    data = load_text_files(folder, split, dataclasses.replace(config, path=str(folder)))
    data.info["source"] = {**data.info["source"], "path": config.path}
    return data
