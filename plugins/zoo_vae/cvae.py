"""Conditional VAE (Sohn et al. 2015): encoder and decoder both see the one-hot class label.

q(z|x, y) and p(x|z, y): the latent is free to carry style while the label carries the class, so
sampling z ~ N(0, I) with a chosen label draws that class.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo_vae.conv_vae import ConvVAE, gaussian_kl


class ConditionalVAE(ConvVAE):
    def __init__(self, channels: int, image_size: int, width: int, hidden: int, latent_dim: int, likelihood: str, num_classes: int) -> None:
        super().__init__(channels, image_size, width, hidden, latent_dim, likelihood, cond_dim=num_classes)
        self.num_classes = num_classes

    def condition(self, y: Tensor | None) -> Tensor:
        # y: N class indices -> N×num_classes one-hot
        return F.one_hot(y, self.num_classes).float()

    def classify(self, x: Tensor) -> Tensor:
        """The label under which x is most likely: argmax_y of the ELBO at the posterior mean (N×C×H×W -> N)."""
        scores = []
        for label in range(self.num_classes):
            c = self.condition(torch.full((len(x),), label, device=x.device))
            mu, logvar = self.encoder(x, c)
            scores.append(self.likelihood.log_prob(x, self.decoder(mu, c)) - gaussian_kl(mu, logvar))
        return torch.stack(scores, dim=1).argmax(dim=1)
