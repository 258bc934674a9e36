"""Translation quality for models that `Translates`: fidelity to the target (PSNR, SSIM), agreement
with the input (consistency), realism (FID of the outputs), meaning kept (label preservation), the
target domain reached (unpaired), and diversity across seeds; each beside a stated baseline made on
the same test items, so a number always comes with what it beats.

PSNR and SSIM follow the convention restoration papers report (BasicSR): images in [0, 1], RGB
scored on the BT.601 Y channel, `crop` pixels removed at each border (the sr factor), SSIM with an
11×11 Gaussian window of σ = 1.5 over the valid region.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.capabilities import Translates
from zoo.contract import Family
from zoo.errors import UsageError
from zoo.evaluation import CacheKey, EvalContext, Metric, MetricResult, MetricUnavailable
from zoo.metrics.frechet import feature_stats, frechet_distance_from_stats
from zoo.metrics.image_quality import psnr, ssim
from zoo.translation import Degradation, Pairs, check_translates, degradation_of, gaussian_blur, pairs, resize, show_as

IMAGES = 1000  # test pairs translated per evaluation
DIVERSITY_IMAGES = 100  # of those, translated a second time with another seed
PSNR_CAP_DB = 100.0


def to_y(x: Tensor) -> Tensor:
    """BasicSR's Y channel of RGB images in [0, 1] (16..235 scaled to [0, 1] units); grey images pass."""
    if x.shape[1] == 1:
        return x
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return (16.0 + 65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def restoration_scores(output: Tensor, target: Tensor, crop: int = 0, luma: bool = True) -> tuple[Tensor, Tensor]:
    """Per-image (PSNR dB, SSIM) by the BasicSR convention: Y channel for RGB (all channels with `luma`
    False: colorization, whose input already is the Y channel), `crop` border pixels dropped."""
    a, b = output.double().clamp(0, 1), target.double().clamp(0, 1)
    if luma:
        a, b = to_y(a), to_y(b)
    if crop:
        a, b = a[..., crop:-crop, crop:-crop], b[..., crop:-crop, crop:-crop]
    return psnr(a, b).clamp(max=PSNR_CAP_DB), ssim(a, b)


def median3(x: Tensor) -> Tensor:
    """3×3 median filter with replicated borders."""
    n, c, h, w = x.shape
    patches = F.unfold(F.pad(x, (1, 1, 1, 1), mode="replicate").reshape(n * c, 1, h + 2, w + 2), 3)  # (N·C)×9×(H·W)
    return patches.median(dim=1).values.reshape(n, c, h, w)


def nl_means(x: Tensor, sigma: float) -> Tensor | None:
    """scikit-image's non-local means with the known noise σ (None when scikit-image is not installed)."""
    try:
        from skimage.restoration import denoise_nl_means
    except ImportError:
        return None
    out = [torch.from_numpy(denoise_nl_means(img.permute(1, 2, 0).double().numpy(), h=0.8 * sigma, sigma=sigma, fast_mode=True,
                                             patch_size=3, patch_distance=5, channel_axis=-1)).reshape(img.shape[1], img.shape[2], -1).permute(2, 0, 1)
           for img in x.cpu()]
    return torch.stack(out).to(x.dtype)


def classical_baselines(degradation: Degradation | None, source: Tensor, like: Tensor) -> dict[str, Tensor]:
    """What a user gets without a model, per degradation: bicubic upsampling for sr; Gaussian filters
    (σ 0.5..2), a 3×3 median and non-local means for noise; the input itself otherwise."""
    kind = degradation.kind if degradation else ""
    if kind == "sr":
        return {"bicubic": resize(source, like.shape[-1]), "nearest": F.interpolate(source, size=like.shape[-2:], mode="nearest")}
    if kind == "noise":
        out = {f"gaussian σ={s:g}": gaussian_blur(source, s) for s in (0.5, 1.0, 1.5, 2.0)}
        out["median 3×3"] = median3(source)
        nlm = nl_means(source, degradation.value)  # type: ignore[union-attr]
        if nlm is not None:
            out["non-local means"] = nlm
        return out
    return {"input": show_as(source, like)}


def translate_all(model: Translates, ctx: EvalContext, source: Tensor, generator: torch.Generator) -> Tensor:
    outs = []
    for start in range(0, len(source), ctx.batch_size):
        with ctx.autocast():
            outs.append(model.translate(source[start: start + ctx.batch_size], generator=generator, **ctx.conditions).float().clamp(0, 1))
    return torch.cat(outs)


def test_items(model: Family, ctx: EvalContext, count: int) -> dict[str, Tensor]:
    """The first `count` items of a seeded permutation of the test split, as translation batches (CPU)."""
    test = pairs(ctx.raw_split("test"), ctx.config.data)
    count = min(count, len(test))
    pick = torch.randperm(len(test), generator=torch.Generator().manual_seed(ctx.seed))[:count]
    if isinstance(test, Pairs):
        test.generator = torch.Generator().manual_seed(ctx.seed)
    return {k: v.float() if k in ("x", "source") else v for k, v in test.batch(pick).items()}


def target_dataset(ctx: EvalContext) -> Any:
    """What the outputs should look like: the unpaired target domain, else the run's dataset (or own folder)."""
    from zoo.data.unpaired import folder_config
    from zoo.registry import get_catalog

    data = ctx.config.data
    if getattr(data, "target", ""):  # a registered dataset, or a folder read as the domain was
        return data.target if data.target in get_catalog().datasets else folder_config(data.target, data.image_size, data.channels, data.test_fraction, "target")
    return data if getattr(data, "path", "") else data.dataset


class Translation(Metric):
    """`psnr`, `ssim` against the targets and the best classical baseline's (`baseline_psnr`,
    `baseline_ssim`, named in the protocol); `consistency` (PSNR of the output degraded again vs the
    input, for deterministic degradations); `output_fid` (domain features, outputs vs targets);
    `label_kept` (the domain classifier reads the input's label in the output); `target_share`
    (unpaired: the share of outputs a source-vs-target classifier calls target); `diversity` (mean
    per-pixel standard deviation between two seeds' outputs; 0 for deterministic translators)."""

    name = "translation"
    version = "1"
    modalities = ("image",)
    higher_is_better = {"psnr": True, "ssim": True, "consistency": True, "output_fid": False, "label_kept": True,
                        "target_share": True, "diversity": True}

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        translator = check_translates(model)
        degradation = degradation_of(ctx.config.data)
        count = ctx.options.get("translation.images", IMAGES)
        if not isinstance(count, int) or isinstance(count, bool) or count <= 0:
            raise UsageError(f"translation.images must be a positive integer, got {count!r}")
        batch = test_items(model, ctx, count)
        source, target = batch["source"].to(ctx.device), batch["x"]
        output = translate_all(translator, ctx, source, ctx.generator()).cpu()
        source = source.cpu()
        values: dict[str, float] = {}
        proto: dict[str, Any] = {"reference": f"{ctx.config.data.dataset}:test", "num_real": len(target), "seed": ctx.seed,
                                 "degradation": str(degradation) if degradation else "none (pairs from the data)"}
        paired = degradation is not None or not getattr(ctx.config.data, "target", "")
        if paired:
            crop = int(degradation.value) if degradation and degradation.kind == "sr" else 0
            luma = not (source.shape[1] == 1 and target.shape[1] == 3)  # colorization is scored on RGB
            p, s = restoration_scores(output, target, crop, luma)
            values.update(psnr=float(p.mean()), ssim=float(s.mean()))
            best_name, best_p, best_s = "", -1.0, 0.0
            for name, base in classical_baselines(degradation, source, target).items():
                bp, bs = restoration_scores(base, target, crop, luma)
                values[f"baseline_psnr[{name}]"] = float(bp.mean())
                if float(bp.mean()) > best_p:
                    best_name, best_p, best_s = name, float(bp.mean()), float(bs.mean())
            values.update(baseline_psnr=best_p, baseline_ssim=best_s)
            channels = "Y channel for RGB" if luma else "RGB (colorization: the grey input is the Y channel)"
            proto.update(convention=f"BasicSR: {channels}, SSIM Gaussian 11×11 σ=1.5 valid", crop_border=crop, baseline=best_name)
        if degradation is not None and degradation.kind in ("sr", "blur", "gray"):
            values["consistency"] = float(psnr(degradation(output).double(), source.double()).clamp(max=PSNR_CAP_DB).mean())
            proto["consistency"] = f"PSNR of the output degraded again ({degradation}) vs the input"
        values.update(self.domain_scores(ctx, output, target, batch, proto))
        values["diversity"] = self.diversity(translator, ctx, source[:DIVERSITY_IMAGES], output[:DIVERSITY_IMAGES])
        return MetricResult(values, proto)

    def domain_scores(self, ctx: EvalContext, output: Tensor, target: Tensor, batch: dict[str, Tensor], proto: dict[str, Any]) -> dict[str, float]:
        """FID of the outputs and label preservation with the target domain's network; the target share (unpaired)."""
        from zoo.metrics.features import domain_features

        out: dict[str, float] = {}
        try:
            net = ctx.cached(CacheKey("translation-domain"), lambda: domain_features(target_dataset(ctx), ctx.device, ctx.data_dir))
        except (MetricUnavailable, UsageError) as why:
            proto["domain"] = f"skipped: {why}"
            return out
        if net.net.conv1.in_channels != output.shape[1]:
            proto["domain"] = f"skipped: the {net.name} network takes {net.net.conv1.in_channels} channels"
            return out
        real_feats, _ = net(target.to(ctx.device))
        fake_feats, logits = net(output.to(ctx.device))
        out["output_fid"] = frechet_distance_from_stats(*feature_stats(real_feats), *feature_stats(fake_feats)).value
        labels = batch.get("source_y", batch.get("y"))
        if labels is not None:
            out["label_kept"] = float((logits.argmax(1).cpu() == labels.cpu()).double().mean())
        proto.update(features=net.name, feature_checksum=net.checksum, feature_test_accuracy=net.card["test_accuracy"],
                     output_fid=f"outputs vs the {len(target)} targets of the same items")
        data = ctx.config.data
        if getattr(data, "source", "") and getattr(data, "target", ""):
            from zoo.metrics.domains import domain_classifier

            judge = ctx.cached(CacheKey("translation-judge"), lambda: domain_classifier(data.source, data.target, device=ctx.device, data_dir=ctx.data_dir))
            out["target_share"] = float((judge(output.to(ctx.device)) > 0.5).double().mean())
            out["source_target_share"] = float((judge(batch["source"].to(ctx.device)) > 0.5).double().mean())
            proto["target_share"] = f"{data.source} vs {data.target} classifier (test accuracy {judge.card['test_accuracy']:.4f})"
        return out

    @staticmethod
    def diversity(model: Translates, ctx: EvalContext, source: Tensor, first: Tensor) -> float:
        second = translate_all(model, ctx, source.to(ctx.device), torch.Generator(ctx.device).manual_seed(ctx.seed + 1)).cpu()
        return float(torch.stack([first, second]).std(dim=0, unbiased=False).mean())


translation = Translation()
