"""Video restoration: the image degradations of zoo.translation (noise, blur, masks) applied to each frame,
undone clip to clip by a factorised space-time U-Net (zoo.nn.spacetime) trained with L1, as the image
regression baseline is (zoo_translate.regression), so the temporal convolutions can pool evidence from
neighbouring frames that a per-frame filter cannot.

The network predicts a residual added to the degraded clip; its head starts at zero, so before training
the model is the identity. Clip files go through `zoo translate` (the core's `TranslatesFiles`): a GIF
or MP4 in, the restored clip out in the same format; any clip length works (the temporal convolutions
are padded), at the run's frame size.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from zoo.contract import Family, FamilyContext, StepContext
from zoo.errors import UsageError
from zoo.nn.spacetime import SpaceTimeUNet
from zoo.samples import VideoSamples, atomic_write_bytes
from zoo.translation import Degradation, degradation_of

CLIP_KINDS = ("noise", "blur", "mask")  # degradations that keep a frame's size and channels


@dataclass
class RestoreConfig:
    widths: list[int] = field(default_factory=lambda: [16, 32])  # U-Net channels per level
    eval_clips: int = 200  # test clips the family's own test L1 is measured on

    def __post_init__(self) -> None:
        if not self.widths or min(self.widths) < 4 or self.eval_clips <= 0:
            raise UsageError("model.widths must list channel counts >= 4 and model.eval_clips be positive")


def degrade_frames(degradation: Degradation, clips: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Each frame of N×T×C×H×W clips degraded on its own (random noise and masks differ per frame)."""
    return degradation(clips.flatten(0, 1), generator).unflatten(0, clips.shape[:2])


class ClipPairs:
    """A split's clips with their per-frame degraded copies as `source` (made on the device per batch; random
    degradations draw from the global RNG in training, from `generator` in evaluation)."""

    def __init__(self, data: Any, degradation: Degradation) -> None:
        self.data, self.degradation, self.info = data, degradation, data.info
        self.generator: torch.Generator | None = None

    def __len__(self) -> int:
        return len(self.data)

    def batch(self, idx: Tensor) -> dict[str, Tensor]:
        out = self.data.batch(idx)
        out["source"] = degrade_frames(self.degradation, out["x"], self.generator)
        return out

    def to(self, device: torch.device) -> "ClipPairs":
        return ClipPairs(self.data.to(device), self.degradation)


def clip_degradation(data_config: Any) -> Degradation:
    degradation = degradation_of(data_config)
    if degradation is None or degradation.kind not in CLIP_KINDS:
        raise UsageError(f"video restoration needs data.degrade of a kind that keeps the frame size ({', '.join(CLIP_KINDS)}), "
                         f"e.g. --set data.degrade=noise:0.3; got {getattr(data_config, 'degrade', '') or 'none'}")
    return degradation


class VideoRestoreFamily(Family):
    """Degraded clips N×T×C×H×W in [0, 1] -> restored ones; clip files through `zoo translate` (`TranslatesFiles`)."""

    Config = RestoreConfig
    modality = "video"
    input_suffixes: tuple[str, ...] = (".gif", ".mp4")  # capabilities.TranslatesFiles
    tiny: ClassVar[dict[str, Any]] = {"model.widths": [8, 8], "model.eval_clips": 8, "data.batch_size": 4, "data.image_size": 16,
                                      "data.digit_size": 8, "data.frames": 4, "data.test_sequences": 32, "train.lr": 3e-3}

    def __init__(self, config: RestoreConfig, info: dict[str, Any], context: FamilyContext) -> None:
        super().__init__(config, info, context)
        self.degradation = clip_degradation(context.data)
        self.channels, self.size = info["channels"], info["image_size"]
        self.net = SpaceTimeUNet(self.channels, self.channels, config.widths)
        self.net.check_size(self.size)

    def throughput_unit(self) -> tuple[str, float]:
        return "frames", float(self.info["frames"])

    def prepare(self, data: Any) -> ClipPairs:
        return ClipPairs(data, self.degradation)

    def restore_clips(self, source: Tensor) -> Tensor:
        """Degraded clips N×T×C×H×W in [0, 1] -> restored, unclamped (the L1 is taken on these)."""
        return source + self.net(source)

    def train_step(self, batch: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        with ctx.autocast():
            loss = (self.restore_clips(batch["source"]).float() - batch["x"]).abs().mean()
        ctx.update("model", loss)
        return {"loss": loss.detach()}

    @torch.no_grad()
    def translate_clips(self, source: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if tuple(source.shape[-3:]) != (self.channels, self.size, self.size):
            raise UsageError(f"this run restores {self.size}×{self.size} clips with {self.channels} channel(s), "
                             f"got {source.shape[-1]}×{source.shape[-2]} with {source.shape[-3]}; resize the clip")
        return self.restore_clips(source.to(self.device).float()).clamp(0, 1)

    @torch.no_grad()
    def translate_file(self, source: Path, out: Path, generator: torch.Generator | None = None) -> Path:
        """A clip file (GIF, MP4) -> its restoration at `out`, in the same format, at the source's frame rate (GIF: 8 fps)."""
        from zoo import video

        try:
            frames = video.read_clip(source, self.channels)
        except (OSError, ValueError) as err:
            raise UsageError(f"cannot read {source} as a clip ({str(err).splitlines()[0][:80]})") from None
        restored = self.translate_clips(video.clip_tensor(frames)[None])[0]
        out = out.with_suffix(source.suffix.lower())
        data = video.mp4_bytes(restored) if out.suffix == ".mp4" else video.gif_bytes(restored)
        atomic_write_bytes(out, data)
        return out

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> VideoSamples:
        """(degraded | restored | clean) for n // 3 test clips (at least one), side by side."""
        test = ClipPairs(self.context.split("test"), self.degradation)
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator, device=generator.device)) if generator is not None else 0
        test.generator = torch.Generator().manual_seed(seed)
        batch = test.batch(torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[: max(1, n // 3)])
        out = self.translate_clips(batch["source"]).cpu()
        clips = torch.stack([batch["source"].float(), out, batch["x"].float()], 1).flatten(0, 1)
        return VideoSamples(clips, nrow=3, meta={"mode": "translate", "degradation": str(self.degradation)})

    @torch.no_grad()
    def evaluate(self, ctx: Any) -> dict[str, float]:
        """L1 of the restoration on the first `eval_clips` test clips, degradations drawn from a fixed seed."""
        test = ctx.split(self, "test")
        test.generator = torch.Generator(ctx.device).manual_seed(0)
        count = min(len(test), self.config.eval_clips)
        total = 0.0
        for batch in ctx.batches(test, limit=count):
            total += float((self.translate_clips(batch["source"]) - batch["x"]).abs().mean()) * len(batch["x"])
        ctx.protocol.update(items=count, split="test", degradation=str(self.degradation), score_seed=0)
        return {"test_l1": total / count}
