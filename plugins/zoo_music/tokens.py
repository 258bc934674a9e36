"""Four-voice tokens for the chorale GPT: each frame is four tokens, soprano to bass, each a key or a rest.

A frame's sounding keys, highest first, fill the four voices (fewer keys leave the low voices resting),
so the tokens are a function of the piano roll and decode back to it exactly for frames of at most four
keys (every frame of a four-part chorale on the quarter-note grid). A token carries its voice: voice v
resting is 1 + v·SLOTS, voice v on key k is 2 + v·SLOTS + k; token 0 ends a piece.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from zoo_music.scores import KEYS

VOICES = 4
SLOTS = KEYS + 1  # a rest, then the 88 keys
END = 0
VOCAB = 1 + VOICES * SLOTS
VOICE_OF = torch.cat([torch.tensor([VOICES - 1]), torch.arange(VOICES).repeat_interleave(SLOTS)])  # token -> voice (END: after the bass)


def encode(roll: Tensor) -> Tensor:
    """Roll T×88 -> tokens (4T,): per frame the four highest sounding keys, highest first."""
    keys = torch.arange(KEYS, device=roll.device).expand(len(roll), KEYS)
    top = torch.where(roll.bool(), keys, -1).topk(VOICES, dim=1).values  # T×4 keys, descending; -1: no key
    return (1 + torch.arange(VOICES, device=roll.device) * SLOTS + top + 1).flatten()


def decode(ids: Tensor) -> Tensor:
    """Tokens N×4T in voice order (as `VoiceOrder` samples them) -> rolls N×T×88 uint8."""
    slots = ((ids - 1) % SLOTS).reshape(len(ids), -1, VOICES)  # N×T×4: 0 rest, 1 + k key k
    rolls = torch.zeros(*slots.shape[:2], KEYS + 1, dtype=torch.uint8, device=ids.device)
    return rolls.scatter_(2, slots, 1)[..., 1:]


class VoiceOrder:
    """A token model seen through `zoo.nn.gpt.steps` with each next token held to the voice that comes
    next, and never END: every sample is whole frames, soprano to bass."""

    def __init__(self, model: Any) -> None:
        self.model, self.window = model, model.window

    def __call__(self, ids: Tensor) -> Tensor:
        return self.mask(ids, self.model(ids))

    def decode(self, ids: Tensor, state: Any) -> tuple[Tensor, Any]:
        logits, state = self.model.decode(ids, state)
        return self.mask(ids, logits), state

    @staticmethod
    def mask(ids: Tensor, logits: Tensor) -> Tensor:
        """Logits N×T×V with the last position's tokens of any other voice (and END) at -inf."""
        voice_of = VOICE_OF.to(ids.device)
        allowed = voice_of[None, :] == (voice_of[ids[:, -1]] + 1)[:, None] % VOICES  # N×V
        allowed[:, END] = False
        logits = logits.clone()
        logits[:, -1] = logits[:, -1].masked_fill(~allowed, float("-inf"))
        return logits


@dataclass
class TokenStream:
    """All pieces' tokens, END after each; item i is the window of block_size + 1 tokens starting at token i."""

    ids: Tensor  # (L,) int64
    block_size: int
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return max(0, len(self.ids) - self.block_size)

    def batch(self, idx: Tensor) -> dict[str, Tensor]:
        windows = self.ids[idx[:, None] + torch.arange(self.block_size + 1, device=self.ids.device)]  # N×(T+1)
        return {"x": windows[:, :-1], "y": windows[:, 1:]}

    def to(self, device: torch.device) -> "TokenStream":
        return TokenStream(self.ids.to(device), self.block_size, self.info)
