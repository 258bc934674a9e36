"""Translation data: printed digits rendered from fonts, paired folders (source/ + target/, side-by-side A|B),
unpaired domains, and the source-vs-target domain classifier."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.data import load_dataset, printed
from zoo.data.own import source_overrides
from zoo.data.pairs import PairedFolderConfig
from zoo.data.spec import ImageDataConfig
from zoo.data.unpaired import UnpairedConfig, pairing
from zoo.errors import UsageError, ZooError
from zoo.testing import dataset_installed


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path, monkeypatch):
    """A cache folder per test, and printed-digits splits small enough to render in a moment."""
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(printed, "SPLITS", {"train": (400, printed.SPLITS["train"][1]), "test": (200, printed.SPLITS["test"][1])})
    return tmp_path / "cache"


def digest(x: torch.Tensor) -> str:
    return hashlib.sha256(x.contiguous().numpy().tobytes()).hexdigest()


def printed_split(split: str, size: int = 28) -> object:
    return load_dataset(ImageDataConfig(dataset="printed-digits", image_size=size), split)


# ---- printed digits -------------------------------------------------------------------------
def test_printed_digits_are_fixed_by_seed_and_cached(fresh_cache, monkeypatch):
    fonts = printed.find_fonts()
    first, labels = printed.render(100, printed.SPLITS["test"][1], fonts)
    again, _ = printed.render(100, printed.SPLITS["test"][1], fonts)
    assert digest(torch.from_numpy(first)) == digest(torch.from_numpy(again))
    other, _ = printed.render(100, printed.SPLITS["train"][1], fonts)
    assert not np.array_equal(first, other)  # the splits' seeds differ
    test = printed_split("test")
    assert test.fields["x"].shape == (200, 1, 28, 28) and test.fields["x"].dtype == torch.uint8
    assert digest(test.fields["x"][:100, 0]) == digest(torch.from_numpy(first))  # a prefix of a split is the shorter split
    assert torch.equal(test.fields["y"][:100], torch.from_numpy(labels))
    cached = list((fresh_cache / "printed-digits").glob("test-*.npz"))
    assert len(cached) == 1
    monkeypatch.setattr(printed, "render", lambda *a: pytest.fail("rendered again instead of reading the cache"))
    assert torch.equal(printed_split("test").fields["x"], test.fields["x"])
    resized = printed_split("test", size=32)
    assert resized.fields["x"].shape == (200, 1, 32, 32)
    assert resized.info == {"channels": 1, "image_size": 32, "num_classes": 10, "classes": [str(d) for d in range(10)]}


def test_printed_digits_look_like_mnist_and_their_labels_are_right():
    train, test = printed_split("train"), printed_split("test")
    x, y = train.fields["x"].flatten(1).double(), train.fields["y"]
    assert sorted(set(y.tolist())) == list(range(10))
    ink = test.fields["x"][:, 0].double()
    rows, cols = torch.meshgrid(torch.arange(28) + 0.5, torch.arange(28) + 0.5, indexing="ij")
    mass = ink.sum((1, 2))
    com = torch.stack([(ink * cols).sum((1, 2)) / mass, (ink * rows).sum((1, 2)) / mass], 1)
    assert (com - 14).abs().max() < 1.6  # centred by centre of mass, then shifted by at most 1 px
    assert int(test.fields["x"][:, 0, :2].max()) == 0 and int(test.fields["x"][:, 0, :, -2:].max()) == 0  # a 20×20 box leaves a border
    # Labels: nearest class mean on the training split reads most test digits (a shuffled labelling reads ~10%).
    def nearest_mean_accuracy(labels: torch.Tensor) -> float:
        means = torch.stack([x[labels == k].mean(0) for k in range(10)])
        return float((torch.cdist(test.fields["x"].flatten(1).double(), means).argmin(1) == test.fields["y"]).double().mean())

    assert nearest_mean_accuracy(y) > 0.7
    assert nearest_mean_accuracy(y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]) < 0.3


def test_missing_fonts_name_the_packages(tmp_path, monkeypatch):
    monkeypatch.setattr(printed, "FONT_DIRS", (tmp_path / "fonts" / "dejavu", tmp_path / "fonts" / "liberation"))
    with pytest.raises(ZooError) as err:
        printed_split("test")
    assert "apt-get install fonts-dejavu-core fonts-liberation" in str(err.value) and "\n" not in str(err.value)
    assert not isinstance(err.value, UsageError)  # missing data, not a wrong command


# ---- paired folders -------------------------------------------------------------------------
def write(path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def make_pairs(root, names=("a", "b", "c", "d", "e", "f", "g", "sub/h", "sub/i", "sub/j")):
    """Grey sources (8×8, value v) and RGB targets (16×16, value 255 - v in red), each marked on its left edge:
    pairs and flips are checkable."""
    for i, name in enumerate(names):
        v = 20 * i + 10
        source = np.full((8, 8), v, np.uint8)
        source[:, 0] = 255
        target = np.zeros((16, 16, 3), np.uint8)
        target[..., 0] = 255 - v
        target[:, 0, 1] = 255  # a mark on the left, in green
        write(root / "source" / f"{name}.png", source)
        write(root / "target" / f"{name}.{'png' if i % 2 else 'bmp'}", target)  # extensions may differ
    return root


def check_pairs(data) -> None:
    """Every row's target is the partner of its source (red = 255 - source value)."""
    src, x = data.fields["source"], data.fields["x"]
    assert torch.equal(x[:, 0, 0, 0].long(), 255 - src[:, 0, 0, -1].long())


