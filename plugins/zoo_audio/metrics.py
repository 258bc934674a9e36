"""The audio metric suite, on the spoken-digit classifier's features (zoo_audio.classifier).

    audio_fd        Fréchet distance between classifier embeddings of generated clips and of the
                    test split (FAD's recipe, with our classifier in VGGish's place); lower is better
    audio_is        Inception-style score exp(E KL(p(y|x) || p(y))); 10 is the ceiling for 10 digits
    digit_accuracy  conditional models: share of clips the classifier hears as the digit asked for;
                    beside it, the independent judge's share (zoo_audio.judge) and how often the two agree
    copy_synthesis  vocoders: test clips resynthesised from their mel spectrograms against the originals
                    (log-spectral distance, mel-cepstral distortion, both classifiers' digit accuracy),
                    beside Griffin-Lim's resynthesis of the same clips from their linear spectrograms
                    (SpecGAN's 128-point STFT, 32 iterations), and the vocoder's real-time factor
    voice_conversion  voice conversion: test clips converted to each other speaker; how often zoo's speaker
                    classifier hears the target speaker, and both digit classifiers the clip's digit,
                    beside the unconverted clips and their copy synthesis (through the same renderer)

Every result records the classifier's weights checksum and test accuracy, the reference split, the
sample counts and the seed, so scores from different classifiers are never compared.
"""
from __future__ import annotations

import time
from typing import Any

import torch

from zoo.contract import Family
from zoo.errors import UsageError
from zoo.evaluation import CacheKey, EvalContext, Metric, MetricResult
from zoo.metrics import frechet_distance, inception_score
from zoo.samples import AudioSamples
from zoo.vocoder import Vocodes
from zoo_audio.classifier import DigitClassifier, cached_classifier, griffin_lim_resynthesis, predict
from zoo_audio.distances import log_spectral_distance, mel_cepstral_distortion
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


class CopySynthesis(Metric):
    """A vocoder's resynthesis of real test clips, against the originals and beside Griffin-Lim's."""

    name = "copy_synthesis"
    version = "1"
    modalities = ("audio",)
    higher_is_better = {"lsd_db": False, "mcd_db": False, "gl_lsd_db": False, "gl_mcd_db": False, "digit_accuracy": True,
                        "judge_digit_accuracy": True, "accuracy_kept": True, "judge_accuracy_kept": True, "real_time_factor": False}

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        if not isinstance(model, Vocodes):
            raise UsageError("copy_synthesis needs a vocoder run (vocoder-digits); drop it from --metrics")
        test = ctx.raw_split("test")
        rate = test.info["sample_rate"]
        pick = torch.randperm(len(test), generator=torch.Generator().manual_seed(ctx.seed))[: min(ctx.num_samples, len(test))]
        originals, labels = test.fields["x"][pick], test.fields["y"][pick]
        started = time.perf_counter()
        resynthesized = model.resynthesize(originals).float().cpu().clamp(-1, 1)
        seconds = time.perf_counter() - started
        griffin_lim = griffin_lim_resynthesis(originals, torch.Generator().manual_seed(ctx.seed)).clamp(-1, 1)
        clf, _ = classifier(ctx)
        judge, judge_card = ctx.cached(CacheKey("audio-judge"), lambda: cached_judge(ctx.config.data.dataset, ctx.raw_split("train"), test, ctx.device))
        heard = {k: (predict(clf, w)[1].argmax(1) == labels).float().mean().item() for k, w in
                 (("original", originals), ("vocoder", resynthesized), ("griffin_lim", griffin_lim))}
        judged = {k: (judge_labels(judge, w) == labels).float().mean().item() for k, w in
                  (("original", originals), ("vocoder", resynthesized), ("griffin_lim", griffin_lim))}
        values = {
            "lsd_db": log_spectral_distance(resynthesized, originals).mean().item(),
            "mcd_db": mel_cepstral_distortion(resynthesized, originals, rate).mean().item(),
            "gl_lsd_db": log_spectral_distance(griffin_lim, originals).mean().item(),
            "gl_mcd_db": mel_cepstral_distortion(griffin_lim, originals, rate).mean().item(),
            "digit_accuracy": heard["vocoder"], "original_digit_accuracy": heard["original"], "gl_digit_accuracy": heard["griffin_lim"],
            "accuracy_kept": heard["vocoder"] / max(heard["original"], 1e-9),
            "judge_digit_accuracy": judged["vocoder"], "judge_original_digit_accuracy": judged["original"],
            "judge_gl_digit_accuracy": judged["griffin_lim"], "judge_accuracy_kept": judged["vocoder"] / max(judged["original"], 1e-9),
            "real_time_factor": seconds / (originals.numel() / rate),
        }
        return MetricResult(values, protocol(ctx, len(pick), clips=f"{ctx.config.data.dataset}/test, a seeded permutation",
                                             griffin_lim="n_fft 128, hop 64, 32 iterations, momentum 0.99", distances="zoo_audio.distances",
                                             judge_sha256=judge_card["weights_sha256"], timing=f"resynthesis on {ctx.device}, {torch.get_num_threads()} threads"))


