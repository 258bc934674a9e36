"""The trainer's contract-v2 duties: step-atomic interrupts, failed steps, NaN stops, EMA, phases and
gradient accumulation, on tiny seeded families registered by a mock plugin."""
from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
import torch
from safetensors.torch import load_file
from torch import Tensor, nn

import zoo
from zoo import api, checkpoint, plugins
from zoo.contract import Family, FamilyContext, StepContext
from zoo.errors import UsageError
from zoo.hookspecs import hookimpl
from zoo.run import Run
from zoo.samples import ImageSamples
from zoo.testing import TinyPlugin
from zoo.trainer import NonFiniteLoss

QUIET = {"device": "cpu", "quiet": True}


@dataclass
class TwoPartConfig:
    nan_at: int = -1  # step whose loss is made NaN (-1: never)
    fail_at: int = -1  # step whose train_step raises (-1: never)
    twice: bool = False  # update each optimizer twice per train_step


class TwoPart(Family):
    """Two scalar parameters, each fit to the batch mean by its own optimizer: phases train them in turn."""

    Config = TwoPartConfig
    modality = "image"
    tiny: ClassVar[dict[str, Any]] = {}

    def __init__(self, config: TwoPartConfig, info: dict[str, Any], context: FamilyContext) -> None:
        super().__init__(config, info, context)
        self.a, self.b = nn.Parameter(torch.zeros(())), nn.Parameter(torch.zeros(()))

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"a": [self.a], "b": [self.b]}

    def train_step(self, batch: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        if ctx.step == self.config.fail_at:
            raise RuntimeError("boom")
        target = batch["x"].mean()
        logs = {}
        for name in ctx.active:
            loss = (getattr(self, name) - target) ** 2
            if ctx.step == self.config.nan_at:
                loss = loss * float("nan")
            ctx.update(name, loss)
            if self.config.twice:
                ctx.update(name, (getattr(self, name) - target) ** 2)
            logs[f"loss_{name}"] = loss.detach()
        return logs

    def sample(self, n: int, generator: torch.Generator | None = None) -> ImageSamples:
        return ImageSamples((self.a + self.b).detach().clamp(0, 1).expand(n, 1, 8, 8).clone())


class TrainerPlugin(TinyPlugin):
    @hookimpl
    def register_models(self, register: Any) -> None:
        register("tiny", zoo.testing.TinyGaussian)
        register("twopart", TwoPart)

    @hookimpl
    def register_presets(self, register: Any) -> None:
        super().register_presets(register)
        register("twopart-mnist", {
            "family": "twopart", "data": {"dataset": "mnist", "batch_size": 16, "image_size": 8},
            "train": {"steps": 8, "lr": 0.05, "log_every": 1, "sample_every": 0, "checkpoint_every": 2, "keep_checkpoints": 10},
            "eval": {"metrics": [], "num_samples": 16},
        })


@pytest.fixture
def registered():
    plugins.reset()
    plugins.get_plugin_manager().register(TrainerPlugin(), name="trainer-test")
    yield
    plugins.reset()


def weights(run_dir) -> dict[str, Tensor]:
    folder = checkpoint.latest(run_dir)
    out = load_file(folder / "model.safetensors")
    if checkpoint.has_ema(folder):
        out.update({f"ema.{k}": v for k, v in load_file(folder / "ema.safetensors").items()})
    return out


def assert_same(a: dict[str, Tensor], b: dict[str, Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_grad_accumulation_equals_a_larger_batch(tmp_path, registered):
    accum = zoo.train("tiny-mnist", steps=5, out=tmp_path / "a", overrides={"data.batch_size": 8, "train.grad_accum": 4}, **QUIET)
    large = zoo.train("tiny-mnist", steps=5, out=tmp_path / "b", overrides={"data.batch_size": 32}, **QUIET)
    small = zoo.train("tiny-mnist", steps=5, out=tmp_path / "c", overrides={"data.batch_size": 8}, **QUIET)
    a, b, c = weights(accum.path), weights(large.path), weights(small.path)
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=0)
    assert not torch.allclose(a["mean"], c["mean"], atol=1e-6)


def test_phases_train_only_their_optimizers_with_their_own_schedule(tmp_path, registered):
    phases = [{"name": "first", "steps": 3, "optimizers": ["a"]}, {"name": "second", "optimizers": ["b"], "lr": 0.1, "schedule": "linear"}]
    run = zoo.train("twopart-mnist", steps=8, out=tmp_path / "r", overrides={"train.phases": phases, "train.checkpoint_every": 1}, **QUIET)
    folders = sorted((run.path / "checkpoints").glob("step_*"))
    at = {int(f.name[5:]): load_file(f / "model.safetensors") for f in folders}
    assert at[3]["b"] == 0 and at[3]["a"] != 0  # phase "first" moved only a
    assert at[8]["a"] == at[3]["a"] and at[8]["b"] != 0  # phase "second" moved only b
    logs = {r["step"]: r for r in Run.open(run.path).read_metrics()}
    assert "loss_b" not in logs[3] and "loss_a" not in logs[4]
    assert logs[4]["lr"] == pytest.approx(0.1) and logs[8]["lr"] == pytest.approx(0.1 * 1 / 5)  # linear decay over its 5 steps


def test_phases_naming_an_unknown_optimizer_is_a_usage_error(tmp_path, registered):
    with pytest.raises(UsageError, match="optimizers are a, b"):
        zoo.train("twopart-mnist", out=tmp_path / "r", overrides={"train.phases": [{"name": "x", "optimizers": ["c"]}]}, **QUIET)


def test_a_last_phase_left_without_steps_is_a_usage_error(tmp_path, registered):
    phases = [{"name": "first", "steps": 8, "optimizers": ["a"]}, {"name": "second", "optimizers": ["b"]}]
    with pytest.raises(UsageError, match=r"\(second\) gets no steps: the phases before it take 8 of the run's 8"):
        zoo.train("twopart-mnist", steps=8, out=tmp_path / "r", overrides={"train.phases": phases}, **QUIET)
    with pytest.raises(UsageError, match=r"train.phases\[0\] is .*at least a name and its optimizers"):
        zoo.train("twopart-mnist", steps=8, out=tmp_path / "s", overrides={"train.phases": [{"steps": 3}]}, **QUIET)


def test_two_updates_of_one_optimizer_under_accumulation_are_a_usage_error(tmp_path, registered):
    zoo.train("twopart-mnist", steps=2, out=tmp_path / "ok", overrides={"model.twice": True}, **QUIET)  # fine without accumulation
    with pytest.raises(UsageError, match="optimizer 'a' was updated twice in one train_step"):
        zoo.train("twopart-mnist", steps=2, out=tmp_path / "r", overrides={"model.twice": True, "data.batch_size": 8, "train.grad_accum": 2}, **QUIET)


def test_ema_switched_on_at_resume_starts_at_the_restored_weights(tmp_path, registered):
    part = zoo.train("tiny-mnist", steps=3, out=tmp_path / "r", overrides={"train.checkpoint_every": 3}, **QUIET)
    restored = weights(part.path)
    zoo.train(resume=part.path, steps=4, overrides={"train.ema_decay": 0.5}, **QUIET)
    after = weights(part.path)
    for key in ("mean", "log_std"):  # one step of EMA from the restored weights toward the new ones
        torch.testing.assert_close(after[f"ema.{key}"], 0.5 * restored[key] + 0.5 * after[key])


def test_nan_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path, registered):
    with pytest.raises(NonFiniteLoss, match=r"loss_a became nan at step 5; the last good checkpoint is step_0000004"):
        zoo.train("twopart-mnist", out=tmp_path / "r", overrides={"model.nan_at": 5, "train.log_every": 3}, **QUIET)
    assert checkpoint.latest(tmp_path / "r").name == "step_0000004"
    assert Run.open(tmp_path / "r").summary()["status"] == "failed"


def test_a_step_that_raises_never_moves_latest(tmp_path, registered):
    straight = zoo.train("twopart-mnist", steps=8, out=tmp_path / "straight", **QUIET)
    with pytest.raises(RuntimeError, match="boom"):
        zoo.train("twopart-mnist", out=tmp_path / "r", steps=8, overrides={"model.fail_at": 5}, **QUIET)
    assert checkpoint.latest(tmp_path / "r").name == "step_0000004"
    run = Run.open(tmp_path / "r")
    run.config.model.fail_at = -1
    run.save_config()
    zoo.train(resume=run.path, **QUIET)
    assert_same(weights(run.path), weights(straight.path))


def test_ema_is_saved_used_for_sampling_and_resumed_exactly(tmp_path, registered):
    over = {"train.ema_decay": 0.8, "train.checkpoint_every": 3, "data.batch_size": 8}
    straight = zoo.train("tiny-mnist", steps=6, out=tmp_path / "straight", overrides=over, **QUIET)
    part = zoo.train("tiny-mnist", steps=3, out=tmp_path / "part", overrides=over, **QUIET)
    zoo.train(resume=part.path, steps=6, **QUIET)
    assert_same(weights(part.path), weights(straight.path))
    ema, raw = api.load(straight.path), api.load(straight.path, weights="raw")
    assert (ema.weights, raw.weights) == ("ema", "raw")
    assert torch.equal(ema.mean, weights(straight.path)["ema.mean"]) and not torch.equal(ema.mean, raw.mean)
    assert zoo.sample(straight.path, 2, weights="raw").meta["weights"] == "raw"


def interrupt_on_call(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, call: int) -> None:
    """Make the `call`-th call of `owner.name` deliver SIGTERM to this process in its middle."""
    original, calls = getattr(owner, name), {"n": 0}

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == call:
            signal.raise_signal(signal.SIGTERM)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapped)


