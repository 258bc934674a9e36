"""The music plugin: tokens, rendering, metrics on hand-checkable cases, ABC tunes, and bad input.

Fixtures are built at test time (MIDI files written by the plugin itself); nothing reads the corpus.
"""
from __future__ import annotations

import math
import warnings

import mido
import numpy as np
import pytest
import torch
from PIL import Image

from zoo.data.own import held_out
from zoo.errors import UsageError, ZooError
from zoo_music import data, metrics, render, scores, tokens, tunes
from zoo_music.family import MusicConfig, MusicFamily, scored_windows
from zoo_music.samples import MusicSamples

C_MAJOR_SCALE = [60, 62, 64, 65, 67, 69, 71, 72]


def roll_of(*frames: list[int]) -> np.ndarray:
    """A roll with one frame per list of MIDI pitches."""
    roll = np.zeros((len(frames), scores.KEYS), dtype=np.uint8)
    for t, pitches in enumerate(frames):
        roll[t, [p - scores.LOWEST for p in pitches]] = 1
    return roll


# ---- tokens ------------------------------------------------------------------------------------------
def test_voice_tokens_round_trip_and_order():
    roll = torch.from_numpy(roll_of([72, 67, 64, 48], [72, 64], [], [60, 60]))
    ids = tokens.encode(roll)
    assert ids.shape == (16,) and (tokens.VOICE_OF[ids] == torch.arange(4).repeat(4)).all()  # soprano..bass in every frame
    assert torch.equal(tokens.decode(ids[None])[0], roll)
    logits = tokens.VoiceOrder.mask(ids[None, :5], torch.zeros(1, 5, tokens.VOCAB))  # after the second frame's soprano: the alto
    allowed = torch.isfinite(logits[0, -1]).nonzero().flatten()
    assert (tokens.VOICE_OF[allowed] == 1).all() and tokens.END not in allowed.tolist()


def test_scored_windows_score_every_target_once():
    for length, T in ((30, 8), (9, 8), (100, 7), (17, 16)):
        scored = [s + 1 + k for s, first in scored_windows(length, T) for k in range(first, T)]
        assert sorted(scored) == list(range(1, length)), (length, T)


def test_gpt_stream_nll_equals_one_pass_when_the_window_covers_it():
    torch.manual_seed(0)
    model = MusicFamily(MusicConfig(arch="gpt", n_layer=1, n_head=1, n_embd=8, block_size=32), {"frames_per_quarter": 1}, None)  # type: ignore[arg-type]
    ids = torch.randint(0, tokens.VOCAB, (20,))
    assert model.stream_nll(ids, 4)[0] == pytest.approx(model.gpt.nll(ids[None]).item(), rel=1e-5)


# ---- rendering and samples ---------------------------------------------------------------------------
def test_notes_join_held_frames():
    roll = roll_of([60], [60, 64], [64], [], [60])
    assert render.notes(roll) == [(60 - 21, 0, 2), (64 - 21, 1, 3), (60 - 21, 4, 5)]


def test_samples_save_midi_wav_png_and_refuse_other_suffixes(tmp_path):
    from music21 import converter

    rolls = torch.from_numpy(np.stack([roll_of([60, 64, 67], [60, 64, 67], [62], [])] * 2))
    samples = MusicSamples(rolls, 1)
    files = samples.save(tmp_path / "out")
    assert sorted(f.name for f in files) == ["00000.mid", "00000.wav", "00001.mid", "00001.wav", "pianoroll.png", "samples.json"]
    midi = mido.MidiFile(tmp_path / "out" / "00000.mid")
    ons = [m.note for m in midi if m.type == "note_on" and m.velocity > 0]
    assert sorted(ons) == [60, 62, 64, 67] and math.isclose(midi.length, 3 * 60 / render.TEMPO)
    parsed = converter.parse(tmp_path / "out" / "00000.mid")
    assert sorted(p.midi for n in parsed.flatten().notes for p in n.pitches) == [60, 62, 64, 67]
    assert samples.save(tmp_path / "all.mid") == [tmp_path / "all.mid"] and len(mido.MidiFile(tmp_path / "all.mid").tracks) == 1
    assert (tmp_path / "x.png").name in [p.name for p in samples.save(tmp_path / "x.png")]
    with Image.open(samples.save(tmp_path / "x.jpg")[0]) as sheet:  # the piano rolls as a JPEG too
        assert sheet.format == "JPEG"
    from scipy.io import wavfile

    rate, wave = wavfile.read(samples.save(tmp_path / "x.wav")[0])
    assert rate == render.SAMPLE_RATE and len(wave) >= 2 * (4 + 2) * 60 / render.TEMPO * rate and np.abs(wave).max() > 0
    page = samples._repr_html_()  # what Jupyter, zoo report and zoo serve show
    assert page.count("<audio") == 2 and page.count("data:image/png") == 1
    with pytest.raises(UsageError, match=r"\.mid, \.wav, \.png or \.jpg"):
        samples.save(tmp_path / "x.abc")


