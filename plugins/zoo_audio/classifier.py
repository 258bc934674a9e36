"""A spoken-digit classifier on log-mel features: the feature network behind the audio metrics.

It plays Inception's part in FID/IS (VGGish's in FAD): a small 1-D CNN over 40 log-mel bands, trained
once, deterministically, on the training split, and cached as
`<cache>/features/<dataset>-<key>.safetensors` by the core's `zoo.metrics.networks.cached_network`
(which checks the weights' sha256 on every load), where the key is a checksum of the decoded training
data and of this recipe. Its test accuracy, training time and weights checksum sit in a JSON beside it.

Generated audio is not clean speech: SpecGAN's clips are Griffin-Lim resyntheses of spectrograms that
are not quite any clip's, WaveNet's are 8-bit mu-law, WaveGAN's are noisy. A classifier that has only
heard clean recordings extrapolates on them. So it also trains on every training clip passed through
each of `DEGRADATIONS`, with SpecAugment-style time and band masks so no single frame decides a digit,
and its card records its test accuracy on each kind of input. (On a cSpecGAN this moved digit
accuracy by under 3 points; zoo_audio.judge is the independent check, docs/metrics.md the numbers.)
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
import torchaudio
from torch import Tensor, nn

from zoo.data.tensors import TensorData
from zoo.metrics.networks import cached_network
from zoo.nn.spectrogram import griffin_lim, log_magnitude
from zoo_audio.specgan import SpecGANConfig
from zoo_audio.wavenet import mu_law_decode, mu_law_encode

VERSION = "2"  # bump when the recipe below changes: it is part of the cache key
N_MELS = 40
LOG_FLOOR = -12.0  # log-mel power floor relative to the clip's loudest bin (about -52 dB)


def griffin_lim_resynthesis(waves: Tensor, gen: torch.Generator, jitter: float = 0.0) -> Tensor:
    """SpecGAN's round trip: its log-magnitude spectrogram, each bin moved by N(0, jitter) (a generator's
    spectrogram is no real clip's, so Griffin-Lim meets inconsistent magnitudes), back by Griffin-Lim."""
    cfg = SpecGANConfig
    logmag = torch.cat([log_magnitude(part, cfg.n_fft, cfg.hop) for part in waves.split(512)])
    logmag = logmag + jitter * torch.randn(logmag.shape, generator=gen).to(logmag.device)
    return torch.cat([griffin_lim(part, cfg.n_fft, cfg.hop, waves.shape[1], cfg.griffin_lim_iters) for part in logmag.split(512)])


def added_noise(waves: Tensor, gen: torch.Generator) -> Tensor:
    """White noise at a random 10-30 dB below each clip's RMS (WaveGAN and WaveNet hiss)."""
    rms = waves.pow(2).mean(dim=1, keepdim=True).sqrt()
    snr_db = 10 + 20 * torch.rand(len(waves), 1, generator=gen).to(waves.device)
    return waves + torch.randn(waves.shape, generator=gen).to(waves.device) * rms * 10 ** (-snr_db / 20)


# What generated audio goes through that recordings do not: name -> (waves N×T, generator) -> waves N×T.
DEGRADATIONS: dict[str, Callable[[Tensor, torch.Generator], Tensor]] = {
    "griffin-lim": griffin_lim_resynthesis,
    "griffin-lim-jittered": lambda waves, gen: griffin_lim_resynthesis(waves, gen, jitter=0.5),
    "mu-law": lambda waves, gen: mu_law_decode(mu_law_encode(waves, 256), 256),
    "noise": added_noise,
}


def degraded(waves: Tensor, seed: int) -> dict[str, Tensor]:
    """The clips as recorded ("clean") and through every degradation, each with its own seeded generator."""
    return {"clean": waves, **{name: fn(waves, torch.Generator().manual_seed(seed + i)) for i, (name, fn) in enumerate(DEGRADATIONS.items())}}


