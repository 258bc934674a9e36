"""The text family: autoregressive language models (GPT-2 style, LSTM) trained from scratch on Tiny Shakespeare, and
pretrained transformers models fine-tuned (LoRA or full) on text or chat conversations."""
from __future__ import annotations

from zoo.data.spec import DatasetSpec
from zoo.hookspecs import hookimpl

TINY_SHAKESPEARE = DatasetSpec(
    name="tinyshakespeare",
    modality="text",
    description="Tiny Shakespeare (char-rnn's corpus), 1.1 MB of plays; train = first 90%, test = last 10% (nanoGPT's validation split)",
    files={"input.txt": "sha256:86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"},
    loader="zoo_text.data:load_text_split",
    subdirs=["tinyshakespeare", "shakespeare_char"],
    urls={"input.txt": "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"},
    license="public domain text (Shakespeare), compiled by Andrej Karpathy for char-rnn",
)


CHATTERBOT = DatasetSpec(
    name="chatterbot",
    modality="text",
    description="ChatterBot's English dialogue corpus (899 short conversations, user/assistant turns, JSONL); test = a 10% hash hold-out",
    files={"train.jsonl": "sha256:bad5f9ba88dd32efff82c46d8d56e7d308d0f50f7bf691e144c48216fc1a279d",
           "test.jsonl": "sha256:1eabc30c7e139d0d53b55d117d5285139ca570d26d927f426a12a5811d133ede"},
    loader="zoo_text.conversations:load_split",
    subdirs=["chatterbot"],
    license="BSD (chatterbot-corpus 1.3.3 on PyPI, by Gunther Cox and contributors); converted by bench/chatterbot_dialogues.py",
)


@hookimpl
def register_models(register) -> None:
    register("text", "zoo_text.family:TextFamily")


@hookimpl
def register_datasets(register) -> None:
    register(TINY_SHAKESPEARE.name, TINY_SHAKESPEARE)
    register(CHATTERBOT.name, CHATTERBOT)
