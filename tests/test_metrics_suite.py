"""The metric suite end to end: feature networks, real-vs-real floors, label accuracy, reconstruction and
text metrics, `zoo evaluate` options (--real, --features, --check) and their errors.

The domain feature networks are trained once per checkout with their real recipe (tests/conftest.py
points ZOO_CACHE_DIR at .pytest_cache/zoo-cache); the first run of this file pays for that.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from zoo.cli import cli
from zoo.contract import Family, FamilyContext
from zoo.errors import UsageError
from zoo.evaluation import EvalContext, evaluate_model
from zoo.metrics.anchors import check_anchors, parse_anchors
from zoo.metrics.baselines import RealImages, real_baselines, real_config
from zoo.data.spec import cache_dir
from zoo.metrics.features import Recipe, accuracy, data_checksum, domain_features, native_split, train_feature_net
from zoo.metrics.networks import SHIPPED
from zoo.samples import ImageSamples, TextSamples
from zoo.testing import dataset_installed


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("dataset, floor", [("mnist", 0.99), ("fashion-mnist", 0.90)])
def test_feature_network_accuracy(dataset: str, floor: float) -> None:
    if not dataset_installed(dataset):
        pytest.skip(f"dataset {dataset} is not installed here (Debian: dataset-fashion-mnist)")
    net = domain_features(dataset)  # the copy zoo ships (or the cache's, or trained with the real recipe)
    test = native_split(dataset, "test")
    measured = accuracy(net.net, test.fields["x"], test.fields["y"])
    assert measured >= floor, f"{dataset} feature network: test accuracy {measured:.4f} < {floor}"
    assert measured == pytest.approx(net.card["test_accuracy"], abs=1e-6)
    card = json.loads(net.weights.with_suffix(".json").read_text())
    assert net.weights.parent in (cache_dir() / "features", SHIPPED) and net.weights.name.startswith(f"{dataset}-")
    assert card["weights_sha256"].startswith(net.checksum) and card["data_sha256"] == data_checksum(*native_split(dataset, "train").fields.values())


def test_feature_training_is_deterministic_and_takes_a_budget() -> None:
    train = native_split("mnist", "train")
    x, y = train.fields["x"][:512], train.fields["y"][:512]
    a = train_feature_net(x, y, Recipe(max_steps=3, batch_size=64))
    b = train_feature_net(x, y, Recipe(max_steps=3, batch_size=64))
    c = train_feature_net(x, y, Recipe(max_steps=3, batch_size=64, seed=1))
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert not torch.equal(a.fc.weight, c.fc.weight)
    assert int(a.bn1.num_batches_tracked) == 3  # the budget: 3 steps, not 3 epochs


def image_ctx(images: torch.Tensor, n: int, seed: int = 0) -> tuple[RealImages, EvalContext]:
    """A stand-in model whose samples are `images`, with an evaluation context on MNIST's test split."""
    config = real_config("mnist", n, seed)
    return RealImages(images, config.data), EvalContext(config, torch.device("cpu"), n, seed)


def mnist_context() -> FamilyContext:
    """What a test-local family gets at construction: MNIST at its native size, no assets."""
    return FamilyContext(Path(os.devnull), real_config("mnist", 1, 0).data)


