"""Resume is exact: N steps + resume + N steps gives the same weights as 2N steps straight."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

import zoo
from zoo import plugins
from zoo.checkpoint import latest
from zoo.hookspecs import hookimpl

TINY = {"model.nz": 8, "model.ngf": 4, "model.ndf": 4, "data.batch_size": 8, "train.log_every": 1, "train.sample_every": 0}


def weights(run_dir):
    return load_file(latest(run_dir) / "model.safetensors")


def assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("preset", ["gan-mnist-quick", "wgan-gp-mnist"])
def test_resume_matches_straight_run(tmp_path, preset):
    straight = zoo.train(preset, steps=6, out=tmp_path / "straight", device="cpu", overrides=TINY, quiet=True)
    part = zoo.train(preset, steps=3, out=tmp_path / "part", device="cpu", overrides=TINY, quiet=True)
    assert not torch.equal(weights(part.path)["G.net.0.weight"], weights(straight.path)["G.net.0.weight"])
    zoo.train(resume=part.path, steps=6, device="cpu", quiet=True)
    assert_same(weights(part.path), weights(straight.path))


def test_interrupted_run_resumes_exactly(tmp_path):
    class Interrupt:
        @hookimpl
        def on_log(self, run, step, logs):
            if step == 4:
                raise KeyboardInterrupt

    straight = zoo.train("gan-mnist-quick", steps=8, out=tmp_path / "straight", device="cpu", overrides=TINY, quiet=True)
    plugins.get_plugin_manager().register(Interrupt(), name="interrupt")
    try:
        with pytest.raises(KeyboardInterrupt):
            zoo.train("gan-mnist-quick", steps=8, out=tmp_path / "cut", device="cpu", overrides=TINY, quiet=True)
    finally:
        plugins.reset()
    cut = zoo.api.Run.open(tmp_path / "cut")
    assert cut.summary()["status"] == "interrupted" and cut.summary()["step"] == 4
    zoo.train(resume=cut.path, device="cpu", quiet=True)
    assert_same(weights(cut.path), weights(straight.path))


def test_same_seed_same_numbers(tmp_path):
    a = zoo.train("gan-mnist-quick", steps=3, out=tmp_path / "a", device="cpu", overrides=TINY, quiet=True)
    b = zoo.train("gan-mnist-quick", steps=3, out=tmp_path / "b", device="cpu", overrides=TINY, quiet=True)
    c = zoo.train("gan-mnist-quick", steps=3, seed=1, out=tmp_path / "c", device="cpu", overrides=TINY, quiet=True)
    assert_same(weights(a.path), weights(b.path))
    assert not torch.equal(weights(a.path)["G.net.0.weight"], weights(c.path)["G.net.0.weight"])
