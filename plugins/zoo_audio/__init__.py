"""Audio families on the Free Spoken Digit Dataset: SpecGAN, WaveGAN, WaveNet, a HiFi-GAN vocoder and voice conversion, with their metrics.

Everything is registered as "module:attr" strings, so listing the catalog never imports torch.
"""
from __future__ import annotations

from zoo.hookspecs import hookimpl


@hookimpl
def register_models(register) -> None:
    register("specgan", "zoo_audio.specgan:SpecGANFamily")
    register("wavegan", "zoo_audio.wavegan:WaveGANFamily")
    register("wavenet", "zoo_audio.wavenet:WaveNet")
    register("vocoder", "zoo_audio.vocoder:Vocoder")
    register("voice-conversion", "zoo_audio.conversion:VoiceConversion")


@hookimpl
def register_datasets(register) -> None:
    register("fsdd", "zoo_audio.fsdd:FSDD")


@hookimpl
def register_metrics(register) -> None:
    register("audio_fd", "zoo_audio.metrics:AUDIO_FD")
    register("audio_is", "zoo_audio.metrics:AUDIO_IS")
    register("digit_accuracy", "zoo_audio.metrics:DIGIT_ACCURACY")
    register("copy_synthesis", "zoo_audio.metrics:COPY_SYNTHESIS")
    register("voice_conversion", "zoo_audio.metrics:VOICE_CONVERSION")
