"""Convolutional VAE (Kingma & Welling 2014) for 28×28 or 32×32 images.

The β-VAE (Higgins et al. 2017) is this model trained with the KL term weighted by β > 1; the family
applies β. The encoder maps an image to a diagonal Gaussian q(z|x); the decoder maps z to the
parameters of p(x|z) (see likelihood.py). `cond_dim` extra inputs (a one-hot label) are concatenated
to the encoder's features and to z: the conditional VAE in cvae.py sets them.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from zoo_vae.likelihood import Likelihood


class Encoder(nn.Module):
    def __init__(self, channels: int, image_size: int, width: int, hidden: int, latent_dim: int, cond_dim: int = 0) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1), nn.SiLU(),  # N×w×S/2×S/2
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.SiLU(),  # N×2w×S/4×S/4
            nn.Flatten(),
        )
        features = 2 * width * (image_size // 4) ** 2
        self.fc = nn.Sequential(nn.Linear(features + cond_dim, hidden), nn.SiLU(), nn.Linear(hidden, 2 * latent_dim))

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        # x: N×C×S×S, c: N×cond_dim -> mean, log-variance: N×latent each
        h = self.conv(x)
        if c is not None:
            h = torch.cat([h, c], dim=1)
        mu, logvar = self.fc(h).chunk(2, dim=1)
        return mu, logvar


class Decoder(nn.Module):
    def __init__(self, channels: int, image_size: int, width: int, hidden: int, latent_dim: int, cond_dim: int = 0) -> None:
        super().__init__()
        self.base = (2 * width, image_size // 4, image_size // 4)
        self.fc = nn.Sequential(
            nn.Linear(latent_dim + cond_dim, hidden), nn.SiLU(),
            nn.Linear(hidden, math.prod(self.base)), nn.SiLU(),
        )
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.SiLU(),  # N×w×S/2×S/2
            nn.ConvTranspose2d(width, channels, 4, 2, 1),  # N×C×S×S, one value per pixel
        )

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        if c is not None:
            z = torch.cat([z, c], dim=1)
        return self.deconv(self.fc(z).view(-1, *self.base))


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) in closed form, summed over latents: N×D -> N."""
    return 0.5 * (mu.float() ** 2 + logvar.float().exp() - 1 - logvar.float()).sum(1)


def gaussian_log_prob(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; mu, exp(logvar)) summed over the last dimension."""
    return -0.5 * (((z - mu) ** 2) * torch.exp(-logvar) + logvar + math.log(2 * math.pi)).sum(-1)


class ConvVAE(nn.Module):
    def __init__(self, channels: int, image_size: int, width: int, hidden: int, latent_dim: int, likelihood: str, cond_dim: int = 0) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = Encoder(channels, image_size, width, hidden, latent_dim, cond_dim)
        self.decoder = Decoder(channels, image_size, width, hidden, latent_dim, cond_dim)
        self.likelihood = Likelihood(likelihood)

    def condition(self, y: Tensor | None) -> Tensor | None:
        """What encoder and decoder are conditioned on (nothing here; a one-hot label in the CVAE)."""
        return None

    def terms(self, x: Tensor, c: Tensor | None, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Reconstruction -log p(x|z) with one reparameterised z ~ q(z|x), and the closed-form KL: each N, nats."""
        mu, logvar = self.encoder(x, c)
        z = mu + torch.randn(mu.shape, device=mu.device, generator=generator, dtype=mu.dtype) * (0.5 * logvar).exp()
        return -self.likelihood.log_prob(x, self.decoder(z, c)), gaussian_kl(mu, logvar)

    def log_weights(self, x: Tensor, c: Tensor | None, k: int, generator: torch.Generator | None = None) -> Tensor:
        """Importance weights log p(x, z_k) - log q(z_k|x) for k draws z_k ~ q(z|x): N×k.

        Their mean is the one-sample ELBO estimate; logsumexp - log k is the IWAE bound (Burda et al. 2016).
        """
        mu, logvar = (t.float() for t in self.encoder(x, c))  # N×D
        eps = torch.randn((k, *mu.shape), device=mu.device, generator=generator)  # k×N×D
        z = mu + eps * (0.5 * logvar).exp()
        log_q = gaussian_log_prob(z, mu, logvar)  # k×N
        log_prior = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
        cc = None if c is None else c.repeat(k, 1)
        out = self.decoder(z.reshape(-1, self.latent_dim), cc)  # kN×C×H×W
        log_px = self.likelihood.log_prob(x.repeat(k, 1, 1, 1), out).view(k, -1)
        return (log_px + log_prior - log_q).t()

    def decode_mean(self, z: Tensor, c: Tensor | None) -> Tensor:
        return self.likelihood.mean(self.decoder(z, c))

    def reconstruct(self, x: Tensor, c: Tensor | None) -> Tensor:
        """Decoder mean at the posterior mean: the deterministic reconstruction."""
        return self.decode_mean(self.encoder(x, c)[0], c)
