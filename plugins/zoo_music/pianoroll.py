"""The piano-roll LSTM (the JSB Chorales baseline): frames before t in, 88 independent Bernoulli logits for frame t out."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class RollLSTM(nn.Module):
    def __init__(self, keys: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(keys, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)  # on the LSTM's output too, so one layer is regularised (282 chorales overfit fast)
        self.head = nn.Linear(hidden, keys)

    def forward(self, frames: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Frames N×T×88 (0/1) -> logits N×T×88 of the frame after each, and the LSTM state (h, c)."""
        hidden, state = self.lstm(frames, state)  # N×T×H
        return self.head(self.drop(hidden)), state

    def frame_nll(self, rolls: Tensor) -> Tensor:
        """Nats of each frame of rolls N×T×88 given the frames before it (the first given silence): N×T."""
        before = F.pad(rolls, (0, 0, 1, 0))[:, :-1]  # N×T×88, shifted one frame right
        logits, _ = self(before)
        return F.binary_cross_entropy_with_logits(logits.float(), rolls, reduction="none").sum(2)

    @torch.no_grad()
    def sample(self, n: int, frames: int, generator: torch.Generator | None, temperature: float, opening: Tensor | None = None) -> Tensor:
        """Rolls n×frames×88, each frame drawn key by key independently given the frames before it (after
        `opening` n×T0×88, when given, which the rolls continue but do not include)."""
        frame = torch.zeros(n, 1, self.head.out_features, device=self.head.weight.device)
        state, out = None, []
        if opening is not None:
            _, state = self(torch.cat([frame, opening[:, :-1].float()], 1))
            frame = opening[:, -1:].float()
        for _ in range(frames):
            logits, state = self(frame, state)
            if temperature == 0:
                frame = (logits > 0).float()
            else:
                frame = torch.bernoulli(torch.sigmoid(logits.float() / temperature), generator=generator)
            out.append(frame)
        return torch.cat(out, 1).to(torch.uint8)