class VoiceConversion(Metric):
    """Converted test clips: the target speaker heard, and the digit kept, beside the unconverted baselines."""

    name = "voice_conversion"
    version = "1"
    modalities = ("audio",)
    higher_is_better = {"target_speaker_accuracy": True, "digit_kept": True, "judge_digit_kept": True}

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        from zoo_audio.conversion import VoiceConversion as Converts

        if not isinstance(model, Converts):
            raise UsageError("voice_conversion needs a voice-conversion run (vc-digits); drop it from --metrics")
        test, train = ctx.raw_split("test"), ctx.raw_split("train")
        dataset, vocoder = ctx.config.data.dataset, ctx.conditions.get("vocoder")
        speakers = len(model.speakers)
        pick = torch.randperm(len(test), generator=torch.Generator().manual_seed(ctx.seed))[: min(ctx.num_samples, len(test))]
        waves, digits, source = test.fields["x"][pick], test.fields["y"][pick], test.fields["speaker"][pick]
        shifts = torch.arange(1, speakers).repeat_interleave(len(pick))  # every clip to every other speaker
        targets = (source.repeat(speakers - 1) + shifts) % speakers
        converted = model.convert(waves.repeat(speakers - 1, 1), targets, vocoder).float().cpu().clamp(-1, 1)
        copied = model.convert(waves, source, vocoder).float().cpu().clamp(-1, 1)  # to its own speaker: the renderer's share of the loss
        speaker_clf, speaker_card = ctx.cached(CacheKey("audio-speaker-classifier"), lambda: cached_classifier(dataset, train, test, ctx.device, task="speaker"))
        digit_clf, _ = classifier(ctx)
        judge, judge_card = ctx.cached(CacheKey("audio-judge"), lambda: cached_judge(dataset, train, test, ctx.device))

        def heard(clf: DigitClassifier, w: torch.Tensor) -> torch.Tensor:
            return predict(clf, w)[1].argmax(1)

        said, by_speaker = heard(speaker_clf, converted), heard(speaker_clf, waves)
        values = {
            "target_speaker_accuracy": (said == targets).float().mean().item(),
            "digit_kept": (heard(digit_clf, converted) == digits.repeat(speakers - 1)).float().mean().item(),
            "judge_digit_kept": (judge_labels(judge, converted) == digits.repeat(speakers - 1)).float().mean().item(),
            "source_target_speaker_accuracy": (by_speaker.repeat(speakers - 1) == targets).float().mean().item(),
            "source_speaker_accuracy": (by_speaker == source).float().mean().item(),
            "source_digit_accuracy": (heard(digit_clf, waves) == digits).float().mean().item(),
            "judge_source_digit_accuracy": (judge_labels(judge, waves) == digits).float().mean().item(),
            "copy_speaker_accuracy": (heard(speaker_clf, copied) == source).float().mean().item(),
            "copy_digit_accuracy": (heard(digit_clf, copied) == digits).float().mean().item(),
            "judge_copy_digit_accuracy": (judge_labels(judge, copied) == digits).float().mean().item(),
        }
        for k, name in enumerate(model.speakers):
            values[f"target_speaker_accuracy_{name}"] = (said[targets == k] == k).float().mean().item()
        return MetricResult(values, protocol(ctx, len(converted), clips=f"{len(pick)} {dataset}/test clips, each to the {speakers - 1} other speakers",
                                             renderer=vocoder or "Griffin-Lim on the mel filterbank's pseudo-inverse",
                                             speaker_classifier_sha256=speaker_card["weights_sha256"],
                                             speaker_classifier_test_accuracy=speaker_card["test_accuracy"],
                                             judge_sha256=judge_card["weights_sha256"]))


AUDIO_FD = AudioFD()
AUDIO_IS = AudioIS()
DIGIT_ACCURACY = DigitAccuracy()
COPY_SYNTHESIS = CopySynthesis()
VOICE_CONVERSION = VoiceConversion()