@dataclass(frozen=True)
class Recipe:
    """How the classifier is trained; the defaults are the cached, metric-grade one."""

    epochs: int = 10  # over the clean clips and every degraded copy: 5x the clips of version 1's 20 epochs
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-2
    seed: int = 0
    degrade: bool = True  # also train on the clips through every one of DEGRADATIONS
    time_mask: int = 8  # SpecAugment: up to this many frames (16 ms each) ...
    band_mask: int = 6  # ... and mel bands set to the floor, once each per clip and batch


class DigitClassifier(nn.Module):
    """waves N×T -> log-mel N×40×frames -> three conv blocks -> [mean; max] over time (the embedding) -> logits."""

    def __init__(self, sample_rate: int, num_classes: int = 10, width: int = 64) -> None:
        super().__init__()
        self.mel = torchaudio.transforms.MelSpectrogram(sample_rate, n_fft=256, hop_length=128, n_mels=N_MELS)  # 32 ms windows
        self.net = nn.Sequential(
            nn.BatchNorm1d(N_MELS),
            nn.Conv1d(N_MELS, width, 5, padding=2), nn.BatchNorm1d(width), nn.ReLU(), nn.MaxPool1d(2, ceil_mode=True),
            nn.Conv1d(width, width, 5, padding=2), nn.BatchNorm1d(width), nn.ReLU(), nn.MaxPool1d(2, ceil_mode=True),
            nn.Conv1d(width, width, 3, padding=1), nn.BatchNorm1d(width), nn.ReLU(),
        )
        self.fc = nn.Linear(2 * width, num_classes)

    def features(self, waves: Tensor) -> Tensor:
        """Gain-invariant log-mel power: N×T -> N×40×frames, 0 at the clip's loudest bin."""
        logmel = torch.log(self.mel(waves.float()) + 1e-10)
        return (logmel - logmel.amax(dim=(1, 2), keepdim=True)).clamp_min(LOG_FLOOR)

    def embed_features(self, feats: Tensor) -> Tensor:
        h = self.net(feats)  # N×width×frames/4
        return torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)  # N×2width

    def embed(self, waves: Tensor) -> Tensor:
        return self.embed_features(self.features(waves))

    def forward(self, waves: Tensor) -> Tensor:
        return self.fc(self.embed(waves))


def spec_augment(feats: Tensor, recipe: Recipe, gen: torch.Generator) -> Tensor:
    """One random time mask and one random band mask per clip (N×bands×frames), set to the floor."""
    n, bands, frames = feats.shape

    def mask(size: int, width: int) -> Tensor:  # N×size, True inside a random span of 0..width positions
        w = torch.randint(0, width + 1, (n, 1), generator=gen)
        start = (torch.rand(n, 1, generator=gen) * (size - w + 1)).long()
        pos = torch.arange(size)
        return ((pos >= start) & (pos < start + w)).to(feats.device)

    hidden = mask(bands, recipe.band_mask)[:, :, None] | mask(frames, recipe.time_mask)[:, None, :]
    return feats.masked_fill(hidden, LOG_FLOOR)


