"""The audio metrics on real clips: 500 random FSDD training clips stand in for a model's samples and are
scored against the test split exactly as `zoo evaluate` scores generated clips (the same classifier,
judge and functions). These are the floor (audio_fd) and ceiling (audio_is, digit accuracy) a model can
approach. Run: python bench/audio_real_floor.py
"""
from __future__ import annotations

import json

import torch

from zoo.data import load_dataset
from zoo.metrics import frechet_distance, inception_score
from zoo_audio.classifier import cached_classifier, predict
from zoo_audio.fsdd import AudioDataConfig
from zoo_audio.judge import cached_judge, judge_labels


def main() -> None:
    cfg = AudioDataConfig(dataset="fsdd", clip_samples=8192)
    train, test = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    clf, card = cached_classifier("fsdd", train, test)
    judge, _ = cached_judge("fsdd", train, test)
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:500]
    clips, labels = train.fields["x"][pick], train.fields["y"][pick]
    fake, probs = predict(clf, clips)
    real, _ = predict(clf, test.fields["x"])
    mean, std = inception_score(probs.double(), splits=10)
    heard, judged = probs.argmax(1), judge_labels(judge, clips)
    print(json.dumps({
        "classifier_sha256": card["weights_sha256"][:16],
        "audio_fd": round(float(frechet_distance(fake.double(), real.double())), 2),
        "audio_is": round(float(mean), 2), "audio_is_std": round(float(std), 2),
        "digit_accuracy": round(float((heard == labels).float().mean()), 3),
        "judge_digit_accuracy": round(float((judged == labels).float().mean()), 3),
        "clips": len(clips), "reference_items": len(real),
    }))


if __name__ == "__main__":
    main()
