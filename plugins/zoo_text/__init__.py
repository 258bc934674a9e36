"""The text family: autoregressive character- and BPE-level language models (GPT-2 style, LSTM) on Tiny Shakespeare."""
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


@hookimpl
def register_models(register) -> None:
    register("text", "zoo_text.family:TextFamily")


@hookimpl
def register_datasets(register) -> None:
    register(TINY_SHAKESPEARE.name, TINY_SHAKESPEARE)
