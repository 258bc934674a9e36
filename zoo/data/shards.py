"""WebDataset tar shards (`shards-{000000..000009}.tar`) as records (zoo.data.records), streamed shard by
shard with the `webdataset` library.

A sample is the members sharing a key (`cat/0.png` and `cat/0.cls` are sample `cat/0`): its payload is
the `jpg`/`png`/... (images), `wav`/`flac`/... (audio) or `txt` (text) member, its label the `cls` member
(a class index, or a class name as text). The item's name for the hold-out is the payload member's
name, so shards written from a folder split as the folder did.
"""
from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any, Iterator

from zoo.data.records import Entry
from zoo.errors import UsageError

EXTS = {
    "image": ("png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff", "gif"),
    "audio": ("wav", "flac", "ogg", "mp3"),
    "text": ("txt",),
}
LABEL = "cls"


class Shards:
    """Records from tar shards (zoo.data.records.Source)."""

    classes = None  # shards declare no class names: `cls` holds names or indices

    def __init__(self, pattern: str, files: list[Path]) -> None:
        self.pattern, self.files = pattern, files

    def entries(self, kind: str) -> list[Entry]:
        """One pass over the tar headers (payloads are skipped over, only `cls` members are read)."""
        from webdataset.tariterators import base_plus_ext

        out: list[Entry] = []
        for shard in self.files:
            samples: dict[str, dict[str, Any]] = {}
            with tarfile.open(shard) as tar:
                for member in tar:
                    key, ext = base_plus_ext(member.name) if member.isfile() else (None, None)
                    if key is None:
                        continue
                    sample = samples.setdefault(key, {})
                    if ext.lower() == LABEL:
                        sample[LABEL] = _label(tar.extractfile(member).read())
                    elif ext.lower() in EXTS[kind] and "name" not in sample:
                        sample["name"] = member.name
            out += [Entry(s["name"], None, s.get(LABEL)) for s in samples.values() if "name" in s]
        if not out:
            raise UsageError(f"--data {self.pattern}: no sample in {len(self.files)} shard(s) has a {'/'.join(EXTS[kind])} member; "
                             f"a sample is KEY.{EXTS[kind][0]} (+ KEY.cls for its label)")
        return out

    def payloads(self, kind: str, rows: list[int]) -> Iterator[Any]:
        import webdataset as wds

        wanted = iter(rows)
        row = next(wanted, None)
        samples = wds.WebDataset([str(f) for f in self.files], shardshuffle=False, empty_check=False)
        for index, sample in enumerate(s for s in samples if _payload(s, kind) is not None):
            if row is None:
                return
            if index == row:
                data = _payload(sample, kind)
                yield data.decode("utf-8") if kind == "text" else data
                row = next(wanted, None)


def _payload(sample: dict[str, Any], kind: str) -> Any:
    return next((sample[k] for k in sample if not k.startswith("__") and k.lower() in EXTS[kind]), None)


def _label(raw: bytes) -> int | str:
    text = raw.decode("utf-8").strip()
    return int(text) if text.lstrip("-").isdigit() else text
