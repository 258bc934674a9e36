"""Two unpaired image domains for translation (CycleGAN's setting): `data.source` and `data.target`, each
a registered image dataset (printed-digits, mnist, fashion-mnist) or a folder of images, both decoded at
`data.image_size`.

A batch holds target images (`x`, and `y` when the target has labels) and as many source images
(`source`, and `source_y` when the source has labels), drawn through a fixed seeded pairing that is a
single random cycle, so no item is ever paired with its own index, even when both domains are one
dataset. As in CycleGAN's unaligned loader, an epoch covers the larger domain once; the smaller one
wraps around. Metrics use the source's labels to check that a translation keeps its class (printed2mnist
keeps the digit); only a family asked to (CycleGAN's `model.semantic`) trains on them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from zoo.data.spec import DatasetSpec, ImageDataConfig
from zoo.errors import UsageError

PAIRING_SEED = 0


@dataclass
class UnpairedConfig(ImageDataConfig):
    """Two domains: `source` and `target`, each a registered image dataset's name or a folder of images."""

    source: str = ""
    target: str = ""
    channels: Literal[1, 3, "auto"] = "auto"  # of a target folder (auto: 3 when any image has colour)
    source_channels: Literal[1, 3, "auto"] = "auto"  # of a source folder
    test_fraction: float = 0.1  # of a folder without train/ and test/ folders: the share held out

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.source or not self.target:
            raise UsageError("unpaired data needs two domains, each a dataset name or a folder: "
                             "--set data.source=printed-digits --set data.target=mnist (or folder paths)")


def load_unpaired(folder: Path, split: str, config: UnpairedConfig) -> "Unpaired":
    """Both domains' `split`; named datasets are searched first where `folder` (the data root found for
    this dataset, `--data-dir` when given) points."""
    target = load_domain(config.target, split, config.image_size, config.channels, config.test_fraction, folder, "target")
    source = load_domain(config.source, split, config.image_size, config.source_channels, config.test_fraction, folder, "source")
    t, s = target.info, source.info
    info: dict[str, Any] = {"channels": t["channels"], "image_size": config.image_size, "num_classes": t.get("num_classes", 0),
                            "source_channels": s["channels"], "source_size": config.image_size, "source_num_classes": s.get("num_classes", 0),
                            "domains": {"source": config.source, "target": config.target}}
    if "classes" in t:
        info["classes"] = t["classes"]
    own = {side: d.info["source"] for side, d in (("source", source), ("target", target)) if "source" in d.info}
    if own:  # folders: their paths, manifests and decode settings, recorded in the run like `--data`'s
        info["source"] = own
    return Unpaired(target, source, pairing(max(len(target), len(source))), info)


def load_domain(name: str, split: str, image_size: int, channels: Any = "auto", test_fraction: float = 0.1,
                data_dir: str | os.PathLike[str] | None = None, side: str = "source") -> Any:
    """One domain's `split` at `image_size`: the registered image dataset `name`, else the folder `name`."""
    from zoo.data import get_spec, load_dataset
    from zoo.data.own import load_images
    from zoo.registry import get_catalog

    if name in get_catalog().datasets:
        spec = get_spec(name)
        if spec.modality != "image" or spec.source or spec.name == UNPAIRED.name or not issubclass(spec.config, ImageDataConfig):
            raise UsageError(f"data.{side}={name} is not an image dataset a domain can be; name one (printed-digits, mnist, "
                             "fashion-mnist) or a folder of images")
        return load_dataset(spec.config(dataset=name, image_size=image_size), split, data_dir)
    config = folder_config(name, image_size, channels, test_fraction, side)
    try:
        return load_images(Path(config.path), split, config)
    except UsageError as err:  # an empty folder, an empty split: say which domain
        raise UsageError(f"data.{side}={name}: {err}") from None


def folder_config(name: str, image_size: int, channels: Any = "auto", test_fraction: float = 0.1, side: str = "source") -> Any:
    """The image-folder config a domain given as the folder `name` is read with (so metrics can name the same data)."""
    from zoo.data.own import ImageFolderConfig

    folder = Path(name).expanduser()
    if not folder.is_dir():
        raise UsageError(f"data.{side}={name} is neither a registered dataset (zoo datasets lists them) nor a folder")
    return ImageFolderConfig(dataset="image-folder", path=str(folder.resolve()), image_size=image_size, channels=channels, test_fraction=test_fraction)


def pairing(n: int) -> Tensor:
    """A seeded permutation of range(n) that is one cycle: pairing[i] != i for every i (when n > 1)."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(PAIRING_SEED))
    out = torch.empty(n, dtype=torch.int64)
    out[order] = order.roll(-1)
    return out


class Unpaired:
    """Target images with sources from another domain; `fields` are the target's (what outputs should look like)."""

    def __init__(self, target: Any, source: Any, pairs: Tensor, info: dict[str, Any]) -> None:
        self.target, self.source, self.pairs, self.info = target, source, pairs, info

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def fields(self) -> dict[str, Tensor]:
        return self.target.fields

    @property
    def source_labels(self) -> Tensor | None:
        """The source domain's labels (int64, one per source image), when it has them."""
        return self.source.fields.get("y")

    def indices(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        """(target rows, source rows) of batch indices `idx`."""
        return idx % len(self.target), self.pairs[idx] % len(self.source)

    def batch(self, idx: Tensor) -> dict[str, Tensor]:
        target_rows, source_rows = self.indices(idx)
        out = self.target.batch(target_rows)
        source = self.source.batch(source_rows)
        out["source"] = source["x"]
        if "y" in source:
            out["source_y"] = source["y"]
        return out

    def prefetch(self, idx: Tensor) -> None:
        for data, rows in zip((self.target, self.source), self.indices(idx)):
            if hasattr(data, "prefetch"):
                data.prefetch(rows)

    def to(self, device: torch.device) -> "Unpaired":
        return Unpaired(self.target.to(device), self.source.to(device), self.pairs.to(device), self.info)


UNPAIRED = DatasetSpec(
    name="unpaired", modality="image", files={}, loader="zoo.data.unpaired:load_unpaired", config=UnpairedConfig,
    description="two unpaired domains for translation: data.source and data.target, each a dataset name or a folder of images",
)
