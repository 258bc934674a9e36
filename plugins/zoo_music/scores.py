"""Scores (MusicXML, MIDI, ABC, Humdrum kern) read with music21 into piano rolls on a time grid.

music21 is imported inside the functions, so registering the plugin never pays for it.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ZooError

LOWEST = 21  # A0, the piano's lowest key: row 0 of every roll
KEYS = 88  # A0..C8
TARGET_TONIC = {"major": 0, "minor": 9}  # C major, A minor: where chorales are moved, as JSB Chorales does
SCORE_EXTS = (".mxl", ".musicxml", ".xml", ".mid", ".midi", ".abc", ".krn")


def music21() -> Any:
    """The music21 module, or one line saying how to install it."""
    try:
        import music21 as m21
    except ImportError as err:
        raise ZooError("the music datasets need music21", hint="pip install 'genzoo[music]' (music21 and mido)") from err
    return m21


def read_score(path: str | Path) -> Any:
    """The music21 Score in `path`; a file music21 cannot read is one ZooError line naming it."""
    m21 = music21()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # music21 warns per odd measure; a bad file is reported once below
            score = m21.converter.parse(str(path))
    except Exception as err:  # noqa: BLE001 - music21 raises many types on malformed input
        raise ZooError(f"cannot read {Path(path).name} as a score: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}".rstrip(": ")) from None
    if not score.flatten().notes:
        raise ZooError(f"cannot read {Path(path).name} as a score: it holds no notes")
    return score


def key_shift(score: Any) -> int:
    """Semitones (-6..5) that move the score's analysed key (Krumhansl-Schmuckler) to C major or A minor."""
    key = score.analyze("key")
    shift = (TARGET_TONIC.get(key.mode, 0) - key.tonic.pitchClass) % 12
    return shift - 12 if shift > 5 else shift


def score_roll(score: Any, frames_per_quarter: int, shift: int = 0) -> np.ndarray:
    """The keys sounding at the start of each frame (T×88 uint8), moved by `shift` semitones.

    Frame t samples time t / frames_per_quarter (in quarter notes): a note is on in frame t when
    onset <= t < end, so with quarter-note frames an off-beat quaver is dropped (JSB's sampling).
    Pitches moved off the keyboard are dropped."""
    notes = [n for n in score.flatten().notes if n.quarterLength > 0]  # grace notes have no duration
    end = max(float(n.offset + n.quarterLength) for n in notes)
    roll = np.zeros((math.ceil(end * frames_per_quarter - 1e-9), KEYS), dtype=np.uint8)
    for n in notes:
        first = math.ceil(float(n.offset) * frames_per_quarter - 1e-9)
        last = math.ceil(float(n.offset + n.quarterLength) * frames_per_quarter - 1e-9)
        for pitch in n.pitches:
            k = pitch.midi + shift - LOWEST
            if 0 <= k < KEYS:
                roll[first:last, k] = 1
    return roll