def train_classifier(train: TensorData, recipe: Recipe = Recipe(), device: torch.device | str = "cpu", progress: str | None = None) -> DigitClassifier:
    """Fit a classifier to `train` (waves `x`, digits `y`); the same data and recipe give the same weights.
    `progress` names the wait on stderr (zoo.progress)."""
    from zoo.progress import Progress

    with torch.random.fork_rng(devices=[]), torch.enable_grad():  # evaluation runs under no_grad
        torch.manual_seed(recipe.seed)
        model = DigitClassifier(train.info["sample_rate"], train.info["num_classes"]).to(device)
        inputs = degraded(train.fields["x"], recipe.seed) if recipe.degrade else {"clean": train.fields["x"]}
        with torch.no_grad():  # N×40×frames per kind of input, once
            feats = torch.cat([model.features(part.to(device)) for waves in inputs.values() for part in waves.split(256)])
        labels = train.fields["y"].to(device).repeat(len(inputs))
        opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
        steps = recipe.epochs * (len(feats) // recipe.batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=max(steps, 1))
        gen = torch.Generator().manual_seed(recipe.seed)
        model.train()
        with Progress(steps, progress or "", "steps", disable=progress is None) as bar:
            for _ in range(recipe.epochs):
                perm = torch.randperm(len(feats), generator=gen).to(device)
                for start in bar.each(range(0, len(perm) - recipe.batch_size + 1, recipe.batch_size)):
                    idx = perm[start : start + recipe.batch_size]
                    loss = F.cross_entropy(model.fc(model.embed_features(spec_augment(feats[idx], recipe, gen))), labels[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
    return model.eval()


@torch.no_grad()
def predict(model: DigitClassifier, waves: Tensor, batch_size: int = 256) -> tuple[Tensor, Tensor]:
    """(embeddings N×D, class probabilities N×K) of `waves`, in batches, on the classifier's device."""
    device = next(model.parameters()).device
    embeddings = torch.cat([model.embed(w.to(device)) for w in waves.split(batch_size)])
    return embeddings.cpu(), model.fc(embeddings).softmax(dim=1).cpu()


def accuracy(model: DigitClassifier, waves: Tensor, labels: Tensor) -> float:
    _, probs = predict(model, waves)
    return (probs.argmax(dim=1) == labels.cpu()).float().mean().item()


def accuracy_by_input(model: DigitClassifier, test: TensorData) -> dict[str, float]:
    """Test accuracy on the clips as recorded and through each degradation (seeded apart from training's)."""
    return {name: round(accuracy(model, waves, test.fields["y"]), 4) for name, waves in degraded(test.fields["x"], seed=1000).items()}


def data_key(train: TensorData, recipe: str = f"digit-classifier v{VERSION} {Recipe()}") -> str:
    """sha256 of the decoded training data and of the recipe: what the cached weights depend on."""
    h = hashlib.sha256(f"{recipe} {train.info['sample_rate']}".encode())
    for name in ("x", "y"):
        h.update(train.fields[name].cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def cached_classifier(dataset: str, train: TensorData, test: TensorData, device: torch.device | str = "cpu",
                      task: str = "digit") -> tuple[DigitClassifier, dict[str, Any]]:
    """The classifier for this training data: loaded from the cache (hash-checked), or trained and cached once.
    `task="speaker"`: the same network and recipe on the speaker ids (`speaker`, names in info["speakers"])."""
    if task == "speaker":
        train, test = as_speakers(train), as_speakers(test)
    rate, classes = train.info["sample_rate"], train.info["num_classes"]
    key = data_key(train) if task == "digit" else data_key(train, f"{task}-classifier v{VERSION} {Recipe()}")

    def describe(model: DigitClassifier) -> dict[str, Any]:
        by_input = accuracy_by_input(model, test)
        return {
            "version": VERSION,
            "task": task,
            "dataset": dataset,
            "data_sha256": key,
            "architecture": f"log-mel({N_MELS}) -> conv5(64)-bn-relu-pool, conv5(64)-bn-relu-pool, conv3(64)-bn-relu -> [mean; max] (features, 128) -> fc",
            "recipe": vars(Recipe()),
            "trained_on": ["clean", *DEGRADATIONS],
            "test_accuracy": by_input["clean"],
            "test_accuracy_by_input": by_input,
            "train_items": len(train),
            "test_items": len(test),
            "clip_samples": train.info.get("clip_samples"),
            "device": str(device),
            **({"classes": train.info["speakers"]} if task == "speaker" else {}),
        }

    cached = cached_network(
        f"{dataset}-{key[:16]}" if task == "digit" else f"{dataset}-{task}-{key[:16]}",
        build=lambda: DigitClassifier(rate, classes),
        train=lambda: train_classifier(train, Recipe(), device, f"training the {dataset} {task} classifier"),
        describe=describe,
        title=f"{dataset} {task} classifier",
        device=device,
    )
    return cached.net, cached.card


def as_speakers(data: TensorData) -> TensorData:
    """A split with its speaker ids as the labels `y`, for the speaker classifier."""
    from zoo.errors import UsageError

    if "speaker" not in data.fields:
        raise UsageError("this data has no speaker labels; use FSDD, or an audio folder with data.speaker_regex (e.g. ^\\d_([a-z]+)_)")
    return TensorData({"x": data.fields["x"], "y": data.fields["speaker"]}, {**data.info, "num_classes": len(data.info["speakers"])})
