"""The diffusion families: DDPM (ε-prediction), v-prediction and flow matching with one UNet on images and on
spectrograms, samplers chosen at sampling time, classifier-free guidance and inpainting; and the same
machinery conditioned on a source image (`flow-translate`, SR3/Palette's image-to-image translation), and on
clips with a factorised space-time U-Net (`video-flow`, and `video-predict` conditioned on the first frames)."""
from __future__ import annotations

from zoo.hookspecs import hookimpl


@hookimpl
def register_models(register) -> None:
    register("diffusion", "zoo_diffusion.family:DiffusionFamily")
    register("spectrogram-diffusion", "zoo_diffusion.audio:SpectrogramDiffusionFamily")
    register("flow-translate", "zoo_diffusion.translator:FlowTranslateFamily")
    register("video-flow", "zoo_diffusion.video:VideoFlowFamily")
    register("video-predict", "zoo_diffusion.video:VideoPredictFamily")
