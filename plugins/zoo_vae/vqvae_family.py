"""VQVAEFamily: a VQ-VAE trained in two core training phases, then sampled through its GPT prior over codes.

Phase `autoencoder` (optimizer `vqvae`): reconstruction + commitment through the straight-through
estimator, then the codebook's EMA step. Phase `prior` (optimizer `prior`): next-code cross-entropy of
the prior on the frozen encoder's codes. A preset declares them, e.g.
`train.phases: [{name: autoencoder, steps: 2000, optimizers: [vqvae]}, {name: prior, optimizers: [prior]}]`;
each optimizer's schedule then runs over its own phase.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from zoo.contract import FamilyContext, StepContext
from zoo.errors import UsageError
from zoo_vae.base import ImageAutoencoder
from zoo_vae.vqvae import VQVAE, codebook_stats

AUTOENCODER, PRIOR = "autoencoder", "prior"  # the phase names train_step knows


@dataclass
class VQVAEConfig:
    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"  # bernoulli binarizes inputs (see base.py)
    width: int = 32  # channels after the first stride-2 conv (doubled after the second)
    codebook_size: int = 32  # K codes; the prior's vocabulary is K + 1 (BOS)
    code_dim: int = 16  # size of each code vector
    commitment: float = 0.25  # weight of ||z_e - sg(z_q)||²
    ema_decay: float = 0.99  # codebook EMA decay
    prior_layers: int = 2  # the GPT prior over the code grid
    prior_heads: int = 4
    prior_embd: int = 64
    eval_images: int = 1000  # test images (a seeded random subset) scored by evaluate

    def __post_init__(self) -> None:
        for name in ("width", "codebook_size", "code_dim", "eval_images", "prior_layers", "prior_heads", "prior_embd"):
            if getattr(self, name) < 1:
                raise UsageError(f"model.{name} must be a positive integer, got {getattr(self, name)}")
        if self.prior_embd % self.prior_heads:
            raise UsageError(f"model.prior_embd={self.prior_embd} must be divisible by model.prior_heads={self.prior_heads}")
        if not 0 < self.ema_decay < 1:
            raise UsageError(f"model.ema_decay must be in (0, 1), e.g. 0.99, got {self.ema_decay}")


class VQVAEFamily(ImageAutoencoder):
    Config = VQVAEConfig
    tiny: ClassVar[dict[str, Any]] = {
        "model.width": 4, "model.codebook_size": 8, "model.code_dim": 4, "model.eval_images": 16,
        "model.prior_layers": 1, "model.prior_heads": 1, "model.prior_embd": 8, "data.batch_size": 8,
        "train.phases": [{"name": AUTOENCODER, "steps": 8, "optimizers": ["vqvae"]}, {"name": PRIOR, "optimizers": ["prior"]}],
    }

    def __init__(self, config: VQVAEConfig, info: dict[str, Any], context: FamilyContext) -> None:
        super().__init__(config, info, context)
        self.check_image_size(info)
        self.net = VQVAE(
            info["channels"], info["image_size"], config.width, config.codebook_size, config.code_dim, config.ema_decay,
            config.likelihood, config.prior_layers, config.prior_heads, config.prior_embd,
        )

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"vqvae": self.net.autoencoder_parameters(), "prior": list(self.net.prior.parameters())}

    # ---- training ----------------------------------------------------------------------------
    def train_step(self, batch: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        x = self.observe(batch["x"])
        if ctx.phase == AUTOENCODER:
            return self.autoencoder_step(x, ctx)
        if ctx.phase == PRIOR:
            return self.prior_step(x, ctx)
        raise UsageError(
            f"the vqvae family trains in phases {AUTOENCODER!r} then {PRIOR!r}, not {ctx.phase!r}; "
            f"declare train.phases as the vqvae-mnist preset does"
        )

    def autoencoder_step(self, x: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        """Reconstruction + commitment through the straight-through estimator; then the codebook's EMA step."""
        z_e = self.net.encoder(x)
        z_q, codes, commitment = self.net.quantizer(z_e)
        recon = -self.net.likelihood.log_prob(x, self.net.decoder(z_q))
        loss = (recon + self.config.commitment * commitment).mean()
        ctx.update("vqvae", loss)
        self.net.quantizer.update(z_e, codes, ctx)
        perplexity, usage = codebook_stats(codes, self.config.codebook_size)
        return {"loss": loss.detach(), "recon": recon.mean().detach(), "commitment": commitment.mean().detach(), "perplexity": perplexity, "usage": usage}

    def prior_step(self, x: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        """Next-code cross-entropy of the prior on the frozen encoder's codes."""
        with torch.no_grad():
            ids = self.net.sequences(self.net.codes(x))
        loss = self.net.prior.loss(ids)
        ctx.update("prior", loss)
        return {"prior_loss": loss.detach()}

    # ---- sampling ----------------------------------------------------------------------------
    def draw(self, n: int, generator: torch.Generator | None) -> Tensor:
        """Decoded code grids drawn from the prior."""
        return self.net.decode_codes(self.net.sample_codes(n, generator))

    def recode(self, x: Tensor, y: Tensor | None) -> Tensor:
        return self.net.reconstruct(x)

    def walk(self, x: Tensor, y: Tensor | None, t: Tensor) -> Tensor:
        """Walks between encoder outputs before quantization, each point decoded at its nearest codes."""
        z = self.net.encoder(x)  # 2P×D×h×w
        pairs = len(x) // 2
        a, b = z[:pairs, None], z[pairs:, None]
        walk = a + (b - a) * t.view(1, -1, 1, 1, 1)  # P×steps×D×h×w
        return self.net.decode_codes(self.net.quantizer(walk.flatten(0, 1))[1])

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """Decoder mean at the nearest codes, N×C×S×S in [0, 1] (capabilities.Reconstructs)."""
        return self.net.reconstruct(x.to(self.device).float())

    # ---- scoring -----------------------------------------------------------------------------
    def terms(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Per image: recon -log p(x|z_q), rate -log p(z) of its codes under the prior (the KL of a one-hot
        posterior), each N nats; and the codes N×h×w."""
        z_q, codes, _ = self.net.quantizer(self.net.encoder(x))
        recon = -self.net.likelihood.log_prob(x, self.net.decoder(z_q))
        return recon, self.net.prior.nll(self.net.sequences(codes)), codes

    @torch.no_grad()
    def nll(self, batch: dict[str, Tensor]) -> Tensor:
        """The bound -log p(x) <= recon + rate per image, N nats (capabilities.LogLikelihood)."""
        x, _ = self.scoring(batch)
        recon, rate, _ = self.terms(x)
        return recon + rate

    @torch.no_grad()
    def evaluate(self, ctx: Any) -> dict[str, float]:
        """On `eval_images` seeded test images, in nats per image: recon, kl = the prior's code NLL, their sum
        nll_bound and elbo = -nll_bound; the codebook's perplexity and the fraction of codes used."""
        x, _ = self.evaluation_images(ctx, self.config.eval_images)
        recon_sum, rate_sum, all_codes = 0.0, 0.0, []
        for start in range(0, len(x), 256):
            recon, rate, codes = self.terms(x[start : start + 256])
            recon_sum += float(recon.sum())
            rate_sum += float(rate.sum())
            all_codes.append(codes)
        perplexity, usage = codebook_stats(torch.cat(all_codes), self.config.codebook_size)
        recon, rate = recon_sum / len(x), rate_sum / len(x)
        return {"elbo": -(recon + rate), "recon": recon, "kl": rate, "nll_bound": recon + rate, "perplexity": float(perplexity), "codebook_usage": float(usage)}
