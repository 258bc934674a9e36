"""The video feature network behind `fvd`: its label helpers, a tiny recipe's card and cache, and that its Fréchet
distance tells real clips from the same clips shuffled in time."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest
import torch

from zoo.metrics import video_features as vf
from zoo.testing import dataset_installed

needs_mnist = pytest.mark.skipif(not dataset_installed("mnist"), reason="MNIST is not installed here")
TINY = vf.VideoRecipe(steps=150, width=8, test_clips=600)  # seconds on one core; well above chance, far from the default's card


def test_soft_targets_and_top_d() -> None:
    assert torch.equal(vf.soft_targets(torch.tensor([[3], [1]]), 4), torch.tensor([[0, 0, 0, 1.0], [0, 1.0, 0, 0]]))
    assert torch.equal(vf.soft_targets(torch.tensor([[0, 2], [1, 1]]), 3), torch.tensor([[0.5, 0, 0.5], [0, 1.0, 0]]))
    logits = torch.tensor([[0.1, 0.9, 0.5, 0.0], [0.9, 0.1, 0.5, 0.0]])
    assert vf.all_in_top(logits, torch.tensor([[1], [2]])).tolist() == [True, False]  # one digit: the arg-max
    assert vf.all_in_top(logits, torch.tensor([[2, 1], [0, 1]])).tolist() == [True, False]  # two: both in the top 2
    assert vf.all_in_top(logits, torch.tensor([[1, 1], [0, 0]])).tolist() == [True, True]  # a repeated label


def tiny_data(**extra: object) -> vf.MovingMNISTConfig:
    from zoo.data import get_spec

    settings = {"image_size": 16, "digit_size": 8, "frames": 6, "step": 0.2, "test_sequences": 600, **extra}
    return get_spec("moving-mnist-small").config(dataset="moving-mnist-small", **settings)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[vf.VideoFeatures, Path]]:
    """The tiny network, trained once into a fresh cache folder."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZOO_CACHE_DIR", str(cache))
        yield vf.video_features(tiny_data(), recipe=TINY, quiet=True), cache


@needs_mnist
def test_tiny_card_beats_chance_and_the_cache_is_reused(tiny: tuple[vf.VideoFeatures, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    net, cache = tiny
    card = net.card
    assert card["test_clips"] == 600 and card["recipe"]["steps"] == 150 and card["data"]["frames"] == 6
    assert card["test_accuracy"] > 2 * card["chance"]["test_accuracy"]  # digits: 10 classes
    assert card["test_direction_accuracy"] > 3 * card["chance"]["test_direction_accuracy"]  # directions: 8 sectors
    assert net.weights.parent == cache / "features" and net.weights.name.startswith("video-moving-mnist-small-")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached network was trained again")

    monkeypatch.setenv("ZOO_CACHE_DIR", str(cache))
    monkeypatch.setattr(vf, "train_video_net", refuse)
    again = vf.video_features(tiny_data(), recipe=TINY, quiet=True)
    assert again.card == card and again.weights == net.weights
    clips = torch.rand(3, 6, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again(clips), net(clips))
    with pytest.raises(AssertionError, match="trained again"):  # other generator settings are another network
        vf.video_features(tiny_data(step=0.3), recipe=TINY, quiet=True)
    with pytest.raises(vf.UsageError, match="reads clips of"):
        net(torch.rand(2, 5, 1, 16, 16))


@needs_mnist
def test_fd_of_real_clips_is_below_fd_of_clips_shuffled_in_time(tiny: tuple[vf.VideoFeatures, Path]) -> None:
    from zoo.data import load_dataset
    from zoo.metrics.frechet import feature_stats, frechet_distance_from_stats

    net, _ = tiny
    test = load_dataset(tiny_data(), "test")
    a, b = test.batch(torch.arange(300))["x"], test.batch(torch.arange(300, 600))["x"]
    order = torch.tensor([3, 0, 5, 1, 4, 2])
    reference = feature_stats(net(a))
    real = frechet_distance_from_stats(*reference, *feature_stats(net(b)))
    shuffled = frechet_distance_from_stats(*reference, *feature_stats(net(b[:, order])))
    assert not real.regularized  # 300 clips span all 128 features: no eps needed
    assert real.value < shuffled.value / 2, (real, shuffled)


@needs_mnist
def test_fvd_metric_on_a_tiny_flow_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through evaluate_model: a value, and a protocol naming the network, its card and the conditioning."""
    import zoo
    from zoo.evaluation import EvalContext, evaluate_model
    from zoo.run import Run
    from zoo_diffusion.video import VideoFlowFamily

    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(vf, "RECIPE", vf.VideoRecipe(steps=20, width=4, test_clips=32))
    tiny = {"train.log_every": 1, "train.sample_every": 0, "train.checkpoint_every": 0, **VideoFlowFamily.tiny}
    run = zoo.train("flow-mmnist", steps=2, out=tmp_path / "flow", overrides=tiny, quiet=True).path
    model = zoo.load(run)
    ctx = EvalContext(Run.open(run).config, model.device, 8)
    with pytest.warns(RuntimeWarning, match="fvd: a feature covariance was singular.*only 8 clips were scored"):  # 8 clips, 128 features
        result = evaluate_model(model, ctx, ["fvd"])["fvd"]
    assert result.values["fvd"] > 0
    proto = result.protocol
    assert proto["regularized"] is True and json.loads(json.dumps(proto)) == proto  # stored as it is (metrics.jsonl)
    assert proto["features"] == "video:moving-mnist-small" and proto["conditioning"].startswith("none")
    assert proto["clips"] == 8 and proto["frames"] == 4 and proto["size"] == [1, 16, 16] and len(proto["feature_checksum"]) == 16