def test_a_nan_before_an_interrupt_fails_the_run_instead_of_being_saved(tmp_path, registered, monkeypatch):
    interrupt_on_call(monkeypatch, TwoPart, "train_step", call=7)
    with pytest.raises(NonFiniteLoss, match="loss_a became nan at step 5; no checkpoint was written"):
        zoo.train("twopart-mnist", out=tmp_path / "r", overrides={"model.nan_at": 5, "train.log_every": 100, "train.checkpoint_every": 0}, **QUIET)
    assert checkpoint.latest(tmp_path / "r") is None and Run.open(tmp_path / "r").summary()["status"] == "failed"


@pytest.mark.parametrize("where", ["step", "preview", "evaluation", "checkpoint", "log"])
def test_sigterm_anywhere_stops_at_a_step_boundary_and_resumes_exactly(tmp_path, registered, monkeypatch, where):
    over = {"data.batch_size": 8, "train.checkpoint_every": 3, "train.sample_every": 2, "train.eval_every": 2, "train.ema_decay": 0.5}
    straight = zoo.train("tiny-mnist", steps=9, out=tmp_path / "straight", overrides=over, **QUIET)
    target = {"step": (zoo.testing.TinyGaussian, "train_step"), "preview": (api, "preview"), "evaluation": (api, "evaluate_model"),
              "checkpoint": (checkpoint, "save_model"), "log": (Run, "log")}[where]
    with monkeypatch.context() as patch:
        interrupt_on_call(patch, *target, call=2)
        with pytest.raises(KeyboardInterrupt):
            zoo.train("tiny-mnist", steps=9, out=tmp_path / "cut", overrides=over, **QUIET)
    cut = Run.open(tmp_path / "cut")
    assert cut.summary()["status"] == "interrupted" and 0 < cut.summary()["step"] < 9
    assert checkpoint.latest(cut.path).name == f"step_{cut.summary()['step']:07d}"
    zoo.train(resume=cut.path, **QUIET)
    assert_same(weights(cut.path), weights(straight.path))


