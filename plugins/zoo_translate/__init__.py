"""The image-to-image families: a plain U-Net regression baseline (L1), pix2pix (paired, U-Net + PatchGAN)
and CycleGAN (unpaired, two generators, two PatchGANs). All translate through the core's `Translates`
capability and share their networks through zoo.nn (unet2d, patchgan, history)."""
from __future__ import annotations

from zoo.hookspecs import hookimpl


@hookimpl
def register_models(register) -> None:
    register("regression", "zoo_translate.regression:RegressionFamily")
    register("pix2pix", "zoo_translate.pix2pix:Pix2PixFamily")
    register("cyclegan", "zoo_translate.cyclegan:CycleGANFamily")
