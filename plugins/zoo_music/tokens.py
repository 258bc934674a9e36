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


def encode(roll: Tensor, lookahead: int = 0) -> Tensor:
    """Roll T×88 -> tokens (4(T+L),): per frame the four highest sounding keys, highest first, the
    soprano `lookahead` frames ahead of the others (`ahead`)."""
    return voice_tokens(ahead(voices(roll), lookahead)).flatten()


def voices(roll: Tensor) -> Tensor:
    """Roll T×88 -> T×4 keys (-1: the voice rests), soprano to bass, as `encode` assigns them."""
    keys = torch.arange(KEYS, device=roll.device).expand(len(roll), KEYS)
    return torch.where(roll.bool(), keys, -1).topk(VOICES, dim=1).values


def voice_tokens(keys: Tensor) -> Tensor:
    """Keys ...×4 (-1 resting) -> the voices' tokens ...×4."""
    return 1 + torch.arange(VOICES, device=keys.device) * SLOTS + keys + 1


def token_keys(ids: Tensor) -> Tensor:
    """Voice tokens -> keys (-1 resting; END reads as a rest)."""
    return torch.where(ids == END, -1, (ids - 1) % SLOTS - 1)


def ahead(keys: Tensor, lookahead: int) -> Tensor:
    """Keys T×4 -> (T+L)×4 with the soprano L frames ahead of the lower voices: row j holds the
    soprano of frame j (resting past the end) and the alto, tenor and bass of frame j - L (resting
    before the start). A harmonizer reading this left to right has seen the melody L frames ahead
    of the chord it writes; L = 0 is the plain four-voice order."""
    rest = torch.full((lookahead, VOICES), -1, dtype=keys.dtype, device=keys.device)
    return torch.cat([torch.cat([keys[:, :1], rest[:, :1]]), torch.cat([rest[:, 1:], keys[:, 1:]])], 1)


def behind(keys: Tensor, lookahead: int) -> Tensor:
    """`ahead`'s inverse on N×(T+L)×4 -> N×T×4: each frame's four voices together again."""
    T = keys.shape[1] - lookahead
    return torch.cat([keys[:, :T, :1], keys[:, lookahead:, 1:]], 2)


def lower_voices(frames: int, lookahead: int) -> Tensor:
    """(4(T+L),) bool over a piece's tokens laid out by `ahead`: True on the alto, tenor and bass of its T
    real frames (what a harmonizer writes), False on the soprano and the lead-in rests."""
    grid = torch.zeros(frames + lookahead, VOICES, dtype=torch.bool)
    grid[lookahead:, 1:] = True
    return grid.flatten()


def rolls_of(keys: Tensor) -> Tensor:
    """Keys N×T×4 (-1 resting) -> rolls N×T×88 uint8."""
    rolls = torch.zeros(*keys.shape[:2], KEYS + 1, dtype=torch.uint8, device=keys.device)
    return rolls.scatter_(2, keys + 1, 1)[..., 1:]


def decode(ids: Tensor) -> Tensor:
    """Tokens N×4T in voice order (as `VoiceOrder` samples them) -> rolls N×T×88 uint8."""
    slots = ((ids - 1) % SLOTS).reshape(len(ids), -1, VOICES)  # N×T×4: 0 rest, 1 + k key k
    rolls = torch.zeros(*slots.shape[:2], KEYS + 1, dtype=torch.uint8, device=ids.device)
    return rolls.scatter_(2, slots, 1)[..., 1:]


class Melody:
    """`zoo.nn.gpt.Steered`'s rule for harmonizing: every soprano token is the given one, the others
    keep voice order (never END). `sopranos` N×J are the soprano tokens of the J frames to write."""

    def __init__(self, sopranos: Tensor) -> None:
        self.sopranos, self.written, self.last = sopranos, 0, None

    def observe(self, ids: Tensor) -> None:
        """The prompt (an END), then each new token."""
        self.written += self.last is not None
        self.last = ids[:, -1]

    def allowed(self, device: torch.device) -> Tensor:
        voice_of = VOICE_OF.to(device)
        allowed = voice_of[None, :] == (voice_of[self.last.to(device)] + 1)[:, None] % VOICES  # N×V
        allowed[:, END] = False
        if self.written % VOICES == 0:  # a soprano comes next
            frame = min(self.written // VOICES, self.sopranos.shape[1] - 1)
            allowed = torch.zeros_like(allowed).scatter_(1, self.sopranos[:, frame : frame + 1].to(device), True)
        return allowed


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
    atb: Tensor | None = None  # (L,) bool: token i is an alto, tenor or bass note of a real frame (what harmonizing writes)

    def __len__(self) -> int:
        return max(0, len(self.ids) - self.block_size)

    def batch(self, idx: Tensor) -> dict[str, Tensor]:
        windows = self.ids[idx[:, None] + torch.arange(self.block_size + 1, device=self.ids.device)]  # N×(T+1)
        return {"x": windows[:, :-1], "y": windows[:, 1:]}

    def to(self, device: torch.device) -> "TokenStream":
        return TokenStream(self.ids.to(device), self.block_size, self.info, None if self.atb is None else self.atb.to(device))