def test_sigterm_at_many_moments_to_a_real_zoo_train_resumes_bit_identical(tmp_path):
    """A scheduler's SIGTERM to a real `zoo train` process while it writes a preview, while it writes a
    checkpoint, while it evaluates, and at random moments: each run stops at a step boundary and
    `--resume` ends bit-identical to a straight run."""
    import random
    import subprocess
    import sys
    import time

    sets = {"model.nz": 8, "model.ngf": 4, "model.ndf": 4, "data.batch_size": 8, "train.log_every": 1, "train.checkpoint_every": 7,
            "train.sample_every": 5, "train.num_preview": 16, "train.eval_every": 10, "eval.metrics": ["kid"], "eval.num_samples": 32}
    steps = 24
    straight = zoo.train("gan-mnist-quick", steps=steps, out=tmp_path / "straight", device="cpu", quiet=True, overrides=sets)
    args = ["gan-mnist-quick", "--steps", str(steps), "--device", "cpu", "--quiet"]
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]

    def logged_step(out, step):  # the log line of `step` is written just before its evaluation starts
        file = out / "metrics.jsonl"
        return file.exists() and f'"step": {step},' in file.read_text()

    rng = random.Random(0)
    moments = {
        "preview": lambda out: (out / "samples").is_dir() and any((out / "samples").iterdir()),
        "checkpoint": lambda out: (out / "checkpoints").is_dir() and any((out / "checkpoints").glob(".tmp_*")),
        "evaluation": lambda out: logged_step(out, 10),
        "random-1": lambda out: (out / "metrics.jsonl").exists() and time.sleep(rng.uniform(0, 0.8)) is None,
        "random-2": lambda out: (out / "metrics.jsonl").exists() and time.sleep(rng.uniform(0, 0.8)) is None,
    }
    stopped = {}
    for name, ready in moments.items():
        out = tmp_path / name
        proc = subprocess.Popen([sys.executable, "-m", "zoo", "train", *args, "--out", str(out)], stderr=subprocess.PIPE, text=True)
        while proc.poll() is None and not ready(out):
            time.sleep(0.002)
        proc.send_signal(signal.SIGTERM)
        stderr = proc.communicate(timeout=120)[1]
        summary = Run.open(out).summary()
        assert summary["status"] in ("interrupted", "finished"), stderr
        stopped[name] = summary["step"]
        if summary["status"] == "interrupted":
            assert "interrupted; checkpoint" in stderr and "Traceback" not in stderr, stderr
            assert checkpoint.latest(out).name == f"step_{summary['step']:07d}"
            zoo.train(resume=out, device="cpu", quiet=True)
        assert_same(weights(out), weights(straight.path))
    assert sum(step < steps for step in stopped.values()) >= 4, f"too few runs were interrupted: {stopped}"
