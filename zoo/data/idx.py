"""MNIST-style IDX files, as torchvision lays them out, decoded straight into tensors.

Why not torchvision's reader (`torchvision.datasets.mnist.read_image_file`, i.e.
`read_sn3_pascalvincent_tensor`): it reads only uncompressed files (its `MNIST` class unpacks the
`.gz` files beside themselves first; zoo reads the `.gz` files as shipped, in memory), it checks the
header with bare `assert`s, and a truncated file surfaces as a tensor `view` error, where zoo names
the file and the fix. On the same bytes both give identical tensors (tests/test_data.py checks it).
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from zoo.config import DataConfig
from zoo.data.spec import ImageDataConfig
from zoo.data.tensors import TensorData
from zoo.errors import ZooError

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def read_idx(path: Path) -> np.ndarray:
    """Decode one (optionally gzipped) IDX file of unsigned bytes."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ZooError(f"{path} is not an IDX file of unsigned bytes", hint="re-copy or re-download it")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ZooError(f"{path} is truncated: header says {shape}, found {data.size} values", hint="re-copy or re-download it")
    return data.reshape(shape)


def load_idx_images(folder: Path, split: str, config: DataConfig) -> TensorData:
    """Images as uint8 N×1×S×S (resized once to `config.image_size`), labels as int64 N."""
    images_file, labels_file = SPLIT_FILES[split]
    images = torch.from_numpy(read_idx(folder / images_file).copy()).unsqueeze(1)
    labels = torch.from_numpy(read_idx(folder / labels_file).astype(np.int64))
    size = config.image_size if isinstance(config, ImageDataConfig) else images.shape[-1]
    if size != images.shape[-1]:
        images = resize_uint8(images, size)
    info = {"channels": 1, "image_size": size, "num_classes": 10}
    return TensorData({"x": images, "y": labels}, info)


def resize_uint8(images: torch.Tensor, size: int, chunk: int = 10000) -> torch.Tensor:
    """Bilinear (antialiased) resize of a uint8 image tensor, in chunks to bound memory."""
    out = [
        F.interpolate(part.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        .round_()
        .clamp_(0, 255)
        .to(torch.uint8)
        for part in images.split(chunk)
    ]
    return torch.cat(out)
