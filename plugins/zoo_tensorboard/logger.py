"""The TensorBoard logger: one instance per run, made by zoo when the run switches it on."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.hookspecs import hookimpl
from zoo.samples import AudioSamples, ImageSamples, TextSamples, VideoSamples

MAX_CLIPS = 8  # audio clips logged per sample set


class TensorBoardLogger:
    """Writes one run's events to RUN/tensorboard/: scalars, evaluations, samples, checkpoints, config."""

    def __init__(self) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise ZooError("the tensorboard logger needs the tensorboard package", hint="pip install 'genzoo[report]'") from err
        self._make_writer = SummaryWriter
        self._writer: Any = None
        self._end: Any = None  # the HParams session's end record, written by on_run_end

    def writer(self, run: Any) -> Any:
        """The run's event writer, opened on first use (also when zoo evaluate or zoo sample logs)."""
        if self._writer is None:
            self._writer = self._make_writer(log_dir=str(Path(run.path) / "tensorboard"))
        return self._writer

    @hookimpl
    def on_run_start(self, run: Any) -> None:
        from torch.utils.tensorboard.summary import hparams

        writer = self.writer(run)
        config = run.config.to_dict()
        metrics = {f"eval/{key}": 0.0 for key in run.config.eval.anchors}  # the HParams tab lists these beside the config
        experiment, start, self._end = hparams(flatten(config), metrics)
        writer.file_writer.add_summary(experiment)
        writer.file_writer.add_summary(start)
        writer.add_text("config", code_block(json.dumps(config, indent=2)))
        writer.flush()

    @hookimpl
    def on_log(self, run: Any, step: int, logs: dict[str, float]) -> None:
        writer = self.writer(run)
        for key, value in logs.items():
            if key != "step" and not key.startswith("eval/"):  # evaluations arrive through on_evaluation
                writer.add_scalar(f"train/{key}", value, step)
        writer.flush()

    @hookimpl
    def on_evaluation(self, run: Any, step: int, values: dict[str, float], protocols: dict[str, dict[str, Any]]) -> None:
        writer = self.writer(run)
        for key, value in values.items():
            writer.add_scalar(f"eval/{key}", value, step)
        writer.add_text("eval/protocol", code_block(json.dumps(protocols, indent=2, default=str)), step)
        writer.flush()

    @hookimpl
    def on_samples(self, run: Any, step: int, samples: Any, paths: list[Any]) -> None:
        writer = self.writer(run)
        if isinstance(samples, ImageSamples):
            from torchvision.utils import make_grid

            images = samples.images.float().cpu().clamp(0, 1)  # N×C×H×W
            writer.add_image("samples", make_grid(images, nrow=max(1, round(len(images) ** 0.5)), padding=2, pad_value=1.0), step)
        elif isinstance(samples, VideoSamples):  # the frame sheet (time across, clips down): add_video needs moviepy
            from zoo.video import sheet

            writer.add_image("samples", sheet(samples.clips[:MAX_CLIPS]), step)
        elif isinstance(samples, AudioSamples):
            for i, wave in enumerate(samples.waves[:MAX_CLIPS].float().cpu()):
                writer.add_audio(f"samples/{i}", wave.clamp(-1, 1)[None], step, sample_rate=samples.sample_rate)
        elif isinstance(samples, TextSamples):
            writer.add_text("samples", "\n\n".join(code_block(text) for text in samples.texts), step)
        writer.flush()

    @hookimpl
    def on_checkpoint(self, run: Any, step: int, path: Any) -> None:
        self.writer(run).add_text("checkpoints", Path(path).name, step)

    @hookimpl
    def on_run_end(self, run: Any, summary: dict[str, Any]) -> None:
        writer = self.writer(run)
        writer.add_text("summary", code_block(json.dumps(summary, indent=2, default=str)), int(summary.get("step", 0)))
        if self._end is not None:  # closes the HParams session that on_run_start opened
            writer.file_writer.add_summary(self._end)
        writer.flush()


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config -> {"model.ngf": 32, ...} with values TensorBoard's HParams accepts (others as text)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and name.count(".") == 0:
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            out[name] = value
        else:
            out[name] = json.dumps(value, default=str)
    return out


def code_block(text: str) -> str:
    """Markdown that TensorBoard's text tab shows verbatim (indented code)."""
    return "\n".join("    " + line for line in text.splitlines())
