"""`zoo translate`, `zoo.translate`, `zoo sample --mode translate`, the serve upload and the translation
metric on a tiny super-resolution run (the regression family, ×4 on MNIST at 16×16), and the bad inputs:
one line each, exit 2, nothing left behind."""
from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import zoo
from zoo.cli import cli
from tests.tiny_runs import train_gan

TINY = {"model.widths": [4, 8], "model.eval_images": 16, "data.batch_size": 8, "data.image_size": 16, "data.dataset": "mnist",
        "train.checkpoint_every": 2, "train.sample_every": 2}


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def sr_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("translate") / "sr"
    return zoo.train("sr4-fashion-l1", steps=2, out=out, device="cpu", quiet=True, overrides=TINY).path


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    (folder / "nested").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("a.png", "nested/b.jpg", "c.bmp"):
        Image.fromarray((rng.random((4, 4)) * 255).astype(np.uint8)).save(folder / name)
    return folder


def test_translate_folder_keeps_names_and_matches_the_api(sr_run: Path, inputs: Path, tmp_path: Path) -> None:
    result = invoke("translate", sr_run, inputs, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    written = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written == ["a.png", "c.bmp", "nested/b.jpg"]
    assert Image.open(tmp_path / "out" / "a.png").size == (16, 16)
    api = zoo.translate(sr_run, [inputs / "a.png"])
    assert api.shape == (1, 1, 16, 16)
    cli_pixels = torch.from_numpy(np.asarray(Image.open(tmp_path / "out" / "a.png"), dtype=np.float32) / 255)
    assert torch.allclose(api[0, 0], cli_pixels, atol=0.5 / 255)


def test_translate_refuses_what_does_not_fit(sr_run: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((9, 9), dtype=np.uint8)).save(big)
    result = invoke("translate", sr_run, big, "--out", tmp_path / "out")
    assert result.exit_code == 2 and "translates 4×4 images; pass --resize" in result.output
    assert invoke("translate", sr_run, big, "--out", tmp_path / "out", "--resize").exit_code == 0
    result = invoke("translate", sr_run, big, "--out", tmp_path)
    assert result.exit_code == 2 and "where inputs are" in result.output
    assert invoke("translate", sr_run, tmp_path / "missing.png", "--out", tmp_path / "o").exit_code == 2


def test_translate_on_a_run_that_cannot(tmp_path: Path, inputs: Path) -> None:
    gan = train_gan(tmp_path / "gan", steps=2)
    result = invoke("translate", gan, inputs, "--out", tmp_path / "out")
    assert result.exit_code == 2 and "cannot translate" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_sample_mode_translate_writes_rows_of_three(sr_run: Path, tmp_path: Path) -> None:
    samples = zoo.sample(sr_run, 9, seed=0, mode="translate")
    assert samples.images.shape == (9, 1, 16, 16) and samples.nrow == 3
    source, output, target = samples.images[0:3]
    assert not torch.equal(source, target)  # the source column shows the degraded input
    assert invoke("sample", sr_run, "-n", 6, "--mode", "translate", "--out", tmp_path / "sheet.png").exit_code == 0


def test_translation_metric_scores_against_the_baseline(sr_run: Path) -> None:
    values = zoo.evaluate(sr_run, metrics=["translation"], options={"translation.images": 32})
    assert values["baseline_psnr"] == values["baseline_psnr[bicubic]"]  # bicubic beats nearest on smooth digits
    assert values["diversity"] == 0  # a deterministic translator
    assert 0 < values["psnr"] < 100 and values["consistency"] > 0


@pytest.mark.parametrize("setting, words", [("data.degrade=jpeg:10", "unknown degradation"), ("data.degrade=noise:3", "(0, 1]")])
def test_bad_degradations_leave_nothing(tmp_path: Path, setting: str, words: str) -> None:
    result = invoke("train", "sr4-fashion-l1", "--out", tmp_path / "run", "--set", setting)
    assert result.exit_code == 2 and words in result.output
    assert not (tmp_path / "run").exists()


def test_serve_translates_an_upload(sr_run: Path) -> None:
    from fastapi.testclient import TestClient

    from zoo.serve import create_app

    client = TestClient(create_app([sr_run]))
    assert "image to translate (4×4)" in client.get("/").text
    buffer = io.BytesIO()
    Image.fromarray(np.full((12, 12, 3), 200, dtype=np.uint8)).save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    answer = client.post("/translate", json={"run": 0, "seed": 1, "image": url})
    assert answer.status_code == 200 and "resized from 12×12 to 4×4" in answer.text and "<img" in answer.text
    bad = client.post("/translate", json={"run": 0, "image": "data:image/png;base64,AAAA"})
    assert bad.status_code == 400 and "not an image" in bad.text


def test_sr4_rgb_trains_on_a_colour_folder_and_translates(tmp_path: Path) -> None:
    """The RGB preset reads the user's folder (--data): degradations made on the fly, RGB out."""
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(24):
        Image.fromarray((rng.random((20, 20, 3)) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    overrides = {"model.widths": [4, 8], "model.eval_images": 8, "data.batch_size": 4, "data.image_size": 16, "data.test_fraction": 0.25}
    run = zoo.train("sr4-rgb", steps=2, data=folder, out=tmp_path / "run", device="cpu", quiet=True, overrides=overrides)
    small = tmp_path / "small.png"
    Image.fromarray((rng.random((4, 4, 3)) * 255).astype(np.uint8)).save(small)
    assert zoo.translate(run.path, [small]).shape == (1, 3, 16, 16)


class _Reverser:
    """A stand-in family that `TranslatesFiles`: writes each text file reversed, under a new suffix."""

    input_suffixes = (".txt",)
    conditions = ()
    device = torch.device("cpu")

    def translate_file(self, source: Path, out: Path, generator: torch.Generator | None = None) -> Path:
        from zoo.errors import Skipped

        if not source.read_text():
            raise Skipped(f"{source.name} is empty")
        target = out.with_suffix(".rev")
        target.write_text(source.read_text()[::-1])
        return target


def test_translate_hands_files_to_a_family_that_translates_files(sr_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo import api
    from zoo.capabilities import TranslatesFiles

    assert isinstance(_Reverser(), TranslatesFiles)
    monkeypatch.setattr(api, "load", lambda *a, **k: _Reverser())
    (tmp_path / "in" / "deep").mkdir(parents=True)
    (tmp_path / "in" / "deep" / "a.txt").write_text("abc")
    (tmp_path / "in" / "skip.png").write_bytes(b"not taken: not a suffix the family reads")
    result = invoke("translate", sr_run, tmp_path / "in", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert [p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file()] == ["deep/a.rev"]
    assert (tmp_path / "out" / "deep" / "a.rev").read_text() == "cba"
    result = invoke("translate", sr_run, tmp_path / "in" / "skip.png", "--set", "steps=3", "--out", tmp_path / "out2")
    assert result.exit_code == 2 and "steps" in result.output


def test_translate_skips_unusable_files_with_a_count(sr_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo import api

    monkeypatch.setattr(api, "load", lambda *a, **k: _Reverser())
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("abc")
    (tmp_path / "in" / "empty.txt").write_text("")
    with pytest.warns(UserWarning, match="skipped 1 of 2 inputs: empty.txt is empty"):
        written = zoo.translate_files(sr_run, [tmp_path / "in"], tmp_path / "out")
    assert [p.name for p in written] == ["a.rev"]
    result = invoke("translate", sr_run, tmp_path / "in" / "empty.txt", "--out", tmp_path / "out2")
    assert result.exit_code == 2 and "no input could be translated: empty.txt is empty" in result.output
