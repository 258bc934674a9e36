"""MusicFamily: chorale models on piano rolls - the piano-roll LSTM (JSB's baseline, `self.lstm`) or a
GPT over four-voice tokens (`self.gpt`, zoo.nn.gpt.GPT) - trained by zoo's trainer.

Both are scored as the JSB Chorales benchmark scores models: negative log-likelihood in nats per
quarter-note frame over the test split. The GPT's frame likelihood is its four voice tokens' (plus the
END token after each piece), an upper bound on the likelihood of the piano-roll frame they spell.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.capabilities import Condition
from zoo.contract import Family, FamilyContext, StepContext
from zoo.errors import UsageError, ZooError
from zoo.nn import gpt
from zoo_music import harmony, scores, tokens
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
    lookahead: int = 0  # gpt only: frames the soprano runs ahead of the alto, tenor and bass (tokens.ahead); a harmonizer sees that much of the melody to come

    def __post_init__(self) -> None:
        heads = self.n_head if self.arch == "gpt" else 1
        gpt.check_shape(self.n_layer, heads, self.n_embd, self.block_size, self.dropout)
        if self.sample_frames < 1:
            raise UsageError(f"model.sample_frames must be a positive integer, got {self.sample_frames}")
        if self.lookahead < 0 or (self.lookahead and self.arch != "gpt"):
            raise UsageError(f"model.lookahead must be 0 for the lstm and a whole number of frames >= 0 for the gpt, got {self.lookahead}")


class MusicFamily(Family):
    Config = MusicConfig
    modality = "music"
    conditions: ClassVar[tuple[Condition, ...]] = (
        Condition("frames", int, None, "frames to generate (default: model.sample_frames)"),
        Condition("temperature", float, 1.0, "sampling temperature; 0 is greedy"),
        Condition("prompt", str, "", "a score file (" + " ".join(scores.SCORE_EXTS) + ") whose opening every sample continues (moved to C major / A minor)"),
        Condition("constrain", str, None, "voice-leading: no parallel fifths or octaves as the lower voices are drawn (four-voice GPTs; harmonizing too)"),
    )
    input_suffixes: ClassVar[tuple[str, ...]] = scores.SCORE_EXTS  # zoo translate: melodies to harmonize (gpt runs)
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
        L = self.config.lookahead
        ids = torch.cat([torch.cat([tokens.encode(data.piece(i), L), torch.tensor([tokens.END])]) for i in range(len(data))])
        atb = torch.cat([torch.cat([tokens.lower_voices(int(n), L), torch.tensor([False])]) for n in data.lengths])
        if len(ids) <= self.config.block_size:
            raise UsageError(f"the {data.info.get('split')} split has {len(ids)} tokens, not more than model.block_size={self.config.block_size}; lower model.block_size")
        return tokens.TokenStream(ids, self.config.block_size, {**data.info, "tokens": len(ids)}, atb)

    def train_step(self, batch: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        if self.config.arch == "lstm":
            mask = batch["mask"]
            loss = (self.lstm.frame_nll(batch["x"]) * mask).sum() / mask.sum()  # nats per frame
        else:
            loss = F.cross_entropy(self.gpt(batch["x"]).flatten(0, 1).float(), batch["y"].flatten())  # nats per token
        ctx.update("model", loss)
        return {"loss": loss.detach()}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, frames: int | None = None, temperature: float = 1.0, prompt: str = "",
               constrain: str | None = None) -> MusicSamples:
        """`n` pieces of `frames` frames; with `prompt` (a score file) each is its opening, continued; with
        `constrain=voice-leading`, without parallel fifths and octaves."""
        frames = self.config.sample_frames if frames is None else frames
        if frames < 1:
            raise UsageError(f"frames must be a positive integer, got {frames}")
        gpt.check_sampling(temperature, None, None)
        fpq = self.info["frames_per_quarter"]
        opening = self.opening(Path(prompt), n) if prompt else None  # n×T0×88
        if self.config.arch == "lstm":
            if constrain is not None:
                raise UsageError("constrain=voice-leading steers the four-voice GPT; this run is a piano-roll LSTM")
            rolls = self.lstm.sample(n, frames, generator, temperature, opening)
        else:
            L = self.config.lookahead
            start = torch.full((n, 1), tokens.END, device=self.device)  # a piece starts after an END
            if opening is not None:
                start = torch.cat([start, tokens.encode(opening[0]).to(self.device).expand(n, -1)], 1)
            model, _ = self.steered(tokens.VoiceOrder(self.gpt), constrain)
            ids = gpt.generate(model, start, tokens.VOICES * (frames + L), generator, temperature)
            keys = tokens.token_keys(ids[:, start.shape[1] :]).reshape(n, frames + L, tokens.VOICES)
            rolls = tokens.rolls_of(tokens.behind(keys, L))
        if opening is not None:
            rolls = torch.cat([opening.to(rolls), rolls], 1)
        return MusicSamples(rolls, fpq, meta={"frames": frames, "temperature": temperature, "frames_per_quarter": fpq, **({"prompt": Path(prompt).name} if prompt else {}),
                                              **({"constraint": constrain} if constrain else {})})

    def steered(self, model: Any, constrain: str | None) -> tuple[Any, gpt.Steered | None]:
        """`model` seen through the voice-leading rule when `constrain` asks for it (and the Steered view,
        which counts what the rule cost), else as it is."""
        if constrain is None:
            return model, None
        if constrain != "voice-leading":
            raise UsageError(f"constrain={constrain}: the four-voice GPT knows constrain=voice-leading (no parallel fifths or octaves)")
        steered = gpt.Steered(model, harmony.NoParallels(self.config.lookahead))
        return steered, steered

    def opening(self, path: Path, n: int) -> Tensor:
        """The prompt file's piano roll n×T0×88 on this model's grid, in C major / A minor."""
        if self.config.lookahead:
            raise UsageError("this run writes the soprano ahead of the other voices, so it harmonizes melodies (zoo translate RUN melody.mid --out out.mid) "
                             "rather than continuing openings; continue with a gpt-chorales or lstm-chorales run")
        if path.suffix.lower() not in scores.SCORE_EXTS:
            raise UsageError(f"--prompt {path.name}: this model reads score files ({' '.join(scores.SCORE_EXTS)}), not {path.suffix or 'text'}")
        if not path.is_file():
            raise UsageError(f"--prompt {path}: no such file")
        try:
            score = scores.read_score(path)
        except ZooError as err:
            raise UsageError(str(err)) from None
        roll = torch.from_numpy(scores.score_roll(score, self.info["frames_per_quarter"], scores.key_shift(score)))
        return roll[None].expand(n, -1, -1).to(self.device)

    # ---- harmonizing (zoo translate RUN melody.mid --out harmonized.mid) --------------------------
    @torch.no_grad()
    def harmonize(self, sopranos: Tensor, generator: torch.Generator | None = None, temperature: float = 1.0, constrain: str | None = None) -> Tensor:
        """Soprano keys N×T (-1: rests) -> the four voices N×T×4, the soprano exactly as given: each frame's
        alto, tenor and bass drawn after the melody up to `lookahead` frames ahead."""
        return self.harmonize_steered(sopranos, generator, temperature, constrain)[0]

    def harmonize_steered(self, sopranos: Tensor, generator: torch.Generator | None = None, temperature: float = 1.0,
                          constrain: str | None = None) -> tuple[Tensor, gpt.Steered | None]:
        """`harmonize`, and the Steered view that counted what `constrain` cost (None without one)."""
        if self.config.arch != "gpt":
            raise UsageError("this run is a piano-roll LSTM, which cannot harmonize; train harmonize-chorales (or use a gpt-chorales run)")
        gpt.check_sampling(temperature, None, None)
        n, T, L = *sopranos.shape, self.config.lookahead
        ahead = torch.cat([sopranos, sopranos.new_full((n, L), -1)], 1).to(self.device)  # N×(T+L): the soprano of row j
        melody = tokens.voice_tokens(torch.stack([ahead, *[torch.full_like(ahead, -1)] * 3], 2))[..., 0]
        model, steered = self.steered(gpt.Steered(self.gpt, tokens.Melody(melody)), constrain)
        start = torch.full((n, 1), tokens.END, device=self.device)
        ids = gpt.generate(model, start, tokens.VOICES * (T + L), generator, temperature)
        return tokens.behind(tokens.token_keys(ids[:, 1:]).reshape(n, T + L, tokens.VOICES), L), steered

    def translate_file(self, source: Path, out: Path, generator: torch.Generator | None = None, temperature: float = 1.0, constrain: str | None = None,
                       **conditions: Any) -> Path:
        """A melody (the first part of a MIDI, MusicXML, ABC or kern file) harmonized in four parts, the melody
        kept exactly as it was, written at `out` (.mid, .musicxml or .mxl; another suffix becomes .mid)."""
        if conditions:
            raise UsageError(f"harmonizing takes only temperature and constrain, not {', '.join(conditions)}")
        fpq = self.info["frames_per_quarter"]
        part, soprano, shift = harmony.read_melody(Path(source), fpq)
        keys = self.harmonize(torch.from_numpy(soprano)[None], generator, temperature, constrain)[0].cpu().numpy()
        return harmony.write_score(harmony.harmonized_score(part, keys, fpq, shift), Path(out))

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
        nats, atb, predicted = *self.stream_nll(test.ids, ctx.batch_size, test.atb), len(test.ids) - 1
        ctx.protocol.update(tokens=predicted, context=f"at least {self.config.block_size // 2} tokens (strided windows)", lookahead=self.config.lookahead,
                            atb="the alto, tenor and bass tokens of every test frame, given the soprano up to `lookahead` frames ahead and everything before")
        return {"test_nll_per_frame": nats / frames, "test_nll_per_token": nats / predicted, "test_nll_atb_per_frame": atb / frames}

    def stream_nll(self, ids: Tensor, batch_size: int, atb: Tensor | None = None) -> tuple[float, float]:
        """Summed next-token nats of ids[1:], each target scored once (see `scored_windows`), and the part
        of them on the targets `atb` marks (0 without it)."""
        T = min(self.config.block_size, len(ids) - 1)
        windows = scored_windows(len(ids), T)
        offsets = torch.arange(T + 1, device=ids.device)
        nats, marked = 0.0, 0.0
        for i in range(0, len(windows), batch_size):
            starts, firsts = torch.tensor(windows[i : i + batch_size], device=ids.device).T
            tokens_in = ids[starts[:, None] + offsets]  # N×(T+1)
            nll = F.cross_entropy(self.gpt(tokens_in[:, :-1]).float().transpose(1, 2), tokens_in[:, 1:], reduction="none")  # N×T
            scored = nll * (offsets[:-1] >= firsts[:, None])
            nats += scored.sum().item()
            if atb is not None:
                marked += (scored * atb[starts[:, None] + offsets[1:]]).sum().item()
        return nats, marked


def scored_windows(length: int, T: int) -> list[tuple[int, int]]:
    """(start, first scored offset) of windows of T + 1 tokens over a stream of `length`: one every T // 2
    tokens and one ending at the stream's end, each scoring only the targets the one before it did not,
    so every target ids[1:] is scored once, with at least T // 2 tokens of context (or all before it)."""
    starts = list(range(0, length - 1 - T, max(1, T // 2))) + [length - 1 - T]
    return [(starts[0], 0)] + [(s, prev + T - s) for prev, s in zip(starts, starts[1:])]
