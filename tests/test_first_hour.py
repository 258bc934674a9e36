"""The first hour with zoo (issue 27): anchors only where they apply, tables of any runs, what your data
is, progress instead of silence, a failed start that leaves nothing, messages that name the real cause,
class names in `zoo serve`, and .jpg outputs."""
from __future__ import annotations

import io
import json
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import zoo
from tiny_runs import copy_run, fake_evaluation, train_gan
from zoo.cli import cli
from zoo.errors import UsageError
from zoo.metrics.anchors import not_comparable
from zoo.presets import resolve
from zoo.progress import Progress
from zoo.run import Run

ROOT = Path(__file__).resolve().parents[1]
GAN_TINY = {"model.nz": 8, "model.ngf": 4, "model.ndf": 4, "data.batch_size": 8, "train.num_preview": 4,
            "train.log_every": 1, "train.sample_every": 0, "train.checkpoint_every": 0}


def run_cli(*args: object) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args])


def letters(root: Path, classes: tuple[str, ...] = ("a", "b", "c"), per_class: int = 12) -> Path:
    """A folder of small random greyscale PNGs in class folders, like a folder of scanned letters."""
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray((rng.random((12, 12)) * 255).astype(np.uint8)).save(root / name / f"{i}.png")
    return root


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def own_run(tmp_path) -> Path:
    """cgan-mnist (anchored) on a folder of three letter classes, two tiny steps."""
    data = letters(tmp_path / "letters", per_class=20)
    return zoo.train("cgan-mnist", data=data, steps=2, out=tmp_path / "own", quiet=True, overrides={**GAN_TINY, "data.image_size": 16}).path


# ---- 2. anchors only where they apply ---------------------------------------------------------
def test_a_run_is_comparable_only_with_the_presets_data_model_and_budget():
    preset = resolve("gan-mnist-quick")
    steps = preset.train.steps
    assert not_comparable(preset) is None and not_comparable(preset, step=steps) is None
    assert not_comparable(resolve("gan-mnist-quick", {"train.log_every": 7, "train.checkpoint_every": 0, "train.loggers": []})) is None
    assert not_comparable(preset, step=steps // 2) == f"evaluated at step {steps // 2} of {steps}"
    reason = not_comparable(resolve("gan-mnist-quick", {"train.steps": 10, "model.ngf": 4, "data.batch_size": 8}))
    assert reason is not None and reason.startswith(f"shortened: 10 of the preset's {steps} steps; overrides model.ngf=4 (preset {preset.model.ngf})")
    assert "data.batch_size=8" in reason


def test_own_data_is_not_comparable_in_check_compare_and_report(own_run, tmp_path):
    with pytest.warns(RuntimeWarning, match=r"the test split has only \d+ images, no more than the 128 feature dimensions"):
        result = run_cli("evaluate", own_run, "--check", "--metrics", "fid", "--num-samples", "200", "--device", "cpu")
    assert result.exit_code == 0, result.output  # not a failure: the anchor does not apply
    assert "not comparable (own data" in result.output and "missed" not in result.output and "misses" not in result.output
    result = run_cli("compare", own_run, "--markdown")
    assert result.exit_code == 0, result.output
    header, _, row = result.output.splitlines()[:3]
    assert header.endswith("| anchors |") and "| not comparable (own data; shortened: 2 of the preset's" in row
    assert row.startswith(f"| {own_run} | cgan-mnist | {(tmp_path / 'letters').resolve()} | 2 | 2 |")  # data: the --data path
    out = tmp_path / "own.html"
    assert run_cli("report", own_run, "--out", out, "--samples", "0").exit_code == 0
    page = out.read_text()
    assert '<span class="not-comparable">not comparable</span>' in page and 'class="missed"' not in page


def test_a_run_as_the_preset_trained_it_is_checked(tmp_path):
    """The met and missed verdicts stay for runs the anchors are about (here: a tiny run's files under the preset's config)."""
    preset = resolve("gan-mnist-quick")
    run_dir = copy_run(train_gan(tmp_path / "tiny"), tmp_path / "as-preset", evaluation=False)
    run = Run.open(run_dir)
    run.config = preset
    run.save_config()
    out = tmp_path / "r.html"
    assert run_cli("report", run_dir, "--out", out, "--samples", "0").exit_code == 0
    assert "anchors to meet once evaluated: fid" in out.read_text()
    anchor = preset.eval.anchors["fid"]
    fake_evaluation(run_dir, fid=anchor["value"] + anchor["tolerance"] + 1, step=preset.train.steps)
    assert run_cli("report", run_dir, "--out", out, "--samples", "0").exit_code == 0
    count = len(preset.eval.anchors)  # fid missed; the others unmeasured
    assert re.search(rf'<span class="missed">missed</span> \d of {count} quality anchors', out.read_text())
    result = run_cli("compare", run_dir)
    assert result.exit_code == 0 and re.search(rf"missed \d of {count}$", result.output.splitlines()[1].rstrip())


# ---- 3. compare and report take any runs -------------------------------------------------------
def test_report_and_compare_with_an_unevaluated_run(tmp_path):
    gan = train_gan(tmp_path / "gan")
    fake_evaluation(gan, fid=25.0)
    bare = copy_run(gan, tmp_path / "bare", evaluation=False)
    result = run_cli("compare", gan, bare)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:6] == ["run", "preset", "data", "steps", "eval", "step"]
    assert lines[1].split()[:5] == [str(gan), "gan-mnist-quick", "mnist", "4", "4"]
    assert lines[2].split()[:7] == [str(bare), "gan-mnist-quick", "mnist", "4", "-", "-", "-"]
    assert f"{bare} has no evaluation yet" in result.output
    out = tmp_path / "both.html"
    assert run_cli("report", gan, bare, "--out", out, "--samples", "0").exit_code == 0
    page = out.read_text()
    table = page[page.index("Comparison of 2 image runs"):page.index("Curves, overlaid")]
    assert table.count("<tr>") == 3 and "has no evaluation yet, so its scores are dashes" in table