def test_real_vs_real_fid_is_small_and_noise_fid_is_large() -> None:
    real = real_baselines("mnist", ["fid", "kid", "precision_recall", "inception_score"], num_samples=2000)
    noise_model, ctx = image_ctx(torch.randint(0, 256, (2000, 1, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8), 2000)
    noise = evaluate_model(noise_model, ctx, ["fid", "precision_recall"])
    assert real["fid"].values["fid"] * 50 < noise["fid"].values["fid"]
    real_pr, noise_pr = real["precision_recall"].values, noise["precision_recall"].values
    assert min(real_pr.values()) > 0.8
    # Smoothed noise lands inside a few outlying real balls (precision 0.34), but it covers nothing
    # of the real manifold.
    assert noise_pr["recall"] < 0.01 and noise_pr["coverage"] < 0.01 and noise_pr["density"] < real_pr["density"] / 2
    assert real["inception_score"].values["inception_score"] > 8  # confident over 10 balanced classes
    assert abs(real["kid"].values["kid"]) < 0.05
    proto = real["fid"].protocol
    assert proto["reference"] == "mnist:test" and proto["reference_size"] == 28
    assert proto["num_real"] == 10000 and proto["num_generated"] == 2000
    assert proto["seed"] == 0 and proto["version"] == "1" and len(proto["feature_checksum"]) == 16


def test_a_run_at_another_size_is_held_to_the_same_floor() -> None:
    """A model of 32×32 MNIST is compared with the test split at 32×32, both resized to 28 the same way;
    resizing only the generated images would cost a perfect model the 28 -> 32 -> 28 round trip."""
    native = real_baselines("mnist", ["fid"], num_samples=2000)["fid"]
    at_32 = real_baselines("mnist", ["fid"], num_samples=2000, image_size=32)["fid"]
    assert at_32.values["fid"] < 2 * native.values["fid"] and at_32.protocol["reference_size"] == 32


def test_a_reused_context_scores_the_model_it_is_given() -> None:
    """The trainer evaluates every eval_every steps with one context: features must not go stale."""
    test = native_split("mnist", "test").fields["x"]
    ctx = EvalContext(real_config("mnist", 500, 0), torch.device("cpu"), 500, 0)
    close = evaluate_model(RealImages(test[:500], ctx.config.data), ctx, ["fid"])["fid"].values["fid"]
    with pytest.warns(RuntimeWarning, match="regularised"):  # blank images: a singular covariance
        far = evaluate_model(RealImages(torch.zeros_like(test[:500]), ctx.config.data), ctx, ["fid"])["fid"].values["fid"]
    assert far > 10 * close


class ImagesByLabel(Family):
    """A 'class-conditional model' that returns real test images of the asked-for label."""

    modality = "image"
    num_classes = 10

    def __init__(self) -> None:
        super().__init__(None, {}, mnist_context())
        test = native_split("mnist", "test")
        self.by_label = [test.fields["x"][test.fields["y"] == k] for k in range(10)]
        self.taken = [0] * 10

    def sample(self, n: int, generator: torch.Generator | None = None, label: int | None = None) -> ImageSamples:
        start = self.taken[label]
        self.taken[label] += n
        return ImageSamples(self.by_label[label][start : start + n].float() / 255)


def test_label_accuracy_of_the_real_test_set_is_the_classifier_accuracy() -> None:
    n = 2000
    ctx = EvalContext(real_config("mnist", n, 0), torch.device("cpu"), n, 0)
    result = evaluate_model(ImagesByLabel(), ctx, ["label_accuracy"])["label_accuracy"]
    assert result.values["label_accuracy"] == pytest.approx(result.protocol["feature_test_accuracy"], abs=0.01)


def test_sample_confidence_of_real_digits_is_the_ceiling_and_one_digit_has_no_coverage() -> None:
    test = native_split("mnist", "test")
    model, ctx = image_ctx(test.fields["x"][:2000], 2000)
    real = evaluate_model(model, ctx, ["sample_confidence"])["sample_confidence"].values
    assert real["sample_confidence"] == pytest.approx(real["real_confidence"], abs=0.01) and real["real_confidence"] > 0.98
    assert real["class_coverage"] > 0.99 and real["max_class_share"] < 0.13
    ones = test.fields["x"][test.fields["y"] == 1][:500]
    model, ctx = image_ctx(ones, 500)
    single = evaluate_model(model, ctx, ["sample_confidence"])["sample_confidence"].values
    assert single["max_class_share"] > 0.98 and single["class_coverage"] < 0.1


def test_label_accuracy_refuses_unconditional_models() -> None:
    model, ctx = image_ctx(torch.zeros(4, 1, 28, 28, dtype=torch.uint8), 4)
    with pytest.raises(UsageError, match="class-conditional"):
        evaluate_model(model, ctx, ["label_accuracy"])


class Reconstructor(Family):
    modality = "image"

    def __init__(self, noise: float) -> None:
        super().__init__(None, {}, mnist_context())
        self.noise = noise

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.noise * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))


def test_psnr_ssim_of_reconstructions() -> None:
    ctx = EvalContext(real_config("mnist", 64, 0), torch.device("cpu"), 64, 0)
    perfect = evaluate_model(Reconstructor(0.0), ctx, ["psnr", "ssim"])
    assert perfect["psnr"].values["psnr"] == 100.0 and perfect["ssim"].values["ssim"] == pytest.approx(1.0)
    ctx = EvalContext(real_config("mnist", 64, 0), torch.device("cpu"), 64, 0)
    noisy = evaluate_model(Reconstructor(0.1), ctx, ["psnr", "ssim"])
    assert 15 < noisy["psnr"].values["psnr"] < 30 and noisy["ssim"].values["ssim"] < 0.9
    assert noisy["psnr"].protocol["num_real"] == 64
    with pytest.raises(UsageError, match="reconstruct"):
        model, ctx = image_ctx(torch.zeros(4, 1, 28, 28, dtype=torch.uint8), 4)
        evaluate_model(model, ctx, ["psnr"])


class Parrot(Family):
    modality = "text"

    def sample(self, n: int, generator: torch.Generator | None = None) -> TextSamples:
        return TextSamples(["the cat sat on the mat"] * n)


def test_distinct_n() -> None:
    ctx = EvalContext(real_config("mnist", 3, 0), torch.device("cpu"), 3, 0)
    values = evaluate_model(Parrot(None, {}, mnist_context()), ctx, ["distinct_n"])["distinct_n"].values
    assert values == {"distinct_1": 5 / 18, "distinct_2": 5 / 15, "distinct_3": 4 / 12}