def test_synthesizer_is_silent_for_silence_and_bounded():
    assert not render.synthesize(roll_of([], []), 1).any()
    wave = render.synthesize(roll_of([21, 60, 108]), 1)
    assert np.abs(wave).max() <= 0.8 + 1e-6 and np.abs(wave).max() > 0.5


# ---- metrics -----------------------------------------------------------------------------------------
def test_pitch_class_distance_is_zero_for_the_same_and_one_for_disjoint():
    scale = roll_of(*[[p] for p in C_MAJOR_SCALE])
    same = metrics.pitch_class_histogram([scale])
    assert metrics.total_variation(same, metrics.pitch_class_histogram([scale.copy()])) == 0
    black_keys = roll_of([61], [63], [66])
    assert metrics.total_variation(same, metrics.pitch_class_histogram([black_keys])) == pytest.approx(1.0)


def test_statistics_by_hand():
    roll = roll_of([60, 64, 67], [60, 64, 67], [], [72])
    assert metrics.pitch_range(roll) == 12
    assert metrics.polyphony(roll) == pytest.approx((3 + 3 + 1) / 3)
    assert metrics.note_density(roll, 1) == pytest.approx(4 / 4)  # 4 notes in 4 quarter notes
    assert metrics.note_density(roll, 2) == pytest.approx(4 / 2)


def test_c_major_scale_is_all_in_key_and_detected_as_c_major():
    scale = roll_of(*[[p] for p in C_MAJOR_SCALE])
    assert metrics.detect_key(metrics.pitch_class_histogram([scale])) == (0, "major")
    assert metrics.in_key_fraction([scale]) == 1.0
    assert metrics.in_key_fraction([roll_of(*[[p] for p in C_MAJOR_SCALE], [61], [66])]) == pytest.approx(8 / 10)


# ---- ABC tunes -----------------------------------------------------------------------------------------
GOOD_TUNE = "M:4/4\nL:1/8\nK:G\nD2|G2B2 d2B2|A2F2 D4|G2B2 d2g2|f2a2 g2||"


def test_clean_tune_keeps_timing_headers_and_notes_only():
    raw = 'X: 7\nT: A Tune\nB: "book"\nN: slow\nM: 2/4\nL: 1/8\nZ: me\nK:D\n% comment\n">"(d2 {e}c).B \\\n| ~A2 (3FGA |\nN: inner note\nd!trill!efTg|]'
    number, tune = tunes.clean_tune(raw)
    assert number == "7" and tune == "M:2/4\nL:1/8\nK:D\nd2 cB\n| A2 (3FGA |\ndefg|]"
    assert tunes.clean_tune("X: 8\nT: no key\nabc|") is None
    assert tunes.clean_tune("X: 9\nM:6/8\nK:Amin\nabc|")[1] == "M:6/8\nK:Am\nabc|"
    assert tunes.clean_tune("X: 10\nK:HP\nabc|") is None  # a key spelling the model need not learn