# ---- 4. say what the data is -------------------------------------------------------------------
def test_a_data_run_says_what_the_data_is_and_info_says_the_same(tmp_path, capsys):
    data = letters(tmp_path / "letters", per_class=20)
    zoo.train("cgan-mnist", data=data, steps=3, out=tmp_path / "run", overrides={**GAN_TINY, "data.image_size": 16})
    said = capsys.readouterr().err
    assert f"your data: {data.resolve()} (image-folder)" in said
    counts = re.search(r"3 classes \(train/test\): a (\d+)/(\d+), b (\d+)/(\d+), c (\d+)/(\d+)", said)
    assert counts and sum(map(int, counts.groups())) == 60
    train = sum(int(n) for n in counts.groups()[::2])
    assert f"train {train} images, test {60 - train} images; 1 channel, 16×16 pixels" in said
    assert f"budget: 3 steps × batch 8 = 24 images = {24 / train:.1f} epochs of the training split" in said
    result = run_cli("info", "cgan-mnist", "--data", data, "--set", "data.image_size=16")
    assert result.exit_code == 0, result.output
    assert "3 classes (train/test): a " + "/".join(counts.groups()[:2]) in result.output
    assert f"budget: 2,000 steps × batch 64" in result.output and f"{2000 * 64 / train:,.1f} epochs" in result.output
    result = run_cli("info", "cgan-mnist", "--data", data, "--json")
    assert json.loads(result.output)["your_data"]["classes"]["a"] == [int(counts.group(1)), int(counts.group(2))]


def test_docs_guide_choosing_steps_for_small_folders():
    guide = (ROOT / "docs" / "data.md").read_text()
    assert "## Choosing steps for a small folder" in guide and "300 × 64 / 600 = 32 epochs" in guide


# ---- 5. no silent waits ------------------------------------------------------------------------
def test_progress_in_a_log_is_plain_lines_with_an_eta():
    log = io.StringIO()  # not a terminal
    with Progress(200, "training the mnist feature network", "steps", file=log) as progress:
        for _ in range(200):
            progress.update()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == 10  # 10%, 20%, ... 90%, then done
    assert re.fullmatch(r"training the mnist feature network: 40% \(80/200 steps\), ETA \d+s", lines[3])
    assert lines[-1].startswith("training the mnist feature network: done, 200 steps in ")


def test_progress_waits_its_delay_and_uses_a_bar_on_a_terminal():
    log = io.StringIO()
    with Progress(50, "decoding", "files", file=log, delay=60) as progress:
        for _ in progress.each(range(50)):
            pass
    assert progress.done == 50 and log.getvalue() == ""  # a short wait says nothing

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    with Progress(3, "decoding", "files", file=Terminal()) as progress:
        assert progress.bar is not None


def test_feature_network_training_reports_progress(capsys):
    from zoo.metrics.features import Recipe, train_feature_net

    images, labels = torch.randint(0, 255, (64, 1, 12, 12), dtype=torch.uint8), torch.arange(64) % 4
    train_feature_net(images, labels, Recipe(max_steps=20, batch_size=8), progress="training the test feature network")
    err = capsys.readouterr().err
    assert "\r" not in err and "training the test feature network: 50% (10/20 steps), ETA" in err


def test_shipped_feature_networks_load_without_training(monkeypatch):
    from zoo.data.spec import file_digest
    from zoo.metrics import features
    from zoo.metrics.networks import SHIPPED

    cards = sorted(SHIPPED.glob("*.json"))
    assert {json.loads(c.read_text())["dataset"] for c in cards} >= {"mnist"}
    for card in cards:
        weights = card.with_suffix(".safetensors")
        assert weights.stat().st_size < 2 << 20 and file_digest(weights) == json.loads(card.read_text())["weights_sha256"]
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["zoo"]
    shipped = {p.relative_to(ROOT / "zoo").as_posix() for p in SHIPPED.iterdir()}
    assert shipped == {str(p.relative_to(ROOT / "zoo").as_posix()) for g in package_data for p in (ROOT / "zoo").glob(g)} - {"registry.yaml"}

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("the shipped network should have been used")

    monkeypatch.setattr(features, "train_feature_net", no_training)
    net = features.domain_features("mnist")  # an empty cache (the fixture): the shipped copy
    assert net.weights.parent == SHIPPED and net.card["test_accuracy"] > 0.99


