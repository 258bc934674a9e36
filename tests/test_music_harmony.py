"""Chorale harmonization and melody continuation (zoo_music.harmony, MusicFamily.harmonize/translate_file,
--prompt): the parallel-fifths counter on hand-written progressions, the soprano kept bit for bit, bad
input in one line, and the contract kit on a tiny seeded harmonize-chorales run."""
from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest
import torch

import zoo
from zoo.errors import UsageError
from zoo.testing import FamilyContract
from zoo_music import harmony, scores, tokens
from zoo_music.family import MusicFamily

LOW = scores.LOWEST


def chords(*frames: tuple[int, int, int, int]) -> np.ndarray:
    """Keys T×4 from MIDI pitches (soprano to bass) per frame; None rests."""
    return np.array([[-1 if p is None else p - LOW for p in frame] for frame in frames])


@pytest.mark.parametrize("progression, expected", [
    (chords((72, 67, 64, 48), (74, 69, 65, 50)), 2),  # C-D in S and B (octaves), G-A over C-D in A and B (a compound fifth)
    (chords((67, 64, 60, 48), (69, 65, 62, 50)), 3),  # G-A over C-D: S/T fifths, S/B compound fifths; T/B octaves
    (chords((72, 64, 55, 48), (74, 65, 59, 43)), 0),  # S up, B down: octave to twelfth in contrary motion
    (chords((72, 67, 64, 48), (72, 67, 64, 60)), 0),  # only the bass moves: octave to octave and fifth to fifth, obliquely
    (chords((65, None, None, 59), (67, None, None, 60)), 0),  # a diminished fifth (F over B) to a perfect one
    (chords((72, None, None, 52), (74, None, None, 55)), 0),  # a hidden fifth: similar motion into a fifth from a sixth
    (chords((72, None, None, 48), (74, None, None, 50)), 1),  # resting voices are skipped; S/B octaves remain
])
def test_parallel_fifths_and_octaves_counted_as_music21_names_them(progression: np.ndarray, expected: int) -> None:
    assert harmony.parallels(progression) == expected


def rule_after(progression: np.ndarray, lookahead: int = 0) -> harmony.NoParallels:
    """The voice-leading rule having seen an END, then `progression`'s tokens in `ahead`'s layout up to its last bass."""
    rule = harmony.NoParallels(lookahead)
    ids = tokens.voice_tokens(tokens.ahead(torch.from_numpy(progression), lookahead)).flatten()
    rule.observe(torch.tensor([[tokens.END]]))
    for token in ids[: tokens.VOICES * (len(progression) + lookahead) - 1]:
        rule.observe(token.reshape(1, 1))
    return rule


@pytest.mark.parametrize("lookahead", [0, 2])
def test_voice_leading_rule_forbids_exactly_the_bass_notes_that_make_parallels(lookahead: int) -> None:
    progression = chords((67, 64, 60, 48), (69, 65, 60, 48))  # the bass is still to be written in the second frame
    allowed = rule_after(progression, lookahead).allowed(torch.device("cpu"))[0]
    bass = {p: bool(allowed[2 + 3 * tokens.SLOTS + p - LOW]) for p in range(36, 72)}
    forbidden = sorted(p for p, ok in bass.items() if not ok)
    # S G->A over B C (a fifth): not D; A E->F over C (a third) and T C->C (not moving): free. Staying on C is oblique motion.
    assert forbidden == [38, 50, 62] and bass[48] and bool(allowed[1 + 3 * tokens.SLOTS])  # and a rest is allowed
    for p in forbidden:  # each forbidden note is a parallel the counter names
        assert harmony.parallels(chords((67, 64, 60, 48), (69, 65, 60, p))) == 1
    assert all(harmony.parallels(chords((67, 64, 60, 48), (69, 65, 60, p))) == 0 for p, ok in bass.items() if ok)


def test_range_and_crossing_counts() -> None:
    keys = chords((72, 64, 55, 48), (60, 64, 55, 30))  # second frame: alto above soprano, bass below E2
    assert harmony.crossings(keys) == 1
    assert harmony.in_range(keys) == (7, 8)


def test_soprano_ahead_layout_round_trips() -> None:
    roll = torch.zeros(5, scores.KEYS, dtype=torch.uint8)
    for t, pitches in enumerate([(72, 64, 55, 48), (74, 65), (), (71, 67, 62, 43), (72,)]):
        roll[t, [p - LOW for p in pitches]] = 1
    for lookahead in (0, 3):
        ids = tokens.encode(roll, lookahead)
        keys = tokens.token_keys(ids).reshape(1, -1, tokens.VOICES)
        assert torch.equal(tokens.rolls_of(tokens.behind(keys, lookahead))[0], roll)
        assert int(tokens.lower_voices(5, lookahead).sum()) == 15
    assert torch.equal(tokens.encode(roll), tokens.encode(roll, 0))


def write_midi(path: Path, notes: list[tuple[int, int]], chord_from: int | None = None) -> Path:
    """A one-track MIDI of (pitch, length in eighths) notes one after another; from note `chord_from` on,
    each note is doubled a sixth below (no monophonic top line)."""
    track, eighth = mido.MidiTrack(), 240
    for i, (pitch, length) in enumerate(notes):
        extra = [pitch - 9] if chord_from is not None and i >= chord_from else []
        for p in [pitch, *extra]:
            track.append(mido.Message("note_on", note=p, velocity=80, time=0))
        for j, p in enumerate([pitch, *extra]):
            track.append(mido.Message("note_off", note=p, velocity=0, time=length * eighth if j == 0 else 0))
    mido.MidiFile(type=0, ticks_per_beat=480, tracks=[track]).save(str(path))
    return path


