"""folk-rnn's ABC tokens (zoo_music.folkrnn) as the text family's `model.tokenizer: folkrnn`: the tokens of a
hand-tokenized tune, exact round trips on hand-written and corpus tunes, unknown tokens, and a tiny GPT
that learns a tune in these tokens and writes it back as ABC that music21 times correctly."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from zoo.contract import FamilyContext
from zoo.data.tensors import TextData
from zoo.errors import UsageError
from zoo.presets import resolve
from zoo.registry import get_catalog
from zoo_music import tunes
from zoo_music.folkrnn import train_folkrnn
from zoo_text import tokenizer as tok

TUNE = "M:6/8\nL:1/8\nK:Gm\n|: ^f2 =C/2B, c'>d (3ABc :|2 z3 |]\n[1 _e/ x//|\n\n"
TOKENS = [  # by hand: one token per field line, note (with its accidental and octave mark), length, bar line, tuplet, ending
    "M:6/8", "\n", "L:1/8", "\n", "K:Gm", "\n",
    "|:", " ", "^f", "2", " ", "=C", "/2", "B,", " ", "c'", ">", "d", " ", "(3", "A", "B", "c", " ", ":|2", " ", "z", "3", " ", "|]", "\n",
    "[1", " ", "_e", "/", " ", "x", "//", "|", "\n", "\n",
]
HAND_WRITTEN = [  # the metre tracker's test tunes: anacrusis, repeats, endings, tuplets, a metre change, shortened notes
    "M:6/8\nL:1/8\nK:G\nGAB cde | d2B G3 | A>BA G2E | D3 D3 ||\n\n",
    "M:C|\nL:1/8\nK:D\nd>c | B2 AF D2 FA | d2 fe d4 :|\n\n",
    "M:2/4\nL:1/16\nK:Am\n|: A2B2 c4 | (3BcB A2 E4 | A8 :|2 A4 z4 |]\n\n",
    "M:3/4\nL:1/8\nK:G\nG2 B2 d2 | g6 |\nM:2/4\nG2 B2 | d4 |]\n\n",
    "M:6/8\nL:1/8\nK:G\nG/A/B c2 e | d3 z3 ||\n\n",
]
TINY = {"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 96, "dropout": 0.0}


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: tiny models run on one intra-op thread


def test_tokens_of_a_hand_tokenized_tune() -> None:
    t = train_folkrnn(TUNE)
    assert tok.pieces(t, TUNE) == TOKENS
    assert len(t) == len(set(TOKENS)) and tok.decode(t, tok.encode(t, TUNE).tolist()) == TUNE


def test_hand_written_tunes_round_trip() -> None:
    t = train_folkrnn(HAND_WRITTEN)
    for tune in HAND_WRITTEN:
        ids = tok.encode(t, tune)
        assert tok.decode(t, ids.tolist()) == tune
        assert len(ids) < len(tune)  # "M:6/8", "^f", "3/2", ":|" are one token each


def test_corpus_tunes_round_trip_and_are_fewer_tokens_than_characters() -> None:
    from zoo_music.data import oneills_tunes

    text = "".join(tune + "\n\n" for _, tune in oneills_tunes()[:300])
    t = train_folkrnn(text)
    ids = tok.encode(t, text)
    assert tok.decode(t, ids.tolist()) == text
    assert len(ids) < len(text) and {"M:6/8", "K:G", "L:1/8", "(3", "|:", ":|", "/2"} <= set(t.get_vocab())


def test_registered_through_the_hook_and_checked_by_name() -> None:
    from zoo_text.family import TextConfig, check_config

    assert get_catalog().tokenizers["folkrnn"].plugin == "music"
    check_config(TextConfig(tokenizer="folkrnn"))
    with pytest.raises(UsageError, match="did you mean folkrnn"):
        check_config(TextConfig(tokenizer="folkrn"))


def test_a_held_out_token_the_training_text_lacks_is_left_out_with_a_warning() -> None:
    from zoo_text.data import known_text

    t = train_folkrnn(HAND_WRITTEN)
    with pytest.warns(UserWarning, match=r"left 1 token\(s\) of the test split out.*K:Bbm"):
        kept = list(known_text(iter(["M:6/8\nL:1/8\nK:Bbm\nGAB cde |\n\n"]), t, "test"))
    assert kept == ["M:6/8\nL:1/8\n\nGAB cde |\n\n"]


@pytest.fixture(scope="module")
def learnt(tmp_path_factory):
    """A tiny GPT that has learnt one tune in folk-rnn tokens (one window: zero loss is reachable)."""
    from zoo_text.family import TextConfig

    Family = get_catalog().get("models", "text").load()
    folder = tmp_path_factory.mktemp("folkrnn")
    tune = HAND_WRITTEN[0] + HAND_WRITTEN[2]
    Family.setup(TextConfig(tokenizer="folkrnn", **TINY), TextData(tune), folder)
    torch.manual_seed(0)
    model = Family(TextConfig(tokenizer="folkrnn", **TINY), {"vocab_size": len(tok.load(folder))}, FamilyContext(folder, resolve("gpt-folk-rnn").data))
    ids = tok.encode(model.tokenizer, tune)[None]
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        loss = model.loss(ids)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model, tune, loss.item()


def test_a_learnt_tune_is_written_back_as_abc_music21_times(learnt) -> None:
    model, tune, loss = learnt
    assert loss < 0.02 and tok.kind(model.tokenizer) == "folkrnn"
    assert (Path(model.context.assets) / "tokenizer.json").is_file()
    text = model.sample(1, prompt="M:6/8", max_new_tokens=len(tok.encode(model.tokenizer, tune)) - 1, temperature=0).texts[0]
    assert text == tune
    assert [tunes.metre_consistent(t) for t in tunes.finished_tunes(text)] == [True, True]


def test_metre_constraint_and_unknown_prompts_are_one_line_errors(learnt) -> None:
    model, _, _ = learnt
    with pytest.raises(UsageError, match="constrain=metre reads characters; this model's tokenizer is folkrnn"):
        model.sample(1, constrain="metre")
    with pytest.raises(UsageError, match="tokens outside this model's vocabulary: 'K:Bbm'"):
        model.sample(1, prompt="M:6/8\nK:Bbm\n")