def test_paired_folders_load_aligned_pairs_and_split_by_path(tmp_path):
    root = make_pairs(tmp_path / "pairs")
    config = PairedFolderConfig(dataset="paired-folder", path=str(root), image_size=16, source_size=8, test_fraction=0.4)
    train, test = (load_dataset(config, split) for split in ("train", "test"))
    assert len(train) + len(test) == 10 and len(train) and len(test)
    assert train.fields["x"].shape[1:] == (3, 16, 16) and train.fields["source"].shape[1:] == (1, 8, 8)
    assert {k: train.info[k] for k in ("channels", "image_size", "source_channels", "source_size", "num_classes")} == {
        "channels": 3, "image_size": 16, "source_channels": 1, "source_size": 8, "num_classes": 0}
    for data in (train, test):
        check_pairs(data)
    assert set(train.fields["source"][:, 0, 0, -1].tolist()).isdisjoint(test.fields["source"][:, 0, 0, -1].tolist())
    batch = train.batch(torch.arange(2))
    assert set(batch) == {"x", "source"} and batch["x"].dtype == torch.float32 and float(batch["x"].max()) <= 1
    # BtoA: the target folder's images become the sources; the split stays the same.
    back = load_dataset(PairedFolderConfig(dataset="paired-folder", path=str(root), image_size=8, direction="BtoA", test_fraction=0.4), "test")
    assert back.info["source_channels"] == 3 and back.info["channels"] == 1
    assert torch.equal(back.fields["x"][:, 0, 0, -1], test.fields["source"][:, 0, 0, -1])


def test_paired_flip_moves_source_and_target_together(tmp_path):
    root = make_pairs(tmp_path / "pairs")
    data = load_dataset(PairedFolderConfig(dataset="paired-folder", path=str(root), image_size=8, test_fraction=0, flip=True), "train")
    torch.manual_seed(0)
    batch = data.batch(torch.arange(len(data)).repeat(4))
    source_flipped = batch["source"][:, 0, 0, -1] > batch["source"][:, 0, 0, 0]  # the marks on the left moved right
    target_flipped = batch["x"][:, 1, 0, -1] > batch["x"][:, 1, 0, 0]
    assert 0 < int(source_flipped.sum()) < len(source_flipped)
    assert torch.equal(source_flipped, target_flipped)


def test_a_corrupt_file_drops_its_pair(tmp_path):
    root = make_pairs(tmp_path / "pairs")
    (root / "target" / "c.bmp").write_bytes(b"not an image")
    with pytest.warns(UserWarning, match="skipped 1 unreadable file"):
        data = load_dataset(PairedFolderConfig(dataset="paired-folder", path=str(root), image_size=16, source_size=8, test_fraction=0), "train")
    assert len(data) == 9 and 50 not in data.fields["source"][:, 0, 0, -1].tolist()  # c's source (value 50) left with its partner
    check_pairs(data)


