"""The diffusion families: denoising diffusion (ε- or v-prediction) and flow matching with one UNet, on
images (`diffusion`) and, in audio.py, on spectrograms (`spectrogram-diffusion`).

Training draws t ~ U(0, 1) per image, noises the batch along the path (paths.py) and regresses the
objective's target. Sampling integrates back from noise with a sampler chosen at sampling time
(samplers.py); class-conditional models use classifier-free guidance (Ho & Salimans 2022): labels are
dropped to a "no label" token with probability `label_dropout` in training, and the sampler follows
cond + w·(cond - uncond) at guidance scale w (0: the plain conditional model). Inpainting (the core's
`Restores` capability) re-imposes the known pixels, noised to the current time, after every step.
The trainer's EMA of the weights (train.ema_decay, on in every preset) is what sampling uses.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.capabilities import GUIDANCE, LABEL, Condition, check_guidance, check_label, drop_labels, guided, requested_labels
from zoo.contract import Family, FamilyContext, StepContext
from zoo.errors import UsageError
from zoo.samples import ImageSamples
from zoo_diffusion.paths import OBJECTIVES, SCHEDULES, Objective, Path, Schedule
from zoo_diffusion.samplers import SAMPLERS, sample
from zoo_diffusion.unet import UNet, UNetConfig

SCORE_SEED = 0  # the test loss draws its times and noise from this seed: every checkpoint gets the same ones


@dataclass
class DiffusionConfig:
    objective: Objective = "flow"  # what the UNet predicts: eps (DDPM), v, or flow (the path's velocity)
    schedule: Schedule = "flow"  # noising path: flow (straight), linear or cosine (variance-preserving)
    widths: list[int] = field(default_factory=lambda: [32, 64, 64])  # UNet channels per resolution level
    blocks: int = 1  # residual blocks per level (down; one more up)
    attention: list[int] = field(default_factory=lambda: [2])  # levels with self-attention (0: full resolution)
    heads: int = 4
    dropout: float = 0.0
    conditional: bool = False  # class-conditional with classifier-free guidance
    label_dropout: float = 0.1  # training: probability a label is replaced by "no label"
    guidance: float = 1.0  # default guidance scale w for conditional sampling (0: no guidance)
    sampler: Literal["ddim", "ddpm", "euler", "heun"] = "heun"  # default sampler (a sample condition overrides it)
    steps: int = 20  # default sampler steps
    eta: float = 0.0  # default DDIM η
    resample: int = 5  # inpainting: times each sampler step is taken, noised back in between (RePaint)
    time_sampling: Literal["uniform", "logit-normal"] = "uniform"  # training times: U(0,1) or sigmoid(N(0,1)) (Esser et al. 2024)
    eval_images: int = 1000  # test images the family's own test loss is measured on

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise UsageError(f"unknown model.objective {self.objective!r}; choose from {', '.join(OBJECTIVES)}")
        if self.schedule not in SCHEDULES:
            raise UsageError(f"unknown model.schedule {self.schedule!r}; choose from {', '.join(SCHEDULES)}")
        if self.sampler not in SAMPLERS:
            raise UsageError(f"unknown model.sampler {self.sampler!r}; choose from {', '.join(SAMPLERS)}")
        if self.schedule == "flow" and self.objective != "flow":
            raise UsageError(f"model.objective={self.objective} needs a variance-preserving schedule (linear or cosine); "
                             "the straight flow path goes with objective=flow")
        if self.resample <= 0:
            raise UsageError(f"model.resample must be a positive integer, got {self.resample}")
        if self.steps <= 0 or self.blocks <= 0 or self.eval_images <= 0 or not self.widths or min(self.widths) < 4:
            raise UsageError("model.steps, blocks and eval_images must be positive and model.widths a list of channels >= 4")
        if any(w % 4 or w % self.heads for w in self.widths):
            raise UsageError(f"model.widths must be multiples of 4 and of model.heads={self.heads}, got {self.widths}")
        if not 0 <= self.label_dropout < 1:
            raise UsageError(f"model.label_dropout must be in [0, 1), got {self.label_dropout}")


CONDITIONS: tuple[Condition, ...] = (
    LABEL,
    GUIDANCE,
    Condition("sampler", str, None, "ddim, ddpm (ancestral), euler or heun (default: model.sampler)", SAMPLERS),
    Condition("steps", int, None, "sampler steps; fewer is faster (default: model.steps)"),
    Condition("eta", float, None, "DDIM η in [0, 1]: 0 deterministic, 1 ancestral (default: model.eta)"),
)
RESAMPLE = Condition("resample", int, None, "--mode inpaint: times each step is taken so the fill settles around the known pixels (default: model.resample)")


class Diffusion(Family):
    """What every diffusion family shares: the UNet on C×H×W arrays in [0, 1] (`shape`), training,
    guidance, sampling to such arrays (`generate`) and the test loss. Subclasses say what the arrays
    are: images (DiffusionFamily) or spectrograms (zoo_diffusion.audio)."""

    Config = DiffusionConfig
    conditions: ClassVar[tuple[Condition, ...]] = CONDITIONS

    def __init__(self, config: DiffusionConfig, info: dict[str, Any], context: FamilyContext) -> None:
        super().__init__(config, info, context)
        if config.conditional and not info.get("num_classes"):
            raise UsageError("model.conditional=true needs a labelled dataset; drop it or pick a dataset with classes")
        if any(level >= len(config.widths) for level in config.attention):
            raise UsageError(f"model.attention levels must be below len(model.widths)={len(config.widths)}, got {config.attention}")
        self.shape = self.array_shape(config, info)
        self.num_classes: int = info["num_classes"] if config.conditional else 0  # capabilities.Conditional
        self.path = Path(config.schedule, config.objective)
        self.unet = self.network(config, info)

    def network(self, config: DiffusionConfig, info: dict[str, Any]) -> torch.nn.Module:
        """What predicts the objective's target from (x_t, t, labels, cond): the image UNet on C×H×W arrays here."""
        if any(side % 2 ** (len(config.widths) - 1) for side in self.shape[1:]):
            raise UsageError(f"the data's size {self.shape[1]}×{self.shape[2]} must be divisible by {2 ** (len(config.widths) - 1)} "
                             f"for {len(config.widths)} UNet levels (model.widths)")
        return UNet(UNetConfig(self.shape[0], self.shape[0] + self.cond_channels(info), tuple(config.widths), config.blocks,
                               tuple(config.attention), config.heads, config.dropout, self.num_classes))

    def array_shape(self, config: DiffusionConfig, info: dict[str, Any]) -> tuple[int, int, int]:
        """C×H×W of one item as the UNet sees it."""
        raise NotImplementedError

    def cond_channels(self, info: dict[str, Any]) -> int:
        """Channels of the image the UNet is conditioned on beside x_t (`encode`'s cond): none here."""
        return 0

    def encode(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        """The array the path noises (N×C×H×W in [-1, 1]) and the image the UNet sees beside x_t (None: none)."""
        return batch["x"] * 2 - 1, None

    def decode(self, x: Tensor, cond: Tensor | None) -> Tensor:
        """A sampled array back to data in [-1, 1] (the inverse of `encode` given its cond): here itself."""
        return x

    # ---- training ------------------------------------------------------------------------------
    def loss(self, batch: dict[str, Tensor], generator: torch.Generator | None = None) -> Tensor:
        """The objective's mean squared error on `batch` at random times and noise."""
        x, cond = self.encode(batch)  # N×C×H×W
        n = len(x)
        if self.config.time_sampling == "logit-normal":
            t = torch.sigmoid(torch.randn(n, device=x.device, generator=generator))
        else:
            t = torch.rand(n, device=x.device, generator=generator)
        t = t * self.path.t_max
        noise = torch.randn(x.shape, device=x.device, generator=generator)
        xt, target = self.path.noised(x, noise, t)
        labels = None
        if self.num_classes:
            labels = drop_labels(batch["y"], self.config.label_dropout if self.training else 0, self.num_classes, generator)
        return F.mse_loss(self.unet(xt, t, labels, cond).float(), target)

    def train_step(self, batch: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        with ctx.autocast():
            loss = self.loss(batch)
        ctx.update("model", loss)
        return {"loss": loss.detach()}

    # ---- sampling ------------------------------------------------------------------------------
    def settings(self, guidance: float | None, sampler: str | None, steps: int | None, eta: float | None) -> dict[str, Any]:
        """The sampling settings in force: the given conditions, else the config's defaults."""
        check_guidance(guidance, self.num_classes)
        if steps is not None and steps <= 0:
            raise UsageError(f"steps must be a positive integer, got {steps}")
        config = self.config
        out = {"sampler": sampler or config.sampler, "steps": steps or config.steps, "eta": config.eta if eta is None else eta}
        if self.num_classes:
            out["guidance"] = config.guidance if guidance is None else guidance
        return out

    def denoiser(self, labels: Tensor | None, guidance: float, cond: Tensor | None = None) -> Any:
        """(x_t, t) -> (x̂, ε̂) given the image `cond`, with classifier-free guidance on the network's output."""

        def denoise(xt: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
            if labels is None or guidance == 0:
                out = self.unet(xt, t, labels, cond)
            else:
                none = torch.full_like(labels, self.num_classes)
                both = None if cond is None else torch.cat([cond, cond])
                with_label, without = self.unet(torch.cat([xt, xt]), torch.cat([t, t]), torch.cat([labels, none]), both).float().chunk(2)
                out = guided(with_label, without, guidance)
            x_hat, eps_hat = self.path.estimates(out.float(), xt, t)
            if self.config.objective == "eps":  # x̂ = (x_t - s·ε̂)/a blows up near pure noise: clip it to the data range (DDPM's practice)
                a, s, _, _ = (c.view(-1, *[1] * (xt.dim() - 1)) for c in self.path.coefficients(t))
                x_hat = x_hat.clamp(-1, 1)
                eps_hat = (xt - a * x_hat) / s
            return x_hat, eps_hat

        return denoise

    @torch.no_grad()
    def generate(self, n: int, generator: torch.Generator | None, label: int | None, settings: dict[str, Any],
                 known: tuple[Tensor, Tensor] | None = None, resample: int = 1, cond: Tensor | None = None) -> Tensor:
        """n images N×C×H×W in [-1, 1]; `known` = (x in [-1, 1], mask with 1 where known) for inpainting;
        `cond` the image each is conditioned on (`encode`'s)."""
        label = check_label(label, self.num_classes, hint="train a conditional preset (model.conditional=true) for labels")
        labels = requested_labels(n, label, self.num_classes, self.device)
        guidance = settings.get("guidance", 0.0)
        if known is not None and label is None and labels is not None:  # inpainting an image of unknown class: the "no label" token
            labels, guidance = torch.full_like(labels, self.num_classes), 0.0
        noise = torch.randn((n, *self.shape), device=self.device, generator=generator)
        reimpose = None
        if known is not None:
            x0, mask = known

            def reimpose(xt: Tensor, t: Tensor, x_hat: Tensor) -> Tensor:
                a, s, _, _ = (c.view(-1, 1, 1, 1) for c in self.path.coefficients(t))
                fresh = torch.randn(xt.shape, device=xt.device, generator=generator)
                return mask * (a * x0 + s * fresh) + (1 - mask) * xt

        x = sample(self.path, self.denoiser(labels, guidance, cond), noise, settings["sampler"], settings["steps"],
                   eta=settings["eta"], generator=generator, known=reimpose, resample=resample)
        return self.decode(x, cond).clamp(-1, 1)

    # ---- evaluation ----------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, ctx: Any) -> dict[str, float]:
        """The training objective on `eval_images` test items, at times and noise drawn with a fixed seed."""
        test = ctx.split(self, "test")
        count = min(len(test), self.config.eval_images)
        generator = torch.Generator(ctx.device).manual_seed(SCORE_SEED)
        total = 0.0
        for batch in ctx.batches(test, limit=count):
            total += float(self.loss(batch, generator)) * len(batch["x"])
        ctx.protocol.update(items=count, split="test", score_seed=SCORE_SEED)
        return {"test_loss": total / count}


class DiffusionFamily(Diffusion):
    """Images N×C×S×S in [0, 1]; inpainting through the core's `Restores` capability."""

    modality = "image"
    conditions: ClassVar[tuple[Condition, ...]] = (*CONDITIONS, RESAMPLE)
    tiny: ClassVar[dict[str, Any]] = {"model.widths": [8, 8], "model.attention": [1], "model.steps": 4, "model.eval_images": 16,
                                      "data.batch_size": 8, "train.lr": 3e-3}

    def array_shape(self, config: DiffusionConfig, info: dict[str, Any]) -> tuple[int, int, int]:
        return info["channels"], info["image_size"], info["image_size"]

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, label: int | None = None, guidance: float | None = None,
               sampler: str | None = None, steps: int | None = None, eta: float | None = None, resample: int | None = None) -> ImageSamples:
        if resample is not None:
            raise UsageError("resample is for inpainting: add --mode inpaint, or drop --set resample=...")
        settings = self.settings(guidance, sampler, steps, eta)
        x = self.generate(n, generator, label, settings)
        meta = {**settings, **({"label": label} if label is not None else {})}
        return ImageSamples((x + 1) / 2, meta=meta)

    @torch.no_grad()
    def restore(self, x: Tensor, mask: Tensor, generator: torch.Generator | None = None, label: int | None = None,
                guidance: float | None = None, sampler: str | None = None, steps: int | None = None, eta: float | None = None,
                resample: int | None = None) -> Tensor:
        """Inpainting: x N×C×H×W in [0, 1], mask N×1×H×W (1: known). The known pixels come back unchanged."""
        settings = self.settings(guidance, sampler, steps, eta)
        resample = self.config.resample if resample is None else resample
        if resample <= 0:
            raise UsageError(f"resample must be a positive integer, got {resample}")
        x0 = x.to(self.device) * 2 - 1
        mask = mask.to(self.device, x0.dtype)
        out = (self.generate(len(x0), generator, label, settings, known=(x0, mask), resample=resample) + 1) / 2
        return mask * x.to(self.device) + (1 - mask) * out
