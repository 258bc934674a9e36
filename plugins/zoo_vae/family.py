"""VAEFamily: the ELBO update, prior sampling, reconstructions, interpolations and the IWAE likelihood bound,
for the convolutional VAE, the β-VAE (conv with beta > 1) and the conditional VAE. Binarization: base.py."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from zoo.capabilities import LABEL, Condition, check_label, requested_labels
from zoo.contract import FamilyContext, StepContext
from zoo.errors import UsageError
from zoo.samples import ImageSamples
from zoo_vae.base import MODE, ImageAutoencoder
from zoo_vae.conv_vae import ConvVAE
from zoo_vae.cvae import ConditionalVAE

DECODE_BATCH = 4096  # images per decoder call while estimating the IWAE bound


@dataclass
class VAEConfig:
    arch: Literal["conv", "cvae"] = "conv"  # β-VAE: arch conv with beta > 1; VQ-VAE: the vqvae family
    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"  # bernoulli binarizes inputs (see base.py)
    width: int = 32  # channels after the first stride-2 conv (doubled after the second)
    hidden: int = 256  # fully connected layer between conv features and the latent
    latent_dim: int = 32  # Gaussian latent size
    beta: float = 1.0  # KL weight in the training loss (the reported ELBO always uses 1)
    iwae_k: int = 100  # importance samples per image for the NLL bound (evaluate and nll)
    iwae_images: int = 1000  # test images (a seeded random subset) scored by evaluate

    def __post_init__(self) -> None:
        for name in ("iwae_k", "iwae_images", "width", "hidden", "latent_dim"):
            if getattr(self, name) < 1:
                raise UsageError(f"model.{name} must be a positive integer, got {getattr(self, name)}")


class VAEFamily(ImageAutoencoder):
    Config = VAEConfig
    conditions: ClassVar[tuple[Condition, ...]] = (LABEL, MODE)
    tiny: ClassVar[dict[str, Any]] = {
        "model.width": 4, "model.hidden": 16, "model.latent_dim": 4, "model.iwae_k": 4, "model.iwae_images": 16, "data.batch_size": 8,
        "train.lr": 1e-2,  # the σ-VAE (Gaussian) loss must visibly fall within the contract's 24 steps
    }

    def __init__(self, config: VAEConfig, info: dict[str, Any], context: FamilyContext) -> None:
        super().__init__(config, info, context)
        self.check_image_size(info)
        channels, size = info["channels"], info["image_size"]
        self.num_classes: int = info.get("num_classes", 0) if config.arch == "cvae" else 0  # capabilities.Conditional
        if config.arch == "cvae" and not self.num_classes:
            raise UsageError("arch cvae needs a labelled dataset (info.num_classes > 0); use arch conv for unlabelled data")
        self.net: ConvVAE
        if config.arch == "cvae":
            self.net = ConditionalVAE(channels, size, config.width, config.hidden, config.latent_dim, config.likelihood, self.num_classes)
        else:
            self.net = ConvVAE(channels, size, config.width, config.hidden, config.latent_dim, config.likelihood)

    # ---- training ----------------------------------------------------------------------------
    def train_step(self, batch: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        x = self.observe(batch["x"])
        recon, kl = self.net.terms(x, self.net.condition(batch.get("y")))
        loss = (recon + self.config.beta * kl).mean()
        ctx.update("model", loss)
        return {"loss": loss.detach(), "recon": recon.mean().detach(), "kl": kl.mean().detach()}

    # ---- sampling ----------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, label: int | None = None, mode: str = "sample") -> ImageSamples:
        """See ImageAutoencoder.sample; a conditional VAE draws class `label` (every class in turn when None)."""
        label = check_label(label, self.num_classes, hint="train cvae-mnist for labels")
        return super().sample(n, generator, mode, label=label)

    def draw(self, n: int, generator: torch.Generator | None, label: int | None = None) -> Tensor:
        """Decoder means of latents z ~ N(0, I)."""
        z = torch.randn(n, self.config.latent_dim, device=self.device, generator=generator)
        return self.net.decode_mean(z, self.net.condition(requested_labels(n, label, self.num_classes, self.device)))

    def recode(self, x: Tensor, y: Tensor | None, label: int | None = None) -> Tensor:
        """Decoder mean at the posterior mean; a conditional VAE encodes each image under its own label
        and decodes it under `label` when given."""
        target = y if label is None else torch.full_like(y, label)
        mu = self.net.encoder(x, self.net.condition(y))[0]
        return self.net.decode_mean(mu, self.net.condition(target))

    def walk(self, x: Tensor, y: Tensor | None, t: Tensor, label: int | None = None) -> Tensor:
        """Walks between posterior means; a conditional VAE also blends the one-hot labels, unless `label` fixes one."""
        pairs, steps = len(x) // 2, len(t)
        c = self.net.condition(y)
        z = self.net.encoder(x, c)[0]  # 2P×L
        walk = z[:pairs, None] + (z[pairs:, None] - z[:pairs, None]) * t.view(1, -1, 1)  # P×steps×L
        cond = None
        if c is not None:
            if label is not None:
                cond = self.net.condition(torch.full((pairs * steps,), label, device=self.device))
            else:
                cond = (c[:pairs, None] + (c[pairs:, None] - c[:pairs, None]) * t.view(1, -1, 1)).flatten(0, 1)
        return self.net.decode_mean(walk.flatten(0, 1), cond)

    @torch.no_grad()
    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Decoder mean at the posterior mean, N×C×S×S in [0, 1] (capabilities.Reconstructs).

        A conditional VAE uses labels `y` when given, else the label under which each image is most likely.
        """
        x = x.to(self.device).float()
        if self.num_classes:
            y = self.net.classify(x) if y is None else y.to(self.device)
        return self.net.reconstruct(x, self.net.condition(y))

    @torch.no_grad()
    def nll(self, batch: dict[str, Tensor]) -> Tensor:
        """-log p(x) per image (N nats) by the IWAE bound with `iwae_k` samples (capabilities.LogLikelihood);
        a conditional VAE scores -log p(x|y) with the batch's labels, as evaluate does."""
        x, generator = self.scoring(batch)
        c = None
        if self.num_classes:
            if batch.get("y") is None:
                raise UsageError("a conditional VAE scores -log p(x|y): the batch needs labels y")
            c = self.net.condition(batch["y"].to(self.device))
        return -self.iwae(x, c, self.config.iwae_k, generator)

    # ---- evaluation --------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, ctx: Any) -> dict[str, float]:
        """On `iwae_images` seeded test images (binarized once with the eval seed for Bernoulli), in nats per image:
        elbo (one-sample estimate), recon = -log p(x|z), kl, and nll_iwae, the IWAE bound with `iwae_k` samples."""
        x, y = self.evaluation_images(ctx, self.config.iwae_images)
        generator = ctx.generator()
        sums = {"elbo": 0.0, "recon": 0.0, "kl": 0.0, "nll_iwae": 0.0}
        for start in range(0, len(x), 128):
            xb = x[start : start + 128]
            c = self.net.condition(None if y is None else y[start : start + 128])
            recon, kl = self.net.terms(xb, c, generator)
            iwae = self.iwae(xb, c, self.config.iwae_k, generator)
            sums["elbo"] -= float((recon + kl).sum())
            sums["recon"] += float(recon.sum())
            sums["kl"] += float(kl.sum())
            sums["nll_iwae"] -= float(iwae.sum())
        return {k: v / len(x) for k, v in sums.items()}

    def iwae(self, x: Tensor, c: Tensor | None, k: int, generator: torch.Generator | None = None) -> Tensor:
        """log p(x) bound log (1/k) Σ w_k per image (N), drawing the k samples in chunks that bound memory."""
        chunk = max(1, DECODE_BATCH // len(x))
        log_w = torch.cat([self.net.log_weights(x, c, min(chunk, k - s), generator) for s in range(0, k, chunk)], dim=1)  # N×k
        return log_w.logsumexp(dim=1) - math.log(k)
