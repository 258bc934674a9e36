"""`--data` as Parquet (pyarrow, Hugging Face `datasets`), a save_to_disk folder, or WebDataset shards:
each round trip from a folder gives exactly what the folder gives (pixels, clips, labels, class names,
splits), decoded once into the same prepared cache; bad records are one line with exit code 2."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
wds = pytest.importorskip("webdataset")

import zoo  # noqa: E402
from zoo import plugins  # noqa: E402
from zoo.cli import cli  # noqa: E402
from zoo.data import prepared  # noqa: E402
from zoo.data.own import IMAGE_EXTS, AUDIO_EXTS, AudioFolderConfig, ImageFolderConfig, TextFilesConfig, list_files, load_audio, load_images, load_text, relative  # noqa: E402
from zoo.errors import UsageError  # noqa: E402
from zoo.testing import TinyPlugin  # noqa: E402


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))


def make_images(root: Path, splits: tuple[str, ...] = ("",), per_class: int = 10) -> Path:
    rng = np.random.default_rng(0)
    for split in splits:
        for c in ("cat", "dog"):
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                Image.fromarray((rng.random((10, 12, 3)) * 255).astype(np.uint8)).save(root / split / c / f"{i}.{'png' if i % 2 else 'jpg'}")
    return root


def write_shards(folder: Path, pattern: str, exts: tuple[str, ...]) -> None:
    """docs/data.md's recipe: one sample per file, keyed by its path, its class folder as `cls`."""
    with wds.ShardWriter(pattern, maxcount=7, verbose=0) as sink:
        for f in list_files(folder, exts):
            rel = relative(folder, f)
            sink.write({"__key__": rel.rsplit(".", 1)[0], rel.rsplit(".", 1)[1]: f.read_bytes(), "cls": rel.split("/")[0]})


def write_parquet(folder: Path, out: Path, exts: tuple[str, ...], column: str = "image") -> None:
    """docs/data.md's recipe: the Hugging Face layout, encoded bytes and the relative path, the class as label."""
    files = list_files(folder, exts)
    pq.write_table(pa.table({column: [{"bytes": f.read_bytes(), "path": relative(folder, f)} for f in files],
                             "label": [relative(folder, f).split("/")[0] for f in files]}), out, row_group_size=8)


def same(a, b) -> None:
    assert a.fields.keys() == b.fields.keys()
    for key in a.fields:
        assert torch.equal(a.fields[key], b.fields[key]), key
    assert {k: v for k, v in a.info.items() if k != "source"} == {k: v for k, v in b.info.items() if k != "source"}


def images(path: str | Path, split: str):
    return load_images(Path("unused"), split, ImageFolderConfig(path=str(path), image_size=8))


def test_shards_and_parquet_equal_the_folder(tmp_path):
    folder = make_images(tmp_path / "imgs")
    write_shards(folder, str(tmp_path / "shards-%06d.tar"), IMAGE_EXTS)
    write_parquet(folder, tmp_path / "imgs.parquet", IMAGE_EXTS)
    pattern = str(tmp_path / "shards-{000000..000002}.tar")
    for split in ("train", "test"):
        want = images(folder, split)
        assert want.info["classes"] == ["cat", "dog"] and len(want.fields["x"]) > 0
        same(want, images(pattern, split))
        same(want, images(tmp_path / "imgs.parquet", split))


def test_hugging_face_imagefolder_parquet_and_save_to_disk_equal_the_folder(tmp_path):
    datasets = pytest.importorskip("datasets")
    flat, split = make_images(tmp_path / "flat"), make_images(tmp_path / "split", ("train", "test"))
    hf = str(tmp_path / "hf-cache")  # never the user's cache
    datasets.load_dataset("imagefolder", data_dir=str(flat), split="train", cache_dir=hf).to_parquet(str(tmp_path / "hf.parquet"))  # paths, no bytes: read from the files
    datasets.load_dataset("imagefolder", data_dir=str(split), cache_dir=hf).save_to_disk(str(tmp_path / "disk"))  # train and test splits, ClassLabel names
    for part in ("train", "test"):
        same(images(flat, part), images(tmp_path / "hf.parquet", part))
        same(images(split, part), images(tmp_path / "disk", part))


