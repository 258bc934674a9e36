"""Chat conversations as training data: JSONL files of `{"messages": [{"role": ..., "content": ...}, ...]}`,
rendered with the model's own chat template, the loss on the assistant's turns only.

Where a conversation's assistant turns are: the template renders the conversation up to each assistant
turn with the assistant's cue (`add_generation_prompt`), and up to the end of that turn; the characters
between the two are the turn (its text and its end-of-turn token), and the tokens starting inside them are
the ones the loss counts. This needs no `{% generation %}` markers, so it works with any template that
renders a conversation's beginning as a prefix of the whole (ChatML, Llama's, Mistral's).

A conversation is one row of a batch, padded on the right (the attention is causal, so padding never
reaches a real position) and cut at `block_size + 1` tokens; one cut before its first assistant token is
left out, with a warning counting them. A batch is as wide as its longest row.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo.config import DataConfig
from zoo.data.own import TextFiles
from zoo.errors import UsageError

ROLES = ("system", "user", "assistant")
IGNORE = -100  # F.cross_entropy's ignore_index: targets that carry no loss
Messages = list[dict[str, str]]


@dataclass
class Conversations:
    """A split of conversations, each a list of {role, content} messages."""

    items: list[Messages]
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)


def check_messages(messages: Any, where: str) -> Messages:
    """The messages of one conversation, validated; `where` (file:line) starts every error."""
    if not isinstance(messages, list) or not messages:
        raise UsageError(f"{where}: \"messages\" must be a non-empty list of {{\"role\": ..., \"content\": ...}}")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("content"), str) or "role" not in m:
            raise UsageError(f"{where}: message {i + 1} must be {{\"role\": ..., \"content\": \"text\"}}, got {json.dumps(m)[:80]}")
        if m["role"] not in ROLES:
            raise UsageError(f"{where}: message {i + 1} has the unknown role {m['role']!r}; roles are {', '.join(ROLES)}")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def parse_line(line: str, where: str) -> Messages:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise UsageError(f"{where}: not a JSON object ({err.msg} at column {err.colno})") from None
    if not isinstance(record, dict) or "messages" not in record:
        raise UsageError(f"{where}: each line must be an object with \"messages\", e.g. {{\"messages\": [{{\"role\": \"user\", \"content\": \"Hi\"}}]}}")
    messages = check_messages(record["messages"], where)
    if not any(m["role"] == "assistant" for m in messages):
        raise UsageError(f"{where}: the conversation has no assistant message, so nothing to learn from")
    return messages


def read_lines(path: Path, first: int = 0, last: int | None = None) -> list[Messages]:
    """The conversations of a JSONL file whose lines start at characters [first, last) of its text."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise UsageError(f"{path} is not valid UTF-8 at byte {err.start}") from None
    out, at = [], 0
    for number, line in enumerate(text.split("\n"), 1):  # only newlines end a line (JSON strings may hold U+2028)
        if first <= at < (len(text) + 1 if last is None else last) and line.strip():
            out.append(parse_line(line, f"{path}:{number}"))
        at += len(line) + 1
    return out


def load_split(folder: Path, split: str, config: DataConfig) -> Conversations:
    """A registered dialogue dataset: `train.jsonl` and `test.jsonl` in its folder."""
    if split not in ("train", "test"):
        raise UsageError(f"dataset {config.dataset!r} has splits train and test, not {split!r}")
    return Conversations(read_lines(Path(folder) / f"{split}.jsonl"), {"split": split})


def is_conversations(data: Any) -> bool:
    """A registered dialogue split, or your own JSONL files (`--data chats.jsonl`, read as text files)."""
    return isinstance(data, Conversations) or (isinstance(data, TextFiles) and all(f.suffix.lower() == ".jsonl" for f in data.files))