def test_unmatched_names_are_listed(tmp_path):
    root = make_pairs(tmp_path / "pairs")
    for name in ("x1", "x2", "x3", "x4"):
        write(root / "source" / f"{name}.png", np.zeros((8, 8), np.uint8))
    write(root / "target" / "deep" / "y1.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(UsageError) as err:
        load_dataset(PairedFolderConfig(dataset="paired-folder", path=str(root)), "train")
    message = str(err.value)
    assert "\n" not in message
    assert "4 file(s) in source/ have no partner in target/ (x1, x2, x3, ...)" in message
    assert "1 file(s) in target/ have no partner in source/ (deep/y1)" in message
    (root / "source").rename(root / "inputs")
    with pytest.raises(UsageError, match="needs the folders source/ and target/ .*side-by-side"):
        load_dataset(PairedFolderConfig(dataset="paired-folder", path=str(root)), "train")


def test_side_by_side_images_split_into_halves(tmp_path):
    root = tmp_path / "facades"
    for split, count in (("train", 4), ("val", 2)):
        for i in range(count):
            v = 30 * i + (0 if split == "train" else 15)
            a = np.full((12, 12, 3), v, np.uint8)
            b = np.full((12, 12, 3), 255 - v, np.uint8)
            b[..., 1] = 0  # B is coloured, A is grey
            write(root / split / f"{i}.{'bmp' if i % 2 else 'png'}", np.concatenate([a, b], 1))
    config = PairedFolderConfig(dataset="paired-folder", path=str(root), layout="side-by-side", image_size=8, source_size=4)
    train, test = (load_dataset(config, split) for split in ("train", "test"))
    assert (len(train), len(test)) == (4, 2)  # train/ and val/ folders are the splits
    assert train.fields["source"].shape[1:] == (3, 4, 4) and train.fields["x"].shape[1:] == (3, 8, 8)
    source, target = train.fields["source"].long(), train.fields["x"].long()
    assert torch.equal(source[:, 0, 2, 2] + target[:, 0, 4, 4], torch.full((4,), 255))  # A (left) is the source, B its partner
    assert int(source[:, 1].min()) == 0 < int(source[:, 1].max()) and int(target[:, 1].max()) == 0  # A is grey, B has no green
    swapped = load_dataset(PairedFolderConfig(dataset="paired-folder", path=str(root), layout="side-by-side", image_size=8, direction="BtoA"), "train")
    assert torch.equal(swapped.fields["x"], load_dataset(PairedFolderConfig(dataset="paired-folder", path=str(root), layout="side-by-side",
                                                                              image_size=8, source_size=8), "train").fields["source"])


def test_data_path_with_source_and_target_reads_pairs(tmp_path):
    pairs = make_pairs(tmp_path / "pairs")
    picked = source_overrides("image", pairs, "fashion-mnist")
    assert picked["data.dataset"] == "paired-folder" and picked["data.degrade"] == ""  # the folder brings its own sources
    plain = tmp_path / "plain"
    write(plain / "one.png", np.zeros((8, 8), np.uint8))
    assert source_overrides("image", plain, "fashion-mnist")["data.dataset"] == "image-folder"
    assert source_overrides("image", plain, "fashion-mnist", {"data.layout": "side-by-side"})["data.dataset"] == "paired-folder"
    with pytest.raises(UsageError, match="data.source=.*data.target="):
        source_overrides("image", plain, "unpaired")


# ---- unpaired domains -----------------------------------------------------------------------
def make_domain(root, classes=("p", "q"), per_class=5, value=0):
    """Images whose pixel (0, 0) is their index, so rows are traceable; class subfolders give labels."""
    i = 0
    for c in classes:
        for _ in range(per_class):
            pixels = np.full((8, 8), value, np.uint8)
            pixels[0, 0] = i
            write(root / c / f"{i}.png", pixels)
            i += 1
    return root


def test_unpaired_batches_pair_nothing_with_itself(tmp_path):
    folder = make_domain(tmp_path / "digits")
    same = load_dataset(UnpairedConfig(dataset="unpaired", source=str(folder), target=str(folder), image_size=8, test_fraction=0), "train")
    assert len(same) == 10
    batch = same.batch(torch.arange(10))
    assert set(batch) == {"x", "y", "source", "source_y"}
    ids = (batch["x"][:, 0, 0, 0] * 255).round(), (batch["source"][:, 0, 0, 0] * 255).round()
    assert bool((ids[0] != ids[1]).all()) and sorted(ids[1].tolist()) == sorted(ids[0].tolist())  # a permutation without fixed points
    assert torch.equal(batch["source_y"], same.source_labels[(ids[1]).long()])
    info = same.info
    assert (info["channels"], info["image_size"], info["source_channels"], info["source_size"], info["num_classes"], info["classes"]) == (1, 8, 1, 8, 2, ["p", "q"])
    assert same.to(torch.device("cpu")).batch(torch.arange(3))["source"].shape == (3, 1, 8, 8)
    assert bool((pairing(50) != torch.arange(50)).all()) and torch.equal(pairing(50).sort().values, torch.arange(50))


def test_unpaired_printed_to_folder_covers_the_larger_domain(tmp_path):
    folder = make_domain(tmp_path / "hand", classes=("only",), per_class=6, value=9)
    data = load_dataset(UnpairedConfig(dataset="unpaired", source="printed-digits", target=str(folder), image_size=8, test_fraction=0), "train")
    assert len(data) == 400  # CycleGAN's unaligned loader: an epoch covers the larger domain, the smaller wraps
    batch = data.batch(torch.arange(400))
    assert batch["x"].shape == (400, 1, 8, 8) and batch["source"].shape == (400, 1, 8, 8)
    assert "y" not in batch and batch["source_y"].shape == (400,) and len(set(batch["source_y"].tolist())) == 10
    assert len({round(float(v) * 255) for v in batch["x"][:, 0, 0, 0]}) == 6
    assert data.info["num_classes"] == 0 and data.info["source_num_classes"] == 10 and "source" in data.info  # the folder's provenance


def test_empty_or_unknown_domains_are_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError) as err:
        load_dataset(UnpairedConfig(dataset="unpaired", source="printed-digits", target=str(tmp_path / "empty")), "train")
    assert f"data.target={tmp_path / 'empty'}" in str(err.value) and "empty" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(UsageError, match="neither a registered dataset"):
        load_dataset(UnpairedConfig(dataset="unpaired", source="no-such-thing", target="printed-digits"), "train")
    with pytest.raises(UsageError, match="two domains"):
        UnpairedConfig(dataset="unpaired", source="printed-digits")


