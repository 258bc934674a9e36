"""An independent spoken-digit judge, to check the metrics' classifier (zoo_audio.classifier) against.

Generated clips are off the recordings' distribution, where any one classifier extrapolates in its own
way; a digit accuracy is only worth quoting where a differently built classifier hears the same
digits. This one shares nothing with the metrics' classifier but the training split: MFCCs (64 mel
bands, 25 ms windows, 10 ms hops, 20 coefficients, not 40 log-mel bands of 32 ms), only of the
clip's voiced part (frames within 10 dB of its loudest), linearly resampled to 12 frames,
plus every coefficient's spread and the voiced length; a one-hidden-layer MLP (no convolution, no
pooling), trained full-batch on the clean clips only, as a listener who has only heard recordings.
`digit_accuracy` reports its accuracy and its agreement with the classifier beside the metric.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
import torchaudio
from torch import Tensor, nn

from zoo.data.tensors import TensorData
from zoo.metrics.networks import cached_network
from zoo_audio.classifier import data_key, degraded

VERSION = "2"  # bump when the recipe changes: it is part of the cache key
N_MFCC, N_MELS, FRAMES, HIDDEN, EPOCHS = 20, 64, 12, 256, 300
# Frames whose mean mel level is within this many dB of the clip's loudest frame are its voiced part. c0 is
# sqrt(N_MELS) times that level (orthonormal DCT). Version 1 compared c0 with 10, i.e. 1.25 dB: it kept only
# the loudest two to five frames, and heard 39% of a cSpecGAN's clips as the digit asked for (73% now).
VOICED_DB = 10.0


class DigitJudge(nn.Module):
    """waves N×T -> MFCC features of the voiced part (N×(20·12 + 20 + 1)), standardised -> MLP -> logits."""

    def __init__(self, sample_rate: int, num_classes: int = 10) -> None:
        super().__init__()
        self.mfcc = torchaudio.transforms.MFCC(sample_rate, n_mfcc=N_MFCC, melkwargs={"n_fft": sample_rate // 40, "hop_length": sample_rate // 100, "n_mels": N_MELS})
        self.mfcc.dct_mat = self.mfcc.dct_mat.contiguous()  # torchaudio's is a transposed view, which safetensors refuses
        dims = N_MFCC * FRAMES + N_MFCC + 1
        self.register_buffer("mean", torch.zeros(dims))
        self.register_buffer("std", torch.ones(dims))
        self.mlp = nn.Sequential(nn.Dropout(0.2), nn.Linear(dims, HIDDEN), nn.ReLU(), nn.Dropout(0.2), nn.Linear(HIDDEN, num_classes))

    def features(self, waves: Tensor) -> Tensor:
        m = self.mfcc(waves.float())  # N×20×T
        n, _, t = m.shape
        voiced = m[:, 0] > m[:, 0].amax(dim=1, keepdim=True) - VOICED_DB * N_MELS**0.5  # N×T
        pos = torch.arange(t, device=m.device)
        first = torch.where(voiced, pos, t).amin(dim=1, keepdim=True).float()  # N×1
        length = torch.where(voiced, pos, -1).amax(dim=1, keepdim=True) + 1 - first  # N×1
        at = (first + length * (torch.arange(FRAMES, device=m.device) + 0.5) / FRAMES - 0.5).clamp(0, t - 1)  # N×12 frame positions
        lo = at.floor().long()
        hi, frac = (lo + 1).clamp(max=t - 1), (at - lo)[:, None]

        def frames(i: Tensor) -> Tensor:
            return m.gather(2, i[:, None].expand(-1, N_MFCC, -1))  # N×20×12

        resampled = frames(lo) * (1 - frac) + frames(hi) * frac
        w = voiced[:, None].float()
        mean = (m * w).sum(dim=2, keepdim=True) / w.sum(dim=2, keepdim=True)
        spread = (((m - mean) ** 2 * w).sum(dim=2) / w.sum(dim=2)).sqrt()  # N×20
        return torch.cat([resampled.flatten(1), spread, length / t], dim=1)

    def forward(self, waves: Tensor) -> Tensor:
        return self.mlp((self.features(waves) - self.mean) / self.std)


def train_judge(train: TensorData, device: torch.device | str = "cpu", seed: int = 0) -> DigitJudge:
    """Fit the judge to the clean training clips, full-batch AdamW; the same data give the same weights."""
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(seed)
        judge = DigitJudge(train.info["sample_rate"], train.info["num_classes"]).to(device)
        with torch.no_grad():
            feats = torch.cat([judge.features(part.to(device)) for part in train.fields["x"].split(512)])
            judge.mean.copy_(feats.mean(dim=0))
            judge.std.copy_(feats.std(dim=0) + 1e-6)
        labels = train.fields["y"].to(device)
        opt = torch.optim.AdamW(judge.mlp.parameters(), lr=3e-3, weight_decay=1e-2)
        judge.train()
        for _ in range(EPOCHS):
            loss = F.cross_entropy(judge.mlp((feats - judge.mean) / judge.std), labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return judge.eval()


@torch.no_grad()
def judge_labels(judge: DigitJudge, waves: Tensor, batch_size: int = 512) -> Tensor:
    """The judge's digit for every clip (N), on the CPU."""
    device = judge.mean.device
    return torch.cat([judge(w.to(device)).argmax(dim=1).cpu() for w in waves.split(batch_size)])


def cached_judge(dataset: str, train: TensorData, test: TensorData, device: torch.device | str = "cpu") -> tuple[DigitJudge, dict[str, Any]]:
    """The judge for this training data: loaded from the cache (hash-checked), or trained and cached once."""
    key = data_key(train, f"digit-judge v{VERSION}")

    def describe(judge: DigitJudge) -> dict[str, Any]:
        by_input = {name: round((judge_labels(judge, waves) == test.fields["y"]).float().mean().item(), 4)
                    for name, waves in degraded(test.fields["x"], seed=1000).items()}
        return {"version": VERSION, "dataset": dataset, "data_sha256": key, "trained_on": ["clean"],
                "test_accuracy": by_input["clean"], "test_accuracy_by_input": by_input, "train_items": len(train)}

    cached = cached_network(f"{dataset}-judge-{key[:16]}", build=lambda: DigitJudge(train.info["sample_rate"], train.info["num_classes"]),
                            train=lambda: train_judge(train, device), describe=describe, title=f"{dataset} digit judge", device=device)
    return cached.net, cached.card
