"""Decode once, start fast: a folder's files decoded in parallel into a cache entry keyed by the file
manifest (paths, sizes, mtimes) and the decode settings.

An entry is a folder `<cache>/prepared/<key>/` holding `x.npy` (the stacked arrays) and `paths.json`
(the decoded files, in order). It is written under a temporary name and renamed into place, so an
interrupted decode leaves nothing that could be served; any changed, added or removed file changes
the key, so a stale entry is never read.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from concurrent.futures import ProcessPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from zoo.data.spec import cache_dir
from zoo.errors import UsageError, ZooError

VERSION = 1  # bump when a decoder's output changes
PARALLEL_FROM = 256  # fewer files decode in this process (starting workers would cost more)
WINDOW = 4096  # items handed to the worker processes at a time, so streamed payloads are never all in memory


def manifest_key(files: list[Path], settings: dict[str, Any]) -> str:
    """sha256 of the decoder version, the settings and every file's (path, size, mtime)."""
    h = hashlib.sha256(json.dumps({"version": VERSION, "settings": settings}, sort_keys=True).encode())
    for f in files:
        name = os.path.abspath(f)
        st = os.stat(name)
        h.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def remembered(key: str, compute: Callable[[], Any]) -> Any:
    """A small JSON value computed once per `key` (say a folder's manifest) and kept in the cache
    (`<cache>/prepared/<key>.json`); computed every time where the cache cannot be written."""
    file = cache_dir() / "prepared" / f"{key}.json"
    if file.is_file():
        return json.loads(file.read_text())
    value = compute()
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        partial = file.with_name(f".partial-{os.getpid()}-{file.name}")
        partial.write_text(json.dumps(value))
        os.replace(partial, file)
    except OSError:
        pass  # only the shortcut is lost
    return value


def prepare(files: list[Path], settings: dict[str, Any], decode: Callable[[Any, dict[str, Any]], np.ndarray], *, strict: bool = False,
            items: tuple[list[str], Callable[[], Iterable[Any]]] | None = None) -> dict[str, Any]:
    """{"x": the decoded arrays stacked, "paths": the files they came from, "key": the cache key}; decoded
    only when no entry for this manifest and these settings exists. `x` is memory-mapped from the
    entry (copy-on-write, read lazily); only when the cache cannot be written is it an in-memory array.
    Decoded items go straight into the entry's file, so a folder larger than memory decodes too.

    `items` = (names, payloads) for files that hold many items each (Parquet, tar shards: zoo.data.records):
    the items' names, and a function streaming their encoded payloads in the same order, which `decode`
    then takes instead of a path; `files` only key the entry."""
    key = manifest_key(files, settings)
    entry = cache_dir() / "prepared" / key
    if not (entry / "paths.json").is_file():
        scratch = _scratch(entry.parent)
        names, payloads = items if items is not None else ([str(f) for f in files], None)
        try:
            x, kept = _collect(decode_all(names, settings, decode, payloads() if payloads else None), len(names), scratch, strict)
            if scratch is None:
                return {"x": x, "paths": kept, "key": key}
            (scratch / "paths.json").write_text(json.dumps(kept))
            x.flush()
            del x
            os.replace(scratch, entry)
        except OSError as err:
            if not (entry / "paths.json").is_file():  # another process may have won the race
                raise ZooError(f"cannot write the decoded data into {entry.parent} ({err.strerror or err})",
                               hint="free space there or point ZOO_CACHE_DIR at another folder") from None
        finally:
            if scratch is not None and scratch.exists():
                shutil.rmtree(scratch, ignore_errors=True)
    return {"x": np.load(entry / "x.npy", mmap_mode="c"), "paths": json.loads((entry / "paths.json").read_text()), "key": key}


def flat_file(key: str, parts: Iterator[np.ndarray], dtype: Any) -> np.ndarray:
    """The parts concatenated into one flat array of `dtype`, stored once as `<cache>/prepared/<key>.bin`
    (nanoGPT's train.bin) and memory-mapped, so what is larger than memory is never held whole. Written
    under a temporary name and renamed into place; where the cache cannot be written, it is built in memory."""
    file = cache_dir() / "prepared" / f"{key}.bin"
    if not file.is_file():
        scratch = _scratch(file.parent)
        if scratch is None:
            return np.concatenate([np.asarray(p, dtype) for p in parts] or [np.zeros(0, dtype)])
        try:
            with open(scratch / "part.bin", "wb") as out:
                for part in parts:
                    out.write(np.ascontiguousarray(part, dtype).tobytes())
            os.replace(scratch / "part.bin", file)
        except OSError as err:
            raise ZooError(f"cannot write {file} ({err.strerror or err})", hint="free space there or point ZOO_CACHE_DIR at another folder") from None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    if file.stat().st_size == 0:
        return np.zeros(0, dtype)
    return np.memmap(file, dtype=dtype, mode="c")