# ---- the domain classifier ------------------------------------------------------------------
def test_domain_classifier_tells_printed_from_handwritten(tmp_path, monkeypatch):
    from zoo.metrics import domains
    from zoo.metrics.features import Recipe

    if not dataset_installed("mnist"):
        pytest.skip("MNIST is not installed")
    recipe = Recipe(epochs=2, batch_size=32, max_steps=20)
    judge = domains.domain_classifier("printed-digits", "mnist", recipe=recipe, quiet=True)
    card = judge.card
    assert (card["source"], card["target"], card["train_images"], card["test_images"]) == ("printed-digits", "mnist", 800, 400)
    assert card["test_accuracy"] > 0.8
    printed_test = printed_split("test").fields["x"]
    mnist_test = load_dataset(ImageDataConfig(dataset="mnist", image_size=32), "test").fields["x"][:200]
    p_printed, p_mnist = judge(printed_test), judge(mnist_test.float() / 255)  # uint8 or floats, any size
    assert p_printed.shape == (200,) and float(p_printed.min()) >= 0 and float(p_mnist.max()) <= 1
    assert float((p_mnist > 0.5).double().mean()) > 0.7 and float((p_printed < 0.5).double().mean()) > 0.7
    monkeypatch.setattr(domains, "train_feature_net", lambda *a, **k: pytest.fail("trained again instead of loading the cache"))
    again = domains.domain_classifier("printed-digits", "mnist", recipe=recipe, quiet=True)
    assert again.card == card
    torch.testing.assert_close(again(printed_test[:10]), p_printed[:10])  # other batch sizes may round differently
