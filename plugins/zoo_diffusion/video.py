"""Video flow matching / diffusion: the diffusion family's objectives, paths and samplers on clips
N×T×C×H×W, with a factorised space-time U-Net (zoo.nn.spacetime) in place of the image UNet.

`video-flow` generates clips from noise; `video-predict` continues the first k frames of a clip (SVG/MCVD's
frame prediction). Both condition as MCVD does: the network draws only the frames to come, each with the k
frames before them stacked on its channels, a plane saying they are given and its position in the window, and
never spends a pass on frames it already has. `predict` integrates the T-k frames after the context from noise,
so seeds give different futures, and the given frames of a predicted clip are the given ones, exactly.

`video-flow` with `model.context` k > 0 draws a clip in passes of `model.window` new frames: the first given
nothing, each later one given the last k frames drawn. Training hides the context of a share
`model.context_dropout` of the windows, so one network learns both (and guidance can push a pass towards its
context). One pass over a whole clip does not learn to carry a digit from frame 1 to frame 10 in a CPU budget;
short windows only carry it a frame or two. `model.context_noise` noises the given frames (GameNGen), so the
network learns to mend the flaws of the frames it drew rather than carry them on to the next pass.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from zoo.capabilities import Condition, guided
from zoo.contract import FamilyContext
from zoo.errors import UsageError
from zoo.nn.spacetime import SpaceTimeUNet
from zoo.samples import VideoSamples
from zoo.video import prediction_clips
from zoo_diffusion.family import CONDITIONS, Diffusion, DiffusionConfig
from zoo_diffusion.unet import timestep_embedding

SAMPLING = tuple(c for c in CONDITIONS if c.name in ("sampler", "steps", "eta"))
GIVEN_GUIDANCE = Condition("guidance", float, None, "video-flow with model.context: w in given + w·(given - hidden) for each pass "
                           "drawn given the frames before it (0: none; default: model.guidance)")
MODE = Condition("mode", str, None, "predict: continue the clip given with --context (without: continuations of test clips)")
CONTEXT = Condition("context", str, None, "--mode predict: a clip file (.gif, .mp4) or frame folder whose first k frames are given")


@dataclass
class VideoFlowConfig(DiffusionConfig):
    context: int = 0  # k given frames (video-predict); video-flow: frames each pass is given, the last k drawn (0: one pass)
    context_dropout: float = 0.0  # training: share of windows whose given frames are hidden (video-flow's first pass is drawn so)
    window: int = 0  # video-flow with a context: new frames per network pass (0: the clip's frames after the context)
    joint_attention: bool = False  # model.attention levels attend across frames and positions at once, not per pixel across frames
    context_noise: float = 0.0  # std of Gaussian noise on the given frames in [-1, 1], in training and sampling (GameNGen)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.conditional:
            raise UsageError("the video flow families are not class-conditional; drop model.conditional")
        if self.context < 0:
            raise UsageError(f"model.context must be >= 0, got {self.context}")
        if self.window < 0:
            raise UsageError(f"model.window must be >= 0 (0: the clip's frames after the context), got {self.window}")
        if not 0 <= self.context_dropout < 1:
            raise UsageError(f"model.context_dropout must be in [0, 1), got {self.context_dropout}")
        if self.context_noise < 0:
            raise UsageError(f"model.context_noise must be >= 0, got {self.context_noise}")
        if self.context_noise and not self.context:
            raise UsageError("model.context_noise acts on the given frames: it needs model.context > 0")


class VideoDenoiser(nn.Module):
    """(x_t N×T×C×H×W, t N, labels, cond N×T×Cc×H×W) -> the objective's target, N×T×C×H×W."""

    def __init__(self, channels: int, cond_channels: int, widths: list[int], attention: tuple[int, ...] = (), joint: bool = False) -> None:
        super().__init__()
        self.width = widths[0]
        emb = 4 * widths[0]
        self.time = nn.Sequential(nn.Linear(widths[0], emb), nn.SiLU(), nn.Linear(emb, emb))
        self.net = SpaceTimeUNet(channels + cond_channels, channels, widths, emb, attention, joint)

    def forward(self, x: Tensor, t: Tensor, labels: Tensor | None = None, cond: Tensor | None = None) -> Tensor:
        emb = self.time(timestep_embedding(t, self.width))
        return self.net(x if cond is None else torch.cat([x, cond], dim=2), emb)


