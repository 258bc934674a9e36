"""What the VAE and VQ-VAE families share: pixels as the likelihood sees them, test images for
reconstructions and interpolations, and the three sampling modes.

Bernoulli likelihood is the binarized-MNIST protocol: training inputs are binarized afresh each step
(x ~ Bernoulli(pixel), "dynamic binarization"); evaluation binarizes the test set once with the
evaluation seed, and `nll` with a fixed seed, so every checkpoint is scored on the same binary images.
"""
from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor

from zoo.capabilities import Condition
from zoo.contract import Family
from zoo.errors import UsageError
from zoo.samples import ImageSamples

MODES = ("sample", "reconstruct", "interpolate")
MODE = Condition(
    "mode", str, "sample",
    "sample: draws from the prior; reconstruct: test images each followed by its reconstruction; "
    "interpolate: rows walking in latent space between pairs of test images",
    MODES,
)
SCORE_SEED = 0  # `nll`'s binarization and latent draws: the same batch always gets the same score


class ImageAutoencoder(Family):
    """Base of the image autoencoder families. Subclasses implement `draw`, `recode` and `walk`."""

    modality = "image"
    conditions: ClassVar[tuple[Condition, ...]] = (MODE,)

    @staticmethod
    def check_image_size(info: dict[str, Any]) -> None:
        if info["image_size"] % 4:
            raise UsageError(f"VAE models need an image size divisible by 4, got data.image_size={info['image_size']}; use 28 or 32")

    def observe(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Pixels as the likelihood sees them: binary draws x ~ Bernoulli(pixel) for Bernoulli, else unchanged."""
        return torch.bernoulli(x, generator=generator) if self.config.likelihood == "bernoulli" else x

    def scoring(self, batch: dict[str, Tensor]) -> tuple[Tensor, torch.Generator]:
        """`batch`'s images on the model's device as `nll` scores them (binary images stay as they are;
        grey ones are binarized with SCORE_SEED), and the seeded generator for the rest of the score."""
        generator = torch.Generator(self.device).manual_seed(SCORE_SEED)
        return self.observe(batch["x"].to(self.device).float(), generator), generator

    def evaluation_images(self, ctx: Any, count: int) -> tuple[Tensor, Tensor | None]:
        """`count` test images picked and (Bernoulli) binarized with the evaluation seed, on its device, and their labels."""
        test = ctx.split(self, "test")
        seeded = torch.Generator().manual_seed(ctx.seed)
        pick = torch.randperm(len(test), generator=seeded)[:count]
        batch = test.batch(pick.to(ctx.device))
        return self.observe(batch["x"].cpu(), seeded).to(ctx.device), batch.get("y")

    # ---- sampling ----------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, mode: str = "sample", **conditions: Any) -> ImageSamples:
        """Prior samples; `mode="reconstruct"`: test images each followed by its reconstruction;
        `mode="interpolate"`: rows of decoded latent interpolations between pairs of test images."""
        render = {"sample": self.draw, "reconstruct": self.reconstruction_pairs, "interpolate": self.interpolation}[mode]
        images = render(n, generator, **conditions)
        meta = {"mode": mode, **{k: v for k, v in conditions.items() if v is not None}}
        return ImageSamples(images.clamp(0, 1), meta=meta)

    def draw(self, n: int, generator: torch.Generator | None, **conditions: Any) -> Tensor:
        """n decoded prior samples, N×C×S×S in [0, 1]."""
        raise NotImplementedError

    def recode(self, x: Tensor, y: Tensor | None, **conditions: Any) -> Tensor:
        """Reconstructions of test images x (labels y, when the data has them) for `mode=reconstruct`."""
        raise NotImplementedError

    def walk(self, x: Tensor, y: Tensor | None, t: Tensor, **conditions: Any) -> Tensor:
        """Decoded latent walks from x[:P] to x[P:] (2P test images) at fractions t (steps): (P·steps)×C×S×S."""
        raise NotImplementedError

    def test_images(self, n: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor | None]:
        """n test images (N×C×S×S in [0, 1]) and their labels (None for unlabelled data), chosen by the
        sampling generator from the split the run's data config and `--data-dir` name."""
        data = self.context.split("test")
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator, device=self.device))
        pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
        batch = data.batch(pick)
        y = batch.get("y")
        return batch["x"].to(self.device).float(), None if y is None else y.to(self.device)

    def reconstruction_pairs(self, n: int, generator: torch.Generator | None, **conditions: Any) -> Tensor:
        """[x0, r0, x1, r1, ...]: n // 2 test images, each followed by its reconstruction."""
        if n < 2:
            raise UsageError(f"--mode reconstruct shows pairs of test image and reconstruction: use -n 2 or more, got {n}")
        x, y = self.test_images(n // 2, generator)
        return torch.stack([x, self.recode(x, y, **conditions)], dim=1).flatten(0, 1)  # N×C×S×S, alternating

    def interpolation(self, n: int, generator: torch.Generator | None, **conditions: Any) -> Tensor:
        """A pairs × steps grid (steps = ceil(sqrt(n)), pairs = n // steps): each row walks in latent space
        from one test image to another."""
        steps = max(2, math.ceil(math.sqrt(n)))
        pairs = max(1, n // steps)
        x, y = self.test_images(2 * pairs, generator)
        return self.walk(x, y, torch.linspace(0, 1, steps, device=self.device), **conditions)
