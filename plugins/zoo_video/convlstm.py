"""ConvLSTM frame prediction (Shi et al. 2015) as OpenSTL trains it: frames folded into patches
(`patch`×`patch` pixels to channels), stacked ConvLSTM cells, a 1×1 convolution back to a frame, and
the mean squared error of every next-frame prediction. The first `context` frames are always the
true ones; after them the model is fed its own predictions, except that with probability
`teacher` (decayed linearly to 0 over `teacher_steps`) a true frame is fed instead (scheduled
sampling, Bengio et al. 2015), so training ends on the closed loop sampling uses.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.capabilities import Condition
from zoo.contract import Family, FamilyContext, StepContext
from zoo.errors import UsageError
from zoo.nn.convlstm import ConvLSTM
from zoo.samples import VideoSamples
from zoo.video import prediction_clips

MODE = Condition("mode", str, None, "predict: continue the clip given with --context (without: continuations of test clips)")
CONTEXT = Condition("context", str, None, "--mode predict: a clip file (.gif, .mp4) or frame folder whose first k frames are given")


@dataclass
class ConvLSTMConfig:
    hidden: list[int] = field(default_factory=lambda: [64, 64])  # channels of each stacked cell
    kernel: int = 5
    patch: int = 2  # frames folded into patch×patch pixels per channel (OpenSTL: 4 at 64×64)
    context: int = 5  # k: true frames given; the model predicts the rest of the clip
    teacher: float = 1.0  # scheduled sampling: initial probability of feeding a true frame after the context
    teacher_steps: int = 1000  # ... decayed linearly to 0 over these steps
    eval_clips: int = 500  # test clips the family's own test MSE is measured on

    def __post_init__(self) -> None:
        if not self.hidden or min(self.hidden) < 1 or self.kernel % 2 == 0 or self.patch < 1 or self.context < 1:
            raise UsageError("model.hidden must list positive widths, model.kernel be odd, model.patch and model.context positive")
        if not 0 <= self.teacher <= 1 or self.teacher_steps < 0 or self.eval_clips <= 0:
            raise UsageError("model.teacher must be in [0, 1], model.teacher_steps >= 0 and model.eval_clips positive")


class ConvLSTMFamily(Family):
    """Clips N×T×C×H×W in [0, 1]; `predict` continues the first `context_frames` of them (the `Predicts` capability)."""

    Config = ConvLSTMConfig
    modality = "video"
    conditions: ClassVar[tuple[Condition, ...]] = (MODE, CONTEXT)
    tiny: ClassVar[dict[str, Any]] = {"model.hidden": [8], "model.kernel": 3, "model.context": 3, "model.eval_clips": 16,
                                      "model.teacher": 0.0, "data.batch_size": 4, "data.image_size": 16, "data.digit_size": 8,
                                      "data.frames": 5, "data.test_sequences": 64, "train.lr": 3e-3,
                                      "train.warmup_steps": 0}

    def __init__(self, config: ConvLSTMConfig, info: dict[str, Any], context: FamilyContext) -> None:
        super().__init__(config, info, context)
        self.frames: int = info["frames"]
        self.context_frames: int = config.context  # capabilities: zoo.video.Predicts
        if not 1 <= config.context < self.frames:
            raise UsageError(f"model.context={config.context} must be between 1 and the clip length minus one ({self.frames - 1})")
        if info["image_size"] % config.patch:
            raise UsageError(f"data.image_size={info['image_size']} must be divisible by model.patch={config.patch}")
        cin = info["channels"] * config.patch**2
        self.lstm = ConvLSTM(cin, config.hidden, config.kernel)
        self.head = nn.Conv2d(config.hidden[-1], cin, 1)

    def throughput_unit(self) -> tuple[str, float]:
        return "frames", float(self.frames)

    def rollout(self, clips: Tensor, teacher: float = 0.0) -> Tensor:
        """Next-frame predictions for frames 1..T-1 of `clips` (N×T×C×H×W): N×(T-1)×C×H×W; after the context
        each input is the previous prediction, or the true frame with probability `teacher`."""
        p = self.config.patch
        frames = F.pixel_unshuffle(clips.flatten(0, 1), p).unflatten(0, clips.shape[:2])  # N×T×C·p²×H/p×W/p
        states = self.lstm.initial(frames[:, 0])
        outs, x = [], frames[:, 0]
        for t in range(self.frames - 1):
            h, states = self.lstm.step(x, states)
            pred = self.head(h)
            outs.append(pred)
            if t + 1 < self.context_frames:
                x = frames[:, t + 1]
            elif teacher > 0:
                use_true = (torch.rand(len(pred), 1, 1, 1, device=pred.device) < teacher).to(pred.dtype)
                x = use_true * frames[:, t + 1] + (1 - use_true) * pred
            else:
                x = pred
        out = torch.stack(outs, 1)
        return F.pixel_shuffle(out.flatten(0, 1), p).unflatten(0, out.shape[:2])

    def train_step(self, batch: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        cfg = self.config
        teacher = cfg.teacher * max(0.0, 1 - ctx.step / cfg.teacher_steps) if cfg.teacher_steps else 0.0
        x = batch["x"]
        with ctx.autocast():
            loss = F.mse_loss(self.rollout(x, teacher).float(), x[:, 1:])
        ctx.update("model", loss)
        return {"loss": loss.detach()}

    @torch.no_grad()
    def predict(self, context: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """N×k×C×H×W -> the next T-k frames, fed back on themselves."""
        k = self.context_frames
        if context.shape[1] != k:
            raise UsageError(f"this run predicts from {k} given frames, got {context.shape[1]}")
        padded = torch.cat([context, context.new_zeros(len(context), self.frames - k, *context.shape[2:])], 1)
        return self.rollout(padded.float())[:, k - 1:].clamp(0, 1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, mode: str | None = None, context: str | None = None) -> VideoSamples:
        """Clips of the context followed by the prediction: of `context`'s first k frames (--mode predict), else of test clips."""
        clips, meta = prediction_clips(self, n, generator, mode, context)
        return VideoSamples(clips, meta=meta)

    @torch.no_grad()
    def evaluate(self, ctx: Any) -> dict[str, float]:
        """Closed-loop test MSE per pixel over the predicted frames of the first `eval_clips` test clips."""
        test = ctx.split(self, "test")
        count = min(len(test), self.config.eval_clips)
        total = 0.0
        for batch in ctx.batches(test, limit=count):
            x = batch["x"].float()
            total += float(F.mse_loss(self.predict(x[:, : self.context_frames]), x[:, self.context_frames:], reduction="sum"))
        ctx.protocol.update(items=count, split="test", context_frames=self.context_frames, frames=self.frames)
        per_pixel = total / (count * (self.frames - self.context_frames) * x[0, 0].numel())
        return {"test_mse": per_pixel}