# ---- 6. a failed start leaves nothing behind ---------------------------------------------------
def test_a_failed_start_removes_only_what_it_created(tmp_path):
    one = letters(tmp_path / "one", classes=("x",), per_class=1)
    out = tmp_path / "runs" / "one"
    result = run_cli("train", "gan-mnist", "--data", one, "--out", out, "--quiet")
    assert result.exit_code == 2 and "larger than the training set (1 items); pass --set data.batch_size=1" in result.output
    assert "Traceback" not in result.output and not out.exists()
    result = run_cli("train", "gan-mnist", "--data", one, "--out", out, "--quiet")
    assert "already holds a run" not in result.output and not out.exists()  # the retry is not refused
    empty = tmp_path / "runs" / "empty"
    empty.mkdir()
    assert run_cli("train", "gan-mnist", "--data", one, "--out", empty, "--quiet").exit_code == 2
    assert empty.is_dir() and list(empty.iterdir()) == []  # a folder that was there stays, as it was
    old = train_gan(tmp_path / "runs" / "old", steps=2)
    before = {p.relative_to(old): p.read_bytes() for p in old.rglob("*") if p.is_file()}
    assert run_cli("train", "gan-mnist", "--data", one, "--out", old, "--overwrite", "--quiet").exit_code == 2
    assert {p.relative_to(old): p.read_bytes() for p in old.rglob("*") if p.is_file()} == before  # --overwrite put it back
    assert [p.name for p in old.parent.iterdir() if p.name.startswith(".")] == []


# ---- 7. messages that name the real cause ------------------------------------------------------
def test_fid_warning_and_glob_error_name_the_cause(tmp_path):
    from zoo.metrics.image import singular_cause

    assert singular_cause(68, 5000, 128).startswith("the test split has only 68 images")
    assert singular_cause(5000, 100, 128).startswith("only 100 samples were scored")
    notes = tmp_path / "notes"
    notes.mkdir()
    for i in range(17):
        (notes / f"NOTE{i}").write_text("some text\n")
    result = run_cli("train", "gpt-shakespeare", "--data", notes, "--out", tmp_path / "run", "--quiet")
    assert result.exit_code == 2 and "found 17 files without an extension; try --set 'data.glob=*'" in result.output
    assert not (tmp_path / "run").exists()
    from zoo.data.own import source_overrides

    with pytest.raises(UsageError, match="pick an image preset"):
        source_overrides("text", letters(tmp_path / "imgs", per_class=1))


# ---- 8. zoo serve ------------------------------------------------------------------------------
def test_serve_offers_class_names_and_says_what_a_run_is(own_run):
    from zoo.serve import Served, describe, parse_request, render

    served = describe(own_run)
    label = next(c for c in served.conditions if c.name == "label")
    assert label.choices == ("a", "b", "c")
    n, seed, conditions = parse_request(served, {"n": "2", "label": "b"})
    samples = zoo.sample(own_run, n, seed=seed, **conditions)
    assert samples.meta["conditions"] == {"label": 1}
    page = render([served])
    assert '<option value="c">c</option>' in page and f"data {(Path(own_run).parent / 'letters').resolve()} · 2 steps trained" in page
    text = Served(Path("runs/gpt"), "gpt-shakespeare", "text", "text", 2000, (), data="tinyshakespeare", trained=2000)
    assert text.heading().startswith("text family · data tinyshakespeare · 2000 steps trained · checkpoint step 2000")


# ---- 9. small things ---------------------------------------------------------------------------
def test_jpg_outputs(own_run, tmp_path):
    for name in ("grid.jpg", "grid.JPEG"):
        result = run_cli("sample", own_run, "-n", "4", "--out", tmp_path / name)
        assert result.exit_code == 0, result.output
        with Image.open(tmp_path / name) as image:
            assert image.format == "JPEG" and image.size[0] > 16
            assert json.loads(image.info["comment"])["zoo"]["checkpoint_step"] == 2  # provenance, as a PNG's text chunks hold it
    result = run_cli("sample", own_run, "-n", "4", "--out", tmp_path / "grid.gif")
    assert result.exit_code == 2 and "use a .png or .jpg path" in result.output


def test_readme_names_the_distribution_and_its_extras():
    readme = (ROOT / "README.md").read_text()
    assert "pip install 'genzoo[report,serve,music]'" in readme and "`genzoo`" in readme
    assert "make demo   #" in readme and "make test   #" in readme
    assert "$(BIN)/zoo evaluate runs/demo" in (ROOT / "Makefile").read_text()
