"""The video families: a deterministic ConvLSTM frame predictor (the baseline of every prediction table) and
space-time U-Net restoration of clips (per-frame degradations, translated clip to clip). The video flow
family (generation and prediction with the diffusion family's paths and samplers) lives in zoo_diffusion."""
from __future__ import annotations

from zoo.hookspecs import hookimpl


@hookimpl
def register_models(register) -> None:
    register("convlstm", "zoo_video.convlstm:ConvLSTMFamily")
    register("video-restore", "zoo_video.restore:VideoRestoreFamily")