class VideoFlowFamily(Diffusion):
    """Unconditional clips N×T×C×H×W in [0, 1]."""

    Config = VideoFlowConfig
    modality = "video"
    conditions: ClassVar[tuple[Condition, ...]] = (*SAMPLING, GIVEN_GUIDANCE)
    tiny: ClassVar[dict[str, Any]] = {"model.widths": [8, 8], "model.attention": [], "model.steps": 2, "model.eval_images": 8,
                                      "data.batch_size": 4, "data.image_size": 16, "data.digit_size": 8, "data.frames": 4,
                                      "data.test_sequences": 32, "train.lr": 3e-3}

    def __init__(self, config: VideoFlowConfig, info: dict[str, Any], context: FamilyContext) -> None:
        self.check_context(config, info["frames"])
        self.frames: int = info["frames"]
        self.window: int = config.window or self.frames - config.context  # frames the network draws at once
        super().__init__(config, info, context)

    @staticmethod
    def check_context(config: VideoFlowConfig, frames: int) -> None:
        if not 0 <= config.context < frames:
            raise UsageError(f"model.context={config.context} must be between 0 and the clip length minus one ({frames - 1})")
        if config.context and not config.context_dropout:
            raise UsageError(f"video-flow draws its first pass with the context hidden, which it never learns with "
                             "model.context_dropout=0: set it to about 0.3, or model.context=0")
        if config.window and not 0 < config.context <= config.window <= frames - config.context:
            raise UsageError(f"model.window={config.window} needs model.context between 1 and the window, and the window plus the "
                             f"context within the clip ({frames} frames; 0: the frames after the context)")

    def array_shape(self, config: DiffusionConfig, info: dict[str, Any]) -> tuple[int, ...]:  # type: ignore[override]
        return self.window, info["channels"], info["image_size"], info["image_size"]

    def network(self, config: DiffusionConfig, info: dict[str, Any]) -> nn.Module:
        net = VideoDenoiser(info["channels"], self.cond_channels(info), list(config.widths), tuple(config.attention),
                            config.joint_attention)
        net.net.check_size(info["image_size"])
        return net

    def cond_channels(self, info: dict[str, Any]) -> int:
        k = self.config.context
        return k * info["channels"] + 2 if k else 0  # the given frames, the plane saying so, the position

    def given(self, frames: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The k frames a pass is given (N×k×C×H×W in [-1, 1]) with `model.context_noise` added, so the network learns
        to mend the frames it is given rather than copy their flaws from pass to pass (GameNGen's noise augmentation)."""
        noise = self.config.context_noise
        return frames + noise * torch.randn(frames.shape, device=frames.device, generator=generator) if noise else frames

    def conditioning(self, given: Tensor, hidden: Tensor | None = None) -> Tensor:
        """Given frames N×k×C×H×W in [-1, 1] -> N×W×(k·C+2)×H×W for the network's W frames: for every frame, the
        k given frames on its channels, a plane of ones (they are given) and its position t/(W-1); clips where
        `hidden` (N, bool) is true are `hide`-n."""
        n, k, c, h, w = given.shape
        T = self.window
        stacked = given.reshape(n, 1, k * c, h, w).expand(n, T, k * c, h, w)
        position = torch.arange(T, device=given.device, dtype=given.dtype) / max(1, T - 1)
        planes = torch.stack([torch.ones_like(position), position], 1)[None, :, :, None, None].expand(n, T, 2, h, w)
        cond = torch.cat([stacked, planes], 2)
        return cond if hidden is None else torch.where(hidden.view(n, 1, 1, 1, 1), self.hide(cond), cond)

    @staticmethod
    def hide(cond: Tensor) -> Tensor:
        """The conditioning with nothing given: the given frames and the plane of ones zeroed, the positions kept."""
        return torch.cat([torch.zeros_like(cond[:, :, :-1]), cond[:, :, -1:]], 2)

    def settings(self, guidance: float | None, sampler: str | None, steps: int | None, eta: float | None) -> dict[str, Any]:
        """The sampling settings; with a context learned both given and hidden, the guidance scale on it."""
        if guidance is not None and not (self.config.context and self.config.context_dropout):
            raise UsageError("guidance steers passes drawn given the frames before them: it needs model.context > 0 and model.context_dropout > 0")
        if guidance is not None and guidance < 0:
            raise UsageError(f"guidance must be >= 0, got {guidance}")
        out = super().settings(None, sampler, steps, eta)
        if self.config.context and self.config.context_dropout:
            out["guidance"] = self.config.guidance if guidance is None else guidance
        return out

    def denoiser(self, labels: Tensor | None, guidance: float, cond: Tensor | None = None) -> Any:
        """Classifier-free guidance on the given frames: given + w·(given - hidden)."""
        if cond is None or not guidance:
            return super().denoiser(labels, 0.0, cond)
        both = super().denoiser(labels, 0.0, torch.cat([cond, self.hide(cond)]))

        def denoise(xt: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
            (x_given, x_hidden), (e_given, e_hidden) = (z.chunk(2) for z in both(torch.cat([xt, xt]), torch.cat([t, t])))
            return guided(x_given, x_hidden, guidance), guided(e_given, e_hidden, guidance)

        return denoise

    def encode(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        """With a context: a window of each clip in [-1, 1] (a random one in training, in evaluation the first) and the
        conditioning on the k frames before it; without: the whole clip."""
        x = batch["x"] * 2 - 1
        k, dropout = self.config.context, self.config.context_dropout
        if not k:
            return x, None
        n, span = len(x), k + self.window
        start = torch.randint(self.frames - span + 1, (n, 1), device=x.device) if self.training else torch.zeros((n, 1), dtype=torch.long, device=x.device)
        x = x[torch.arange(n, device=x.device)[:, None], start + torch.arange(span, device=x.device)]  # N×(k+W)×C×H×W
        hidden = torch.rand(n, device=x.device) < dropout if self.training and dropout else None
        given = self.given(x[:, :k]) if self.training else x[:, :k]  # evaluation scores the frames as given, like dropout
        return x[:, k:], self.conditioning(given, hidden)

    def throughput_unit(self) -> tuple[str, float]:
        return "frames", float(self.window)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, sampler: str | None = None, steps: int | None = None,
               eta: float | None = None, guidance: float | None = None) -> VideoSamples:
        settings = self.settings(guidance, sampler, steps, eta)
        k = self.config.context
        if not k:
            return VideoSamples((self.generate(n, generator, None, settings) + 1) / 2, meta=settings)
        nothing = self.hide(self.conditioning(torch.zeros((n, k, *self.shape[1:]), device=self.device)))
        clip = self.generate(n, generator, None, {**settings, "guidance": 0.0}, cond=nothing)
        while clip.shape[1] < self.frames:  # each pass draws the next window given the last k frames drawn
            cond = self.conditioning(self.given(clip[:, -k:], generator))
            clip = torch.cat([clip, self.generate(n, generator, None, settings, cond=cond)], 1)
        drawn = f"{self.window} frames at a time, each window given the {k} before it (the first nothing)"
        return VideoSamples((clip[:, : self.frames] + 1) / 2, meta={**settings, "drawn": drawn})


class VideoPredictFamily(VideoFlowFamily):
    """Clips conditioned on their first `context` frames: the `Predicts` capability (zoo.video)."""

    conditions: ClassVar[tuple[Condition, ...]] = (*SAMPLING, MODE, CONTEXT)
    tiny: ClassVar[dict[str, Any]] = {**VideoFlowFamily.tiny, "model.context": 2}

    def __init__(self, config: VideoFlowConfig, info: dict[str, Any], context: FamilyContext) -> None:
        super().__init__(config, info, context)
        self.context_frames: int = config.context

    @staticmethod
    def check_context(config: VideoFlowConfig, frames: int) -> None:
        if not 1 <= config.context < frames:
            raise UsageError(f"model.context={config.context} must be between 1 and the clip length minus one ({frames - 1})")
        if config.window:
            raise UsageError("video-predict draws all the frames after the context in one pass: drop model.window")
        if config.context_noise:
            raise UsageError("video-predict is given its context as it is: drop model.context_noise")

    @torch.no_grad()
    def predict(self, context: Tensor, generator: torch.Generator | None = None, sampler: str | None = None,
                steps: int | None = None, eta: float | None = None) -> Tensor:
        """N×k×C×H×W in [0, 1] -> the next T-k frames, integrated from noise drawn with `generator`."""
        k = self.context_frames
        if context.shape[1] != k:
            raise UsageError(f"this run predicts from {k} given frames, got {context.shape[1]}")
        settings = self.settings(None, sampler, steps, eta)
        cond = self.conditioning(context.to(self.device).float() * 2 - 1)
        return (self.generate(len(context), generator, None, settings, cond=cond) + 1) / 2

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, sampler: str | None = None, steps: int | None = None,  # type: ignore[override]
               eta: float | None = None, mode: str | None = None, context: str | None = None) -> VideoSamples:
        """Clips of the context followed by the prediction: of `context`'s first k frames (--mode predict), else of test clips."""
        settings = self.settings(None, sampler, steps, eta)
        clips, meta = prediction_clips(self, n, generator, mode, context, sampler=sampler, steps=steps, eta=eta)
        return VideoSamples(clips, meta={**meta, **settings})
