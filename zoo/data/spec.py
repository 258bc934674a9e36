"""Dataset specs and where their files are found: local folders first, then a checked download."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from zoo.config import DataConfig
from zoo.errors import ZooError

Modality = Literal["image", "text", "audio", "music", "video"]
REPO_DATA = Path(__file__).resolve().parents[2] / "data"  # the checkout's data/, for editable installs


@dataclass
class ImageDataConfig(DataConfig):
    """Image datasets: images are resized once, at load time, to `image_size`."""

    image_size: int = 32
    degrade: str = ""  # translation pairs made on the fly (zoo.translation): sr:4, noise:0.4, blur:1.5, gray, edges, mask:center

    def __post_init__(self) -> None:
        if self.degrade:
            from zoo.translation import Degradation

            Degradation.parse(self.degrade)  # an unknown kind or a parameter out of range fails before any work


@dataclass
class DatasetSpec:
    """What a dataset is, which files make it, and how to decode a folder of them into tensors."""

    name: str
    modality: Modality
    description: str
    files: dict[str, str]  # file name (relative to the dataset folder) -> "md5:..." or "sha256:..." of its download
    loader: Any  # "module:function" taking (folder, split, config) and returning Data
    config: type[DataConfig] = DataConfig
    subdirs: list[str] = field(default_factory=lambda: ["."])  # where under a data root its files may sit
    urls: dict[str, str] = field(default_factory=dict)  # file name -> download URL
    license: str = ""
    source: bool = False  # the user's own files: read from `data.path` (`--data PATH`), never searched or downloaded


def search_roots(data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Data roots in the order they are searched."""
    roots = [Path(data_dir)] if data_dir else []
    if os.environ.get("ZOO_DATA_DIR"):
        roots.append(Path(os.environ["ZOO_DATA_DIR"]))
    roots += [Path("data"), REPO_DATA, cache_dir() / "datasets", Path("/usr/share/datasets")]
    unique: list[Path] = []
    for root in roots:
        if root.resolve() not in [r.resolve() for r in unique]:
            unique.append(root)
    return unique


def cache_dir() -> Path:
    return Path(os.environ.get("ZOO_CACHE_DIR", Path.home() / ".cache" / "zoo"))


def candidates(spec: DatasetSpec, data_dir: str | os.PathLike[str] | None) -> list[Path]:
    return [root / sub for root in search_roots(data_dir) for sub in spec.subdirs]


def find_folder(spec: DatasetSpec, data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The first candidate folder that holds every file the dataset needs."""
    for folder in candidates(spec, data_dir):
        if all((folder / name).is_file() for name in spec.files):
            return folder
    return None


def resolve(spec: DatasetSpec, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Find the dataset locally, else download it (checksummed); offline and missing is one clear error."""
    folder = find_folder(spec, data_dir)
    if folder is not None:
        return folder
    target = cache_dir() / "datasets" / spec.subdirs[0]
    if spec.urls and os.environ.get("ZOO_OFFLINE") != "1":
        try:
            download(spec, target)
            return target
        except OSError as err:
            reason = f"download failed ({err})"
    else:
        reason = "no download available offline" if spec.urls else "it has no download URL"
    searched = ", ".join(str(p) for p in candidates(spec, data_dir))
    raise ZooError(
        f"dataset {spec.name!r} not found and {reason}; searched: {searched}; expected files: {', '.join(spec.files)}",
        hint="put them in one of those folders or pass --data-dir",
    )


def download(spec: DatasetSpec, target: Path) -> None:
    """Fetch every file into `target`, verifying sha256 before it is moved into place."""
    target.mkdir(parents=True, exist_ok=True)
    for name, url in spec.urls.items():
        dest = target / name
        if dest.is_file():
            continue
        with tempfile.NamedTemporaryFile(dir=target, delete=False) as tmp, urllib.request.urlopen(url, timeout=30) as response:
            shutil.copyfileobj(response, tmp)
        algorithm, _, expected = spec.files.get(name, "").partition(":")
        digest = file_digest(Path(tmp.name), algorithm) if expected else ""
        if digest != expected:
            os.unlink(tmp.name)
            raise OSError(f"checksum mismatch for {url}: {algorithm} {digest} != {expected}")
        os.replace(tmp.name, dest)


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