def test_anchor_directions_and_misses() -> None:
    anchors = parse_anchors({"fid": {"value": 10, "tolerance": 2, "budget": "2k steps"}, "precision": {"value": 0.8, "tolerance": 0.05}}, {"fid": False, "precision": True})
    assert check_anchors(anchors, {"fid": 11.9, "precision": 0.76}) == []
    misses = check_anchors(anchors, {"fid": 12.5, "precision": 0.7})
    assert len(misses) == 2 and misses[0].startswith("fid = 12.5") and misses[1].startswith("precision = 0.7")
    assert "not computed" in check_anchors(anchors, {"fid": 1.0})[0]
    with pytest.raises(UsageError, match="higher_is_better"):
        parse_anchors({"test_elbo": {"value": 1}}, {})
    with pytest.raises(UsageError, match="tolerance"):
        parse_anchors({"fid": {"value": 1, "tolerance": "x"}}, {"fid": False})


def test_evaluate_real_prints_the_floors() -> None:
    result = run_cli("evaluate", "--real", "mnist", "--num-samples", "500", "--metrics", "fid,inception_score", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out["values"]) == {"fid", "inception_score", "inception_score_std"}
    assert out["protocol"]["fid"]["num_generated"] == 500


@pytest.mark.parametrize("args, message", [
    ((), "or pass --real DATASET"),
    (("--real", "mnist", "--metrics", "fdi"), "unknown metric 'fdi'; did you mean"),
    (("--real", "mnist", "--features", "inception"), "cannot be downloaded here; pass a local copy with --set features.weights=PATH"),
    (("--real", "mnist", "--features", "inception", "--set", "features.weights=/no/such.pth"), "not found at /no/such.pth"),
    (("--real", "mnist", "--set", "feature.weights=x"), "did you mean features.weights"),
    (("--real", "mnist", "--check"), "--check needs a RUN_DIR"),
    (("some-run", "--real", "mnist"), "not both"),
])
def test_evaluate_usage_errors(args: tuple[str, ...], message: str) -> None:
    result = run_cli("evaluate", *args)
    assert result.exit_code == 2 and message in result.output, result.output
    if "fdi" in args:
        assert "fid" in result.output.split("did you mean", 1)[1]  # among the close matches (fvd is one too)


def test_inception_features_from_a_local_weights_file(tmp_path) -> None:
    from safetensors.torch import save_file
    from torchvision.models import inception_v3

    from zoo.metrics.features import inception_features

    torch.manual_seed(0)
    path = tmp_path / "inception.safetensors"
    save_file(inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(), str(path))
    net = inception_features(path)
    feats, logits = net(torch.rand(2, 1, 28, 28))
    assert feats.shape == (2, 2048) and logits.shape == (2, 1000) and torch.isfinite(feats).all()
    assert net.name == "inception-v3" and len(net.checksum) == 16


def test_check_fails_naming_the_metric(tmp_path, tiny_plugin) -> None:
    import zoo

    anchors = {"fid": {"value": 0.5, "tolerance": 0.1, "budget": "4 steps"}, "precision": {"value": 0.0, "tolerance": 0.0}}
    run = zoo.train("tiny-mnist", out=tmp_path / "run", device="cpu", quiet=True, overrides={"eval.metrics": ["fid", "precision_recall"], "eval.num_samples": 200, "eval.anchors": anchors})
    result = run_cli("evaluate", str(run.path), "--check", "--device", "cpu")
    assert result.exit_code == 1, result.output
    assert "misses 1 of 2 quality anchors: fid = " in result.output and "precision" not in result.output.split("anchors:")[-1]
    summary = json.loads((run.path / "summary.json").read_text())
    assert summary["protocol"]["fid"]["num_generated"] == 200 and math.isfinite(summary["eval"]["fid"])
    result = run_cli("evaluate", str(run.path), "--check", "--metrics", "precision_recall", "--device", "cpu")
    assert result.exit_code == 1 and "fid was not computed" in result.output, result.output


def test_feature_network_trains_inside_an_evaluation():
    """The first evaluation of a fresh machine trains the feature network under evaluation's no_grad."""
    import torch

    from zoo.metrics.features import Recipe, train_feature_net

    images, labels = torch.rand(256, 1, 28, 28), torch.randint(0, 10, (256,))
    with torch.no_grad():
        net = train_feature_net(images, labels, Recipe(max_steps=2, batch_size=64))
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_every_preset_anchor_parses() -> None:
    from zoo.metrics.anchors import metric_directions
    from zoo.presets import resolve
    from zoo.registry import get_catalog

    anchored = 0
    for name in get_catalog().presets:
        config = resolve(name)
        anchors = parse_anchors(config.eval.anchors, metric_directions(config.eval.metrics), name)
        anchored += bool(anchors)
    assert anchored >= 10
