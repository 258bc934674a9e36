"""GANFamily: the discriminator-then-generator update, through the trainer's optimizers."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.contract import Family, StepContext
from zoo.errors import UsageError
from zoo.samples import ImageSamples
from zoo_gan.dcgan import Discriminator, Generator


@dataclass
class GANConfig:
    arch: Literal["dcgan"] = "dcgan"
    loss: Literal["nonsaturating", "hinge", "wgan-gp"] = "nonsaturating"
    nz: int = 100  # latent size
    ngf: int = 64  # generator width (the last hidden layer's channels)
    ndf: int = 64  # discriminator width (the first layer's channels)
    conditional: bool = False  # class-conditional: sample(label=k)
    spectral_norm: bool = False  # spectral norm in D instead of BatchNorm (use with hinge)
    gp_weight: float = 10.0  # WGAN-GP gradient-penalty weight
    d_steps: int = 1  # discriminator updates per generator update (5 for WGAN-GP)
    ema_decay: float | None = None  # e.g. 0.999: sample from an exponential moving average of G


class GANFamily(Family):
    Config = GANConfig
    modality = "image"
    tiny: ClassVar[dict[str, Any]] = {"model.nz": 8, "model.ngf": 4, "model.ndf": 4, "data.batch_size": 8}

    def __init__(self, config: GANConfig, info: dict[str, Any]) -> None:
        super().__init__(config, info)
        classes = info["num_classes"] if config.conditional else 0
        self.num_classes = classes
        size, channels = info["image_size"], info["channels"]
        if config.loss == "wgan-gp":
            norm = "none"  # BatchNorm breaks the per-sample gradient penalty
        else:
            norm = "spectral" if config.spectral_norm else "batch"
        self.G = Generator(config.nz, config.ngf, channels, size, classes)
        self.D = Discriminator(config.ndf, channels, size, classes, norm)
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False) if config.ema_decay else None

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"d": list(self.D.parameters()), "g": list(self.G.parameters())}

    def train_step(self, batch: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        real = batch["x"] * 2 - 1  # N×C×H×W in [-1, 1]
        n = real.shape[0]
        y_real = batch["y"] if self.num_classes else None
        y_fake = torch.randint(0, self.num_classes, (n,), device=real.device) if self.num_classes else None
        fake = self.G(torch.randn(n, self.config.nz, device=real.device), y_fake)

        # Discriminator: real vs detached fakes.
        d_real, d_fake = self.D(real, y_real), self.D(fake.detach(), y_fake)
        loss_d = self.d_loss(d_real, d_fake)
        if self.config.loss == "wgan-gp":
            loss_d = loss_d + self.config.gp_weight * gradient_penalty(self.D, real, fake.detach(), y_real if self.num_classes else None)
        ctx.update("d", loss_d)
        logs = {"loss_d": loss_d.detach(), "d_real": d_real.detach().mean(), "d_fake": d_fake.detach().mean()}

        # Generator: a fresh pass through the updated D, scored as "real"; D's weights get no gradient.
        if ctx.step % self.config.d_steps == 0:
            self.D.requires_grad_(False)
            loss_g = self.g_loss(self.D(fake, y_fake))
            ctx.update("g", loss_g)
            self.D.requires_grad_(True)
            self.update_ema()
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
    def update_ema(self) -> None:
        if self.G_ema is None:
            return
        torch._foreach_lerp_(list(self.G_ema.parameters()), list(self.G.parameters()), 1 - self.config.ema_decay)
        for ema_buf, buf in zip(self.G_ema.buffers(), self.G.buffers()):
            ema_buf.copy_(buf)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, label: int | None = None) -> ImageSamples:
        device = self.device
        y = None
        if label is not None:
            if not self.num_classes:
                raise UsageError("this GAN is unconditional; drop --set label=... (train a cgan preset for labels)")
            if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < self.num_classes:
                raise UsageError(f"label must be an integer in 0..{self.num_classes - 1}, got {label!r}")
            y = torch.full((n,), label, device=device)
        elif self.num_classes:
            y = torch.arange(n, device=device) % self.num_classes  # every class, in order
        z = torch.randn(n, self.config.nz, device=device, generator=generator)
        g = self.G_ema if self.G_ema is not None else self.G
        images = (g(z, y).float() + 1) / 2
        return ImageSamples(images.clamp(0, 1), meta={"label": label} if label is not None else {})


def gradient_penalty(D: nn.Module, real: Tensor, fake: Tensor, y: Tensor | None) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): (||∇D(x̂)|| - 1)² at random interpolates x̂."""
    alpha = torch.rand(real.shape[0], *[1] * (real.ndim - 1), device=real.device)  # one mix per sample, any rank
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(mixed, y).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
