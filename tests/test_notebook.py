"""Samples display inline in Jupyter, and docs/example.ipynb runs headless from top to bottom."""
from __future__ import annotations

import base64
from pathlib import Path

import pytest
import torch

from zoo.samples import AudioSamples, ImageSamples, TextSamples

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "example.ipynb"
TINY = 'STEPS = 2\nOVERRIDES = {"model.nz": 8, "model.ngf": 4, "model.ndf": 4, "data.batch_size": 8}'


def test_samples_render_in_their_modality(tmp_path):
    images = ImageSamples(torch.rand(4, 1, 8, 8))
    images.save(tmp_path / "grid.png")
    assert images._repr_png_() == (tmp_path / "grid.png").read_bytes()  # what Jupyter shows is what save writes
    audio = AudioSamples(torch.zeros(2, 800), 8000, labels=torch.tensor([3, 4]))._repr_html_()
    assert audio.count("<audio controls") == 2 and audio.count('src="data:audio/wav;base64,UklGR') == 2  # RIFF
    assert audio.count('src="data:image/png;base64,iVBORw0KGgo') == 2 and "label 4" in audio
    text = TextSamples(["<b>to be</b>", "or not"])._repr_html_()
    assert text.count("<pre") == 2 and "&lt;b&gt;to be&lt;/b&gt;" in text


def test_example_notebook_runs_headless(tmp_path):
    nbformat = pytest.importorskip("nbformat", reason="needs the test extra: pip install -e '.[test]'")
    nbclient = pytest.importorskip("nbclient", reason="needs the test extra: pip install -e '.[test]'")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    settings = next(c for c in notebook.cells if c.cell_type == "code" and "STEPS = " in c.source)
    settings.source = "import zoo\n\n" + TINY  # the notebook's own code, on the GAN's tiny overrides
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = {i: c.outputs for i, c in enumerate(notebook.cells) if c.cell_type == "code"}
    errors = [o for cell in outputs.values() for o in cell if o.output_type == "error"]
    assert not errors, errors
    shown = [o for cell in outputs.values() for o in cell if "image/png" in o.get("data", {})]
    assert len(shown) == 1 and base64.b64decode(shown[0]["data"]["image/png"])[:4] == b"\x89PNG"
    assert (tmp_path / "notebook-report.html").stat().st_size > 10_000
