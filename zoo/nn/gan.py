"""The GAN update rule, shared by every GAN family: losses, gradient penalty, the discriminator-then-
generator step and the sampling skeleton. Subclasses supply the networks through `build_networks`
(and say how generator outputs become samples); plugins share this through the core, never by
importing each other.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.capabilities import LABEL, Condition, check_label, requested_labels
from zoo.contract import Family, FamilyContext, StepContext
from zoo.errors import UsageError
from zoo.nn.dcgan import Norm
from zoo.samples import Samples


@dataclass
class GANConfig:
    """What every GAN family's Config has; subclasses add `arch` and their networks' settings."""

    loss: Literal["nonsaturating", "hinge", "wgan-gp"] = "nonsaturating"
    nz: int = 100  # latent size
    ngf: int = 64  # generator width (the last hidden layer's channels)
    ndf: int = 64  # discriminator width (the first layer's channels)
    conditional: bool = False  # class-conditional: sample(label=k), projection discriminator
    spectral_norm: bool = False  # spectral norm in D instead of BatchNorm (use with hinge)
    gp_weight: float = 10.0  # WGAN-GP gradient-penalty weight
    r1_weight: float = 0.0  # γ of the R1 penalty γ/2·E‖∇D(x_real)‖² (Mescheder et al. 2018); 0: off
    r1_every: int = 1  # lazy R1 (StyleGAN2): the penalty, times r1_every, on every r1_every-th step only; fewer double backward passes
    d_steps: int = 1  # discriminator updates per generator update (5 for WGAN-GP)

    def __post_init__(self) -> None:
        if min(self.nz, self.ngf, self.ndf, self.d_steps, self.r1_every) <= 0:
            raise UsageError("model.nz, ngf, ndf, d_steps and r1_every must be positive integers, "
                             f"got {self.nz}, {self.ngf}, {self.ndf}, {self.d_steps}, {self.r1_every}")
        if min(self.gp_weight, self.r1_weight) < 0:
            raise UsageError(f"model.gp_weight and r1_weight must be >= 0, got {self.gp_weight}, {self.r1_weight}")


TRUNCATION = Condition(
    "truncation", float, None,
    "the truncation trick (Brock et al. 2019): latents drawn from N(0, 1) cut to [-t, t]; smaller t, more typical and less "
    "varied samples; .inf: untruncated (to override a preset's eval.conditions)",
)


def truncated_normal(shape: tuple[int, ...], threshold: float | None, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """N(0, 1) latents, or with `threshold` N(0, 1) conditioned on |z| <= threshold, drawn exactly by the
    inverse CDF (no resampling loop): u uniform on [Φ(-t), Φ(t)], z = Φ⁻¹(u)."""
    if threshold is None or threshold == math.inf:
        return torch.randn(shape, device=device, generator=generator)
    if threshold <= 0:
        raise UsageError(f"truncation must be > 0, got {threshold}; e.g. --set truncation=0.5")
    low = 0.5 * (1 + math.erf(-threshold / math.sqrt(2)))  # Φ(-t)
    u = low + (1 - 2 * low) * torch.rand(shape, device=device, generator=generator)
    return (math.sqrt(2) * torch.erfinv(2 * u - 1)).clamp(-threshold, threshold)  # u = 0 is ±inf when Φ(-t) underflows


def discriminator_norm(config: GANConfig, plain: Norm = "batch") -> Norm:
    """No normalisation under WGAN-GP (BatchNorm breaks its per-sample gradient penalty), spectral norm
    when asked for, else `plain`."""
    if config.loss == "wgan-gp":
        return "none"
    return "spectral" if config.spectral_norm else plain


class GANFamily(Family):
    """A generator G and discriminator D trained in turn: D on real data and detached fakes, then
    (every `d_steps`-th step) G through a fresh pass of the updated D. Batches hold `x` in [0, 1]
    (mapped to [-1, 1], the generator's tanh range) and, for conditional models, labels `y`.

    Subclasses override `build_networks` and `to_samples`; G(z, y) and D(x, y) take labels as None
    when unconditional.
    """

    Config = GANConfig
    conditions = (LABEL, TRUNCATION)
    label_hint: ClassVar[str] = "train a conditional preset (model.conditional=true) for labels"

    def __init__(self, config: GANConfig, info: dict[str, Any], context: FamilyContext) -> None:
        super().__init__(config, info, context)
        if config.conditional and not info.get("num_classes"):
            raise UsageError("model.conditional=true needs a labelled dataset; drop it or pick a dataset with classes")
        self.num_classes = info["num_classes"] if config.conditional else 0
        self.G, self.D = self.build_networks(config, info)

    def build_networks(self, config: GANConfig, info: dict[str, Any]) -> tuple[nn.Module, nn.Module]:
        """(G, D) for this data, conditioned on `self.num_classes` classes (0: unconditional)."""
        raise NotImplementedError

    def to_samples(self, x: Tensor, labels: Tensor | None, meta: dict[str, Any]) -> Samples:
        """Generator outputs x (N×C×… in [-1, 1]) -> the family's samples."""
        raise NotImplementedError

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"d": list(self.D.parameters()), "g": list(self.G.parameters())}

    def train_step(self, batch: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        r1 = self.config.r1_weight > 0 and ctx.step % self.config.r1_every == 0
        real = (batch["x"] * 2 - 1).requires_grad_(r1)  # N×C×… in [-1, 1]
        n = real.shape[0]
        y_real = batch["y"] if self.num_classes else None
        y_fake = torch.randint(0, self.num_classes, (n,), device=real.device) if self.num_classes else None
        fake = self.G(torch.randn(n, self.config.nz, device=real.device), y_fake)

        # Discriminator: real vs detached fakes.
        d_real, d_fake = self.D(real, y_real), self.D(fake.detach(), y_fake)
        loss_d = self.d_loss(d_real, d_fake)
        if self.config.loss == "wgan-gp":
            loss_d = loss_d + self.config.gp_weight * gradient_penalty(self.D, real, fake.detach(), y_real)
        if r1:
            loss_d = loss_d + self.config.r1_weight * self.config.r1_every / 2 * r1_penalty(d_real, real)
        ctx.update("d", loss_d)
        logs = {"loss_d": loss_d.detach(), "d_real": d_real.detach().mean(), "d_fake": d_fake.detach().mean()}

        # Generator: a fresh pass through the updated D, scored as "real"; D's weights get no gradient.
        if ctx.step % self.config.d_steps == 0:
            self.D.requires_grad_(False)
            loss_g = self.g_loss(self.D(fake, y_fake))
            ctx.update("g", loss_g)
            self.D.requires_grad_(True)
            logs["loss_g"] = loss_g.detach()
        return logs

    def d_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        if self.config.loss == "nonsaturating":  # BCE on logits with targets 1 (real) and 0 (fake)
            return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        if self.config.loss == "hinge":
            return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
        return d_fake.mean() - d_real.mean()  # WGAN critic

    def g_loss(self, d_fake: Tensor) -> Tensor:
        if self.config.loss == "nonsaturating":  # -log D(G(z)): BCE with target "real"
            return F.softplus(-d_fake).mean()
        return -d_fake.mean()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, label: int | None = None,
               truncation: float | None = None, **render: Any) -> Samples:
        """`render`: the subclass's other declared conditions (a spectrogram GAN's `vocoder`), handed to
        `to_samples` in its meta."""
        label = check_label(label, self.num_classes, hint=self.label_hint)
        labels = requested_labels(n, label, self.num_classes, self.device)  # every class in turn when none is asked for
        z = truncated_normal((n, self.config.nz), truncation, generator, self.device)
        meta = {k: v for k, v in {"label": label, "truncation": truncation, **render}.items() if v is not None}
        return self.to_samples(self.G(z, labels).float(), labels, meta)


def r1_penalty(d_real: Tensor, real: Tensor) -> Tensor:
    """R1: E‖∇ₓD(x)‖² on real data (which must require grad), pushing D flat where the data is."""
    (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
    return grad.flatten(1).pow(2).sum(dim=1).mean()


def gradient_penalty(D: nn.Module, real: Tensor, fake: Tensor, y: Tensor | None) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): (||∇D(x̂)|| - 1)² at random interpolates x̂."""
    alpha = torch.rand(real.shape[0], *[1] * (real.ndim - 1), device=real.device)  # one mix per sample, any rank
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(mixed, y).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
