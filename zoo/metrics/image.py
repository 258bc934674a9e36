"""The image metric suite: FID, KID, precision/recall/density/coverage, IS, label accuracy, sample confidence, PSNR, SSIM.

Sample-based metrics compare the evaluation's generated images (`ctx.samples`, drawn once with the
evaluation seed) against the dataset's test split at the run's image size, both mapped through one
feature network (zoo.metrics.features: the dataset's own CNN by default, Inception-v3 with
`--features inception`), which resizes both the same way.
Real features are computed once per evaluation context, generated ones once per model state, and
shared through `ctx.cache`. Label accuracy needs the `Conditional` capability, PSNR/SSIM `Reconstructs`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from zoo.capabilities import Reconstructs, num_classes
from zoo.contract import Family
from zoo.errors import UsageError
from zoo.evaluation import CacheKey, EvalContext, Metric, MetricResult
from zoo.metrics.features import DomainFeatures, check_options, domain_features, inception_features
from zoo.metrics.frechet import feature_stats, frechet_distance_from_stats
from zoo.metrics.image_quality import psnr, ssim
from zoo.metrics.inception_score import inception_score
from zoo.metrics.kid import kernel_inception_distance
from zoo.metrics.manifold import prdc
from zoo.samples import ImageSamples

KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000
PRDC_K = 5
IS_SPLITS = 10
PSNR_CAP_DB = 100.0  # a perfect reconstruction has infinite PSNR; capped so means stay finite


@dataclass
class Features:
    feats: Tensor  # N×D
    logits: Tensor  # N×classes


def extractor(ctx: EvalContext) -> Any:
    """The evaluation's feature network (DomainFeatures or InceptionFeatures), loaded once."""

    def load() -> Any:
        check_options(ctx.options)
        if ctx.options.get("features", "domain") == "inception":
            return inception_features(ctx.options.get("features.weights"), ctx.device)
        return classifier(ctx)

    return ctx.cached(CacheKey("image-extractor"), load)


def classifier(ctx: EvalContext) -> DomainFeatures:
    """The dataset's domain network; label accuracy uses it whichever features the other metrics use."""
    data = ctx.config.data
    own = getattr(data, "path", "")  # your own images (zoo.data.own): a network trained on the folder's classes
    return ctx.cached(CacheKey("image-classifier"), lambda: domain_features(data if own else data.dataset, ctx.device, ctx.data_dir))


def reference_images(ctx: EvalContext) -> Tensor:
    """The test split as uint8 N×C×H×W, decoded as the run's training data is (same size).

    Real and generated images then take the same path into the feature network (one resize), so a
    model that matches its training data scores the real-vs-real floor. Resizing only the generated
    images would charge a perfect 32×32 model for the 28 -> 32 -> 28 round trip (FID 10 on MNIST)."""
    return ctx.raw_split("test").fields["x"]


def real_features(ctx: EvalContext) -> Features:
    """Features of the whole test split (the reference set), once per evaluation context."""
    net = extractor(ctx)
    return ctx.cached(CacheKey("image-real-features", net.name), lambda: Features(*net(reference_images(ctx))))


def generated_images(model: Family, ctx: EvalContext) -> Tensor:
    samples = ctx.samples(model)
    if not isinstance(samples, ImageSamples):
        raise UsageError(f"image metrics need image samples, but {type(model).__name__} made {type(samples).__name__}")
    return samples.images


def generated_features(model: Family, ctx: EvalContext) -> Features:
    """Features of the evaluation's generated images, once per model state."""
    net = extractor(ctx)

    def extract() -> Features:
        images = generated_images(model, ctx)
        channels = net.net.conv1.in_channels if isinstance(net, DomainFeatures) else images.shape[1]
        if images.shape[1] != channels:
            raise UsageError(f"the model makes {images.shape[1]}-channel images but the {net.name} network takes {channels}; evaluate on the dataset it was trained on")
        return Features(*net(images))

    return ctx.cached(ctx.model_key(model, "image-generated-features", net.name, ctx.num_samples), extract)


def protocol(ctx: EvalContext, num_real: int | None, num_generated: int, **extra: Any) -> dict[str, Any]:
    """What makes two scores comparable: feature network and checksum, reference split, counts, seed."""
    net = extractor(ctx)
    out: dict[str, Any] = {"features": net.name, "feature_checksum": net.checksum}
    if isinstance(net, DomainFeatures):
        out.update(feature_test_accuracy=net.card["test_accuracy"], resize=f"bilinear, antialiased, to {net.size}x{net.size}")
    else:
        out.update(resize=f"bilinear to {net.size}x{net.size}")
    if num_real is not None:
        size = reference_images(ctx).shape[-1]
        out.update(reference=f"{ctx.config.data.dataset}:test", reference_size=size, num_real=num_real)
    return {**out, "num_generated": num_generated, "seed": ctx.seed, **extra}


