"""Convolutional LSTM (Shi et al. 2015): an LSTM whose gates are convolutions over feature maps, stacked."""
from __future__ import annotations

import torch
from torch import Tensor, nn


class ConvLSTMCell(nn.Module):
    """One layer: (x B×Cin×H×W, (h, c) B×Ch×H×W) -> (h', c'); the four gates from one convolution."""

    def __init__(self, cin: int, hidden: int, kernel: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(cin + hidden, 4 * hidden, kernel, padding=kernel // 2)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        h, c = state
        i, f, g, o = self.gates(torch.cat([x, h], 1)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class ConvLSTM(nn.Module):
    """Stacked cells; `step(x, states)` advances every layer one frame and returns the top layer's h."""

    def __init__(self, cin: int, hidden: list[int], kernel: int) -> None:
        super().__init__()
        widths = [cin, *hidden]
        self.cells = nn.ModuleList(ConvLSTMCell(a, b, kernel) for a, b in zip(widths[:-1], widths[1:]))

    def initial(self, x: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Zero states for a batch shaped like `x` (B×C×H×W)."""
        b, _, h, w = x.shape
        return [(x.new_zeros(b, cell.hidden, h, w), x.new_zeros(b, cell.hidden, h, w)) for cell in self.cells]

    def step(self, x: Tensor, states: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        out = []
        for cell, state in zip(self.cells, states):
            h, c = cell(x, state)
            out.append((h, c))
            x = h
        return x, out
