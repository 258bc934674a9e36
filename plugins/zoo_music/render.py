"""Piano rolls made audible and visible: a standard MIDI file (mido), a WAV from a small additive
synthesiser (numpy, no soundfont) and a piano-roll PNG sheet."""
from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.samples import atomic_write_bytes, png_bytes, wav_bytes
from zoo_music.scores import LOWEST

TEMPO = 100  # quarter notes per minute
TICKS = 480  # MIDI ticks per quarter note
TUNE_FRAMES_PER_QUARTER = 12  # ABC tunes' grid: semiquavers (3 frames) and triplet quavers (4) fall on it
SAMPLE_RATE = 16000
HARMONICS = ((1, 1.0), (2, 0.4), (3, 0.2), (4, 0.1))  # (multiple of the fundamental, amplitude): a soft organ-like tone
ATTACK, DECAY, SUSTAIN, RELEASE = 0.01, 0.3, 0.6, 0.08  # seconds, seconds, level, seconds


def notes(roll: np.ndarray) -> list[tuple[int, int, int]]:
    """(key, first frame, end frame) of every run of consecutive on-frames of a key in roll T×88,
    in onset order: held keys are one note (a quarter-note grid cannot tell a tie from a repeat)."""
    on = np.pad(roll.astype(bool), ((1, 1), (0, 0)))
    change = np.diff(on.astype(np.int8), axis=0)  # (T+1)×88: +1 at a note's first frame, -1 after its last
    starts, ends = np.nonzero(change.T == 1), np.nonzero(change.T == -1)  # both ordered by key, then frame
    found = [(int(k), int(s), int(e)) for k, s, e in zip(starts[0], starts[1], ends[1])]
    return sorted(found, key=lambda n: (n[1], n[0]))


def join(rolls: np.ndarray, gap: int) -> np.ndarray:
    """Rolls N×T×88 one after another, `gap` silent frames after each: one piece to play."""
    silence = np.zeros((len(rolls), gap, rolls.shape[2]), dtype=rolls.dtype)
    return np.concatenate([rolls, silence], axis=1).reshape(-1, rolls.shape[2])


def midi_bytes(roll: np.ndarray, frames_per_quarter: int, tempo: float = TEMPO) -> bytes:
    """A type-0 standard MIDI file of roll T×88 (piano, velocity 80)."""
    import mido

    per_frame = TICKS // frames_per_quarter
    events = [(s * per_frame, 1, LOWEST + k) for k, s, _ in notes(roll)] + [(e * per_frame, 0, LOWEST + k) for k, _, e in notes(roll)]
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo), time=0)])
    now = 0
    for tick, on, pitch in sorted(events):  # note-offs (0) before note-ons (1) at the same tick
        track.append(mido.Message("note_on" if on else "note_off", note=pitch, velocity=80 if on else 0, time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    buf = io.BytesIO()
    mido.MidiFile(type=0, ticks_per_beat=TICKS, tracks=[track]).save(file=buf)
    return buf.getvalue()


def synthesize(roll: np.ndarray, frames_per_quarter: int, tempo: float = TEMPO, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Roll T×88 as a mono waveform in [-1, 1]: each note a few sine harmonics under an ADSR envelope."""
    frame_s = 60.0 / tempo / frames_per_quarter
    wave = np.zeros(int(math.ceil((len(roll) * frame_s + RELEASE) * sample_rate)) + 1)
    for key, start, end in notes(roll):
        hz = 440.0 * 2 ** ((key + LOWEST - 69) / 12)
        held = (end - start) * frame_s
        t = np.arange(int((held + RELEASE) * sample_rate)) / sample_rate
        tone = sum(a * np.sin(2 * np.pi * hz * h * t) for h, a in HARMONICS if hz * h < sample_rate / 2)
        envelope = np.minimum(1.0, t / ATTACK) * (SUSTAIN + (1 - SUSTAIN) * np.exp(-t / DECAY))
        envelope *= np.where(t < held, 1.0, np.exp(-(t - held) / (RELEASE / 5)))
        first = int(start * frame_s * sample_rate)
        wave[first : first + len(t)] += tone * envelope
    peak = np.abs(wave).max()
    return (wave / peak * 0.8 if peak > 0 else wave).astype(np.float32)


def wav_file(roll: np.ndarray, frames_per_quarter: int, tempo: float = TEMPO) -> bytes:
    return wav_bytes(torch.from_numpy(synthesize(roll, frames_per_quarter, tempo)), SAMPLE_RATE)


def tune_files(text: str, stem: Path) -> list[Path]:
    """Each finished ABC tune in `text` that music21 reads, as STEM-K.mid and STEM-K.wav (K from 0): the
    notes on a grid of twelve frames a quarter note (semiquavers and triplets fall on it), rendered as
    the chorales are. Tunes music21 cannot read are skipped."""
    from zoo_music import scores, tunes

    written = []
    for k, tune in enumerate(tunes.finished_tunes(text)):
        score = tunes.parse(tune)
        if score is None:
            continue
        roll = scores.score_roll(score, TUNE_FRAMES_PER_QUARTER)
        for suffix, write in ((".mid", midi_bytes), (".wav", wav_file)):
            path = stem.with_name(f"{stem.name}-{k}{suffix}")
            atomic_write_bytes(path, write(roll, TUNE_FRAMES_PER_QUARTER))
            written.append(path)
    return written


def sheet_png(rolls: np.ndarray, meta: dict[str, Any], scale: int = 3) -> bytes:
    """Rolls N×T×88 as a grid of tiles, low keys at the bottom, notes black on white, C keys faint grey."""
    from torchvision.utils import make_grid

    tiles = 1.0 - torch.from_numpy(rolls.astype(np.float32)).transpose(1, 2).flip(1)  # N×88×T, top row = highest key
    c_rows = [87 - k for k in range(88) if (k + LOWEST) % 12 == 0]
    tiles[:, c_rows] = torch.minimum(tiles[:, c_rows], torch.tensor(0.85))
    tiles = tiles.repeat_interleave(scale, 1).repeat_interleave(scale, 2).unsqueeze(1)  # N×1×(88s)×(Ts)
    nrow = max(1, int(math.ceil(math.sqrt(len(tiles)))))
    return png_bytes(make_grid(tiles, nrow=nrow, padding=4, pad_value=0.5), meta)
