"""The metric machinery without feature networks: the Metric base, the typed evaluation cache, family
protocol fields, capability checks, the shared `nll` metric and the cached-network helper."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from zoo import plugins
from zoo.contract import Family, FamilyContext
from zoo.errors import UsageError, ZooError
from zoo.evaluation import CacheKey, EvalContext, Metric, MetricResult, evaluate_model, load_metric, model_state
from zoo.hookspecs import hookimpl
from zoo.metrics.anchors import metric_directions
from zoo.metrics.baselines import real_config
from zoo.metrics.features import native_split
from zoo.metrics.networks import cached_network
from zoo.registry import get_catalog
from zoo.samples import ImageSamples

PIXELS = 28 * 28


def context() -> FamilyContext:
    return FamilyContext(Path(os.devnull), real_config("mnist", 1, 0).data)


def eval_ctx(n: int) -> EvalContext:
    return EvalContext(real_config("mnist", n, 0), torch.device("cpu"), n, 0)


class Gaussian(Family):
    """One Gaussian for every pixel, N(mean, exp(log_std)²): its nll has a closed form. Counts sample() calls."""

    modality = "image"

    def __init__(self, mean: float = 0.5, log_std: float = 0.0, protocol: dict[str, Any] | None = None) -> None:
        super().__init__(None, {}, context())
        self.mean = nn.Parameter(torch.tensor(mean))
        self.log_std = nn.Parameter(torch.tensor(log_std))
        self.own_protocol = protocol
        self.calls = 0

    def nll(self, batch: dict[str, Tensor]) -> Tensor:
        z = (batch["x"] - self.mean) * torch.exp(-self.log_std)  # N×1×28×28
        return (0.5 * z**2 + self.log_std + 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)  # N nats

    def sample(self, n: int, generator: torch.Generator | None = None) -> ImageSamples:
        self.calls += 1
        noise = torch.randn((n, 1, 28, 28), generator=generator)
        return ImageSamples((self.mean + noise * self.log_std.exp()).clamp(0, 1).detach())

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        if self.own_protocol is None:
            return {}
        ctx.protocol.update(self.own_protocol)
        test = ctx.split(self)
        return {"test_nll": sum(self.nll(b).sum().item() for b in ctx.batches(test, limit=100)) / 100}


# --- the Metric base --------------------------------------------------------


def test_every_registered_metric_is_a_metric_with_declared_directions() -> None:
    for name in get_catalog().metrics:
        metric = load_metric(name)
        assert isinstance(metric, Metric) and metric.name == name
        directions = metric.directions()
        assert directions and all(isinstance(v, bool) for v in directions.values()), name
    assert metric_directions(["fid", "kid", "precision_recall", "nll"]) == {
        "fid": False, "kid": False, "precision": True, "recall": True, "density": True, "coverage": True,
        "nll": False, "bits_per_dim": False,
    }


def test_a_metric_must_declare_its_attributes() -> None:
    with pytest.raises(TypeError, match="higher_is_better"):
        class Undirected(Metric):  # noqa: F841
            name, version, modalities = "undirected", "1", ("image",)


def test_a_registered_object_that_is_not_a_metric_is_named() -> None:
    class Loose:
        name, version, modalities = "loose", "1", ("image",)

        def compute(self, model: Any, ctx: Any) -> MetricResult:
            return MetricResult({})

    class Plugin:
        @hookimpl
        def register_metrics(self, register: Any) -> None:
            register("loose", Loose())

    plugins.reset()
    try:
        plugins.get_plugin_manager().register(Plugin(), name="loose-plugin")
        with pytest.raises(ZooError, match="metric 'loose' from plugin 'loose-plugin' is a Loose, not a zoo.evaluation.Metric"):
            load_metric("loose")
    finally:
        plugins.reset()


# --- the evaluation cache ---------------------------------------------------


def test_samples_belong_to_one_model_state() -> None:
    """The trainer evaluates with one context every eval_every steps: samples must follow the weights."""
    model, ctx = Gaussian(), eval_ctx(8)
    evaluate_model(model, ctx, [], step=10)
    first = ctx.samples(model)
    assert ctx.samples(model) is first and model.calls == 1  # every metric of an evaluation shares them
    split = ctx.raw_split("test")

    with torch.no_grad():
        model.mean += 0.1  # a training step
    evaluate_model(model, ctx, [], step=20)
    second = ctx.samples(model)
    assert model.calls == 2 and not torch.equal(first.images, second.images)
    assert {k.state for k in ctx.cache if k.state is not None} == {ctx.state}  # the old state's entries are gone
    assert ctx.raw_split("test") is split  # data does not depend on the model: it stays

    evaluate_model(model, ctx, [], step=20)  # the same weights again: nothing to redraw
    assert ctx.samples(model) is second and model.calls == 2
    with torch.no_grad():
        model.log_std -= 1.0  # same step, other weights (raw vs EMA): another state
    evaluate_model(model, ctx, [], step=20)
    ctx.samples(model)
    assert model.calls == 3 and ctx.state.step == 20


def test_model_state_covers_buffers_and_cache_keys_are_typed() -> None:
    a, b = Gaussian(), Gaussian()
    assert model_state(a) == model_state(b)
    b.register_buffer("seen", torch.zeros(2))
    assert model_state(a) != model_state(b)
    ctx = eval_ctx(4)
    with pytest.raises(TypeError, match="CacheKey"):
        ctx.cached("samples:4", lambda: None)  # type: ignore[arg-type]
    assert ctx.cached(CacheKey("x", "y"), lambda: 1) == 1 and ctx.cached(CacheKey("x", "y"), lambda: 2) == 1


def test_a_metric_computed_directly_sees_fresh_samples_per_model() -> None:
    """Outside evaluate_model (tests call metric.compute), a new model object starts a new state."""
    ctx = eval_ctx(4)
    a, b = Gaussian(0.2), Gaussian(0.8)
    assert not torch.equal(ctx.samples(a).images, ctx.samples(b).images)


# --- the family's own protocol ----------------------------------------------


def test_a_family_adds_protocol_fields() -> None:
    ctx = eval_ctx(4)
    own = evaluate_model(Gaussian(protocol={"images": 100, "seed": "mine"}), ctx, [])["real"]
    assert own.values.keys() == {"test_nll"}
    assert own.protocol["split"] == "test" and own.protocol["images"] == 100
    assert own.protocol["seed"] == 0 and own.protocol["values"] == ["test_nll"] and "seconds" in own.protocol  # the core's fields win
    again = evaluate_model(Gaussian(protocol={}), ctx, [])["real"]
    assert "images" not in again.protocol  # fields are per evaluation


# --- capabilities -----------------------------------------------------------


@pytest.mark.parametrize("metric, capability", [
    ("label_accuracy", "Conditional"), ("psnr", "Reconstructs"), ("ssim", "Reconstructs"), ("nll", "LogLikelihood"),
])
def test_a_missing_capability_is_named(metric: str, capability: str) -> None:
    class Plain(Family):
        modality = "image"

    with pytest.raises(UsageError, match=f"zoo.capabilities.{capability}.*drop (it|them) from --metrics"):
        evaluate_model(Plain(None, {}, context()), eval_ctx(4), [metric])


# --- nll --------------------------------------------------------------------


def test_nll_is_the_gaussian_log_density_of_the_test_items() -> None:
    mean, log_std, n = 0.4, -1.0, 1000
    result = evaluate_model(Gaussian(mean, log_std), eval_ctx(n), ["nll"])["nll"]
    x = native_split("mnist", "test").fields["x"][torch.arange(n) * 10].double() / 255  # every 10th of 10,000
    per_item = (0.5 * ((x - mean) / math.exp(log_std)) ** 2).flatten(1).sum(1) + PIXELS * (log_std + 0.5 * math.log(2 * math.pi))
    expected = per_item.mean().item()
    assert result.values["nll"] == pytest.approx(expected, rel=1e-6)
    assert result.values["bits_per_dim"] == pytest.approx(expected / (PIXELS * math.log(2)), rel=1e-6)
    assert result.protocol["num_items"] == n and result.protocol["stride"] == 10 and result.protocol["dims"] == PIXELS
    assert result.protocol["split"] == "test" and result.protocol["metric"] == "nll"


def test_nll_of_one_bit_per_pixel_is_one_bit_per_dim() -> None:
    class Coin(Gaussian):
        def nll(self, batch: dict[str, Tensor]) -> Tensor:
            return torch.full((len(batch["x"]),), PIXELS * math.log(2))

    values = evaluate_model(Coin(), eval_ctx(300), ["nll"])["nll"].values
    assert values == {"nll": pytest.approx(PIXELS * math.log(2)), "bits_per_dim": pytest.approx(1.0)}


def test_nll_must_return_one_value_per_item() -> None:
    class Mean(Gaussian):
        def nll(self, batch: dict[str, Tensor]) -> Tensor:
            return super().nll(batch).mean()

    with pytest.raises(UsageError, match="one value per item"):
        evaluate_model(Mean(), eval_ctx(4), ["nll"])


# --- the cached feature-network helper --------------------------------------


def test_cached_network_trains_once_and_checks_its_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path))
    trained = []

    def train() -> nn.Linear:
        trained.append(1)
        torch.manual_seed(len(trained))
        return nn.Linear(3, 2)

    def get() -> Any:
        return cached_network("toy-0123", lambda: nn.Linear(3, 2), train, lambda net: {"test_accuracy": 0.5}, title="toy network", quiet=True)

    first = get()
    assert first.weights == tmp_path / "features" / "toy-0123.safetensors" and not first.net.training
    card = json.loads(first.weights.with_suffix(".json").read_text())
    assert card["test_accuracy"] == 0.5 and len(card["weights_sha256"]) == 64 and "train_seconds" in card
    second = get()
    assert len(trained) == 1 and torch.equal(first.net.weight, second.net.weight) and second.card == card

    first.weights.write_bytes(first.weights.read_bytes()[:-1] + b"\0")  # one damaged byte
    with pytest.raises(ZooError, match="toy network .* does not match the sha256 in toy-0123.json.*delete both files"):
        get()
    first.weights.unlink()
    get()  # a missing file retrains
    assert len(trained) == 2


def test_cached_network_refuses_weights_of_another_shape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path))
    cached_network("toy", lambda: nn.Linear(3, 2), lambda: nn.Linear(3, 2), quiet=True)
    with pytest.raises(ZooError, match="does not fit its network"):
        cached_network("toy", lambda: nn.Linear(4, 2), lambda: nn.Linear(4, 2), quiet=True)
