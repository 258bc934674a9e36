"""The built-in TensorBoard logger and the logger hooks: switched on per run, fed by training,
`zoo evaluate` and `zoo sample`, and a logger that raises is disabled with one warning while training goes on."""
from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner

import zoo
from zoo import plugins
from zoo.cli import cli
from zoo.hookspecs import hookimpl
from zoo.samples import AudioSamples, TextSamples

TINY = {"train.steps": 4, "train.log_every": 2, "train.sample_every": 2, "train.checkpoint_every": 2, "train.eval_every": 2}


@pytest.fixture(scope="module")
def logged(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("tb") / "run"
    run = zoo.train("tiny-mnist", out=out, device="cpu", quiet=True, overrides=TINY, loggers=["tensorboard"])
    zoo.evaluate(run.path, metrics=[], device="cpu")  # `zoo evaluate` logs too
    result = CliRunner().invoke(cli, ["sample", str(run.path), "-n", "4", "--out", str(out.parent / "grid.png")])
    assert result.exit_code == 0, result.output
    return run.path


def events(folder: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "audio": 0, "tensors": 0})
    acc.Reload()
    return acc


def test_training_evaluation_and_sampling_reach_tensorboard(logged):
    acc = events(logged / "tensorboard")
    tags = acc.Tags()
    assert [e.step for e in acc.Scalars("train/loss")] == [2, 4]
    assert [e.step for e in acc.Scalars("eval/test_nll_per_pixel")] == [2, 4, 4]  # two in training, one from zoo evaluate
    assert [e.step for e in acc.Images("samples")] == [2, 4, 4]  # two previews, then `zoo sample --out`
    assert set(acc.PluginTagToContent("text")) == {f"{t}/text_summary" for t in ("config", "checkpoints", "eval/protocol", "summary")}
    assert {"_hparams_/experiment", "_hparams_/session_start_info", "_hparams_/session_end_info"} <= set(acc.PluginTagToContent("hparams"))
    assert "eval/test_nll_per_pixel" not in {t for t in tags["scalars"] if t.startswith("train/")}
    assert Path(logged, "config.yaml").read_text().count("- tensorboard") == 1  # the switch is part of the run


def test_audio_and_text_samples(tmp_path):
    from zoo_tensorboard.logger import TensorBoardLogger

    run = SimpleNamespace(path=tmp_path)
    logger = TensorBoardLogger()
    logger.on_samples(run=run, step=3, samples=AudioSamples(torch.linspace(-1, 1, 800).repeat(2, 1), 8000), paths=[])
    logger.on_samples(run=run, step=3, samples=TextSamples(["to be", "or not"]), paths=[])
    acc = events(tmp_path / "tensorboard")
    assert sorted(acc.Tags()["audio"]) == ["samples/0", "samples/1"] and list(acc.PluginTagToContent("text")) == ["samples/text_summary"]


def test_unknown_logger_lists_the_installed_ones(tmp_path):
    result = CliRunner().invoke(cli, ["train", "gan-mnist-quick", "--logger", "nosuch", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "Error: unknown logger 'nosuch'; installed loggers: mlflow, tensorboard, wandb" in result.output
    assert not (tmp_path / "run").exists()  # refused before any work


class Broken:
    """A logger whose on_log raises; its other hooks count their calls."""

    calls: list[str] = []

    @hookimpl
    def on_log(self, run, step, logs):
        raise RuntimeError("service unreachable")

    @hookimpl
    def on_checkpoint(self, run, step, path):
        Broken.calls.append("checkpoint")


class Counting:
    seen: list[int] = []

    @hookimpl
    def on_log(self, run, step, logs):
        Counting.seen.append(step)


class Loggers:
    @hookimpl
    def register_loggers(self, register):
        register("broken", Broken)
        register("counting", Counting)


def test_a_logger_that_raises_is_reported_once_and_disabled(tiny, tmp_path):
    plugins.get_plugin_manager().register(Loggers(), name="loggers")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run = zoo.train("tiny-mnist", out=tmp_path / "run", device="cpu", quiet=True, overrides={**TINY, "train.eval_every": 0}, loggers=["broken", "counting"])
    finally:
        plugins.get_plugin_manager().unregister(name="loggers")
    assert run.summary()["status"] == "finished"
    lines = [str(w.message) for w in caught if "disabled" in str(w.message)]
    assert lines == ["zoo plugin 'logger:broken' disabled: its on_log raised RuntimeError: service unreachable"]
    assert Broken.calls == [] and Counting.seen == [2, 4]  # unregistered at once; the other logger kept going
    assert not plugins.get_plugin_manager().has_plugin("logger:counting")  # loggers live as long as their run


def test_zoo_plugins_shows_the_logger_hooks():
    result = CliRunner().invoke(cli, ["plugins"])
    assert "tensorboard" in result.output and "hooks: register_loggers" in result.output