def test_finished_tunes_drop_the_cut_off_one_and_fragments():
    other = GOOD_TUNE.replace("K:G", "K:D")
    text = "\nC2|de||\n\n" + GOOD_TUNE + "\n\n" + other + "\n\nM:3/4\nK:C\nab"
    assert tunes.finished_tunes(text) == [GOOD_TUNE, other]
    assert tunes.finished_tunes(text + "\n\n")[-1].startswith("M:3/4")


def test_metre_check_accepts_pickups_and_rejects_overfull_bars_and_garbage():
    assert tunes.metre_consistent(GOOD_TUNE)
    assert not tunes.metre_consistent(GOOD_TUNE.replace("A2F2 D4", "A2F2 D4 E4"))  # a bar of six quarters in 4/4
    assert not tunes.metre_consistent("M:4/4\nK:C\n((((]]]]::||[[[K:\n")  # never a crash, just inconsistent
    assert not tunes.metre_consistent("")


# ---- scores and bad input ------------------------------------------------------------------------------
def test_corrupt_score_is_one_line(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd this is not a midi file")
    with pytest.raises(ZooError, match="cannot read bad.mid") as err:
        scores.read_score(bad)
    assert "\n" not in str(err.value)


def test_own_folder_moves_to_c_major_and_skips_corrupt_files(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "scores"
    folder.mkdir()
    g_major = roll_of(*[[p] for p in (55, 57, 59, 60, 62, 64, 66, 67)], [55, 59, 62], [55, 59, 62])
    names = [f"piece{i}.mid" for i in range(40)]
    train = [n for n in names if not held_out(n, data.CHORALE_TEST_FRACTION)][:3]
    test = [n for n in names if held_out(n, data.CHORALE_TEST_FRACTION)][:1]
    for i, name in enumerate(train + test + ["zz-copy.mid"]):  # distinct pieces (a held last chord of i + 1 frames), then one repeated
        (folder / name).write_bytes(render.midi_bytes(np.concatenate([g_major] + [g_major[-1:]] * (i % 4 + 1)), 1))
    (folder / "broken.mid").write_bytes(b"\x00garbage")
    config = data.MusicDataConfig(dataset="bach-chorales", path=str(folder))
    with pytest.warns(UserWarning, match="skipped 1 unreadable score file"):
        pieces = data.load_chorales(folder, "train", config)
    assert len(pieces) == 3 and pieces.info["skipped_files"] == 1 and sorted(pieces.names) == sorted(train)
    assert data.parsed_rolls(config)["duplicates"] == 1
    first = pieces.piece(0).numpy()
    assert render.notes(first)[0][0] + scores.LOWEST == 60  # G moved up a fourth to C
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second read comes from the cache: no parsing, no warning
        assert len(data.load_chorales(folder, "test", config)) == 1
    batch = pieces.batch(torch.tensor([0, 2]))
    lengths = pieces.lengths[[0, 2]]
    assert batch["x"].shape == (2, int(lengths.max()), 88) and batch["mask"].sum(1).tolist() == lengths.tolist()
    assert torch.equal(batch["x"][0, : lengths[0]], pieces.piece(0).float()) and not batch["x"][0, lengths[0] :].any()
    with pytest.raises(UsageError, match="splits train and test"):
        data.load_chorales(folder, "valid", config)


def test_data_option_on_a_music_preset_points_its_dataset_at_the_folder(tmp_path):
    from zoo.api import _own_data

    folder = tmp_path / "scores"
    folder.mkdir()
    assert _own_data("lstm-chorales", folder) == {"data.path": str(folder.resolve())}
    assert _own_data("gpt-folk", folder)["data.dataset"] == "text-files"  # ABC text goes through the text source


def test_datasets_lists_the_corpus_datasets_as_needing_no_files():
    from click.testing import CliRunner

    from zoo.cli import cli

    rows = {line.split()[0]: line for line in CliRunner().invoke(cli, ["datasets"]).output.splitlines() if line.strip()}
    assert "no files needed (plugin" in rows["bach-chorales"] and "missing" not in rows["folk-abc"]
