"""WaveNet (van den Oord et al. 2016) over 8-bit mu-law samples, with cached ("fast") generation.

Stacks of gated, dilated causal convolutions (kernel 2, dilations 1, 2, ..., 128, twice) predict a
256-way distribution for every next sample; with `conditional`, a digit embedding added inside every
gate makes the model say the digit asked for. That embedding follows the clip's time (one per digit
and `cond_segment` samples, upsampled by repetition: WaveNet's local conditioning, on a learned
timeline instead of linguistic features). A single embedding per digit (global conditioning, the
paper's, `cond_segment=0`) says which word but not where in it the model is, which a 64 ms receptive
field cannot tell either, and at a CPU budget its samples did not say the digit asked for (docs/audio.md,
"Issue 14"). With `label_dropout` the same network also learns the digit-less model, and sampling
follows classifier-free guidance on the logits of each sample (as autoregressive audio and language
models use it: AudioGen, Sanchez et al. 2023). Training is teacher-forced on
whole clips (or random windows of them). Generation keeps, for every layer, a queue of its last
`dilation` inputs (Paine et al. 2016, "Fast Wavenet"): a new sample costs one step per layer,
reusing the queued activations, instead of a pass over the whole receptive field.
"""
from __future__ import annotations

import contextlib
import math
from collections import deque
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
import torchaudio.functional as AF
from torch import Tensor, nn

from zoo.capabilities import GUIDANCE, LABEL, check_guidance, check_label, drop_labels, guided, requested_labels
from zoo.contract import Family, FamilyContext, StepContext
from zoo.device import single_thread
from zoo.errors import UsageError
from zoo.samples import AudioSamples
from zoo_audio.fsdd import clip_seconds


# The conditioning table's output scale: a learning-rate multiplier. Adam moves a weight by about lr per
# update whatever its gradient, and a row of the table is updated only when a clip of its digit is in the
# batch (one step in five at batch 2), so unscaled it would move by at most ~0.2 in 1,000 steps.
COND_GAIN = 10.0


def mu_law_encode(waves: Tensor, levels: int) -> Tensor:
    """Waves in [-1, 1] -> int64 classes 0..levels-1 (silence is levels // 2)."""
    return AF.mu_law_encoding(waves.clamp(-1, 1), levels)


def mu_law_decode(classes: Tensor, levels: int) -> Tensor:
    return AF.mu_law_decoding(classes, levels)


@dataclass
class WaveNetConfig:
    channels: int = 32  # residual channels
    skip_channels: int = 64
    layers: int = 8  # per stack: dilations 1, 2, ..., 2**(layers-1)
    stacks: int = 2
    quantization: int = 256  # mu-law levels (8 bits)
    conditional: bool = True  # a digit embedding inside every gate: sample(label=k)
    cond_segment: int = 256  # samples per step of each digit's learned timeline; 0: one embedding per clip (global)
    label_dropout: float = 0.0  # training: probability a clip's digit is replaced by "no digit" (> 0 allows guidance)
    guidance: float = 0.0  # default classifier-free guidance scale w when sampling (0: the plain conditional model)
    # Samples predicted per clip and step. Shorter than the clip: a random crop, cheaper, but crops rarely hold
    # a clip's first samples, which generation starts from (from silence), so the model learns to stay silent.
    window: int = 8192


