"""folk-rnn's tokens for ABC text (Sturm et al. 2016, "Music transcription modelling and composition using
deep learning"): a text model writes a tune one musical symbol at a time, `model.tokenizer: folkrnn`.

One token per metre, unit-length or key line (`M:6/8`, `L:1/8`, `K:Gm`), per note or rest with its
accidentals and octave marks (`^f`, `=C`, `B,`, `c'`, `z`), per length (`2`, `/2`, `3/2`, `/`), per bar
line with its repeat marks and ending number (`|`, `||`, `|]`, `|:`, `:|`, `:|2`, `|1`, `::`), per ending
(`[1`), per tuplet (`(3`); every other character is a token of its own (`>`, `<`, `-`, a space, a line break).

Unlike folk-rnn, which drops them, spaces and line breaks stay tokens: decoding gives back the text exactly,
so music21 and `abc_metre` read a sample as they read a character model's, and the validation bits per
character of the two tokenizers are charged for the same text. Keys keep the corpus's spelling (`K:G`,
not folk-rnn's `K:Gmaj`). The vocabulary is every piece of the training text: a metre or key it never
holds (`K:Bbm`) is unknown, as a character is to the char tokenizer.
"""
from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

PATTERN = "|".join((
    r"[MLK]:[^\n]*",  # a metre, unit-length or key line (no note is named M, L or K)
    r"\[[12]",  # an ending
    r":*\|[|\]]?:*[12]?",  # a bar line: | || |] |: :| :|| :|2 |1 ...
    r"::",  # a double repeat
    r"\([2-9]",  # a tuplet
    r"[_=^]*[A-Ga-gzx][,']*",  # a note or rest, its accidentals and octave marks
    r"[0-9]*/+[0-9]*|[0-9]+",  # a length
    r"\n",
    r".",  # anything else, one character at a time
))


def train_folkrnn(pieces: Iterable[str]) -> PreTrainedTokenizerFast:
    """A word-level vocabulary of the text's folk-rnn tokens (sorted), as a fast tokenizer that splits by `PATTERN`
    (given one string or pieces of it)."""
    split = pre_tokenizers.Split(Regex(PATTERN), "isolated")
    found: set[str] = set()
    for piece in [pieces] if isinstance(pieces, str) else pieces:
        found.update(token for token, _ in split.pre_tokenize_str(piece))
    tok = Tokenizer(models.WordLevel({token: i for i, token in enumerate(sorted(found))}, unk_token=None))
    tok.pre_tokenizer = split
    tok.decoder = decoders.Fuse()  # join the tokens' texts as they are
    return PreTrainedTokenizerFast(tokenizer_object=tok, clean_up_tokenization_spaces=False)