def from_text(data: Any) -> Conversations | None:
    """Conversations from a split: as they are, or from your own JSONL, the conversations whose line starts
    inside this split's characters (the last 10% of the characters, so whole lines, validate); None for text."""
    if not is_conversations(data):
        return None
    if isinstance(data, Conversations):
        return data
    items, offset = [], 0
    for path in data.files:
        length = len(path.read_text(encoding="utf-8", errors="replace"))
        items += read_lines(path, data.span[0] - offset, data.span[1] - offset)
        offset += length + 1  # the files are joined by newlines
    if not items:
        raise UsageError(f"the {data.info.get('split', 'text')} split of {data.files[0].parent} holds no conversation; add lines or change data.test_fraction")
    return Conversations(items, dict(data.info))


# ---- rendering -------------------------------------------------------------------------------------
def has_template(tokenizer: Any) -> bool:
    return bool(tokenizer.chat_template)


def prompt_ids(tokenizer: Any, messages: Messages) -> list[int]:
    """The conversation rendered with the chat template and the assistant's cue: what a reply continues."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def render(tokenizer: Any, messages: Messages) -> tuple[list[int], list[bool]]:
    """Token ids of the whole conversation, and for each whether it belongs to an assistant turn."""
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start = tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True) if i else ""
        end = tokenizer.apply_chat_template(messages[: i + 1], tokenize=False)
        if not (text.startswith(end) and end.startswith(start)):
            raise UsageError("this model's chat template does not render a conversation's beginning as a prefix of the whole, "
                             "so its assistant turns cannot be found; train on plain text instead")
        spans.append((len(start), len(end)))
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [any(a <= s < b for a, b in spans) for s, _ in encoded["offset_mapping"]]
    return encoded["input_ids"], mask


@dataclass
class ChatBatches:
    """Rendered conversations, one per row: ids N×(T+1) padded, `counts` N×(T+1) the assistant tokens,
    `lengths` N, and `chars`, `nbytes` N, the characters and UTF-8 bytes of each row's assistant tokens
    (for bits per character and per byte)."""

    ids: Tensor
    counts: Tensor
    lengths: Tensor
    chars: Tensor
    nbytes: Tensor
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def batch(self, idx: Tensor) -> dict[str, Tensor]:
        """x N×L inputs, y N×L next tokens (IGNORE outside assistant turns and in padding), L + 1 the longest row's length."""
        width = int(self.lengths[idx].max())
        ids, counts = self.ids[idx, :width], self.counts[idx, 1:width]
        return {"x": ids[:, :-1], "y": ids[:, 1:].masked_fill(~counts, IGNORE)}

    def to(self, device: torch.device) -> "ChatBatches":
        return ChatBatches(*(t.to(device) for t in (self.ids, self.counts, self.lengths, self.chars, self.nbytes)), self.info)


def batches(conversations: Conversations, tokenizer: Any, block_size: int, pad: int) -> ChatBatches:
    """Render every conversation (cut at block_size + 1 tokens) into one padded tensor."""
    rows, masks, texts, cut = [], [], [], 0
    for messages in conversations.items:
        ids, mask = render(tokenizer, messages)
        if len(ids) > block_size + 1:
            ids, mask = ids[: block_size + 1], mask[: block_size + 1]
            cut += 1
        targets = [t for t, m in zip(ids[1:], mask[1:]) if m]
        if not targets:
            continue
        rows.append(ids)
        masks.append(mask)
        texts.append(tokenizer.decode(targets, skip_special_tokens=True))
    split = conversations.info.get("split", "data")
    if cut:
        warnings.warn(f"{cut} of {len(conversations)} {split} conversations are longer than model.block_size={block_size} tokens and were cut "
                      f"({len(conversations) - len(rows)} left out: no assistant token before the cut)", stacklevel=2)
    if not rows:
        raise UsageError(f"no {split} conversation has an assistant token within model.block_size={block_size} tokens; raise model.block_size")
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    counts = torch.zeros(len(rows), width, dtype=torch.bool)
    for i, (row, mask) in enumerate(zip(rows, masks)):
        ids[i, : len(row)] = torch.tensor(row)
        counts[i, : len(mask)] = torch.tensor(mask)
    info = {**conversations.info, "conversations": len(rows), "tokens": int(sum(map(len, rows)))}
    lengths = torch.tensor([len(r) for r in rows])
    return ChatBatches(ids, counts, lengths, torch.tensor([len(t) for t in texts]), torch.tensor([len(t.encode()) for t in texts]), info)
