"""Music: Bach chorales as piano rolls (an LSTM and a four-voice GPT) and O'Neill's Irish tunes as ABC
text (trained by the text family), with music metrics and samples saved as MIDI, WAV and PNG.

Everything is registered as "module:attr" strings, so listing the catalog imports neither torch nor music21.
"""
from __future__ import annotations

from typing import Any

from zoo.hookspecs import hookimpl


@hookimpl
def register_models(register) -> None:
    register("music", "zoo_music.family:MusicFamily")


@hookimpl
def register_datasets(register) -> None:
    register("bach-chorales", "zoo_music.data:BACH_CHORALES")
    register("folk-abc", "zoo_music.data:FOLK_ABC")


@hookimpl
def register_metrics(register) -> None:
    register("pitch_class_distance", "zoo_music.metrics:PITCH_CLASS_DISTANCE")
    register("music_stats", "zoo_music.metrics:MUSIC_STATS")
    register("in_key", "zoo_music.metrics:IN_KEY")
    register("abc_metre", "zoo_music.metrics:ABC_METRE")
    register("harmonization", "zoo_music.metrics:HARMONIZATION")


@hookimpl
def register_constraints(register) -> None:
    register("metre", "zoo_music.metre:metre_rule")


@hookimpl
def register_tokenizers(register) -> None:
    register("folkrnn", "zoo_music.folkrnn:train_folkrnn")


@hookimpl
def on_samples(run: Any, step: int, samples: Any, paths: list[Any]) -> None:
    """Texts written one a file (`zoo sample RUN --out folder/`) that hold ABC tunes get a MIDI and a WAV
    rendering of each tune music21 reads beside them (NNNNN-K.mid, NNNNN-K.wav)."""
    from pathlib import Path

    from zoo.samples import TextSamples

    if not isinstance(samples, TextSamples):
        return
    texts = [Path(p) for p in paths if Path(p).suffix == ".txt"]
    if len(texts) != len(samples.texts) or not any("\nK:" in "\n" + t for t in samples.texts):
        return
    from zoo_music.render import tune_files

    for text, path in zip(samples.texts, texts):
        tune_files(text, path.with_suffix(""))