def test_records_decode_once_into_the_prepared_cache(tmp_path, monkeypatch):
    folder = make_images(tmp_path / "imgs")
    write_parquet(folder, tmp_path / "imgs.parquet", IMAGE_EXTS)
    first = images(tmp_path / "imgs.parquet", "train")
    monkeypatch.setattr(prepared, "decode_all", lambda *a: pytest.fail("decoded again"))
    same(first, images(tmp_path / "imgs.parquet", "train"))


def test_audio_shards_equal_the_folder(tmp_path):
    from scipy.io import wavfile

    rng = np.random.default_rng(0)
    folder = tmp_path / "clips"
    for c in ("no", "yes"):
        (folder / c).mkdir(parents=True)
        for i in range(6):
            wavfile.write(folder / c / f"{i}.wav", 16000 if i % 2 else 8000, (rng.standard_normal(1500) * 3000).astype(np.int16))
    write_shards(folder, str(tmp_path / "clips-%06d.tar"), AUDIO_EXTS)
    write_parquet(folder, tmp_path / "clips.parquet", AUDIO_EXTS, column="audio")
    for split in ("train", "test"):
        want = load_audio(Path("unused"), split, AudioFolderConfig(path=str(folder), clip_samples=1024))
        for path in (str(tmp_path / "clips-{000000..000001}.tar"), str(tmp_path / "clips.parquet")):
            same(want, load_audio(Path("unused"), split, AudioFolderConfig(path=path, clip_samples=1024)))


def test_text_records_read_as_a_corpus_with_their_splits(tmp_path):
    lines = {"train": ["to be or not to be", "that is the question"], "test": ["whether tis nobler"]}
    (tmp_path / "data").mkdir()
    for split, texts in lines.items():
        pq.write_table(pa.table({"text": texts}), tmp_path / "data" / f"{split}-00000-of-00001.parquet")
    for split, texts in lines.items():
        corpus = load_text(Path("unused"), split, TextFilesConfig(path=str(tmp_path)))
        assert corpus.text == "\n".join(texts) + "\n" and corpus.info["source"]["path"] == str(tmp_path)


def test_train_on_shards_then_evaluate(tmp_path):
    plugins.reset()
    plugins.get_plugin_manager().register(TinyPlugin(), name="tiny")
    try:
        folder = make_images(tmp_path / "imgs")
        write_shards(folder, str(tmp_path / "shards-%06d.tar"), IMAGE_EXTS)
        run = zoo.train("tiny-mnist", data=str(tmp_path / "shards-{000000..000002}.tar"), steps=2, out=tmp_path / "run", device="cpu", quiet=True,
                        overrides={"data.batch_size": 4, "train.checkpoint_every": 0})
        assert run.config.data.dataset == "image-folder" and run.info["classes"] == ["cat", "dog"]
        assert "test_nll_per_pixel" in zoo.evaluate(run.path, metrics=[], device="cpu")
    finally:
        plugins.reset()


def bad(*args: str) -> str:
    result = CliRunner().invoke(cli, ["train", "gan-mnist-quick", "--quiet", *args])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    return result.output.strip()


def test_bad_records_are_one_line(tmp_path):
    pq.write_table(pa.table({"picture": [b"x"], "kind": [1]}), tmp_path / "odd.parquet")
    assert bad("--data", str(tmp_path / "odd.parquet"), "--out", str(tmp_path / "r1")) == (
        f"Error: --data {tmp_path}: no image column (an Image feature or a column named image/img/png/jpg/jpeg); its columns are picture, kind")
    assert bad("--data", str(tmp_path / "nothing-{000000..000003}.tar"), "--out", str(tmp_path / "r2")) == (
        f"Error: --data {tmp_path}/nothing-{{000000..000003}}.tar: no file matches that pattern (shards are named like shards-{{000000..000009}}.tar)")
    assert not (tmp_path / "r1").exists() and not (tmp_path / "r2").exists()
    with pytest.raises(UsageError, match="no sample in 1 shard"):
        with wds.TarWriter(str(tmp_path / "text.tar")) as sink:
            sink.write({"__key__": "a", "txt": "hello"})
        images(tmp_path / "text.tar", "train")
