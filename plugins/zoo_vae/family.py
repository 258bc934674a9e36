"""VAEFamily: the ELBO update, prior sampling, reconstructions, interpolations and the IWAE likelihood bound.

Bernoulli likelihood is the binarized-MNIST protocol: training inputs are binarized afresh each step
(x ~ Bernoulli(pixel), "dynamic binarization"); evaluation binarizes the test set once with the
evaluation seed, so every checkpoint is scored on the same binary images.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from zoo.contract import Family, StepContext
from zoo.errors import UsageError
from zoo.samples import ImageSamples
from zoo_vae.conv_vae import ConvVAE
from zoo_vae.cvae import ConditionalVAE
from zoo_vae.vqvae import VQVAE, codebook_stats

MODES = ("sample", "reconstruct", "interpolate")
DECODE_BATCH = 4096  # images per decoder call while estimating the IWAE bound


@dataclass
class VAEConfig:
    arch: Literal["conv", "cvae", "vqvae"] = "conv"  # β-VAE: arch conv with beta > 1
    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"  # bernoulli binarizes inputs (see module docstring)
    width: int = 32  # channels after the first stride-2 conv (doubled after the second)
    hidden: int = 256  # fully connected layer between conv features and the latent (conv, cvae)
    latent_dim: int = 32  # Gaussian latent size (conv, cvae)
    beta: float = 1.0  # KL weight in the training loss (the reported ELBO always uses 1)
    iwae_k: int = 100  # importance samples per image for the NLL bound
    iwae_images: int = 1000  # test images (a seeded random subset) scored by evaluate
    codebook_size: int = 32  # VQ-VAE: K codes; the prior's vocabulary is K + 1 (BOS)
    code_dim: int = 16  # VQ-VAE: size of each code vector
    commitment: float = 0.25  # VQ-VAE: weight of ||z_e - sg(z_q)||²
    ema_decay: float = 0.99  # VQ-VAE: codebook EMA decay
    stage1_steps: int = 2000  # VQ-VAE: autoencoder steps; the prior trains on frozen codes for the rest of the run
    prior_layers: int = 2  # VQ-VAE prior transformer
    prior_heads: int = 4
    prior_embd: int = 64


class VAEFamily(Family):
    Config = VAEConfig
    modality = "image"
    tiny: ClassVar[dict[str, Any]] = {
        "model.width": 4, "model.hidden": 16, "model.latent_dim": 4, "model.iwae_k": 4, "model.iwae_images": 16,
        "model.codebook_size": 8, "model.code_dim": 4, "model.stage1_steps": 1,
        "model.prior_layers": 1, "model.prior_heads": 1, "model.prior_embd": 8, "data.batch_size": 8,
    }

    def __init__(self, config: VAEConfig, info: dict[str, Any]) -> None:
        super().__init__(config, info)
        channels, size = info["channels"], info["image_size"]
        if size % 4:
            raise UsageError(f"VAE models need an image size divisible by 4, got data.image_size={size}; use 28 or 32")
        for name in ("iwae_k", "iwae_images", "width", "latent_dim", "codebook_size"):
            if getattr(config, name) < 1:
                raise UsageError(f"model.{name} must be a positive integer, got {getattr(config, name)}")
        self.num_classes = info.get("num_classes", 0) if config.arch == "cvae" else 0
        if config.arch == "cvae" and not self.num_classes:
            raise UsageError("arch cvae needs a labelled dataset (info.num_classes > 0); use arch conv for unlabelled data")
        self.net: nn.Module
        if config.arch == "vqvae":
            self.net = VQVAE(
                channels, size, config.width, config.codebook_size, config.code_dim, config.ema_decay, config.likelihood,
                config.prior_layers, config.prior_heads, config.prior_embd,
            )
        elif config.arch == "cvae":
            self.net = ConditionalVAE(channels, size, config.width, config.hidden, config.latent_dim, config.likelihood, self.num_classes)
        else:
            self.net = ConvVAE(channels, size, config.width, config.hidden, config.latent_dim, config.likelihood)

    @property
    def vq(self) -> bool:
        return self.config.arch == "vqvae"

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        if self.vq:
            return {"vqvae": self.net.autoencoder_parameters(), "prior": list(self.net.prior.parameters())}
        return {"model": list(self.parameters())}

    def observe(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Pixels as the likelihood sees them: binary draws x ~ Bernoulli(pixel) for Bernoulli, else unchanged."""
        return torch.bernoulli(x, generator=generator) if self.config.likelihood == "bernoulli" else x

    # ---- training ----------------------------------------------------------------------------
    def train_step(self, batch: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        x = self.observe(batch["x"])
        if self.vq:
            return self.vq_step(x, ctx) if ctx.step < self.config.stage1_steps else self.prior_step(x, ctx)
        recon, kl = self.net.terms(x, self.net.condition(batch.get("y")))
        loss = (recon + self.config.beta * kl).mean()
        ctx.update("model", loss)
        return {"loss": loss.detach(), "recon": recon.mean().detach(), "kl": kl.mean().detach()}

    def vq_step(self, x: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        """Stage 1: reconstruction + commitment through the straight-through estimator; then the codebook's EMA step."""
        z_e = self.net.encoder(x)
        z_q, codes, commitment = self.net.quantizer(z_e)
        recon = -self.net.likelihood.log_prob(x, self.net.decoder(z_q))
        loss = (recon + self.config.commitment * commitment).mean()
        ctx.update("vqvae", loss)
        self.net.quantizer.update(z_e, codes)
        perplexity, usage = codebook_stats(codes, self.config.codebook_size)
        return {"loss": loss.detach(), "recon": recon.mean().detach(), "commitment": commitment.mean().detach(), "perplexity": perplexity, "usage": usage}

    def prior_step(self, x: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        """Stage 2: next-code cross-entropy of the prior on the frozen encoder's codes."""
        with torch.no_grad():
            ids = self.net.sequences(self.net.codes(x))
        loss = self.net.prior.loss(ids)
        ctx.update("prior", loss)
        return {"prior_loss": loss.detach()}

    # ---- sampling ----------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, label: int | None = None, mode: str = "sample") -> ImageSamples:
        """Prior samples; `mode="reconstruct"`: test images each followed by its reconstruction;
        `mode="interpolate"`: rows of decoded latent interpolations between pairs of test images."""
        if mode not in MODES:
            raise UsageError(f"unknown --mode {mode!r}; choose from {', '.join(MODES)}")
        self.check_label(label)
        if mode == "reconstruct":
            images = self.reconstruction_pairs(n, generator, label)
        elif mode == "interpolate":
            images = self.interpolation(n, generator, label)
        else:
            images = self.draw(n, generator, label)
        meta: dict[str, Any] = {"mode": mode}
        if label is not None:
            meta["label"] = label
        return ImageSamples(images.clamp(0, 1), meta=meta)

    def check_label(self, label: Any) -> None:
        if label is None:
            return
        if not self.num_classes:
            raise UsageError("this VAE is unconditional; drop --set label=... (train cvae-mnist for labels)")
        if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < self.num_classes:
            raise UsageError(f"label must be an integer in 0..{self.num_classes - 1}, got {label!r}")

    def draw(self, n: int, generator: torch.Generator | None, label: int | None) -> Tensor:
        """Decoder means of latents from the prior: N(0, I), or the transformer over codes for the VQ-VAE."""
        if self.vq:
            return self.net.decode_codes(self.net.sample_codes(n, generator))
        z = torch.randn(n, self.config.latent_dim, device=self.device, generator=generator)
        y = None
        if self.num_classes:  # the chosen label, else every class in turn
            y = torch.full((n,), label, device=self.device) if label is not None else torch.arange(n, device=self.device) % self.num_classes
        return self.net.decode_mean(z, self.net.condition(y))

    def test_images(self, n: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """n test images (N×C×S×S in [0, 1]) and labels, chosen by the sampling generator."""
        config = getattr(self, "data_config", None)
        if config is None:
            raise UsageError("reconstruct and interpolate modes need the run's test images; load the model from its run (zoo.load / zoo sample RUN)")
        from zoo.data import load_dataset

        data = load_dataset(config, "test")
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator, device=self.device))
        pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
        batch = data.batch(pick)
        return batch["x"].to(self.device), batch["y"].to(self.device)

    def reconstruction_pairs(self, n: int, generator: torch.Generator | None, label: int | None) -> Tensor:
        """[x0, r0, x1, r1, ...]: n // 2 test images, each followed by its reconstruction.

        A conditional VAE with `label` encodes each image under its own label and decodes it under `label`.
        """
        if n < 2:
            raise UsageError(f"--mode reconstruct shows pairs of test image and reconstruction: use -n 2 or more, got {n}")
        x, y = self.test_images(n // 2, generator)
        if self.num_classes:
            target = y if label is None else torch.full_like(y, label)
            mu = self.net.encoder(x, self.net.condition(y))[0]
            r = self.net.decode_mean(mu, self.net.condition(target))
        else:
            r = self.reconstruct(x)
        return torch.stack([x, r], dim=1).flatten(0, 1)  # N×C×S×S, alternating

    def interpolation(self, n: int, generator: torch.Generator | None, label: int | None) -> Tensor:
        """A pairs × steps grid (steps = ceil(sqrt(n)), pairs = n // steps): each row walks in latent space
        from one test image's posterior mean to another's. A conditional VAE also blends the one-hot
        labels, unless `label` fixes one."""
        steps = max(2, math.ceil(math.sqrt(n)))
        pairs = max(1, n // steps)
        x, y = self.test_images(2 * pairs, generator)
        t = torch.linspace(0, 1, steps, device=self.device)
        if self.vq:
            z = self.net.encoder(x)  # 2P×D×h×w, before quantization
            a, b = z[:pairs, None], z[pairs:, None]
            walk = a + (b - a) * t.view(1, -1, 1, 1, 1)  # P×steps×D×h×w
            return self.net.decode_codes(self.net.quantizer(walk.flatten(0, 1))[1])
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
        """Decoder mean at the posterior mean (VQ-VAE: at the nearest codes), N×C×S×S in [0, 1].

        A conditional VAE uses labels `y` when given, else the label under which each image is most likely.
        """
        x = x.to(self.device).float()
        if self.vq:
            return self.net.reconstruct(x)
        if self.num_classes:
            y = self.net.classify(x) if y is None else y.to(self.device)
        return self.net.reconstruct(x, self.net.condition(y))

    # ---- evaluation --------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, ctx: Any) -> dict[str, float]:
        """On `iwae_images` seeded test images (binarized once with the eval seed for Bernoulli), in nats per image:
        elbo (one-sample estimate), recon = -log p(x|z), kl, and nll_iwae, the IWAE bound with `iwae_k` samples.
        VQ-VAE: kl is the prior's code NLL -log p(z) (the KL of a one-hot posterior) and nll_bound = recon + kl."""
        test = ctx.split(self, "test")
        seeded = torch.Generator().manual_seed(ctx.seed)
        pick = torch.randperm(len(test), generator=seeded)[: self.config.iwae_images]
        batch = test.batch(pick.to(ctx.device))
        x = self.observe(batch["x"].cpu(), seeded).to(ctx.device)
        y = batch.get("y")
        if self.vq:
            return self.evaluate_vq(x)
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

    def evaluate_vq(self, x: Tensor) -> dict[str, float]:
        recon_sum, rate_sum, all_codes = 0.0, 0.0, []
        tokens = self.net.grid**2
        for start in range(0, len(x), 256):
            xb = x[start : start + 256]
            z_q, codes, _ = self.net.quantizer(self.net.encoder(xb))
            recon_sum -= float(self.net.likelihood.log_prob(xb, self.net.decoder(z_q)).sum())
            rate_sum += float(self.net.prior.loss(self.net.sequences(codes))) * tokens * len(xb)  # mean CE per code × codes
            all_codes.append(codes)
        perplexity, usage = codebook_stats(torch.cat(all_codes), self.config.codebook_size)
        recon, rate = recon_sum / len(x), rate_sum / len(x)
        return {"elbo": -(recon + rate), "recon": recon, "kl": rate, "nll_bound": recon + rate, "perplexity": float(perplexity), "codebook_usage": float(usage)}
