"""Datasets: found locally or downloaded, decoded once into tensors."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from zoo.config import DataConfig
from zoo.data.spec import DatasetSpec, ImageDataConfig, resolve
from zoo.errors import UsageError
from zoo.registry import get_catalog, import_target

__all__ = ["DatasetSpec", "ImageDataConfig", "DataConfig", "get_spec", "load_dataset", "resolve"]


def get_spec(name: str) -> DatasetSpec:
    return get_catalog().get("datasets", name).load()


def load_dataset(config: DataConfig, split: str, data_dir: str | os.PathLike[str] | None = None) -> Any:
    """Decode one split of `config.dataset` into tensors (see zoo.data.tensors)."""
    spec = get_spec(config.dataset)
    own = str(getattr(config, "path", ""))  # the sources of your own files (zoo.data.own) read `data.path`
    if spec.source and not own:
        raise UsageError(f"dataset {spec.name!r} reads your own files: pass them with `zoo train PRESET --data PATH`")
    folder = Path(own) if spec.source else resolve(spec, data_dir)
    return import_target(spec.loader)(folder, split, config)