def _scratch(folder: Path) -> Path | None:
    """A temporary folder beside the entries (renamed into place when complete), or None with one
    warning line when the cache cannot be written: that costs only the cache."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".partial-", dir=folder))
    except OSError as err:
        warnings.warn(f"not caching the decoded data in {folder} ({err.strerror or err}); the next run decodes again", stacklevel=3)
        return None


def _collect(results: Iterator[tuple[str, Any]], n: int, scratch: Path | None, strict: bool) -> tuple[np.ndarray, list[str]]:
    """Write decoded items in order into `scratch`/x.npy (or memory); failures are raised or warned about."""
    out: np.ndarray | None = None
    kept: list[str] = []
    failed: list[tuple[str, str]] = []
    for path, item in results:
        if isinstance(item, str):
            failed.append((path, item))
            continue
        if out is None:
            shape = (n, *item.shape)
            out = np.lib.format.open_memmap(scratch / "x.npy", "w+", item.dtype, shape) if scratch else np.empty(shape, item.dtype)
        out[len(kept)] = item
        kept.append(path)
    if failed and (strict or out is None):
        names = ", ".join(f"{Path(p).name} ({why})" for p, why in failed[:3])
        raise UsageError(f"{len(failed)} of {n} files could not be decoded: {names}" + ("" if strict else "; none was usable"))
    if failed:
        warnings.warn(f"skipped {len(failed)} unreadable file(s): {', '.join(Path(p).name for p, _ in failed[:3])}"
                      " (data.strict=true makes this an error)", stacklevel=3)
    assert out is not None
    return (_shrink(out, len(kept), scratch) if len(kept) < n else out), kept


def _shrink(out: np.ndarray, k: int, scratch: Path | None) -> np.ndarray:
    """The first `k` rows (the files that decoded), copied in chunks so memory stays bounded."""
    if scratch is None:
        return out[:k].copy()
    small = np.lib.format.open_memmap(scratch / "x.part.npy", "w+", out.dtype, (k, *out.shape[1:]))
    for i in range(0, k, 4096):
        small[i : i + 4096] = out[i : min(i + 4096, k)]
    small.flush()
    del out
    os.replace(scratch / "x.part.npy", scratch / "x.npy")
    return small


def decode_all(paths: list[str], settings: dict[str, Any], decode: Callable[[Any, dict[str, Any]], np.ndarray],
               payloads: Iterable[Any] | None = None) -> Iterator[tuple[str, Any]]:
    """(path, array or failure reason) for every path in order, decoded in worker processes when there
    are many, with progress (zoo.progress: a bar on a terminal, plain lines with an ETA in a log) once
    the decode has taken more than a couple of seconds. With `payloads` (one per path, in order), those
    are decoded and `paths` only name them."""
    from zoo.progress import Progress

    pairs = zip(paths, paths if payloads is None else payloads)
    with Progress(len(paths), f"decoding {len(paths)} {'files' if payloads is None else 'records'} into the cache (once)", "files", delay=2.0) as progress:
        if len(paths) < PARALLEL_FROM:
            results: Iterator[tuple[str, Any]] = (_safe(decode, name, source, settings) for name, source in pairs)
            yield from progress.each(results)
            return
        workers = max(1, min(os.cpu_count() or 1, 8))
        with ProcessPoolExecutor(workers, initializer=_one_thread) as pool:
            while window := list(islice(pairs, WINDOW)):
                names, sources = zip(*window)
                yield from progress.each(pool.map(_safe, [decode] * len(names), names, sources, [settings] * len(names), chunksize=64))


def _safe(decode: Callable[[Any, dict[str, Any]], np.ndarray], name: str, source: Any, settings: dict[str, Any]) -> tuple[str, Any]:
    """(name, array), or (name, the reason as a string) when the item cannot be decoded."""
    try:
        return name, decode(source, settings)
    except UsageError:
        raise
    except Exception as err:  # noqa: BLE001 - a corrupt file of any kind is skipped and counted
        return name, f"{type(err).__name__}: {err}".splitlines()[0][:80]


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def memory_limit() -> int:
    """Default `data.memory_limit_mb` in bytes: half the memory available now (or 4 GiB where unknown)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):
        return 4 << 30
