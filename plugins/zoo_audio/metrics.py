"""The audio metric suite, on the spoken-digit classifier's features (zoo_audio.classifier).

    audio_fd        Fréchet distance between classifier embeddings of generated clips and of the
                    test split (FAD's recipe, with our classifier in VGGish's place); lower is better
    audio_is        Inception-style score exp(E KL(p(y|x) || p(y))); 10 is the ceiling for 10 digits
    digit_accuracy  conditional models: share of clips the classifier hears as the digit asked for;
                    beside it, the independent judge's share (zoo_audio.judge) and how often the two agree

Every result records the classifier's weights checksum and test accuracy, the reference split, the
sample counts and the seed, so scores from different classifiers are never compared.
"""
from __future__ import annotations

from typing import Any

import torch

from zoo.contract import Family
from zoo.errors import UsageError
from zoo.evaluation import CacheKey, EvalContext, Metric, MetricResult
from zoo.metrics import frechet_distance, inception_score
from zoo.samples import AudioSamples
from zoo_audio.classifier import DigitClassifier, cached_classifier, predict
from zoo_audio.judge import cached_judge, judge_labels


def classifier(ctx: EvalContext) -> tuple[DigitClassifier, dict[str, Any]]:
    """The evaluation's classifier, loaded (or trained and cached) once per evaluation context."""
    return ctx.cached(CacheKey("audio-classifier"), lambda: cached_classifier(ctx.config.data.dataset, ctx.raw_split("train"), ctx.raw_split("test"), ctx.device))


def generated(model: Family, ctx: EvalContext) -> tuple[AudioSamples, torch.Tensor, torch.Tensor]:
    """The evaluation's shared samples and their (embeddings, probabilities), once per model state."""

    def classify() -> tuple[AudioSamples, torch.Tensor, torch.Tensor]:
        samples = ctx.samples(model)
        rate = ctx.raw_split("test").info["sample_rate"]
        if samples.sample_rate != rate:
            raise UsageError(f"the model makes {samples.sample_rate} Hz audio but the classifier hears {rate} Hz; evaluate on the dataset it was trained on")
        return (samples, *predict(classifier(ctx)[0], samples.waves))

    return ctx.cached(ctx.model_key(model, "audio-generated", n=ctx.num_samples), classify)


def protocol(ctx: EvalContext, n: int, **extra: Any) -> dict[str, Any]:
    _, card = classifier(ctx)
    return {
        "feature_network": f"zoo_audio digit classifier v{card['version']}",
        "classifier_sha256": card["weights_sha256"],
        "classifier_test_accuracy": card["test_accuracy"],
        "classifier_test_accuracy_by_input": card["test_accuracy_by_input"],
        "num_samples": n,
        "seed": ctx.seed,
        **extra,
    }


class AudioFD(Metric):
    """Fréchet distance between the digit classifier's embeddings of generated and test clips."""

    name = "audio_fd"
    version = "1"
    modalities = ("audio",)
    higher_is_better = False

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        samples, fake, _ = generated(model, ctx)
        real = ctx.cached(CacheKey("audio-reference"), lambda: predict(classifier(ctx)[0], ctx.raw_split("test").fields["x"])[0])
        value = frechet_distance(fake.double(), real.double())
        return MetricResult({"audio_fd": value}, protocol(ctx, len(samples), reference=f"{ctx.config.data.dataset}/test", reference_items=len(real)))


class AudioIS(Metric):
    """Inception score of generated clips under the digit classifier (10 = confident and balanced)."""

    name = "audio_is"
    version = "1"
    modalities = ("audio",)
    higher_is_better = True

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        samples, _, probs = generated(model, ctx)
        splits = min(10, len(samples))
        mean, std = inception_score(probs.double(), splits=splits)
        return MetricResult({"audio_is": mean, "audio_is_std": std}, protocol(ctx, len(samples), splits=splits))


class DigitAccuracy(Metric):
    """How often the classifier hears the digit a conditional model was asked to say."""

    name = "digit_accuracy"
    version = "2"
    modalities = ("audio",)
    higher_is_better = {"digit_accuracy": True, "judge_digit_accuracy": True, "judge_agreement": True}

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        samples, _, probs = generated(model, ctx)
        if samples.labels is None:
            raise UsageError("digit_accuracy needs a conditional model (one that takes --set label=...); drop it from --metrics")
        judge, card = ctx.cached(CacheKey("audio-judge"), lambda: cached_judge(ctx.config.data.dataset, ctx.raw_split("train"), ctx.raw_split("test"), ctx.device))
        heard, judged, asked = probs.argmax(dim=1), judge_labels(judge, samples.waves), samples.labels.cpu()
        values = {
            "digit_accuracy": (heard == asked).float().mean().item(),
            "judge_digit_accuracy": (judged == asked).float().mean().item(),  # an independently built classifier's
            "judge_agreement": (judged == heard).float().mean().item(),
        }
        return MetricResult(values, protocol(ctx, len(samples), labels="i % num_classes for clip i", judge_sha256=card["weights_sha256"],
                                             judge_test_accuracy=card["test_accuracy_by_input"]))


AUDIO_FD = AudioFD()
AUDIO_IS = AudioIS()
DIGIT_ACCURACY = DigitAccuracy()