class WaveNet(Family):
    Config = WaveNetConfig
    modality = "audio"
    conditions = (LABEL, GUIDANCE)
    tiny: ClassVar[dict[str, Any]] = {
        "model.channels": 4, "model.skip_channels": 4, "model.layers": 3, "model.stacks": 1, "model.window": 64,
        "data.batch_size": 4, "data.clip_samples": 1024, "train.lr": 3e-2,  # a visible fall in 24 steps
    }

    def __init__(self, config: WaveNetConfig, info: dict[str, Any], context: FamilyContext) -> None:
        super().__init__(config, info, context)
        if min(config.channels, config.skip_channels, config.layers, config.stacks, config.window) <= 0 or config.quantization < 2 or config.cond_segment < 0:
            raise UsageError("model.channels, skip_channels, layers, stacks and window must be positive, quantization >= 2 and cond_segment >= 0")
        if not 0 <= config.label_dropout < 1:
            raise UsageError(f"model.label_dropout must be in [0, 1), got {config.label_dropout}")
        self.num_classes = info["num_classes"] if config.conditional else 0
        self.unconditional = bool(self.num_classes) and config.label_dropout > 0  # a "no digit" timeline, index num_classes
        check_guidance(config.guidance or None, self.num_classes, unconditional=self.unconditional)
        self.dilations = [2**i for _ in range(config.stacks) for i in range(config.layers)]
        self.receptive_field = sum(self.dilations) + 1  # inputs that the newest prediction sees
        self.silence = config.quantization // 2
        C, S = config.channels, config.skip_channels
        self.embed = nn.Embedding(config.quantization, C)
        self.convs = nn.ModuleList(nn.Conv1d(C, 2 * C, 2, dilation=d) for d in self.dilations)  # taps at t-d and t
        self.outs = nn.ModuleList(nn.Conv1d(C, C + S, 1) for _ in self.dilations)  # residual and skip, in one 1×1 conv
        self.segments = -(-info["clip_samples"] // config.cond_segment) if config.cond_segment else 1  # timeline steps per clip
        rows = (self.num_classes + self.unconditional) * self.segments
        self.cond = nn.Embedding(rows, 2 * C * len(self.dilations)) if self.num_classes else None
        if self.cond is not None:
            nn.init.zeros_(self.cond.weight)  # N(0, 1) rows were random gate biases that training could barely move (see COND_GAIN)
        self.head = nn.Sequential(nn.ReLU(), nn.Conv1d(S, S, 1), nn.ReLU(), nn.Conv1d(S, config.quantization, 1))

    def conditioning(self, y: Tensor | None, positions: Tensor) -> list[Tensor | None]:
        """Per layer, the N×2C×T gate bias of the digit at each input's position in the clip (N×T or 1×T;
        None when unconditional)."""
        if self.cond is None:
            return [None] * len(self.dilations)
        n, steps = len(y), self.segments
        segment = (positions // self.config.cond_segment).clamp(max=steps - 1) if self.config.cond_segment else 0 * positions
        table = COND_GAIN * self.cond(y[:, None] * steps + torch.arange(steps, device=y.device))  # N×steps×(layers·2C): the digit's timeline
        table = table.view(n, steps, len(self.dilations), -1).permute(2, 0, 3, 1)  # layers×N×2C×steps
        idx = segment.expand(n, -1)[:, None].expand(-1, table.shape[2], -1)  # N×2C×T
        return [layer.gather(2, idx) for layer in table.unbind(0)]

    def forward(self, x: Tensor, y: Tensor | None = None, start: Tensor | int = 0) -> Tensor:
        """Teacher forcing: N×T input classes, the first at position `start` (an int, or N) of its clip
        -> N×Q×T logits of the sample after each input."""
        C = self.config.channels
        h = self.embed(x).transpose(1, 2)  # N×C×T
        positions = torch.as_tensor(start, device=x.device).view(-1, 1) + torch.arange(x.shape[1], device=x.device)  # N×T or 1×T
        skips = 0
        for conv, out, d, c in zip(self.convs, self.outs, self.dilations, self.conditioning(y, positions)):
            gates = conv(F.pad(h, (d, 0)))  # N×2C×T, causal: zero history before the clip
            if c is not None:
                gates = gates + c
            filt, gate = gates.chunk(2, dim=1)
            res, skip = out(torch.tanh(filt) * torch.sigmoid(gate)).split([C, self.config.skip_channels], dim=1)
            h, skips = h + res, skips + skip
        return self.head(skips)

    def inputs_and_targets(self, waves: Tensor) -> tuple[Tensor, Tensor]:
        """Each clip's classes as targets, and the same shifted right behind a silence as inputs (N×T each)."""
        q = mu_law_encode(waves, self.config.quantization)
        return F.pad(q, (1, 0), value=self.silence)[:, :-1], q

    def train_step(self, batch: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        inputs, targets = self.inputs_and_targets(batch["x"])  # N×T
        n, t = targets.shape
        w = min(self.config.window, t)
        idx = torch.randint(0, t - w + 1, (n, 1), device=targets.device) + torch.arange(w, device=targets.device)  # N×w
        y = batch.get("y")
        if self.unconditional:
            y = drop_labels(y, self.config.label_dropout, self.num_classes)
        logits = self(inputs.gather(1, idx), y, idx[:, 0])  # N×Q×w
        loss = F.cross_entropy(logits, targets.gather(1, idx))
        ctx.update("model", loss)
        return {"loss": loss.detach(), "bits_per_sample": loss.detach() / math.log(2)}

    @torch.no_grad()
    def evaluate(self, ctx: Any) -> dict[str, float]:
        """Test negative log-likelihood, in bits per 8-bit sample (teacher-forced, first 64 test clips)."""
        total, count = 0.0, 0
        for batch in ctx.batches(ctx.split(self), limit=64, batch_size=16):
            inputs, targets = self.inputs_and_targets(batch["x"])
            total += F.cross_entropy(self(inputs, batch.get("y")), targets, reduction="sum").item()
            count += targets.numel()
        return {"test_bits_per_sample": total / count / math.log(2)}

    @torch.no_grad()
    def generate(self, n: int, length: int, y: Tensor | None = None, generator: torch.Generator | None = None, cached: bool = True,
                 guidance: float = 0.0) -> Tensor:
        """N×length classes, one sample at a time. `cached=False` recomputes the receptive field every
        step (same numbers, far slower): the reference that the cache is checked and timed against.
        With `guidance` each step runs the digit-less rows beside the N rows and mixes their logits."""
        device = self.embed.weight.device
        inputs = torch.full((n, length + 1), self.silence, device=device)  # inputs[:, t] produced sample t-1
        guide = bool(guidance) and y is not None
        if guide:
            y = torch.cat([y, torch.full_like(y, self.num_classes)])  # the digit-less rows after the N asked for
        with single_thread(device) if cached else contextlib.nullcontext():
            step = self.stepper(2 * n if guide else n, y) if cached else None
            for t in range(length):
                start = t if step is not None else max(0, t + 1 - self.receptive_field)
                x = inputs[:, start : t + 1]  # N×1 with the cache, else the receptive field
                x = torch.cat([x, x]) if guide else x
                logits = step(x[:, 0]) if step is not None else self(x, y, start)[:, :, -1]
                if guide:
                    logits = guided(*logits.float().chunk(2), guidance)
                u = torch.rand(n, 1, device=device, generator=generator)
                cdf = logits.float().softmax(dim=1).cumsum(dim=1)
                inputs[:, t + 1] = torch.searchsorted(cdf, u).clamp_(max=self.config.quantization - 1).squeeze(1)
        return inputs[:, 1:]

    def stepper(self, n: int, y: Tensor | None) -> Any:
        """A function from this step's N input classes to N×Q logits, keeping each layer's queue of inputs
        and counting the steps, whose position picks the digit's gate bias."""
        C, device = self.config.channels, self.embed.weight.device
        queues = [deque(torch.zeros(n, C, device=device) for _ in range(d)) for d in self.dilations]  # inputs at t-d..t-1
        starts = torch.arange(self.segments, device=device) * self.config.cond_segment  # where each timeline step begins
        layers = []
        for conv, out, c in zip(self.convs, self.outs, self.conditioning(y, starts[None])):
            w_gate = torch.cat([conv.weight[:, :, 0], conv.weight[:, :, 1]], dim=1).T  # 2C×2C: [past; now] -> gates
            b_gate = conv.bias.expand(self.segments, n, -1) if c is None else conv.bias + c.permute(2, 0, 1)  # segments×N×2C, the digit folded in
            layers.append((w_gate, b_gate.contiguous(), out.weight[:, :, 0].T, out.bias))
        head = [m for m in self.head if isinstance(m, nn.Conv1d)]
        t = 0

        def step(x: Tensor) -> Tensor:
            nonlocal t
            segment = min(t // self.config.cond_segment, self.segments - 1) if self.config.cond_segment else 0
            t += 1
            h = self.embed(x)  # N×C
            skips = None
            for queue, (w_gate, b_gate, w_out, b_out) in zip(queues, layers):
                past = queue.popleft()
                queue.append(h)
                filt, gate = torch.addmm(b_gate[segment], torch.cat([past, h], dim=1), w_gate).chunk(2, dim=1)
                mixed = torch.addmm(b_out, torch.tanh(filt) * torch.sigmoid(gate), w_out)  # N×(C+S)
                h = h + mixed[:, :C]
                skips = mixed[:, C:] if skips is None else skips + mixed[:, C:]
            hidden = F.linear(torch.relu(skips), head[0].weight[:, :, 0], head[0].bias)
            return F.linear(torch.relu(hidden), head[1].weight[:, :, 0], head[1].bias)

        return step

    def throughput_unit(self) -> tuple[str, float]:
        return clip_seconds(self.info, self.config.window)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, label: int | None = None, guidance: float | None = None) -> AudioSamples:
        label = check_label(label, self.num_classes, hint="train wavenet-digits to choose the digit")
        check_guidance(guidance, self.num_classes, unconditional=self.unconditional)
        guidance = self.config.guidance if guidance is None else guidance
        labels = requested_labels(n, label, self.num_classes, self.device)
        classes = self.generate(n, self.info["clip_samples"], labels, generator, guidance=guidance)
        waves = mu_law_decode(classes, self.config.quantization)
        meta = {"label": label} if label is not None else {}
        return AudioSamples(waves, self.info["sample_rate"], labels, meta={**meta, "guidance": guidance} if self.unconditional else meta)
