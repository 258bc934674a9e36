"""MusicFamily: chorale models on piano rolls - the piano-roll LSTM (JSB's baseline, `self.lstm`) or a
GPT over four-voice tokens (`self.gpt`, zoo.nn.gpt.GPT) - trained by zoo's trainer.

Both are scored as the JSB Chorales benchmark scores models: negative log-likelihood in nats per
quarter-note frame over the test split. The GPT's frame likelihood is its four voice tokens' (plus the
END token after each piece), an upper bound on the likelihood of the piano-roll frame they spell.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.capabilities import Condition
from zoo.contract import Family, FamilyContext, StepContext
from zoo.errors import UsageError
from zoo.nn import gpt
from zoo_music import tokens
from zoo_music.data import Pieces
from zoo_music.pianoroll import RollLSTM
from zoo_music.samples import MusicSamples
from zoo_music.scores import KEYS


@dataclass
class MusicConfig:
    arch: Literal["lstm", "gpt"] = "lstm"
    n_layer: int = 1
    n_head: int = 4  # gpt only
    n_embd: int = 128  # LSTM hidden width / GPT width
    block_size: int = 256  # gpt only: context in tokens (four a frame)
    dropout: float = 0.0  # GPT: embeddings and residual branches; LSTM: between layers and on its output
    sample_frames: int = 64  # length of each sample: 16 bars of 4/4 in quarter-note frames

    def __post_init__(self) -> None:
        heads = self.n_head if self.arch == "gpt" else 1
        gpt.check_shape(self.n_layer, heads, self.n_embd, self.block_size, self.dropout)
        if self.sample_frames < 1:
            raise UsageError(f"model.sample_frames must be a positive integer, got {self.sample_frames}")


class MusicFamily(Family):
    Config = MusicConfig
    modality = "music"
    conditions: ClassVar[tuple[Condition, ...]] = (
        Condition("frames", int, None, "frames to generate (default: model.sample_frames)"),
        Condition("temperature", float, 1.0, "sampling temperature; 0 is greedy"),
    )
    tiny: ClassVar[dict[str, Any]] = {
        "model.n_layer": 1, "model.n_head": 2, "model.n_embd": 16, "model.block_size": 32, "model.sample_frames": 8,
        "data.batch_size": 4, "data.max_pieces": 30, "train.num_preview": 2,
    }

    def __init__(self, config: MusicConfig, info: dict[str, Any], context: FamilyContext) -> None:
        super().__init__(config, info, context)
        if config.arch == "lstm":
            self.lstm = RollLSTM(KEYS, config.n_embd, config.n_layer, config.dropout)
        else:
            self.gpt = gpt.GPT(tokens.VOCAB, config.block_size, config.n_layer, config.n_head, config.n_embd, config.dropout)

    def prepare(self, data: Pieces) -> Pieces | tokens.TokenStream:
        """LSTM: whole pieces as they are; GPT: every piece's four-voice tokens, END after each."""
        if self.config.arch == "lstm":
            return data
        ids = torch.cat([torch.cat([tokens.encode(data.piece(i)), torch.tensor([tokens.END])]) for i in range(len(data))])
        if len(ids) <= self.config.block_size:
            raise UsageError(f"the {data.info.get('split')} split has {len(ids)} tokens, not more than model.block_size={self.config.block_size}; lower model.block_size")
        return tokens.TokenStream(ids, self.config.block_size, {**data.info, "tokens": len(ids)})

    def train_step(self, batch: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        if self.config.arch == "lstm":
            mask = batch["mask"]
            loss = (self.lstm.frame_nll(batch["x"]) * mask).sum() / mask.sum()  # nats per frame
        else:
            loss = F.cross_entropy(self.gpt(batch["x"]).flatten(0, 1).float(), batch["y"].flatten())  # nats per token
        ctx.update("model", loss)
        return {"loss": loss.detach()}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, frames: int | None = None, temperature: float = 1.0) -> MusicSamples:
        frames = self.config.sample_frames if frames is None else frames
        if frames < 1:
            raise UsageError(f"frames must be a positive integer, got {frames}")
        gpt.check_sampling(temperature, None, None)
        if self.config.arch == "lstm":
            rolls = self.lstm.sample(n, frames, generator, temperature)
        else:
            start = torch.full((n, 1), tokens.END, device=self.device)  # a piece starts after an END
            ids = gpt.generate(tokens.VoiceOrder(self.gpt), start, tokens.VOICES * frames, generator, temperature)
            rolls = tokens.decode(ids[:, 1:])
        fpq = self.info["frames_per_quarter"]
        return MusicSamples(rolls, fpq, meta={"frames": frames, "temperature": temperature, "frames_per_quarter": fpq})

    def throughput_unit(self) -> tuple[str, float]:
        return ("tokens", float(self.config.block_size)) if self.config.arch == "gpt" else ("pieces", 1.0)

    @torch.no_grad()
    def evaluate(self, ctx: Any) -> dict[str, float]:
        """Test negative log-likelihood in nats per frame (JSB's protocol: summed over the 88 keys, or the
        four voice tokens, averaged over every frame of every test piece); the GPT adds nats per token."""
        test = ctx.split(self)
        frames = test.info["frames"]
        ctx.protocol.update(split="test", pieces=test.info["pieces"], frames=frames, frames_per_quarter=test.info["frames_per_quarter"])
        if self.config.arch == "lstm":
            nats = sum((self.lstm.frame_nll(b["x"]) * b["mask"]).sum().item() for b in ctx.batches(test, batch_size=64))
            return {"test_nll_per_frame": nats / frames}
        nats, predicted = self.stream_nll(test.ids, ctx.batch_size), len(test.ids) - 1
        ctx.protocol.update(tokens=predicted, context=f"at least {self.config.block_size // 2} tokens (strided windows)")
        return {"test_nll_per_frame": nats / frames, "test_nll_per_token": nats / predicted}

    def stream_nll(self, ids: Tensor, batch_size: int) -> float:
        """Summed next-token nats of ids[1:], each target scored once (see `scored_windows`)."""
        T = min(self.config.block_size, len(ids) - 1)
        windows = scored_windows(len(ids), T)
        offsets = torch.arange(T + 1, device=ids.device)
        nats = 0.0
        for i in range(0, len(windows), batch_size):
            starts, firsts = torch.tensor(windows[i : i + batch_size], device=ids.device).T
            tokens_in = ids[starts[:, None] + offsets]  # N×(T+1)
            nll = F.cross_entropy(self.gpt(tokens_in[:, :-1]).float().transpose(1, 2), tokens_in[:, 1:], reduction="none")  # N×T
            nats += (nll * (offsets[:-1] >= firsts[:, None])).sum().item()
        return nats


def scored_windows(length: int, T: int) -> list[tuple[int, int]]:
    """(start, first scored offset) of windows of T + 1 tokens over a stream of `length`: one every T // 2
    tokens and one ending at the stream's end, each scoring only the targets the one before it did not,
    so every target ids[1:] is scored once, with at least T // 2 tokens of context (or all before it)."""
    starts = list(range(0, length - 1 - T, max(1, T // 2))) + [length - 1 - T]
    return [(starts[0], 0)] + [(s, prev + T - s) for prev, s in zip(starts, starts[1:])]
