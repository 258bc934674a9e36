"""Dataset files: zoo's IDX reader agrees with torchvision's, and the FSDD manifest is plain `sha256sum` output."""
from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch
from torchvision.datasets import mnist

from zoo.data.idx import SPLIT_FILES, read_idx
from zoo.errors import ZooError

MNIST_RAW = Path(__file__).resolve().parents[1] / "data" / "mnist" / "MNIST" / "raw"


@pytest.fixture
def raw() -> Path:
    if not (MNIST_RAW / SPLIT_FILES["test"][0]).exists():
        pytest.skip(f"MNIST is not in {MNIST_RAW}")
    return MNIST_RAW


def test_idx_reader_matches_torchvision(raw, tmp_path):
    images, labels = (raw / name for name in SPLIT_FILES["test"])
    for gz, reader, convert in ((images, mnist.read_image_file, lambda a: a), (labels, mnist.read_label_file, lambda a: a.long())):
        unpacked = tmp_path / gz.stem  # torchvision reads only unpacked files
        unpacked.write_bytes(gzip.decompress(gz.read_bytes()))
        ours = convert(torch.from_numpy(read_idx(gz).copy()))
        assert torch.equal(ours, reader(str(unpacked)))
        assert torch.equal(torch.from_numpy(read_idx(unpacked).copy()), torch.from_numpy(read_idx(gz).copy()))


def test_bad_idx_files_are_named(raw, tmp_path):
    truncated = tmp_path / "t10k-labels-idx1-ubyte"
    truncated.write_bytes(gzip.decompress((raw / SPLIT_FILES["test"][1]).read_bytes())[:-10])
    with pytest.raises(ZooError, match="truncated"):
        read_idx(truncated)
    (tmp_path / "junk").write_bytes(b"not idx")
    with pytest.raises(ZooError, match="not an IDX file"):
        read_idx(tmp_path / "junk")


def test_fsdd_manifest_is_sha256sum_output():
    from zoo_audio.fsdd import SHA256, read_sha256sums

    assert len(SHA256) == 3000 and list(SHA256)[:2] == ["0_george_0.wav", "0_george_1.wav"]
    assert all(len(digest) == 64 for digest in SHA256.values())
    assert read_sha256sums("ab  a b.wav\ncd *c.wav\n\n") == {"a b.wav": "ab", "c.wav": "cd"}