def singular_cause(num_real: int, num_generated: int, dim: int) -> str:
    """Why a covariance of `dim`-d features can be singular, naming the set that is too small."""
    if num_real <= dim:
        return (f"the test split has only {num_real} images, no more than the {dim} feature dimensions, so FID on it means little; "
                "hold out more images (data.test_fraction, or a test/ folder)")
    if num_generated <= dim:
        return f"only {num_generated} samples were scored, no more than the {dim} feature dimensions; use more (--num-samples)"
    return "the images span fewer directions than the features have (many identical or blank images?)"


class FID(Metric):
    """Fréchet distance between Gaussians fitted to real and generated features."""

    name = "fid"
    version = "1"
    modalities = ("image",)
    higher_is_better = False

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        real, fake = real_features(ctx), generated_features(model, ctx)
        result = frechet_distance_from_stats(*feature_stats(real.feats), *feature_stats(fake.feats))
        if result.regularized:
            warnings.warn(f"FID: a feature covariance was singular and was regularised: {singular_cause(len(real.feats), len(fake.feats), real.feats.shape[1])}",
                          RuntimeWarning, stacklevel=2)
        proto = protocol(ctx, len(real.feats), len(fake.feats), regularized=bool(result.regularized))
        return MetricResult({"fid": result.value}, proto)


class KID(Metric):
    """Unbiased polynomial-kernel MMD², mean and std over random subsets."""

    name = "kid"
    version = "1"
    modalities = ("image",)
    higher_is_better = False

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        real, fake = real_features(ctx), generated_features(model, ctx)
        size = min(KID_SUBSET_SIZE, len(real.feats), len(fake.feats))
        mean, std = kernel_inception_distance(real.feats, fake.feats, KID_SUBSETS, size, generator=ctx.seed)
        return MetricResult({"kid": mean, "kid_std": std}, protocol(ctx, len(real.feats), len(fake.feats), subsets=KID_SUBSETS, subset_size=size))


class PrecisionRecall(Metric):
    """k-NN precision/recall (Kynkäänniemi et al.) and density/coverage (Naeem et al.).

    The real set is the first N test images, N the number of generated ones, since k-NN radii
    shrink as a set grows and unequal sets would bias the four numbers."""

    name = "precision_recall"
    version = "1"
    modalities = ("image",)
    higher_is_better = {"precision": True, "recall": True, "density": True, "coverage": True}

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        real, fake = real_features(ctx), generated_features(model, ctx)
        n = min(len(real.feats), len(fake.feats))
        values = prdc(real.feats[:n], fake.feats[:n], k=PRDC_K)
        ordered = {key: values[key] for key in ("precision", "recall", "density", "coverage")}
        return MetricResult(ordered, protocol(ctx, n, n, k=PRDC_K))


class InceptionScore(Metric):
    """exp(E KL(p(y|x) || p(y))) on the feature network's class probabilities of generated images."""

    name = "inception_score"
    version = "1"
    modalities = ("image",)
    higher_is_better = True

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        fake = generated_features(model, ctx)
        splits = min(IS_SPLITS, len(fake.logits))
        mean, std = inception_score(fake.logits.double().softmax(dim=1), splits)
        return MetricResult({"inception_score": mean, "inception_score_std": std}, protocol(ctx, None, len(fake.logits), splits=splits))


class LabelAccuracy(Metric):
    """Class-conditional models: the share of images made with `label=k` that the domain network
    classifies as k, over num_samples images with the labels balanced.

    The model needs the `Conditional` capability with `num_classes > 0`: `sample(n, generator, label=k)`
    draws n images of class k."""

    name = "label_accuracy"
    version = "1"
    modalities = ("image",)
    higher_is_better = True

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        classes = num_classes(model)
        if not classes:
            raise UsageError(f"label_accuracy needs a class-conditional model (capability zoo.capabilities.Conditional with num_classes > 0); "
                             f"{type(model).__name__} is unconditional, so drop it from --metrics")
        net = classifier(ctx)
        if classes != net.net.head.out_features:
            raise UsageError(f"the model has {classes} classes but the {net.name} classifier knows {net.net.head.out_features}")
        gen, n = ctx.generator(), ctx.num_samples
        hits = 0
        for k in range(classes):
            count = n // classes + (k < n % classes)
            for start in range(0, count, ctx.batch_size):
                with ctx.autocast():
                    images = model.sample(min(ctx.batch_size, count - start), generator=gen, **{**ctx.conditions, "label": k}).images.float()
                hits += int((net(images)[1].argmax(dim=1) == k).sum())
        proto = {
            "features": net.name,
            "feature_checksum": net.checksum,
            "feature_test_accuracy": net.card["test_accuracy"],
            "labels": "balanced, label=k for k in 0..classes-1",
            "num_generated": n,
            "seed": ctx.seed,
        }
        return MetricResult({"label_accuracy": hits / n}, proto)


