"""Tiny trained runs for the report, serve and browser tests (a second each on a CPU), and a headless
Chromium that refuses every request leaving the machine."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

import zoo
from zoo.api import record_evaluation
from zoo.evaluation import MetricResult
from zoo.run import Run

DOCS = Path(__file__).resolve().parents[1] / "docs"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
CADENCE = {"train.log_every": 1, "train.sample_every": 2, "train.checkpoint_every": 2}


def train_gan(out: Path, steps: int = 4, **extra: Any) -> Path:
    """gan-mnist-quick on the GAN family's tiny overrides: previews and checkpoints every 2 steps."""
    overrides = {"model.nz": 8, "model.ngf": 4, "model.ndf": 4, "data.batch_size": 8, "train.num_preview": 16, **CADENCE, **extra}
    return zoo.train("gan-mnist-quick", steps=steps, out=out, device="cpu", quiet=True, overwrite=True, overrides=overrides).path


def train_audio(out: Path) -> Path:
    """cspecgan-digits (digit-conditional SpecGAN) on its tiny overrides: 1024-sample clips."""
    overrides = {"model.nz": 8, "model.ngf": 4, "model.ndf": 4, "model.griffin_lim_iters": 2, "data.batch_size": 8,
                 "data.clip_samples": 1024, "train.num_preview": 4, **CADENCE}
    return zoo.train("cspecgan-digits", steps=2, out=out, device="cpu", quiet=True, overwrite=True, overrides=overrides).path


def fake_evaluation(run_dir: Path, fid: float, num_samples: int = 2000, step: int | None = None) -> None:
    """Record FID-like scores with a protocol, as an evaluation would (real FID takes minutes to set up)."""
    run = Run.open(run_dir)
    step = run.summary()["step"] if step is None else step
    protocol = {"features": "mnist-cnn", "feature_checksum": "abc123", "reference": "test", "num_generated": num_samples, "seed": 0, "version": "1"}
    results = {"fid": MetricResult({"fid": fid}, dict(protocol)), "kid": MetricResult({"kid": fid / 1000, "kid_std": 0.001}, {**protocol, "values": ["kid", "kid_std"]})}
    record_evaluation(run, step, results, "raw")


def copy_run(source: Path, out: Path, *, checkpoints: bool = True, evaluation: bool = True) -> Path:
    """A copy of a run, optionally without its checkpoints or its evaluation."""
    shutil.copytree(source, out)
    if not checkpoints:
        shutil.rmtree(out / "checkpoints")
    if not evaluation:
        run = Run.open(out)
        summary = {k: v for k, v in run.summary().items() if k not in ("eval", "eval_step", "protocol")}
        (out / "summary.json").write_text(__import__("json").dumps(summary))
        lines = [line for line in (out / "metrics.jsonl").read_text().splitlines() if '"eval"' not in line]
        (out / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return out


def screenshot_path(name: str, scratch: Path) -> Path:
    """Where a browser test saves its screenshot: docs/NAME with ZOO_UPDATE_SCREENSHOTS=1 (the PNGs the
    docs show), else a scratch folder, so a test run leaves the work tree clean."""
    return (DOCS if os.environ.get("ZOO_UPDATE_SCREENSHOTS") == "1" else scratch) / name


def chromium() -> Any:
    """A launched headless Chromium (the system's), or a skip naming the package; in CI a failure instead."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright Python package (pip install -e '.[test]')")
    if not os.path.exists(CHROMIUM):
        _missing("Debian's chromium package (apt-get install chromium)")
    manager = sync_playwright().start()
    return manager, manager.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def _missing(what: str) -> None:
    message = f"browser tests need {what}"
    if os.environ.get("CI"):
        pytest.fail(message + "; CI must run them (.ci/run installs chromium)")
    pytest.skip(message)


class Page:
    """A browser page that records console errors and refuses (and records) requests leaving the machine."""

    def __init__(self, browser: Any, viewport: tuple[int, int] = (1200, 900)) -> None:
        self.context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda err: self.errors.append(str(err)))

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(("file://", "data:", "http://127.0.0.1", "http://localhost")):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def media_check(self) -> dict[str, list[float]]:
        """naturalWidth of every <img> and duration of every <audio>, once each has loaded."""
        self.page.wait_for_load_state("load")
        widths = self.page.evaluate("() => [...document.images].map(i => i.complete ? i.naturalWidth : 0)")
        durations = self.page.evaluate(
            """() => Promise.all([...document.querySelectorAll('audio')].map(a => a.readyState >= 1 ? a.duration :
                 new Promise(ok => { a.addEventListener('loadedmetadata', () => ok(a.duration)); a.addEventListener('error', () => ok(0)); a.load(); })))"""
        )
        return {"img": widths, "audio": durations}

    def close(self) -> None:
        self.context.close()
