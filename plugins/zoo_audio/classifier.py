"""A spoken-digit classifier on log-mel features: the feature network behind the audio metrics.

It plays Inception's part in FID/IS (VGGish's in FAD): a small 1-D CNN over 40 log-mel bands, trained
once, deterministically, on the training split, and cached as
`<cache>/features/<dataset>-<key>.safetensors` by the core's `zoo.metrics.networks.cached_network`
(which checks the weights' sha256 on every load), where the key is a checksum of the decoded training
data and of this recipe. Its test accuracy, training time and weights checksum sit in a JSON beside it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
import torchaudio
from torch import Tensor, nn

from zoo.data.tensors import TensorData
from zoo.metrics.networks import cached_network

VERSION = "1"  # bump when the recipe below changes: it is part of the cache key
N_MELS = 40
LOG_FLOOR = -12.0  # log-mel power floor relative to the clip's loudest bin (about -52 dB)


@dataclass(frozen=True)
class Recipe:
    """How the classifier is trained; the defaults are the cached, metric-grade one."""

    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-2
    seed: int = 0


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


def train_classifier(train: TensorData, recipe: Recipe = Recipe(), device: torch.device | str = "cpu") -> DigitClassifier:
    """Fit a classifier to `train` (waves `x`, digits `y`); the same data and recipe give the same weights."""
    with torch.random.fork_rng(devices=[]), torch.enable_grad():  # evaluation runs under no_grad
        torch.manual_seed(recipe.seed)
        model = DigitClassifier(train.info["sample_rate"], train.info["num_classes"]).to(device)
        with torch.no_grad():
            feats = torch.cat([model.features(part.to(device)) for part in train.fields["x"].split(256)])  # N×40×frames, once
        labels = train.fields["y"].to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
        steps = recipe.epochs * (len(feats) // recipe.batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=max(steps, 1))
        gen = torch.Generator().manual_seed(recipe.seed)
        model.train()
        for _ in range(recipe.epochs):
            perm = torch.randperm(len(feats), generator=gen).to(device)
            for start in range(0, len(perm) - recipe.batch_size + 1, recipe.batch_size):
                idx = perm[start : start + recipe.batch_size]
                loss = F.cross_entropy(model.fc(model.embed_features(feats[idx])), labels[idx])
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


def accuracy(model: DigitClassifier, data: TensorData) -> float:
    _, probs = predict(model, data.fields["x"])
    return (probs.argmax(dim=1) == data.fields["y"].cpu()).float().mean().item()


def data_key(train: TensorData) -> str:
    """sha256 of the decoded training data and of the recipe: what the cached weights depend on."""
    h = hashlib.sha256(f"digit-classifier v{VERSION} {Recipe()} {train.info['sample_rate']}".encode())
    for name in ("x", "y"):
        h.update(train.fields[name].cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def cached_classifier(dataset: str, train: TensorData, test: TensorData, device: torch.device | str = "cpu") -> tuple[DigitClassifier, dict[str, Any]]:
    """The classifier for this training data: loaded from the cache (hash-checked), or trained and cached once."""
    rate, classes, key = train.info["sample_rate"], train.info["num_classes"], data_key(train)

    def describe(model: DigitClassifier) -> dict[str, Any]:
        return {
            "version": VERSION,
            "dataset": dataset,
            "data_sha256": key,
            "architecture": f"log-mel({N_MELS}) -> conv5(64)-bn-relu-pool, conv5(64)-bn-relu-pool, conv3(64)-bn-relu -> [mean; max] (features, 128) -> fc",
            "recipe": vars(Recipe()),
            "test_accuracy": round(accuracy(model, test), 4),
            "train_items": len(train),
            "test_items": len(test),
            "clip_samples": train.info.get("clip_samples"),
            "device": str(device),
        }

    cached = cached_network(
        f"{dataset}-{key[:16]}",
        build=lambda: DigitClassifier(rate, classes),
        train=lambda: train_classifier(train, Recipe(), device),
        describe=describe,
        title=f"{dataset} digit classifier",
        device=device,
    )
    return cached.net, cached.card
