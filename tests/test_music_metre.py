"""Metre-aware ABC decoding (zoo_music.metre): the bar tracker on hand-written tunes, and constrained
sampling from a model that knows nothing, checked by music21's reading of what it wrote."""
from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor

from zoo.nn import gpt
from zoo_music import tunes
from zoo_music.metre import MetreRule, MetreTracker, check_tune

HEAD = "M:6/8\nL:1/8\nK:G\n"


def masked_at(text: str) -> list[tuple[int, str]]:
    """(index, char) of each character of `text` the tracker would have masked."""
    tracker, out = MetreTracker(), []
    for i, c in enumerate(text):
        allowed = tracker.allowed()
        if allowed is not None and c not in allowed:
            out.append((i, c))
        tracker.feed(c)
    return out


@pytest.mark.parametrize("tune", [
    HEAD + "GAB cde | d2B G3 | A>BA G2E | D3 D3 ||\n\n",  # full bars, a broken rhythm, a double bar at the end
    "M:C|\nL:1/8\nK:D\nd>c | B2 AF D2 FA | d2 fe d4 :|\n\n",  # anacrusis (d>c), and its complement before the repeat
    "M:2/4\nL:1/16\nK:Am\n|: A2B2 c4 | (3BcB A2 E4 | A8 :|2 A4 z4 |]\n\n",  # repeats, a tuplet, a second ending
    "M:3/4\nL:1/8\nK:G\nG2 B2 d2 | g6 |\nM:2/4\nG2 B2 | d4 |]\n\n",  # a metre change inside the body
    HEAD + "G/A/B c2 e | d3 z3 ||\n\n",  # shortened notes
])
def test_valid_tunes_are_never_masked(tune: str) -> None:
    assert check_tune(tune) == []


def test_a_note_or_digit_that_overfills_a_bar_is_masked() -> None:
    assert masked_at(HEAD + "GAB cde f") == [(len(HEAD) + 8, "f")]  # the seventh quaver of a 6/8 bar
    assert masked_at(HEAD + "GAB cde2") == [(len(HEAD) + 7, "2")]  # "e2" would make it seven
    assert masked_at("M:2/4\nL:1/8\nK:G\n(3ABc de f") == [(len("M:2/4\nL:1/8\nK:G\n") + 9, "f")]  # a triplet takes two quavers
    assert masked_at(HEAD + "A>Bc def |") == []
    assert masked_at(HEAD + "GAB cd>e |") == []  # d3/2 e1/2: two quavers' worth
    assert masked_at(HEAD + "GAB cde>f")[0][1] == ">"  # e3/2 would overfill


def test_a_bar_closed_early_is_masked_unless_a_pickup_or_a_section_end() -> None:
    body = HEAD + "GAB cde | GAB c"
    assert masked_at(body + " |d") == [(len(body) + 2, "d")] and masked_at(body + " | ") == [(len(body) + 2, " ")]  # "c |" short mid-section: only a section's bar line may follow
    assert masked_at(body + " |\n") == [(len(body) + 2, "\n")]  # nor may the tune stop there (sampling would end it early)
    assert masked_at(body + " || d") == [] and masked_at(body + " :| d") == [] and masked_at(body + " |]\n\n") == []
    assert masked_at(HEAD + "D | GAB cde |") == []  # an anacrusis
    assert masked_at(HEAD + "GAB cde || D | GAB cde |") == []  # a section's own pickup
    assert masked_at(HEAD + "GAB cde |\n\n") == [] and masked_at(HEAD + "GAB c |\n\n") == []  # a tune may end with a short bar


def test_headers_must_be_metre_length_and_key_lines() -> None:
    assert masked_at("M:6/8\nL:1/8\nK:Gmix\nG") == []
    assert masked_at("M:6/") == [] and masked_at("M:6/x")[0][1] == "x"
    assert masked_at("K:G")[0][1] == "K"  # a key before any metre: the tracker would not know the bar
    assert masked_at(HEAD + "GAB cde |\nM:3/4\nGAB cde |\nL:1/16\nG4A4B4 |") == []
    assert masked_at(HEAD + "GAB cde |\nM:3/4\nGAB cde f")[-1][1] == "f"


class Uniform:
    """A model with no opinion: equal logits for every character of `vocab` but those in `never` (window unbounded)."""

    window = None

    def __init__(self, vocab: list[str], never: str) -> None:
        self.logits = torch.tensor([float("-inf") if c in never else 0.0 for c in vocab])

    def __call__(self, ids: Tensor) -> Tensor:
        return self.logits.expand(*ids.shape, -1)

    def decode(self, ids: Tensor, state: Any) -> tuple[Tensor, Any]:
        return self(ids), None


def test_constrained_sampling_from_a_blind_model_writes_bars_music21_accepts() -> None:
    """A model that picks characters at random, steered by the tracker, writes tunes whose bars music21
    (the independent reader of tunes.metre_consistent) finds within the metre; unsteered it breaks them."""
    prompt, never = "M:3/4\nL:1/8\nK:D\nD2 ", "MLK:\n"  # the blind model writes no headers
    vocab = sorted(set("ABCDEFGabcdefgz23/>^ |" + prompt))  # characters music21 reads in any order, and the prompt's
    ids = torch.tensor([[vocab.index(c) for c in prompt]] * 6)
    steered = gpt.Steered(Uniform(vocab, never), MetreRule(vocab, 6))
    rows = gpt.generate(steered, ids, 120, torch.Generator().manual_seed(0))
    texts = ["".join(vocab[i] for i in row) for row in rows.tolist()]
    assert all(check_tune(t) == [] for t in texts)
    assert 0 < steered.masked_mass / (120 * 6) < 1 and steered.nats > 0
    assert all(tunes.metre_consistent(t + "|]") for t in texts), texts
    blind = gpt.generate(Uniform(vocab, never), ids, 120, torch.Generator().manual_seed(0))
    assert all(check_tune("".join(vocab[i] for i in row)) for row in blind.tolist())  # (music21 takes seconds on each of these)


def test_sampled_tunes_written_to_a_folder_get_midi_and_wav(tmp_path) -> None:
    """The music plugin's on_samples: each tune music21 reads gets NNNNN-K.mid/.wav beside its text, the
    MIDI holding the tune's pitches at their ABC onsets; texts without a tune get nothing."""
    import mido

    import zoo_music
    from zoo.samples import TextSamples

    texts = ["M:2/4\nL:1/8\nK:C\nCDEF | G2 z A/B/ |]\n\nM:3/4\nL:1/8\nK:G\n", "no tune here\n\n"]
    samples = TextSamples(texts)
    paths = samples.save(tmp_path / "out")
    zoo_music.on_samples(run=None, step=0, samples=samples, paths=paths)
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["00000-0.mid", "00000-0.wav", "00000.txt", "00001.txt", "samples.json"]
    onsets, now = [], 0
    for message in mido.MidiFile(tmp_path / "out" / "00000-0.mid").tracks[0]:
        now += message.time
        if message.type == "note_on" and message.velocity:
            onsets.append((now, message.note))
    quaver = 240  # ticks: 480 a quarter note
    assert onsets == [(0, 60), (quaver, 62), (2 * quaver, 64), (3 * quaver, 65), (4 * quaver, 67), (7 * quaver, 69), (7 * quaver + quaver // 2, 71)]