MELODY = [(67, 2), (69, 2), (71, 1), (72, 1), (74, 2), (72, 4), (71, 2), (69, 2), (67, 4)]  # G major, quavers among crotchets


class TestHarmonizeContract(FamilyContract):
    preset = "harmonize-chorales"

    def test_harmonize_keeps_the_soprano_and_fills_three_voices(self, run_dir: Path) -> None:
        model = zoo.load(run_dir)
        sopranos = torch.tensor([[60 - LOW, 62 - LOW, -1, 64 - LOW, 65 - LOW], [67 - LOW] * 5])
        keys = model.harmonize(sopranos, torch.Generator().manual_seed(0))
        assert keys.shape == (2, 5, 4) and torch.equal(keys[..., 0].cpu(), sopranos)
        assert (keys[..., 1:] >= -1).all() and (keys[..., 1:] < scores.KEYS).all()

    def test_voice_leading_constraint_leaves_no_parallels_and_counts_its_cost(self, run_dir: Path) -> None:
        model = zoo.load(run_dir)
        sopranos = torch.tensor([[60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62, 60, 59]]).repeat(4, 1) - LOW
        free = model.harmonize(sopranos, torch.Generator().manual_seed(0))
        keys, steered = model.harmonize_steered(sopranos, torch.Generator().manual_seed(0), constrain="voice-leading")
        assert sum(harmony.parallels(k) for k in free.cpu().numpy()) > 0, "an untrained model writes parallels when free"
        assert sum(harmony.parallels(k) for k in keys.cpu().numpy()) == 0 and torch.equal(keys[..., 0].cpu(), sopranos)
        assert steered is not None and steered.masked_mass > 0 and steered.nats > 0
        with pytest.raises(UsageError, match="constrain=voice-leading"):
            model.harmonize(sopranos, constrain="metre")

    def test_translate_keeps_the_melody_bit_for_bit(self, run_dir: Path, tmp_path: Path) -> None:
        source = write_midi(tmp_path / "melody.mid", MELODY)
        written = zoo.translate_files(run_dir, [source], tmp_path / "out", seed=0)
        assert [p.name for p in written] == ["melody.mid"]
        original, harmonized = scores.read_score(source), scores.read_score(written[0])
        assert len(harmonized.parts) == 4
        spell = lambda part: [(n.pitch.midi, float(n.offset), float(n.quarterLength)) for n in part.flatten().notes]  # noqa: E731
        assert spell(harmonized.parts[0]) == spell(original.parts[0] if original.parts else original)
        again = zoo.translate_files(run_dir, [source], tmp_path / "again", seed=0)
        assert again[0].read_bytes() == written[0].read_bytes()

    def test_chords_in_the_top_line_or_an_unreadable_format_are_one_line(self, run_dir: Path, tmp_path: Path) -> None:
        model = zoo.load(run_dir)
        with pytest.raises(UsageError, match="no monophonic top line"):
            model.translate_file(write_midi(tmp_path / "chords.mid", MELODY, chord_from=2), tmp_path / "x.mid")
        with pytest.raises(UsageError, match="harmonizes melodies"):
            model.sample(1, prompt=str(write_midi(tmp_path / "opening.mid", MELODY)))


class TestChoraleContinuation:
    """--prompt for the four-voice GPT and the piano-roll LSTM: each sample starts with the opening."""

    @pytest.mark.parametrize("arch", ["gpt", "lstm"])
    def test_samples_continue_the_opening(self, arch: str, tmp_path: Path) -> None:
        overrides = {**MusicFamily.tiny, "model.arch": arch, "train.log_every": 1, "train.sample_every": 0, "train.eval_every": 0, "train.checkpoint_every": 0}
        run = zoo.train("gpt-chorales", steps=2, device="cpu", out=tmp_path / arch, overrides=overrides, quiet=True).path
        opening = write_midi(tmp_path / "opening.mid", MELODY)
        samples = zoo.sample(run, 2, seed=0, prompt=str(opening), frames=4)
        score = scores.read_score(opening)
        roll = scores.score_roll(score, 1, scores.key_shift(score))
        assert samples.rolls.shape == (2, len(roll) + 4, scores.KEYS)
        assert (samples.rolls[:, : len(roll)].numpy() == roll).all()
        with pytest.raises(UsageError, match="reads score files"):
            zoo.sample(run, 1, prompt=str(tmp_path / "tune.txt"))


def test_text_models_read_abc_prompts_and_refuse_scores(tmp_path: Path) -> None:
    """gpt-folk's --prompt: an .abc (or .txt) file is read as text; a score or clip is one line."""
    from zoo_text.family import prompt_text

    tune = tmp_path / "opening.abc"
    tune.write_text("M:6/8\nL:1/8\nK:G\nGAB cde |")
    assert prompt_text(str(tune)) == tune.read_text()
    assert prompt_text("M:6/8\nK:G\nGAB") == "M:6/8\nK:G\nGAB"
    with pytest.raises(UsageError, match="not a .mid file"):
        prompt_text(str(write_midi(tmp_path / "tune.mid", MELODY)))
