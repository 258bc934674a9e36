"""TensorBoard logging: `zoo train --logger tensorboard` writes RUN/tensorboard/, so
`tensorboard --logdir runs` shows every run's scalars, previews, evaluations and config.

The worked example of a logger plugin: it uses only zoo's public hooks (zoo/hookspecs.py) and
registers a cheap "module:Class" reference, so `zoo list` never imports tensorboard.
"""
from __future__ import annotations

from zoo.hookspecs import hookimpl


@hookimpl
def register_loggers(register) -> None:
    register("tensorboard", "zoo_tensorboard.logger:TensorBoardLogger")
