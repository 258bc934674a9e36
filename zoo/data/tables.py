"""Parquet files (one, a folder of them, the Hugging Face Hub layout `data/train-00000-of-00001.parquet`)
and `datasets` save_to_disk folders, read with pyarrow and `datasets` as records (zoo.data.records).

The Hugging Face layout: an image column of encoded bytes (the `Image` feature: a struct of bytes and
path), a label column (a `ClassLabel`, whose names become the class names), a text column, an audio
column (the `Audio` feature). Features come from the `huggingface` schema metadata both formats carry;
without it, columns are found by name.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from zoo.data.records import Entry, split_of
from zoo.errors import UsageError

NAMES = {  # columns recognised by name where no feature says what they hold
    "image": ("image", "img", "png", "jpg", "jpeg"),
    "audio": ("audio", "wav", "flac"),
    "text": ("text", "content", "sentence"),
    "label": ("label", "labels", "cls", "class"),
}
FEATURES = {"image": "Image", "audio": "Audio", "label": "ClassLabel"}
BATCH = 512  # rows read at a time while streaming


@dataclass
class Part:
    """One file (or one split of a save_to_disk folder): its split, rows, schema and a batch reader."""

    name: str
    split: str | None
    rows: int
    schema: Any
    batches: Callable[[list[str]], Iterator[Any]]  # columns -> pyarrow RecordBatches, in order


class Table:
    """Records from Parquet files or a save_to_disk folder (zoo.data.records.Source)."""

    def __init__(self, where: Path, files: list[Path], parts: list[Part]) -> None:
        if not parts:
            raise UsageError(f"--data {where}: no Parquet files in it")
        self.where, self.files, self.parts = where, files, parts
        self.features = features(parts[0].schema)
        self.classes = None
        label = self.column("label", required=False)
        if label is not None and self.features.get(label, {}).get("_type") == "ClassLabel":
            self.classes = [str(n) for n in self.features[label]["names"]]

    @classmethod
    def from_parquet(cls, root: Path, files: list[Path]) -> "Table":
        import pyarrow.parquet as pq

        parts = []
        for file in files:
            reader = pq.ParquetFile(file)
            relative = str(file.relative_to(root)) if file.is_relative_to(root) else file.name
            parts.append(Part(relative, split_of(relative), reader.metadata.num_rows, reader.schema_arrow,
                              lambda columns, reader=reader: reader.iter_batches(batch_size=BATCH, columns=columns)))
        return cls(root, files, parts)

    @classmethod
    def from_disk(cls, root: Path) -> "Table":
        """A `datasets` save_to_disk folder: one Dataset, or a DatasetDict whose keys are the splits."""
        try:
            import datasets
        except ImportError:
            raise UsageError(f"--data {root} is a save_to_disk folder of Hugging Face datasets, which is not installed; pip install 'genzoo[formats]'") from None
        loaded = datasets.load_from_disk(str(root))
        named = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [(None, loaded)]
        parts, files = [], []
        for split, ds in named:
            table = ds.data.table
            files += [Path(f["filename"]) for f in ds.cache_files]
            parts.append(Part(split or root.name, split_of(split) if split else None, table.num_rows, table.schema,
                              lambda columns, table=table: iter(table.select([c.partition(".")[0] for c in columns]).to_batches(max_chunksize=BATCH))))
        return cls(root, files, parts)

    def column(self, kind: str, required: bool = True) -> str | None:
        """The column holding `kind`: the one whose feature says so, else the first known name."""
        names = list(self.parts[0].schema.names)
        typed = [c for c in names if FEATURES.get(kind) and self.features.get(c, {}).get("_type") == FEATURES[kind]]
        found = typed[0] if typed else next((c for c in names if c.lower() in NAMES[kind]), None)
        if found is None and required:
            feature = f"an {FEATURES[kind]} feature or " if kind in FEATURES else ""
            raise UsageError(f"--data {self.where}: no {kind} column ({feature}a column named {'/'.join(NAMES[kind])}); "
                             f"its columns are {', '.join(names)}")
        for part in self.parts[1:]:
            if found is not None and found not in part.schema.names:
                raise UsageError(f"--data {self.where}: {part.name} has no column {found!r}; its columns are {', '.join(part.schema.names)}")
        return found

    def entries(self, kind: str) -> list[Entry]:
        column, label = self.column(kind), self.column("label", required=False)
        path_field = _struct_has(self.parts[0].schema.field(column).type, "path")
        out = []
        for part in self.parts:
            offset = 0
            for batch in part.batches([c for c in (f"{column}.path" if path_field else None, label) if c]):
                paths = batch.column(0).field("path").to_pylist() if path_field else [None] * batch.num_rows  # "image.path" reads only the paths
                labels = batch.column(batch.num_columns - 1).to_pylist() if label else [None] * batch.num_rows
                for i, (path, value) in enumerate(zip(paths, labels)):
                    out.append(Entry(path or f"{part.name}#{offset + i}", part.split, value))
                offset += batch.num_rows
        return _relative(out)

    def payloads(self, kind: str, rows: list[int]) -> Iterator[Any]:
        import pyarrow as pa

        column = self.column(kind)
        wanted, start = iter(rows), 0
        row = next(wanted, None)
        for part in self.parts:
            for batch in part.batches([column]):
                end = start + batch.num_rows
                local = []
                while row is not None and row < end:
                    local.append(row - start)
                    row = next(wanted, None)
                if local:
                    values = batch.column(0).take(pa.array(local))
                    if not pa.types.is_struct(values.type):
                        yield from values.to_pylist()
                    else:  # the Image/Audio feature: bytes, or only the path of a file (datasets' imagefolder writes that)
                        paths = values.field("path").to_pylist() if _struct_has(values.type, "path") else [None] * len(values)
                        for data, path in zip(values.field("bytes").to_pylist(), paths):
                            yield data if data is not None or not path or not os.path.isfile(path) else Path(path).read_bytes()
                start = end
                if row is None:
                    return


def _relative(entries: list[Entry]) -> list[Entry]:
    """Absolute paths (a table written from files where they lay) relative to the folder they share, so the
    hold-out hashes `cat/0.png` as for that folder."""
    paths = [e.name for e in entries]
    if len(paths) < 2 or not all(os.path.isabs(p) for p in paths):
        return entries
    base = os.path.commonpath([os.path.dirname(p) for p in paths])
    return [Entry(os.path.relpath(e.name, base).replace(os.sep, "/"), e.split, e.label) for e in entries]


def features(schema: Any) -> dict[str, dict[str, Any]]:
    """Column -> its Hugging Face feature (`{"_type": "Image"}`, `{"_type": "ClassLabel", "names": [...]}`), from the schema metadata."""
    raw = (schema.metadata or {}).get(b"huggingface")
    if not raw:
        return {}
    found = json.loads(raw).get("info", {}).get("features", {})
    return {k: v for k, v in found.items() if isinstance(v, dict)}


def _struct_has(kind: Any, field: str) -> bool:
    import pyarrow as pa

    return pa.types.is_struct(kind) and kind.get_field_index(field) >= 0
