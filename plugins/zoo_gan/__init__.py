"""The GAN family: DCGAN with non-saturating, hinge (spectral norm) and WGAN-GP losses and optional class
conditioning. The update rule is the core's (zoo.nn.gan); EMA sampling is the trainer's (train.ema_decay)."""
from __future__ import annotations

from zoo.hookspecs import hookimpl


@hookimpl
def register_models(register) -> None:
    register("gan", "zoo_gan.family:DCGANFamily")
