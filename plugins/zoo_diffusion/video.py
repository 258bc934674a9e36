"""Video flow matching / diffusion: the diffusion family's objectives, paths and samplers on clips
N×T×C×H×W, with a factorised space-time U-Net (zoo.nn.spacetime) in place of the image UNet.

`video-flow` generates clips from noise. `video-predict` is the same model conditioned on the first k
frames (SVG/MCVD's frame prediction): every frame gets all k given frames stacked on its channels, a mask channel (1 on
the given frames) and its position in the clip, concatenated to x_t. (Given only its own frame's
context, a late frame sees the context through the temporal convolutions alone, whose reach is one
frame per block: too short for frames 6-10 of a clip to see frames 1-5.) Training regresses the
objective's target on the whole clip, and `predict` integrates from noise given the context, so seeds
give different futures. The given frames of a sampled clip are the given ones, exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from zoo.capabilities import Condition
from zoo.contract import FamilyContext
from zoo.errors import UsageError
from zoo.nn.spacetime import SpaceTimeUNet
from zoo.samples import VideoSamples
from zoo.video import prediction_clips
from zoo_diffusion.family import CONDITIONS, Diffusion, DiffusionConfig
from zoo_diffusion.unet import timestep_embedding

SAMPLING = tuple(c for c in CONDITIONS if c.name in ("sampler", "steps", "eta"))
MODE = Condition("mode", str, None, "predict: continue the clip given with --context (without: continuations of test clips)")
CONTEXT = Condition("context", str, None, "--mode predict: a clip file (.gif, .mp4) or frame folder whose first k frames are given")


@dataclass
class VideoFlowConfig(DiffusionConfig):
    context: int = 0  # k given frames (video-predict); 0 for unconditional generation (video-flow)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.conditional:
            raise UsageError("the video flow families are not class-conditional; drop model.conditional")
        if self.context < 0:
            raise UsageError(f"model.context must be >= 0, got {self.context}")


class VideoDenoiser(nn.Module):
    """(x_t N×T×C×H×W, t N, labels, cond N×T×Cc×H×W) -> the objective's target, N×T×C×H×W."""

    def __init__(self, channels: int, cond_channels: int, widths: list[int], attention: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.width = widths[0]
        emb = 4 * widths[0]
        self.time = nn.Sequential(nn.Linear(widths[0], emb), nn.SiLU(), nn.Linear(emb, emb))
        self.net = SpaceTimeUNet(channels + cond_channels, channels, widths, emb, attention)

    def forward(self, x: Tensor, t: Tensor, labels: Tensor | None = None, cond: Tensor | None = None) -> Tensor:
        emb = self.time(timestep_embedding(t, self.width))
        return self.net(x if cond is None else torch.cat([x, cond], dim=2), emb)


class VideoFlowFamily(Diffusion):
    """Unconditional clips N×T×C×H×W in [0, 1]."""

    Config = VideoFlowConfig
    modality = "video"
    conditions: ClassVar[tuple[Condition, ...]] = SAMPLING
    tiny: ClassVar[dict[str, Any]] = {"model.widths": [8, 8], "model.attention": [], "model.steps": 2, "model.eval_images": 8,
                                      "data.batch_size": 4, "data.image_size": 16, "data.digit_size": 8, "data.frames": 4,
                                      "data.test_sequences": 32, "train.lr": 3e-3}

    def __init__(self, config: VideoFlowConfig, info: dict[str, Any], context: FamilyContext) -> None:
        self.frames: int = info["frames"]
        super().__init__(config, info, context)

    def array_shape(self, config: DiffusionConfig, info: dict[str, Any]) -> tuple[int, ...]:  # type: ignore[override]
        return info["frames"], info["channels"], info["image_size"], info["image_size"]

    def network(self, config: DiffusionConfig, info: dict[str, Any]) -> nn.Module:
        net = VideoDenoiser(info["channels"], self.cond_channels(info), list(config.widths), tuple(config.attention))
        net.net.check_size(info["image_size"])
        return net

    def throughput_unit(self) -> tuple[str, float]:
        return "frames", float(self.frames)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, sampler: str | None = None, steps: int | None = None,
               eta: float | None = None) -> VideoSamples:
        settings = self.settings(None, sampler, steps, eta)
        return VideoSamples((self.generate(n, generator, None, settings) + 1) / 2, meta=settings)


class VideoPredictFamily(VideoFlowFamily):
    """Clips conditioned on their first `context` frames: the `Predicts` capability (zoo.video)."""

    conditions: ClassVar[tuple[Condition, ...]] = (*SAMPLING, MODE, CONTEXT)
    tiny: ClassVar[dict[str, Any]] = {**VideoFlowFamily.tiny, "model.context": 2}

    def __init__(self, config: VideoFlowConfig, info: dict[str, Any], context: FamilyContext) -> None:
        if not 1 <= config.context < info["frames"]:
            raise UsageError(f"model.context={config.context} must be between 1 and the clip length minus one ({info['frames'] - 1})")
        super().__init__(config, info, context)
        self.context_frames: int = config.context

    def cond_channels(self, info: dict[str, Any]) -> int:
        return self.config.context * info["channels"] + 2  # the given frames, the mask saying which frames they are, the position

    def conditioning(self, given: Tensor) -> Tensor:
        """Given frames N×k×C×H×W in [-1, 1] -> N×T×(k·C+2)×H×W: for every frame, the k given frames on its
        channels, the mask (1 on given frames) and its position t/(T-1)."""
        n, k, c, h, w = given.shape
        T = self.frames
        stacked = given.reshape(n, 1, k * c, h, w).expand(n, T, k * c, h, w)
        mask = (torch.arange(T, device=given.device) < k).to(given.dtype)
        position = torch.arange(T, device=given.device, dtype=given.dtype) / (T - 1)
        planes = torch.stack([mask, position], 1)[None, :, :, None, None].expand(n, T, 2, h, w)
        return torch.cat([stacked, planes], 2)

    def encode(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        x = batch["x"] * 2 - 1
        return x, self.conditioning(x[:, : self.context_frames])

    @torch.no_grad()
    def predict(self, context: Tensor, generator: torch.Generator | None = None, sampler: str | None = None,
                steps: int | None = None, eta: float | None = None) -> Tensor:
        """N×k×C×H×W in [0, 1] -> the next T-k frames, integrated from noise drawn with `generator`."""
        k = self.context_frames
        if context.shape[1] != k:
            raise UsageError(f"this run predicts from {k} given frames, got {context.shape[1]}")
        settings = self.settings(None, sampler, steps, eta)
        cond = self.conditioning(context.to(self.device).float() * 2 - 1)
        return (self.generate(len(context), generator, None, settings, cond=cond)[:, k:] + 1) / 2

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, sampler: str | None = None, steps: int | None = None,  # type: ignore[override]
               eta: float | None = None, mode: str | None = None, context: str | None = None) -> VideoSamples:
        """Clips of the context followed by the prediction: of `context`'s first k frames (--mode predict), else of test clips."""
        settings = self.settings(None, sampler, steps, eta)
        clips, meta = prediction_clips(self, n, generator, mode, context, sampler=sampler, steps=steps, eta=eta)
        return VideoSamples(clips, meta={**meta, **settings})
