"""Tokenizers trained on a run's train split and saved with it as Hugging Face fast tokenizers.

`char`: one token per character of the training text (a WordLevel model over single characters, split
by `Split("", "isolated")`), so decode(encode(text)) is the identity on any text made of those
characters. A character the training text lacks has no token: the tokenizer raises rather than drop it,
and sampling rejects such prompts naming the characters.
`bpe`: byte-level BPE (GPT-2's scheme) trained with `tokenizers`; every string encodes, nothing is unknown.
Both are saved as `tokenizer.json` + `tokenizer_config.json`, so `AutoTokenizer.from_pretrained` loads them.
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


def is_char(tokenizer: PreTrainedTokenizerFast) -> bool:
    """True for a character vocabulary (every token one character)."""
    return isinstance(tokenizer.backend_tokenizer.model, models.WordLevel) and all(len(t) == 1 for t in tokenizer.get_vocab())


def unknown_characters(tokenizer: PreTrainedTokenizerFast, text: str) -> list[str]:
    """The distinct characters of `text` that the tokenizer cannot encode (only char vocabularies have any)."""
    if not is_char(tokenizer):
        return []
    return sorted(set(text) - set(tokenizer.get_vocab()))


def encode(tokenizer: PreTrainedTokenizerFast, text: str) -> Tensor:
    """Token ids of `text` (int64, 1-D). Char vocabularies go through a code-point table: the same ids as
    the tokenizer, about 100× faster on a 1 MB corpus."""
    unknown = unknown_characters(tokenizer, text)
    if unknown:
        raise ZooError(f"the text has characters outside the tokenizer's vocabulary: {''.join(unknown)!r}", hint="train a new run on this text")
    if not text:
        return torch.zeros(0, dtype=torch.long)
    if not is_char(tokenizer):
        return torch.tensor(tokenizer.backend_tokenizer.encode(text, add_special_tokens=False).ids, dtype=torch.long)  # text, no BOS
    codes = torch.frombuffer(bytearray(text.encode("utf-32-le")), dtype=torch.int32).long()
    vocab = tokenizer.get_vocab()
    table = torch.zeros(max(map(ord, vocab)) + 1, dtype=torch.long)
    table[torch.tensor([ord(c) for c in vocab])] = torch.tensor(list(vocab.values()))
    return table[codes]


def decode(tokenizer: PreTrainedTokenizerFast, ids: list[int]) -> str:
    return tokenizer.decode(ids, clean_up_tokenization_spaces=False)
