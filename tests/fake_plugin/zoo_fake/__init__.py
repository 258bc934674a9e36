"""A third-party zoo plugin, as an outside package would write it: a model family and a preset."""
from zoo.hookspecs import hookimpl


@hookimpl
def register_models(register):
    register("fake", "zoo.testing:TinyGaussian")


@hookimpl
def register_presets(register):
    register("fake-mnist", {
        "family": "fake",
        "description": "a third-party preset",
        "data": {"dataset": "mnist", "batch_size": 16, "image_size": 8},
        "train": {"steps": 2, "lr": 0.05, "log_every": 1, "sample_every": 0, "checkpoint_every": 0},
    })
