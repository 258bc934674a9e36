"""Conversations with a model that chats (`capabilities.Chats`), for `zoo chat` and `zoo serve`.

A `Session` holds the messages, keeps them within the model's context window (the oldest exchanges go
first, with a note; a system message stays), and keeps what was shown of an answer stopped with Ctrl-C.
`open_chat` loads a run, or a preset's untrained starting point (`zoo chat smollm2`: the pretrained model).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from zoo.capabilities import Chats, check_conditions
from zoo.errors import UsageError

SETTINGS = ("temperature", "top_p", "top_k", "max_new_tokens")  # the sample conditions a chat takes
DEFAULTS = {"temperature": 0.7, "top_p": 0.9, "max_new_tokens": 256}  # answers a little more focused than plain sampling


@dataclass
class Answer:
    """One reply: its text, how many earlier messages were dropped to fit the context, whether Ctrl-C stopped it."""

    text: str
    dropped: int = 0
    stopped: bool = False


@dataclass
class Session:
    """A conversation with `model`; `settings` are sample conditions (temperature, top_p, top_k, max_new_tokens)."""

    model: Chats
    system: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    messages: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.settings) - set(SETTINGS))
        if unknown:
            raise UsageError(f"unknown chat setting {unknown[0]!r}; chats take {', '.join(SETTINGS)} (--set temperature=0.7)")
        self.settings = {**DEFAULTS, **check_conditions(self.model.conditions, self.settings)}  # type: ignore[attr-defined]
        if self.settings["max_new_tokens"] < 1:
            raise UsageError(f"max_new_tokens must be a positive integer, got {self.settings['max_new_tokens']}")
        self.generator = torch.Generator(next(self.model.parameters()).device).manual_seed(self.seed)  # type: ignore[attr-defined]
        self.model.chat_prompt([{"role": "user", "content": "hello"}])  # a model without a chat template refuses here, once

    @property
    def head(self) -> list[dict[str, str]]:
        """The system message that opens every prompt, kept when older turns go."""
        return [{"role": "system", "content": self.system}] if self.system else []

    def reset(self) -> None:
        self.messages = []

    def ask(self, text: str, stream: Callable[[str], Any] | None = None) -> Answer:
        """The model's answer to `text` after the conversation so far; Ctrl-C stops the answer, not the session."""
        turns, dropped = self.fit([*self.messages, {"role": "user", "content": text}])
        shown: list[str] = []

        def show(piece: str) -> None:
            shown.append(piece)
            if stream is not None:
                stream(piece)

        try:
            reply = self.model.reply(self.head + turns, generator=self.generator, stream=show, **self.settings)
            stopped = False
        except KeyboardInterrupt:
            reply, stopped = "".join(shown), True
        self.messages = [*turns, {"role": "assistant", "content": reply}]
        return Answer(reply, dropped, stopped)

    def fit(self, turns: list[dict[str, str]]) -> tuple[list[dict[str, str]], int]:
        """The conversation cut from the oldest end until its prompt (after the system message) and room for
        the answer (max_new_tokens, at most half the window) fit the context window; (messages, how many were
        dropped)."""
        head = self.head
        window = self.model.window
        budget = min(self.settings["max_new_tokens"], window // 2) if window else 0
        dropped = 0
        while window is not None and len(self.model.chat_prompt(head + turns)) + budget > window:
            if len(turns) == 1:
                size = len(self.model.chat_prompt(head + turns))
                raise UsageError(f"the message is {size} tokens with the chat template; with room for a {budget}-token answer it does not "
                                 f"fit the model's context window of {window} tokens: shorten it or lower max_new_tokens")
            cut = next((i for i in range(1, len(turns)) if turns[i]["role"] == "user"), len(turns) - 1)  # a whole exchange
            turns, dropped = turns[cut:], dropped + cut
        return turns, dropped


@contextlib.contextmanager
def open_chat(target: str, device: str = "cpu", weights: str = "ema") -> Iterator[Any]:
    """The model of run `target`, or a preset's starting point (its untrained model, the pretrained weights for
    a pretrained preset); refused unless the model chats."""
    from zoo.api import build, load
    from zoo.run import CONFIG_FILE, Run

    if (Path(target) / CONFIG_FILE).is_file():
        yield checked(load(target, device, weights=weights))  # type: ignore[arg-type]
        return
    if os.sep in target or target.startswith("."):
        raise UsageError(f"{target} is neither a zoo run directory (no {CONFIG_FILE}) nor a preset name (see `zoo list`)")
    from zoo import device as dev
    from zoo.data import load_dataset
    from zoo.presets import resolve
    from zoo.registry import get_catalog

    config = resolve(target)
    family = get_catalog().get("models", config.family).load()
    dev.seed_everything(config.seed)
    with tempfile.TemporaryDirectory() as tmp:  # the preset's assets (its tokenizer) live as long as the session
        run = Run(Path(tmp), config, family.setup(config.model, load_dataset(config.data, "train"), Path(tmp) / "assets"))
        yield checked(build(run, dev.resolve_device(device)).eval())


def checked(model: Any) -> Any:
    """`model`, if it chats."""
    if not isinstance(model, Chats):
        raise UsageError(f"this is a {model.modality} model, which does not chat; `zoo chat` takes a text run or preset")
    return model
