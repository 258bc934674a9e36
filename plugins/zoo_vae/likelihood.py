"""The decoder's distribution p(x|z) over pixels, shared by every VAE architecture.

Decoders output one unconstrained value per pixel. Bernoulli reads it as a logit (binarized MNIST);
Gaussian reads sigmoid(value) as the mean, with one learned σ for the whole image (the σ-VAE of
Rybkin et al. 2021), which balances reconstruction against KL without a hand-tuned weight.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Likelihood(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        # σ starts at 0.1, near a trained model's pixel error: from σ = 1 Adam needs thousands of steps to get
        # there, and meanwhile the over-weighted KL pushes the posterior toward the prior.
        self.log_sigma = nn.Parameter(torch.tensor(math.log(0.1))) if kind == "gaussian" else None

    def log_prob(self, x: Tensor, out: Tensor) -> Tensor:
        """log p(x|z) in nats, summed over pixels: x, out N×C×H×W -> N."""
        out = out.float()
        if self.kind == "bernoulli":
            return -F.binary_cross_entropy_with_logits(out, x, reduction="none").flatten(1).sum(1)
        sigma = self.log_sigma.exp()
        z = (x - torch.sigmoid(out)) / sigma
        return (-0.5 * z**2 - self.log_sigma - 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)

    def mean(self, out: Tensor) -> Tensor:
        """E[x|z]: the pixel probabilities (Bernoulli) or means (Gaussian), in [0, 1]."""
        return torch.sigmoid(out.float())
