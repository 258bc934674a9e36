"""Music: Bach chorales as piano rolls (an LSTM and a four-voice GPT) and O'Neill's Irish tunes as ABC
text (trained by the text family), with music metrics and samples saved as MIDI, WAV and PNG.

Everything is registered as "module:attr" strings, so listing the catalog imports neither torch nor music21.
"""
from __future__ import annotations

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
