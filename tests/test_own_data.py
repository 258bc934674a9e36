"""Your own data (`--data PATH`): folders of images, text corpora and clips, with fixtures built here."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import zoo
from zoo.cli import cli
from zoo.data import load_dataset
from zoo.data.idx import read_idx
from zoo.data.own import AudioFolderConfig, ImageFolderConfig, TextFilesConfig
from zoo.data.spec import ImageDataConfig, find_folder
from zoo.errors import UsageError

GAN_TINY = ["--set", "model.nz=8", "--set", "model.ngf=4", "--set", "model.ndf=4", "--set", "data.batch_size=8",
            "--set", "train.num_preview=4", "--quiet"]
TINY_OVERRIDES = {"model.nz": 8, "model.ngf": 4, "model.ndf": 4, "data.batch_size": 8, "train.num_preview": 4,
                  "train.log_every": 1, "train.sample_every": 0, "train.checkpoint_every": 0}


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """A fresh cache folder per test, so 'decoded once' is observable."""
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def entries(cache: Path) -> list[str]:
    """The prepared cache's decode entries (and partial ones), without the remembered facts (a folder's
    channel count, a corpus's character count)."""
    folder = cache / "prepared"
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(("channels-", "text-"))) if folder.exists() else []


def make_images(root: Path, classes=("cat", "dog"), per_class=6, size=(20, 26), mode="RGB") -> Path:
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            a = (rng.random((*size, 3)) * 255).astype(np.uint8)
            Image.fromarray(a).convert(mode).save(root / c / f"{i}.{['png', 'jpg', 'bmp', 'webp', 'tiff', 'gif'][i % 6]}")
    return root


def make_clips(root: Path, per_class=4) -> Path:
    from scipy.io import wavfile

    rng = np.random.default_rng(0)
    for c in ("no", "yes"):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pcm = (rng.standard_normal(1500 + 100 * i) * 3000).astype(np.int16)
            wavfile.write(root / c / f"{i}.wav", 16000 if i % 2 else 8000, np.stack([pcm, pcm], 1) if i == 0 else pcm)
    return root


