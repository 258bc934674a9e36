"""Four-part harmony: melodies read from score files, harmonizations written back as scores, and the
voice-leading counts that judge them (music21's VoiceLeadingQuartet decides each parallel).

Voices are arrays of keys T×4 (soprano to bass, row t the frame t, -1 where a voice rests; key k is
MIDI pitch 21 + k), the four-voice GPT's own view of a chorale (zoo_music.tokens.voices).
"""
from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from zoo.errors import UsageError, ZooError
from zoo_music import scores, tokens
from zoo_music.render import notes

RANGES = ((60, 79), (53, 74), (48, 67), (40, 60))  # MIDI: soprano C4-G5, alto F3-D5, tenor C3-G4, bass E2-C4 (the usual SATB ranges)
CHORDAL_SHARE = 0.1  # a melody may sound two keys at once in at most this share of its frames (grace notes, a split ending)
WRITES = {".mid": "midi", ".midi": "midi", ".musicxml": "musicxml", ".xml": "musicxml", ".mxl": "mxl"}


# ---- melodies in, harmonizations out -----------------------------------------------------------------
def read_melody(path: Path, frames_per_quarter: int) -> tuple[Any, np.ndarray, int]:
    """(the melody's music21 part, its keys T (-1 rests) on the frame grid moved to C major / A minor, the
    shift used) from a score file: its first (top) part, which must be one line of notes."""
    if path.suffix.lower() not in scores.SCORE_EXTS:
        raise UsageError(f"cannot read {path.name} as a melody: use one of {' '.join(scores.SCORE_EXTS)}")
    try:
        score = scores.read_score(path)
    except ZooError as err:
        raise UsageError(str(err)) from None
    part = score.parts[0] if getattr(score, "parts", None) else score
    shift = scores.key_shift(part)
    roll = scores.score_roll(part, frames_per_quarter, shift)
    sounding = roll.sum(1)
    chordal = float((sounding > 1).sum() / max(1, (sounding > 0).sum()))
    if chordal > CHORDAL_SHARE:
        raise UsageError(f"{path.name} has no monophonic top line: its first part sounds chords in {chordal:.0%} of its frames; "
                         "give the melody alone, one note at a time (in its own part or track)")
    return part, tokens.voices(torch.from_numpy(roll))[:, 0].numpy(), shift


def harmonized_score(melody: Any, keys: np.ndarray, frames_per_quarter: int, shift: int) -> Any:
    """A music21 Score: the melody part exactly as it was read, then the alto, tenor and bass of `keys`
    T×4 (moved back by `shift`), each run of a held key one note."""
    m21 = scores.music21()
    score = m21.stream.Score()
    score.insert(0, copy.deepcopy(melody))
    metre = melody.recurse().getElementsByClass("TimeSignature").first() or m21.meter.TimeSignature("4/4")
    for voice, name in zip(range(1, 4), ("Alto", "Tenor", "Bass")):
        part = m21.stream.Part(id=name)
        part.partName = name
        part.insert(0, copy.deepcopy(metre))
        roll = np.zeros((len(keys), scores.KEYS), dtype=np.uint8)
        sounding = keys[:, voice] >= 0
        roll[np.nonzero(sounding)[0], keys[sounding, voice] - shift] = 1  # within the keyboard: the model's keys are, and |shift| <= 6
        for key, start, end in notes(roll):
            note = m21.note.Note(key + scores.LOWEST, quarterLength=(end - start) / frames_per_quarter)
            part.insert(start / frames_per_quarter, note)
        score.insert(0, part.makeMeasures())  # in bars, as the melody is
    return score


def write_score(score: Any, out: Path) -> Path:
    """`score` written at `out` as MIDI or MusicXML by its suffix (another suffix: .mid)."""
    out = out if out.suffix.lower() in WRITES else out.with_suffix(".mid")
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score.write(WRITES[out.suffix.lower()], fp=str(out))
    return out


