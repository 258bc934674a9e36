"""Weights & Biases logging: `zoo train --logger wandb` records each run as a W&B run (config, metrics,
images and audio). Offline by default when no API key is set (the run syncs later with `wandb sync`);
`WANDB_MODE`, `WANDB_PROJECT` and `WANDB_ENTITY` are honoured.

Uses only zoo's public hooks and registers a cheap "module:Class" reference, so `zoo list` never imports wandb.
"""
from __future__ import annotations

from zoo.hookspecs import hookimpl


@hookimpl
def register_loggers(register) -> None:
    register("wandb", "zoo_wandb.logger:WandbLogger")