class SampleConfidence(Metric):
    """How sure the domain classifier is about the samples: the mean of its top softmax probability
    (`sample_confidence`; the test set's own, `real_confidence`, is the ceiling), and how evenly its
    labels spread over the classes: `class_coverage`, the entropy of the label histogram over log(classes)
    (1: uniform), and `max_class_share`. A GAN that draws smudges or one digit scores low on one of them."""

    name = "sample_confidence"
    version = "1"
    modalities = ("image",)
    higher_is_better = {"sample_confidence": True, "class_coverage": True, "max_class_share": False}

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        net = classifier(ctx)
        fake = net(generated_images(model, ctx))[1].double().softmax(dim=1)
        real = ctx.cached(CacheKey("image-real-probabilities", net.name), lambda: net(reference_images(ctx))[1].double().softmax(dim=1))
        share = torch.bincount(fake.argmax(dim=1), minlength=fake.shape[1]).double() / len(fake)
        entropy = -(share[share > 0] * share[share > 0].log()).sum()
        values = {
            "sample_confidence": float(fake.amax(dim=1).mean()),
            "real_confidence": float(real.amax(dim=1).mean()),
            "class_coverage": float(entropy / torch.log(torch.tensor(float(fake.shape[1])))),
            "max_class_share": float(share.max()),
        }
        proto = {"features": net.name, "feature_checksum": net.checksum, "feature_test_accuracy": net.card["test_accuracy"],
                 "reference": f"{ctx.config.data.dataset}:test", "num_real": len(real), "num_generated": len(fake), "seed": ctx.seed}
        return MetricResult(values, proto)


def reconstructions(model: Family, ctx: EvalContext) -> tuple[Tensor, Tensor]:
    """(inputs, reconstructions), both N×C×H×W in [0, 1]: the first num_samples test images, once per model state."""
    if not isinstance(model, Reconstructs):
        raise UsageError(f"psnr and ssim need a model that reconstructs (capability zoo.capabilities.Reconstructs: a reconstruct(x) method, "
                         f"as VAEs have); {type(model).__name__} has none, so drop them from --metrics")

    def reconstruct() -> tuple[Tensor, Tensor]:
        test = ctx.raw_split("test").to(ctx.device)
        inputs, outputs = [], []
        for batch in ctx.batches(test, limit=ctx.num_samples):
            x = batch["x"]
            y = model.reconstruct(x)
            if y.shape != x.shape:
                raise UsageError(f"{type(model).__name__}.reconstruct returned shape {tuple(y.shape)} for input {tuple(x.shape)}; it must return the input's shape")
            inputs.append(x.float().cpu())
            outputs.append(y.float().clamp(0, 1).cpu())
        return torch.cat(inputs), torch.cat(outputs)

    return ctx.cached(ctx.model_key(model, "image-reconstructions", n=ctx.num_samples), reconstruct)


def reconstruction_protocol(ctx: EvalContext, x: Tensor, **extra: Any) -> dict[str, Any]:
    return {"reference": f"{ctx.config.data.dataset}:test", "num_real": len(x), "image_size": x.shape[-1], "seed": ctx.seed, **extra}


class PSNR(Metric):
    """Mean per-image PSNR (dB) between test images and their reconstructions (clamped to [0, 1])."""

    name = "psnr"
    version = "1"
    modalities = ("image",)
    higher_is_better = True

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        x, y = reconstructions(model, ctx)
        value = psnr(x, y).clamp(max=PSNR_CAP_DB).mean().item()
        return MetricResult({"psnr": value}, reconstruction_protocol(ctx, x, cap_db=PSNR_CAP_DB))


class SSIM(Metric):
    """Mean per-image SSIM (11×11 Gaussian window, σ 1.5) between test images and their reconstructions."""

    name = "ssim"
    version = "1"
    modalities = ("image",)
    higher_is_better = True

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        x, y = reconstructions(model, ctx)
        return MetricResult({"ssim": ssim(x, y).mean().item()}, reconstruction_protocol(ctx, x))


fid, kid, precision_recall, inception_score_metric = FID(), KID(), PrecisionRecall(), InceptionScore()
label_accuracy, psnr_metric, ssim_metric, sample_confidence = LabelAccuracy(), PSNR(), SSIM(), SampleConfidence()
