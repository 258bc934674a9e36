"""Tokenizers trained on a run's train split and saved with it as Hugging Face fast tokenizers.

`char`: one token per character of the training text (a WordLevel model over single characters, split
by `Split("", "isolated")`), so decode(encode(text)) is the identity on any text made of those
characters. A character the training text lacks has no token: the tokenizer raises rather than drop it,
and sampling rejects such prompts naming the characters.
`bpe`: byte-level BPE (GPT-2's scheme) trained with `tokenizers`; every string encodes, nothing is unknown.
Both are saved as `tokenizer.json` + `tokenizer_config.json`, so `AutoTokenizer.from_pretrained` loads them.
Plugins register more (`register_tokenizers`, e.g. the music plugin's `folkrnn`): a word-level one of those
splits text into pieces by its pre-tokenizer, and a piece the training text lacks is unknown as a
character is to `char`.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from torch import Tensor
from transformers import PreTrainedTokenizerFast

from zoo.errors import ZooError

ENDOFTEXT = "<|endoftext|>"  # BPE's one special token (GPT-2's end-of-text); never in the corpus
KIND_KEY = "zoo_tokenizer"  # tokenizer_config.json's record of a registered tokenizer's name


def train_char(pieces: Iterable[str]) -> PreTrainedTokenizerFast:
    """A character vocabulary: the sorted distinct characters of the text (nanoGPT's shakespeare_char),
    given as one string or pieces of it."""
    vocab = {c: i for i, c in enumerate(sorted(set().union(*map(set, [pieces] if isinstance(pieces, str) else pieces))))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")  # every character its own piece
    tok.decoder = decoders.Fuse()  # join pieces without the default spaces
    return PreTrainedTokenizerFast(tokenizer_object=tok, clean_up_tokenization_spaces=False)


def train_bpe(pieces: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE with `vocab_size` tokens (256 bytes + end-of-text + merges) learnt from the text
    (one string or pieces of it)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[ENDOFTEXT], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator([pieces] if isinstance(pieces, str) else pieces, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=ENDOFTEXT, clean_up_tokenization_spaces=False)


def load(folder: Path) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast.from_pretrained(str(folder))


def is_word_level(tokenizer: PreTrainedTokenizerFast) -> bool:
    """True for a vocabulary of whole pieces (char, or a registered one such as folkrnn): no fallback for others."""
    return isinstance(tokenizer.backend_tokenizer.model, models.WordLevel)


def is_char(tokenizer: PreTrainedTokenizerFast) -> bool:
    """True for a character vocabulary (every token one character)."""
    return is_word_level(tokenizer) and all(len(t) == 1 for t in tokenizer.get_vocab())


def kind(tokenizer: PreTrainedTokenizerFast) -> str:
    """The name `model.tokenizer` gave the tokenizer: char, bpe, or the registered name saved with it."""
    return tokenizer.init_kwargs.get(KIND_KEY) or ("char" if is_char(tokenizer) else "bpe")


def pieces(tokenizer: PreTrainedTokenizerFast, text: str) -> list[str]:
    """`text` cut as the tokenizer's pre-tokenizer cuts it (for a word-level vocabulary: its tokens' texts)."""
    return [piece for piece, _ in tokenizer.backend_tokenizer.pre_tokenizer.pre_tokenize_str(text)]


def unknown_pieces(tokenizer: PreTrainedTokenizerFast, text: str) -> list[str]:
    """The distinct pieces of `text` that the tokenizer cannot encode, sorted: characters for `char`, tokens'
    texts for another word-level vocabulary (folkrnn's `K:Bbm`), none for BPE."""
    if not is_word_level(tokenizer):
        return []
    return sorted(set(text if is_char(tokenizer) else pieces(tokenizer, text)) - set(tokenizer.get_vocab()))


def encode(tokenizer: PreTrainedTokenizerFast, text: str) -> Tensor:
    """Token ids of `text` (int64, 1-D). Char vocabularies go through a code-point table: the same ids as
    the tokenizer, about 100× faster on a 1 MB corpus."""
    unknown = unknown_pieces(tokenizer, text)
    if unknown:
        raise ZooError(f"the text has {noun(tokenizer)} outside the tokenizer's vocabulary: {', '.join(map(repr, unknown))}", hint="train a new run on this text")
    if not text:
        return torch.zeros(0, dtype=torch.long)
    if not is_char(tokenizer):
        return torch.tensor(tokenizer.backend_tokenizer.encode(text, add_special_tokens=False).ids, dtype=torch.long)  # text, no BOS
    codes = torch.frombuffer(bytearray(text.encode("utf-32-le")), dtype=torch.int32).long()
    vocab = tokenizer.get_vocab()
    table = torch.zeros(max(map(ord, vocab)) + 1, dtype=torch.long)
    table[torch.tensor([ord(c) for c in vocab])] = torch.tensor(list(vocab.values()))
    return table[codes]


def noun(tokenizer: PreTrainedTokenizerFast) -> str:
    """What an unknown piece is called in messages."""
    return "characters" if is_char(tokenizer) else "tokens"


def decode(tokenizer: PreTrainedTokenizerFast, ids: list[int]) -> str:
    return tokenizer.decode(ids, clean_up_tokenization_spaces=False)
