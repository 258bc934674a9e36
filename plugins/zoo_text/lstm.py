"""A character-level LSTM language model (Karpathy's char-rnn): the lighter, recurrent alternative to GPT."""
from __future__ import annotations

from torch import Tensor, nn

State = tuple[Tensor, Tensor]  # (h, c), each L×N×C


class CharLSTM(nn.Module):
    """Embedding -> stacked LSTM -> linear head. The hidden state is the whole memory, so sampling carries
    it from step to step (the recurrent analogue of a key/value cache) and needs no context window."""

    def __init__(self, vocab_size: int, n_embd: int, n_layer: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, n_embd)
        self.rnn = nn.LSTM(n_embd, n_embd, n_layer, batch_first=True, dropout=dropout if n_layer > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(n_embd, vocab_size)

    def forward(self, ids: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        h, state = self.rnn(self.drop(self.embed(ids)), state)  # ids N×T -> h N×T×C
        return self.head(self.drop(h)), state  # logits N×T×V