def run_cli(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# ---- images -------------------------------------------------------------------------------------
def test_image_folder_classes_shapes_and_hold_out(tmp_path):
    root = make_images(tmp_path / "imgs", per_class=12)
    cfg = ImageFolderConfig(dataset="image-folder", path=str(root), image_size=16)
    train, test = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    assert train.fields["x"].shape[1:] == (3, 16, 16) and train.fields["x"].dtype == torch.uint8
    assert train.info["classes"] == ["cat", "dog"] and train.info["num_classes"] == 2
    assert len(train) + len(test) == 24 and len(test) > 0  # every format decoded, the hold-out is disjoint
    assert load_dataset(cfg, "test").fields["x"].equal(test.fields["x"])  # deterministic
    grey = load_dataset(ImageFolderConfig(dataset="image-folder", path=str(root), image_size=16, channels=1), "train")
    assert grey.info["channels"] == 1 and grey.fields["x"].shape[1] == 1


def test_explicit_splits_auto_channels_and_mixed_modes(tmp_path):
    root = tmp_path / "imgs"
    make_images(root / "train", classes=("a", "b"), per_class=3, mode="L")
    make_images(root / "val", classes=("a", "b"), per_class=2, mode="L")
    Image.new("P", (30, 30)).save(root / "train" / "a" / "palette.png")
    Image.new("LA", (8, 8)).save(root / "train" / "b" / "small_alpha.png")  # smaller than the target: upsampled
    cfg = ImageFolderConfig(dataset="image-folder", path=str(root), image_size=12)
    train, test = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    assert (len(train), len(test)) == (8, 4) and train.info["channels"] == 1
    (root / "train" / "a" / "colour.png").unlink(missing_ok=True)
    Image.new("RGBA", (10, 10), (255, 0, 0, 128)).save(root / "train" / "a" / "colour.png")
    assert load_dataset(cfg, "train").info["channels"] == 3  # auto: any colour makes it RGB


def test_arrays(tmp_path):
    x = (np.random.default_rng(0).random((40, 10, 10)) * 255).astype(np.uint8)
    np.savez(tmp_path / "a.npz", x=x, y=np.arange(40) % 4)
    cfg = ImageFolderConfig(dataset="image-folder", path=str(tmp_path / "a.npz"), image_size=10)
    train, test = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    assert len(train) + len(test) == 40 and train.info == {"channels": 1, "image_size": 10, "num_classes": 4}
    np.save(tmp_path / "f.npy", x[..., None].repeat(3, -1) / 255.0)
    rgb = load_dataset(ImageFolderConfig(dataset="image-folder", path=str(tmp_path / "f.npy"), image_size=8), "train")
    assert rgb.fields["x"].shape[1:] == (3, 8, 8)


def test_flip_happens_on_the_batch(tmp_path):
    root = make_images(tmp_path / "imgs", per_class=4)
    data = load_dataset(ImageFolderConfig(dataset="image-folder", path=str(root), image_size=8, flip=True, test_fraction=0.0), "train")
    torch.manual_seed(0)
    idx = torch.arange(len(data)).repeat(8)
    x, plain = data.batch(idx)["x"], data.fields["x"][idx].float() / 255
    flipped = (x == plain.flip(-1)).flatten(1).all(1) & ~(x == plain).flatten(1).all(1)
    assert 0 < flipped.sum() < len(idx)


def test_cache_decodes_once_and_invalidates(tmp_path, own_cache, monkeypatch):
    import zoo.data.prepared as prepared

    root = make_images(tmp_path / "imgs", per_class=4)
    cfg = ImageFolderConfig(dataset="image-folder", path=str(root), image_size=8, test_fraction=0.0)
    first = load_dataset(cfg, "train")
    calls = []
    monkeypatch.setattr(prepared, "decode_all", lambda *a: calls.append(1) or pytest.fail("decoded again"))
    assert load_dataset(cfg, "train").fields["x"].equal(first.fields["x"])
    monkeypatch.undo()
    monkeypatch.setenv("ZOO_CACHE_DIR", str(own_cache))
    Image.new("RGB", (9, 9), (1, 2, 3)).save(root / "cat" / "new.png")  # an added file: a new key
    assert len(load_dataset(cfg, "train")) == len(first) + 1
    (root / "cat" / "new.png").unlink()
    os.utime(root / "dog" / "0.png", ns=(1, 1))  # a touched file: a new key again
    assert len(load_dataset(cfg, "train")) == len(first)
    assert len(entries(own_cache)) == 3 and not any(e.startswith(".partial") for e in entries(own_cache))
    channels = [p for p in (own_cache / "prepared").iterdir() if p.name.startswith("channels-")]
    assert len(channels) == 3 and {json.loads(p.read_text()) for p in channels} == {3}  # auto channels, remembered per manifest


def test_interrupted_decode_leaves_no_entry(tmp_path, own_cache, monkeypatch):
    import zoo.data.own as own

    root = make_images(tmp_path / "imgs", per_class=4)
    calls = []
    original = own.decode_image

    def stop_on_third(path, settings):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(path, settings)

    monkeypatch.setattr(own, "decode_image", stop_on_third)
    cfg = ImageFolderConfig(dataset="image-folder", path=str(root), image_size=8, test_fraction=0.0)
    with pytest.raises(KeyboardInterrupt):
        load_dataset(cfg, "train")
    assert entries(own_cache) == []
    monkeypatch.setattr(own, "decode_image", original)
    assert len(load_dataset(cfg, "train")) == 8


def test_undecodable_audio_is_skipped(tmp_path):
    root = make_clips(tmp_path / "clips")
    (root / "yes" / "broken.wav").write_bytes(b"RIFF....WAVEfmt nonsense")
    (root / "no" / "noise.flac").write_bytes(b"fLaC garbage")
    cfg = AudioFolderConfig(dataset="audio-folder", path=str(root), clip_samples=256, test_fraction=0.0)
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable file\(s\)"):
        assert len(load_dataset(cfg, "train")) == 8


def test_train_sample_resume_on_a_folder(tmp_path):
    root = make_images(tmp_path / "imgs", per_class=8)
    run = tmp_path / "run"
    r = run_cli("train", "cgan-mnist", "--data", str(root), "--set", "data.image_size=16", "--steps", "2", "--out", str(run), *GAN_TINY)
    assert r.exit_code == 0, r.output
    info = __import__("yaml").safe_load((run / "config.yaml").read_text())
    assert info["data"]["path"] == str(root.resolve()) and info["data"]["dataset"] == "image-folder"
    assert info["info"]["classes"] == ["cat", "dog"] and len(info["info"]["source"]["manifest"]) == 64
    assert info["info"]["source"]["decode"] == {"kind": "image", "size": 16, "channels": 3}
    by_name = zoo.sample(run, 4, label="dog")
    by_index = zoo.sample(run, 4, label=1)
    assert np.array_equal(by_name.images, by_index.images)
    assert run_cli("sample", str(run), "-n", "2", "--set", "label=cow", "--out", str(tmp_path / "s.png")).exit_code == 2
    r = run_cli("train", "--resume", str(run), "--steps", "3", "--quiet")
    assert r.exit_code == 0, r.output



def test_evaluate_on_own_images(tmp_path):
    labelled = make_images(tmp_path / "imgs", per_class=10)
    run = zoo.train("cgan-mnist", data=labelled, steps=1, out=tmp_path / "run", quiet=True, overrides={**TINY_OVERRIDES, "data.image_size": 16})
    values = zoo.evaluate(run.path, metrics=["fid", "label_accuracy"], num_samples=16, device="cpu")
    protocol = json.loads((run.path / "summary.json").read_text())["protocol"]["fid"]
    assert "fid" in values and protocol["features"] == "domain:image-folder" and 0 <= protocol["feature_test_accuracy"] <= 1
    unlabelled = make_images(tmp_path / "one", classes=("all",), per_class=12)
    run = zoo.train("gan-mnist", data=unlabelled, steps=1, out=tmp_path / "run1", quiet=True, overrides={**TINY_OVERRIDES, "data.image_size": 16})
    with pytest.warns(UserWarning, match=r"skipped fid, kid: an unlabelled image folder has no domain feature network.*class folders"):
        values = zoo.evaluate(run.path, metrics=["fid", "kid"], num_samples=16, device="cpu")
    assert "fid" not in values and "fid" not in json.loads((run.path / "summary.json").read_text()).get("protocol", {})


# ---- text and audio -----------------------------------------------------------------------------
def test_text_file_folder_and_splits(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.txt").write_text("abc" * 100)
    (tmp_path / "c" / "b.md").write_text("ignored")
    one = load_dataset(TextFilesConfig(dataset="text-files", path=str(tmp_path / "c" / "a.txt")), "train")
    assert one.text == ("abc" * 100)[:270]
    split = tmp_path / "s"
    split.mkdir()
    (split / "train.txt").write_text("train text")
    (split / "val.txt").write_text("val text")
    cfg = TextFilesConfig(dataset="text-files", path=str(split))
    assert (load_dataset(cfg, "train").text, load_dataset(cfg, "test").text) == ("train text", "val text")
    md = load_dataset(TextFilesConfig(dataset="text-files", path=str(tmp_path / "c"), glob="*.md", test_fraction=0.0), "train")
    assert md.text == "ignored"


def test_text_run(tmp_path):
    (tmp_path / "corpus.txt").write_text("the quick brown fox jumps over the lazy dog. " * 40)
    tiny = ["--set", "model.n_layer=1", "--set", "model.n_head=2", "--set", "model.n_embd=16", "--set", "model.block_size=16",
            "--set", "data.batch_size=8", "--set", "train.num_preview=2", "--set", "model.max_new_tokens=8", "--quiet"]
    r = run_cli("train", "gpt-shakespeare", "--data", str(tmp_path / "corpus.txt"), "--steps", "2", "--out", str(tmp_path / "run"), *tiny)
    assert r.exit_code == 0, r.output
    assert set(zoo.sample(tmp_path / "run", 1, max_new_tokens=5).texts[0]) <= set("the quick brown fox jumps over the lazy dog. \n")


def test_text_is_read_in_pieces_and_tokenized_once_into_a_memory_mapped_file(tmp_path, own_cache, monkeypatch):
    import zoo.data.own as own
    from zoo_text import tokenizer as tok
    from zoo.data.prepared import flat_file
    from zoo_text.data import token_ids

    (tmp_path / "c").mkdir()
    lines = [f"line {i} of the corpus, with some words\n" for i in range(60)]
    (tmp_path / "c" / "a.txt").write_text("".join(lines[:30]))
    (tmp_path / "c" / "b.txt").write_text("".join(lines[30:]).rstrip("\n"))
    joined = "".join(lines[:30]) + "\n" + "".join(lines[30:]).rstrip("\n")  # files joined by newlines
    monkeypatch.setattr(own, "CHUNK_CHARS", 50)  # many pieces, each ending at a line end
    cfg = TextFilesConfig(dataset="text-files", path=str(tmp_path / "c"))
    train, test = (load_dataset(cfg, split) for split in ("train", "test"))
    assert all(piece.endswith("\n") for piece in list(train.pieces())[:-1]) and len(list(train.pieces())) > 10
    cut = int(len(joined) * 0.9)
    assert (train.text, test.text, len(train)) == (joined[:cut], joined[cut:], cut)
    assert "".join(train.chunks()) == joined[:cut]
    tokenizer = tok.train_char(train.chunks())
    ids = token_ids(train, tokenizer, len(tokenizer))
    assert torch.equal(ids.long(), tok.encode(tokenizer, joined[:cut]))
    files = list((own_cache / "prepared").glob("tokens-*.bin"))
    assert len(files) == 1 and files[0].stat().st_size == 2 * cut  # uint16 ids
    assert isinstance(flat_file(files[0].stem, iter(()), np.uint16), np.memmap)  # served memory-mapped
    monkeypatch.setattr(own.TextFiles, "pieces", lambda self: pytest.fail("read again"))
    assert torch.equal(token_ids(train, tokenizer, len(tokenizer)), ids)  # the second run reads the token file only


def test_prefetched_rows_are_the_rows_read(tmp_path):
    root = make_images(tmp_path / "imgs", per_class=8)
    streamed = load_dataset(ImageFolderConfig(dataset="image-folder", path=str(root), image_size=8, memory_limit_mb=0), "train")
    in_memory = load_dataset(ImageFolderConfig(dataset="image-folder", path=str(root), image_size=8), "train")
    idx = torch.tensor([5, 0, 3])
    streamed.prefetch(idx)
    assert len(streamed._ahead) == 1
    assert torch.equal(streamed.batch(idx)["x"], in_memory.batch(idx)["x"]) and not streamed._ahead
    assert torch.equal(streamed.batch(idx[:2])["x"], in_memory.batch(idx[:2])["x"])  # no hint: read now

def test_audio_folder_and_run(tmp_path):
    root = make_clips(tmp_path / "clips")
    cfg = AudioFolderConfig(dataset="audio-folder", path=str(root), clip_samples=2048, test_fraction=0.0)
    data = load_dataset(cfg, "train")
    x = data.fields["x"]
    assert x.shape == (8, 2048) and data.info["classes"] == ["no", "yes"]
    assert torch.allclose(x.abs().amax(1), torch.ones(8), atol=1e-3)  # peak-normalised (float16 in the cache)
    regex = load_dataset(AudioFolderConfig(dataset="audio-folder", path=str(root), label_regex=r"^(\d)\.wav", test_fraction=0.0), "train")
    assert regex.info["classes"] == ["0", "1", "2", "3"]
    tiny = ["--set", "model.channels=4", "--set", "model.skip_channels=4", "--set", "model.layers=3", "--set", "model.stacks=1",
            "--set", "model.window=64", "--set", "data.batch_size=4", "--set", "data.clip_samples=1024", "--set", "train.num_preview=2",
            "--set", "data.test_fraction=0.0", "--quiet"]
    r = run_cli("train", "wavenet-digits", "--data", str(root), "--steps", "2", "--out", str(tmp_path / "run"), *tiny)
    assert r.exit_code == 0, r.output


# ---- bad input: one line, exit 2, nothing half-written --------------------------------------------
def bad(tmp_path, preset: str, data: Path, *sets: str) -> str:
    out = tmp_path / "run-bad"
    tiny = GAN_TINY if "gan" in preset else ["--quiet"]
    r = CliRunner().invoke(cli, ["train", preset, "--data", str(data), "--steps", "1", "--out", str(out), *sets, *tiny])
    assert r.exit_code == 2, r.output
    assert not out.exists()
    return r.output.strip()


def test_bad_input(tmp_path, own_cache):
    assert "no such file" in bad(tmp_path, "gan-mnist", tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    assert "folder is empty" in bad(tmp_path, "gan-mnist", tmp_path / "empty")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.csv").write_text("1,2")
    msg = bad(tmp_path, "gan-mnist", tmp_path / "other")
    assert "png/jpg" in msg and ".csv" in msg
    make_clips(tmp_path / "clips")
    msg = bad(tmp_path, "gan-mnist", tmp_path / "clips")
    assert "audio" in msg and "image" in msg
    (tmp_path / "bad.txt").write_bytes(b"fine text\n\xff\xfe broken")
    assert "byte 10" in bad(tmp_path, "gpt-shakespeare", tmp_path / "bad.txt")
    (tmp_path / "blank.txt").write_text("  \n")
    assert "no text" in bad(tmp_path, "gpt-shakespeare", tmp_path / "blank.txt")
    corrupt = make_images(tmp_path / "imgs", per_class=4)
    for i in range(2):
        (corrupt / "cat" / f"broken{i}.png").write_bytes(b"\x89PNG not really")
    msg = bad(tmp_path, "gan-mnist", corrupt, "--set", "data.strict=true", "--set", "data.test_fraction=0.0")
    assert "2 of 10 files could not be decoded" in msg and "broken0.png" in msg
    assert entries(own_cache) == []
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable file\(s\): broken0.png, broken1.png"):
        data = load_dataset(ImageFolderConfig(dataset="image-folder", path=str(corrupt), image_size=8, test_fraction=0.0), "train")
    assert len(data) == 8
    with pytest.raises(UsageError, match="--data and --resume"):
        zoo.train("gan-mnist", data=corrupt, resume=tmp_path)


def test_unwritable_cache_still_trains(tmp_path, monkeypatch):
    (tmp_path / "cache").write_text("a file where the cache folder should be")  # unwritable even for root
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    root = make_images(tmp_path / "imgs", per_class=2)
    with pytest.warns(UserWarning, match="not caching"):
        data = load_dataset(ImageFolderConfig(dataset="image-folder", path=str(root), image_size=8, test_fraction=0.0), "train")
    assert len(data) == 4


def test_datasets_lists_sources_and_help_differs():
    r = run_cli("datasets")
    assert "image-folder" in r.output and "audio-folder" in r.output and "--data PATH" in r.output
    help_text = " ".join(run_cli("train", "--help").output.split())
    assert "instead of the preset's dataset" in help_text and "the dataset stays the preset's" in help_text


# ---- same pixels, same numbers ------------------------------------------------------------------
MNIST_SUBSET = {"train": 256, "test": 64}


def export_mnist(root: Path, folder: Path) -> None:
    """The first images of each MNIST split as PNGs in train/LABEL/ and test/LABEL/ folders."""
    from zoo.data.idx import SPLIT_FILES

    for split, n in MNIST_SUBSET.items():
        images, labels = (read_idx(folder / name) for name in SPLIT_FILES[split])
        for i in range(n):
            (root / split / str(labels[i])).mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[i]).save(root / split / str(labels[i]) / f"{i:05d}.png")


def builtin_subset(split: str, size: int):
    """The built-in mnist split's first images, stably sorted by label (the folder's sorted order)."""
    data = load_dataset(ImageDataConfig(dataset="mnist", image_size=size), split)
    n = MNIST_SUBSET[split]
    order = torch.sort(data.fields["y"][:n], stable=True).indices
    return {k: v[:n][order] for k, v in data.fields.items()}


@pytest.fixture
def mnist_export(tmp_path):
    from zoo.data import get_spec

    folder = find_folder(get_spec("mnist"))
    if folder is None:
        pytest.skip("MNIST files not found locally")
    export_mnist(tmp_path / "mnist-png", folder)
    return tmp_path / "mnist-png"


@pytest.mark.parametrize("size", [28, 32])
def test_mnist_png_export_loads_identically(mnist_export, size):
    for split in MNIST_SUBSET:
        own = load_dataset(ImageFolderConfig(dataset="image-folder", path=str(mnist_export), image_size=size), split)
        ref = builtin_subset(split, size)
        assert own.info["channels"] == 1 and own.info["classes"] == [str(d) for d in range(10)]
        assert own.fields["y"].equal(ref["y"]) and own.fields["x"].equal(ref["x"])


def test_mnist_png_export_reproduces_cgan_losses(mnist_export, tmp_path, monkeypatch):
    own = zoo.train("cgan-mnist", data=mnist_export, steps=3, seed=0, out=tmp_path / "own", quiet=True, overrides=TINY_OVERRIDES)
    import zoo.data.idx as idx
    from zoo.data.tensors import TensorData

    original = idx.load_idx_images

    def subset(folder, split, config):  # the built-in loader, cut to the exported images in the folder's order
        full = original(folder, split, config)
        order = torch.sort(full.fields["y"][: MNIST_SUBSET[split]], stable=True).indices
        return TensorData({k: v[: MNIST_SUBSET[split]][order] for k, v in full.fields.items()}, full.info)

    monkeypatch.setattr(idx, "load_idx_images", subset)
    ref = zoo.train("cgan-mnist", steps=3, seed=0, out=tmp_path / "ref", quiet=True, overrides=TINY_OVERRIDES)
    losses = [[{k: v for k, v in json.loads(line).items() if k.startswith("loss")} for line in (run.path / "metrics.jsonl").read_text().splitlines()]
              for run in (own, ref)]
    assert losses[0] == losses[1] and len(losses[0]) == 3


# ---- larger than memory -------------------------------------------------------------------------
def test_streaming_is_bit_identical_to_in_memory(tmp_path):
    root = make_images(tmp_path / "imgs", per_class=8)
    cfg = ImageFolderConfig(dataset="image-folder", path=str(root), image_size=8, flip=True, memory_limit_mb=0)
    streamed = load_dataset(cfg, "train")
    assert streamed.stream and not load_dataset(ImageFolderConfig(dataset="image-folder", path=str(root), image_size=8), "train").stream
    logs = []
    for limit in (0, None):  # 0 MB forces the memory-mapped path; the default keeps this tiny set in memory
        run = zoo.train("cgan-mnist", data=root, steps=3, seed=0, out=tmp_path / f"run-{limit}", quiet=True,
                        overrides={**TINY_OVERRIDES, "data.image_size": 16, "data.flip": True, "data.memory_limit_mb": limit})
        logs.append([{k: v for k, v in json.loads(line).items() if k.startswith(("loss", "d_"))} for line in (run.path / "metrics.jsonl").read_text().splitlines()])
    assert logs[0] == logs[1] and len(logs[0]) == 3