# ---- voice leading ------------------------------------------------------------------------------------
def parallels(keys: np.ndarray) -> int:
    """Parallel fifths and octaves (unisons too) between any two voices from each frame to the next, as
    music21's VoiceLeadingQuartet names them; only moves where both voices sound and change are candidates."""
    from music21 import note, voiceLeading

    count = 0
    for t in range(len(keys) - 1):
        now, nxt = keys[t], keys[t + 1]
        for upper in range(4):
            for lower in range(upper + 1, 4):
                pair = (now[upper], nxt[upper], now[lower], nxt[lower])
                if min(pair) < 0 or now[upper] == nxt[upper] or now[lower] == nxt[lower]:
                    continue
                if (now[upper] - now[lower]) % 12 not in (0, 7) or (nxt[upper] - nxt[lower]) % 12 not in (0, 7):
                    continue  # neither a fifth nor an octave: music21 would say no
                quartet = voiceLeading.VoiceLeadingQuartet(*(note.Note(int(k) + scores.LOWEST) for k in pair))
                count += bool(quartet.parallelFifth() or quartet.parallelUnisonOrOctave())
    return count


class NoParallels:
    """`zoo.nn.gpt.Steered`'s rule for `constrain=voice-leading`: an alto, tenor or bass key is forbidden when,
    against a voice above it already written in its frame, it repeats the previous frame's fifth or
    octave (unison) with both voices moving: the moves `parallels` counts. Tokens come in voice order
    (`tokens.VoiceOrder`), the lower voices `lookahead` rows behind the soprano (`tokens.ahead`); the
    prompt's first token (an END) is not a frame."""

    def __init__(self, lookahead: int = 0) -> None:
        self.lookahead, self.samples = lookahead, 0  # samples: N, known from the prompt
        self.written: list[Tensor] = []  # written[p]: the keys N (-1 rests) of token p after the END

    def observe(self, ids: Tensor) -> None:
        new = ids if self.samples else ids[:, 1:]  # the prompt starts with an END
        self.samples = len(ids)
        self.written += list(tokens.token_keys(new).T)

    def key(self, frame: int, voice: int) -> Tensor:
        """Keys N of `voice` in `frame`: the soprano's row is the frame, the others' `lookahead` rows later."""
        return self.written[tokens.VOICES * (frame + (self.lookahead if voice else 0)) + voice]

    def allowed(self, device: torch.device) -> Tensor:
        allowed = torch.ones(self.samples, tokens.VOCAB, dtype=torch.bool, device=device)
        row, voice = divmod(len(self.written), tokens.VOICES)
        frame = row - self.lookahead
        if voice == 0 or frame < 1:
            return allowed
        keys = torch.arange(scores.KEYS, device=device)
        before_lower = self.key(frame - 1, voice).to(device)[:, None]  # N×1
        for upper in range(voice):
            before, now = self.key(frame - 1, upper).to(device)[:, None], self.key(frame, upper).to(device)[:, None]
            interval = (before - before_lower) % 12
            moving = (before >= 0) & (before_lower >= 0) & (now >= 0) & (now != before) & ((interval == 0) | (interval == 7))
            forbidden = moving & ((now - keys) % 12 == interval) & (keys != before_lower)  # N×88
            slots = 2 + voice * tokens.SLOTS + keys  # the voice's key tokens
            allowed[:, slots] &= ~forbidden
        return allowed


def in_range(keys: np.ndarray) -> tuple[int, int]:
    """(sounding voice-frames within their voice's range, all sounding voice-frames)."""
    pitches = keys + scores.LOWEST
    low, high = np.array(RANGES).T
    sounding = keys >= 0
    return int((sounding & (pitches >= low) & (pitches <= high)).sum()), int(sounding.sum())


def crossings(keys: np.ndarray) -> int:
    """Frames where a lower voice sounds above the voice over it."""
    upper, lower = keys[:, :-1], keys[:, 1:]
    return int(((upper >= 0) & (lower > upper)).any(1).sum())
