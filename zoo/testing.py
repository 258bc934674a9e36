"""Test helpers for plugin authors: a tiny family to copy from, and the contract every family must pass.

    from zoo.testing import FamilyContract

    class TestMyFamily(FamilyContract):
        preset = "my-preset"          # trained for a few steps with the family's `tiny` overrides
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from torch import Tensor, nn

from zoo.contract import Family, FamilyContext, StepContext
from zoo.hookspecs import hookimpl
from zoo.run import Run
from zoo.samples import ImageSamples, Samples


@dataclass
class TinyConfig:
    init_log_std: float = 0.0


class TinyGaussian(Family):
    """The smallest honest generative model: an independent Gaussian per pixel, fit by maximum likelihood."""

    Config = TinyConfig
    modality = "image"
    tiny: ClassVar[dict[str, Any]] = {}

    def __init__(self, config: TinyConfig, info: dict[str, Any], context: FamilyContext) -> None:
        super().__init__(config, info, context)
        shape = (info["channels"], info["image_size"], info["image_size"])
        self.mean = nn.Parameter(torch.full(shape, 0.5))
        self.log_std = nn.Parameter(torch.full(shape, config.init_log_std))

    def nll(self, batch: dict[str, Tensor]) -> Tensor:
        """Negative log-likelihood of each image, in nats (N): the `LogLikelihood` capability."""
        z = (batch["x"] - self.mean) * torch.exp(-self.log_std)
        return (0.5 * z**2 + self.log_std + 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)

    def train_step(self, batch: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        loss = self.nll(batch).mean() / self.mean.numel()  # nats per pixel
        ctx.update("model", loss)
        return {"loss": loss.detach()}

    def sample(self, n: int, generator: torch.Generator | None = None) -> ImageSamples:
        noise = torch.randn((n, *self.mean.shape), generator=generator, device=self.device)
        return ImageSamples((self.mean + noise * self.log_std.exp()).clamp(0, 1).detach())

    def evaluate(self, ctx: Any) -> dict[str, float]:
        test = ctx.split(self)
        losses = [self.nll(b).mean().item() / self.mean.numel() for b in ctx.batches(test, limit=1000)]
        return {"test_nll_per_pixel": sum(losses) / len(losses)}


class TinyPlugin:
    """A plugin object registering the tiny family and a preset for it; tests register it by hand."""

    @hookimpl
    def register_models(self, register: Any) -> None:
        register("tiny", TinyGaussian)

    @hookimpl
    def register_presets(self, register: Any) -> None:
        register("tiny-mnist", {
            "family": "tiny",
            "description": "per-pixel Gaussian on MNIST (a test model)",
            "data": {"dataset": "mnist", "batch_size": 16, "image_size": 8},
            "train": {"steps": 4, "lr": 0.05, "log_every": 2, "sample_every": 0, "checkpoint_every": 0},
            "eval": {"metrics": ["nll"], "num_samples": 16},
        })


def dataset_installed(name: str) -> bool:
    """Whether dataset `name` is found locally (tests never download; missing optional data skips)."""
    from zoo.data.spec import find_folder
    from zoo.registry import get_catalog

    return find_folder(get_catalog().get("datasets", name).load()) is not None


class FamilyContract:
    """Reusable contract tests. Subclasses set `preset`; the family's `tiny` overrides shrink it to seconds.

    One short run (`steps` steps, logged every step) is trained per class and shared by the checks:
    train/sample/evaluate, the loss falls, a load round-trip, exact resume, and declared conditions.
    """

    preset: ClassVar[str]
    steps: ClassVar[int] = 24
    loss_key: ClassVar[str | None] = None  # the logged value that must fall; default "loss", else the first "loss*" key
    extra_overrides: ClassVar[dict[str, Any]] = {}

    def overrides(self) -> dict[str, Any]:
        from zoo.registry import get_catalog

        family = get_catalog().get("models", get_catalog().preset(self.preset)["family"]).load()
        base = {"train.log_every": 1, "train.sample_every": 0, "train.eval_every": 0, "train.checkpoint_every": 0, "eval.num_samples": 16}
        return {**base, **family.tiny, **self.extra_overrides}

    def train(self, out: Path, steps: int) -> Path:

        import zoo
        from zoo.registry import get_catalog

        dataset = get_catalog().preset(self.preset)["data"]["dataset"]
        if not dataset_installed(dataset):
            pytest.skip(f"dataset {dataset} is not installed here")
        return zoo.train(self.preset, steps=steps, device="cpu", out=out, overrides=self.overrides(), quiet=True).path

    @pytest.fixture(scope="class")
    @classmethod
    def run_dir(cls, tmp_path_factory: pytest.TempPathFactory) -> Path:
        return cls().train(tmp_path_factory.mktemp("contract") / "run", cls.steps)

    def test_train_sample_evaluate(self, run_dir: Path, tmp_path: Path) -> None:
        import zoo

        assert (run_dir / "config.yaml").is_file() and (run_dir / "summary.json").is_file()
        logs = [r for r in Run.open(run_dir).read_metrics() if "eval" not in r]
        assert logs and all(math.isfinite(v) for r in logs for k, v in r.items() if k != "step")
        samples = zoo.sample(run_dir, 3, seed=1)
        assert isinstance(samples, Samples) and len(samples) == 3
        again = zoo.sample(run_dir, 3, seed=1)
        for name, value in samples.arrays().items():
            assert (value == again.arrays()[name]).all(), f"sampling is not reproducible for a seed ({name})"
        if isinstance(samples, ImageSamples):
            assert samples.images.ndim == 4 and 0 <= samples.images.min() and samples.images.max() <= 1
        model = zoo.load(run_dir)
        with torch.enable_grad():
            direct = model.sample(2, generator=torch.Generator().manual_seed(0))
        leaks = [k for k, v in vars(direct).items() if isinstance(v, torch.Tensor) and v.requires_grad]
        assert not leaks, f"sample() builds an autograd graph for {leaks}: decorate it with @torch.no_grad()"
        files = samples.save(tmp_path / "out")
        assert all(f.stat().st_size > 0 for f in files)
        with warnings.catch_warnings():  # 16 samples make feature covariances singular by construction
            warnings.filterwarnings("ignore", message=".*(singular|too few samples).*", category=RuntimeWarning)
            metrics = zoo.evaluate(run_dir, device="cpu", num_samples=16)
        assert isinstance(metrics, dict) and all(isinstance(v, float) for v in metrics.values())

    def test_loss_falls(self, run_dir: Path) -> None:
        """Over the short run, the mean of the last third of the training loss is below the first third's."""
        logs = [r for r in Run.open(run_dir).read_metrics() if "eval" not in r]
        key = self.loss_key or ("loss" if "loss" in logs[0] else next(k for k in logs[0] if k.startswith("loss")))
        values = [r[key] for r in logs if key in r]
        third = max(1, len(values) // 3)
        first, last = sum(values[:third]) / third, sum(values[-third:]) / third
        assert last < first, f"{key} did not fall over {self.steps} tiny steps: {first:.4f} -> {last:.4f}"

    def test_load_round_trip(self, run_dir: Path) -> None:
        """What `zoo.load` returns is exactly the checkpoint: every tensor, and the same samples twice."""
        from safetensors.torch import load_file

        import zoo
        from zoo.checkpoint import latest

        saved = load_file(latest(run_dir) / "model.safetensors")
        model = zoo.load(run_dir, weights="raw")
        state = {k: v for k, v in model.state_dict().items()}
        assert set(saved) <= set(state), f"weights saved but not in the model: {sorted(set(saved) - set(state))[:3]}"
        for key, tensor in saved.items():
            assert torch.equal(state[key], tensor), f"{key} differs after loading"
        first = zoo.sample(run_dir, 2, seed=3, weights="raw").arrays()
        second = zoo.sample(run_dir, 2, seed=3, weights="raw").arrays()
        assert all((first[k] == second[k]).all() for k in first)

    def test_resume_is_exact(self, run_dir: Path, tmp_path: Path) -> None:
        """The same run interrupted halfway (Ctrl-C at a step boundary), then `--resume`d to the end, gives
        bit-identical weights (and EMA) on the CPU."""
        import signal

        from safetensors.torch import load_file

        import zoo
        from zoo.checkpoint import latest
        from zoo.hookspecs import hookimpl
        from zoo.plugins import get_plugin_manager

        half = self.steps // 2

        class CtrlC:
            @hookimpl
            def on_log(self, run: Any, step: int, logs: dict[str, float]) -> None:
                if step == half:
                    signal.raise_signal(signal.SIGINT)

        pm = get_plugin_manager()
        pm.register(CtrlC(), name="contract-ctrl-c")
        try:
            with pytest.raises(KeyboardInterrupt):
                self.train(tmp_path / "part", self.steps)
        finally:
            pm.unregister(name="contract-ctrl-c")
        part = tmp_path / "part"
        assert Run.open(part).summary()["step"] == half
        zoo.train(resume=part, device="cpu", quiet=True)
        for name in ("model.safetensors", "ema.safetensors"):
            if (latest(run_dir) / name).is_file():
                a, b = load_file(latest(run_dir) / name), load_file(latest(part) / name)
                assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f"{name} differs after resume"

    def test_conditions(self, run_dir: Path) -> None:
        """Every declared condition is accepted; an unknown one and an out-of-range label are usage errors."""

        import zoo
        from zoo.capabilities import num_classes
        from zoo.errors import UsageError

        model = zoo.load(run_dir)
        with pytest.raises(UsageError, match="unknown condition"):
            zoo.sample(run_dir, 2, no_such_condition=1)
        for condition in model.conditions:
            for choice in condition.choices:
                assert len(zoo.sample(run_dir, 2, **{condition.name: choice})) > 0
        if any(c.name == "label" for c in model.conditions):
            classes = num_classes(model)
            if classes:
                zoo.sample(run_dir, 2, label=classes - 1)
            with pytest.raises(UsageError):
                zoo.sample(run_dir, 2, label=classes)
