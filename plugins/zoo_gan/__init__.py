"""The GAN family: DCGAN with non-saturating, hinge (spectral norm) and WGAN-GP losses, optional class conditioning and EMA."""
from __future__ import annotations

from zoo.hookspecs import hookimpl


@hookimpl
def register_models(register) -> None:
    register("gan", "zoo_gan.family:GANFamily")
