"""The vae and vqvae families: convolutional VAE, β-VAE and conditional VAE; VQ-VAE with a GPT prior over its codes."""
from __future__ import annotations

from zoo.hookspecs import hookimpl


@hookimpl
def register_models(register) -> None:
    register("vae", "zoo_vae.family:VAEFamily")
    register("vqvae", "zoo_vae.vqvae_family:VQVAEFamily")
