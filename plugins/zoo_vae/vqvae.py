"""VQ-VAE (van den Oord et al. 2017) with an autoregressive transformer prior over its code grid.

The encoder maps an S×S image to an (S/4)×(S/4) grid of vectors; each snaps to its nearest codebook
entry. Gradients skip the non-differentiable snap (straight-through estimator), a commitment loss
keeps encoder outputs near their codes, and the codebook follows its assigned vectors by exponential
moving averages (the paper's appendix A.1) rather than by gradient. Codes unused for a while are
restarted at random encoder outputs (as in Jukebox, Dhariwal et al. 2020), which keeps the codebook in use.

The prior is the core's GPT (zoo.nn.gpt): it models the code grid in raster order as a sequence that
starts with a BOS token (id K, after the K codes).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo.contract import StepContext
from zoo.nn.gpt import GPT
from zoo_vae.likelihood import Likelihood


class VectorQuantizer(nn.Module):
    """A codebook of `num_codes` vectors of size `dim`, updated by EMA (buffers, so no optimizer touches it)."""

    def __init__(self, num_codes: int, dim: int, decay: float, eps: float = 1e-5, restart_below: float = 1.0) -> None:
        super().__init__()
        self.num_codes, self.decay, self.eps, self.restart_below = num_codes, decay, eps, restart_below
        embed = torch.randn(num_codes, dim)
        self.register_buffer("embed", embed)  # K×D
        # Each code starts as the running mean of one pseudo-vector at its initial position.
        self.register_buffer("cluster_size", torch.ones(num_codes))  # K: EMA of assignments per batch
        self.register_buffer("embed_sum", embed.clone())  # K×D: EMA of the sum of assigned vectors

    def nearest(self, flat: Tensor) -> Tensor:
        """Index of the closest code for each row: M×D -> M (distances in fp32 even under autocast)."""
        with torch.autocast(flat.device.type, enabled=False):
            dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat.float() @ self.embed.t() + self.embed.pow(2).sum(1)  # M×K
        return dist.argmin(dim=1)

    def lookup(self, codes: Tensor) -> Tensor:
        """Code indices N×h×w -> their vectors N×D×h×w."""
        return self.embed[codes].permute(0, 3, 1, 2)

    def forward(self, z_e: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Quantize N×D×h×w: (straight-through z_q, codes N×h×w, commitment ||z_e - sg(z_q)||² per image N)."""
        z_e = z_e.float()
        n, d, h, w = z_e.shape
        codes = self.nearest(z_e.permute(0, 2, 3, 1).reshape(-1, d)).view(n, h, w)
        z_q = self.lookup(codes)
        commitment = (z_e - z_q.detach()).pow(2).flatten(1).sum(1)
        return z_e + (z_q - z_e).detach(), codes, commitment

    @torch.no_grad()
    def update(self, z_e: Tensor, codes: Tensor, ctx: StepContext) -> None:
        """Move each code toward the mean of the encoder outputs assigned to it (EMA with Laplace smoothing).

        Under torchrun `ctx`'s collectives make the statistics the global batch's and the restarts rank 0's,
        so every rank keeps the same codebook (DDP never sees buffers updated outside autograd)."""
        flat = z_e.detach().float().permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])  # M×D
        codes = codes.flatten()
        counts = torch.bincount(codes, minlength=self.num_codes).float()
        sums = torch.zeros_like(self.embed_sum).index_add_(0, codes, flat)
        ctx.all_reduce_sum(counts, sums)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (total + self.num_codes * self.eps) * total
        self.embed.copy_(self.embed_sum / smoothed[:, None])
        dead = self.cluster_size < self.restart_below
        if dead.any():
            picks = ctx.broadcast_from_main(flat[torch.randint(len(flat), (int(dead.sum()),), device=flat.device)])
            self.embed[dead] = picks
            self.embed_sum[dead] = picks
            self.cluster_size[dead] = 1.0


def codebook_stats(codes: Tensor, num_codes: int) -> tuple[Tensor, Tensor]:
    """Perplexity exp(H) of the code histogram (num_codes when all are used evenly) and the fraction used."""
    p = torch.bincount(codes.flatten(), minlength=num_codes).float()
    p = p / p.sum()
    entropy = -(p * p.clamp_min(1e-12).log()).sum()
    return entropy.exp(), (p > 0).float().mean()


class ResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.SiLU(), nn.Conv2d(channels, channels, 3, 1, 1), nn.SiLU(), nn.Conv2d(channels, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.net(x)


class VQVAE(nn.Module):
    def __init__(
        self, channels: int, image_size: int, width: int, num_codes: int, code_dim: int, decay: float, likelihood: str,
        prior_layers: int, prior_heads: int, prior_embd: int,
    ) -> None:
        super().__init__()
        self.num_codes = num_codes
        self.grid = image_size // 4
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1), nn.SiLU(),  # N×w×S/2×S/2
            nn.Conv2d(width, 2 * width, 4, 2, 1),  # N×2w×S/4×S/4
            ResBlock(2 * width), nn.SiLU(),
            nn.Conv2d(2 * width, code_dim, 1),  # N×D×S/4×S/4
        )
        self.quantizer = VectorQuantizer(num_codes, code_dim, decay)
        self.decoder = nn.Sequential(
            nn.Conv2d(code_dim, 2 * width, 3, 1, 1),
            ResBlock(2 * width), nn.SiLU(),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.SiLU(),  # N×w×S/2×S/2
            nn.ConvTranspose2d(width, channels, 4, 2, 1),  # N×C×S×S
        )
        self.likelihood = Likelihood(likelihood)
        self.prior = GPT(num_codes + 1, self.grid**2 + 1, prior_layers, prior_heads, prior_embd)

    @property
    def bos(self) -> int:
        return self.num_codes

    def autoencoder_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if not name.startswith("prior.")]

    def codes(self, x: Tensor) -> Tensor:
        """Images N×C×S×S -> code grid N×(S/4)×(S/4)."""
        return self.quantizer(self.encoder(x))[1]

    def sequences(self, codes: Tensor) -> Tensor:
        """Code grids N×h×w -> prior token sequences N×(1+h·w): BOS, then codes in raster order."""
        bos = torch.full((len(codes), 1), self.bos, dtype=torch.long, device=codes.device)
        return torch.cat([bos, codes.flatten(1)], dim=1)

    def decode_codes(self, codes: Tensor) -> Tensor:
        return self.likelihood.mean(self.decoder(self.quantizer.lookup(codes)))

    def reconstruct(self, x: Tensor) -> Tensor:
        return self.decode_codes(self.codes(x))

    def sample_codes(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> Tensor:
        """n code grids drawn from the prior: N×h×w."""
        start = torch.full((n, 1), self.bos, dtype=torch.long, device=self.quantizer.embed.device)
        ids = self.prior.generate(start, self.grid**2, generator=generator, temperature=temperature)[:, 1:]
        # BOS is never a training target, so the trained prior gives it vanishing mass; a stray one decodes as the last code.
        return ids.clamp(max=self.num_codes - 1).reshape(n, self.grid, self.grid)

