"""`zoo report`: one self-contained HTML file per set of runs, opened in headless Chromium."""
from __future__ import annotations

import html
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from tiny_runs import Page, chromium, copy_run, fake_evaluation, train_audio, train_gan
from zoo.cli import cli
from zoo.presets import resolve


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    gan = train_gan(root / "gan")
    fake_evaluation(gan, fid=40.0, step=2)
    fake_evaluation(gan, fid=4.0)  # the latest: within gan-mnist-quick's fid anchor (3.18 ± 2)
    other = copy_run(gan, root / "gan-other")
    fake_evaluation(other, fid=35.0, num_samples=500)  # another protocol: compare refuses to mix them
    return {
        "gan": gan,
        "other": other,
        "bare": copy_run(gan, root / "bare", checkpoints=False, evaluation=False),
        "audio": train_audio(root / "audio"),
        "root": root,
    }


def report(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["report", *map(str, args)])
    return result.exit_code, result.output


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r'src="data:[^"]*"', "", page)))


def test_one_run_has_facts_provenance_samples_history_scores_and_curves(runs):
    out = runs["root"] / "gan.html"
    code, output = report(runs["gan"], "--out", out, "--samples", "16")
    assert code == 0, output
    page = out.read_text()
    text = text_of(page)
    for fact in ("gan-mnist-quick", "family gan", "mnist", "status finished", "steps 4 of 4", "seed 0", "step_0000004", "torch", "git commit"):
        assert fact in " ".join(text.split()), fact
    assert "Resolved config" in text and "ngf: 4" in text
    assert "16 samples from checkpoint step 4" in text
    assert len(re.findall(r'<figcaption class="small">step \d+', page)) == 2  # preview history: steps 2 and 4
    steps = resolve("gan-mnist-quick").train.steps
    assert re.search(r"<td>fid</td><td>4</td>.*?num_generated=2000.*?needs &lt;= 5.18.*?>not comparable<", page)  # a 4-step tiny run
    assert f"not comparable (shortened: 4 of the preset's {steps} steps; overrides model.nz=8" in " ".join(text.split())
    assert ">missed<" not in page
    assert "http" not in re.sub(r'(src|href)="data:[^"]*"', "", page).replace("http://www.w3.org", "")  # nothing fetched
    scalars = {"loss_d", "d_real", "d_fake", "loss_g", "lr", "items_per_s"}
    plots = re.findall(r'alt="([^"]+) over steps" src="data:image/svg\+xml', page)
    assert set(plots) == scalars | {"fid", "kid", "kid_std"}


def test_missing_checkpoint_and_evaluation_are_said_not_raised(runs):
    out = runs["root"] / "bare.html"
    code, output = report(runs["bare"], "--out", out)
    assert code == 0, output
    text = text_of(out.read_text())
    assert "no checkpoint yet" in text and "no evaluation yet" in text
    assert "the latest preview, step 4" in text  # shown instead of fresh samples
    assert "zoo evaluate --check: not comparable (shortened" in " ".join(text.split())  # its anchors never apply to a tiny run


def test_not_a_run_is_one_line_usage_error(runs, tmp_path):
    code, output = report(tmp_path, "--out", tmp_path / "x.html")
    assert code == 2 and "is not a zoo run directory" in output and "Traceback" not in output
    assert not (tmp_path / "x.html").exists()


def test_mixed_protocols_are_refused_like_zoo_compare(runs):
    compare = CliRunner().invoke(cli, ["compare", str(runs["gan"]), str(runs["other"])])
    assert compare.exit_code == 2
    refusal = compare.output.removeprefix("Error: ").strip()
    out = runs["root"] / "mixed.html"
    code, output = report(runs["gan"], runs["other"], "--out", out, "--samples", "0")
    assert code == 0, output
    assert "scores not compared: " + refusal in " ".join(text_of(out.read_text()).split())
    code, output = report(runs["gan"], runs["other"], "--out", out, "--samples", "0", "--mixed-protocols")
    assert code == 0 and "<th>fid*</th>" in out.read_text()


def test_modalities_get_sections_and_the_page_works_offline_in_chromium(runs):
    out = runs["root"] / "mixed-modalities.html"
    code, output = report(runs["gan"], runs["bare"], runs["audio"], "--out", out, "--samples", "4")
    assert code == 0, output
    page = out.read_text()
    assert 'id="modality-image"' in page and 'id="modality-audio"' in page
    assert "Comparison of 2 image runs" in page and f"{runs['bare']} has no evaluation yet, so its scores are dashes" in page
    assert page.count("<audio") == 4 and "label 3" in page
    manager, browser = chromium()
    try:
        view = Page(browser, (1200, 1500))
        view.page.goto(out.resolve().as_uri())
        media = view.media_check()
        assert media["img"] and all(w > 0 for w in media["img"]), media["img"]
        assert len(media["audio"]) == 4 and all(d > 0 for d in media["audio"]), media["audio"]
        assert view.errors == [] and view.outside == []
        view.page.screenshot(path=str(runs["root"] / "report.png"))  # it renders; docs/report*.png show real runs (bench/report_screenshots.py)
        view.page.evaluate("document.getElementById('run-0').scrollIntoView()")
        view.page.screenshot(path=str(runs["root"] / "report-run.png"))
        view.close()
    finally:
        browser.close()
        manager.stop()


def test_help_and_list_import_no_report_or_server_libraries():
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom zoo.cli import cli\n"
        "for args in (['--help'], ['list'], ['report', '--help'], ['serve', '--help']):\n"
        "    assert CliRunner().invoke(cli, args).exit_code == 0, args\n"
        "heavy = ('matplotlib', 'tensorboard', 'fastapi', 'uvicorn', 'playwright', 'torch')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_text_and_audio_previews_render_in_their_form(tmp_path):
    import torch

    from zoo.report.build import preview_html
    from zoo.samples import AudioSamples, TextSamples

    TextSamples(["<to be>", "or not"]).save(tmp_path / "step_0000002.txt")
    text = preview_html(tmp_path / "step_0000002.txt", "text")
    assert text.count("<pre") == 2 and "&lt;to be&gt;" in text
    AudioSamples(torch.zeros(2, 800), 8000).save(tmp_path / "step_0000002.wav")
    audio = preview_html(tmp_path / "step_0000002.wav", "audio")
    assert audio.count("<audio") == 1 and "0.70 s" in audio  # the preview's clips, joined with short silences
