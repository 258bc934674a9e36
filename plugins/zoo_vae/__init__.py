"""The vae family: convolutional VAE, β-VAE, conditional VAE and VQ-VAE with a transformer prior."""
from __future__ import annotations

from zoo.hookspecs import hookimpl


@hookimpl
def register_models(register) -> None:
    register("vae", "zoo_vae.family:VAEFamily")
