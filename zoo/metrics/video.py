"""Video metrics that need no I3D: frame prediction scored in OpenSTL's convention, with the baselines any
predictor must beat beside it.

OpenSTL (Tan et al. 2023) reports on frames in [0, 1]: MSE and MAE summed over a frame's pixels (and
channels) and averaged over frames and clips, so 64×64 Moving MNIST numbers read in the tens; PSNR and
SSIM per frame, averaged. SSIM here is zoo's Gaussian 11×11, σ = 1.5 SSIM (zoo.metrics.image_quality).
Baselines on the same clips: `copy_last` (every future frame is the last given one) and `mean_frame`
(every future frame is the mean of the given ones).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.contract import Family
from zoo.errors import UsageError
from zoo.evaluation import EvalContext, Metric, MetricResult
from zoo.metrics.image_quality import psnr, ssim

PSNR_CAP_DB = 100.0


def frame_mse(pred: Tensor, true: Tensor) -> Tensor:
    """OpenSTL's MSE: squared error summed over each frame's C×H×W, averaged over clips and frames (N×T×C×H×W in [0, 1])."""
    return (pred.double() - true.double()).pow(2).flatten(2).sum(2).mean()


def frame_mae(pred: Tensor, true: Tensor) -> Tensor:
    """OpenSTL's MAE: absolute error summed over each frame's pixels, averaged over clips and frames."""
    return (pred.double() - true.double()).abs().flatten(2).sum(2).mean()


def frame_psnr_ssim(pred: Tensor, true: Tensor) -> tuple[Tensor, Tensor]:
    """PSNR (dB, capped at 100) and SSIM per frame, averaged over clips and frames."""
    a, b = pred.double().clamp(0, 1).flatten(0, 1), true.double().clamp(0, 1).flatten(0, 1)
    return psnr(a, b).clamp(max=PSNR_CAP_DB).mean(), ssim(a, b).mean()


def scores(pred: Tensor, true: Tensor) -> dict[str, float]:
    p, s = frame_psnr_ssim(pred, true)
    return {"mse": float(frame_mse(pred, true)), "mae": float(frame_mae(pred, true)), "psnr": float(p), "ssim": float(s)}


def baselines(context: Tensor, frames: int) -> dict[str, Tensor]:
    """Predictions without a model for `frames` future frames of N×k×C×H×W contexts."""
    last = context[:, -1:].expand(-1, frames, -1, -1, -1)
    mean = context.mean(1, keepdim=True).expand(-1, frames, -1, -1, -1)
    return {"copy_last": last, "mean_frame": mean}


class Prediction(Metric):
    """`mse`, `mae`, `psnr`, `ssim` of the predicted frames of test clips given their first k, and the same
    four for the copy-last-frame and mean-frame baselines (`copy_last_mse`, ...); `mse_vs_copy_last` is the
    model's MSE as a fraction of copy-last's (below 0.7 is OpenSTL-table territory on Moving MNIST)."""

    name = "prediction"
    version = "1"
    modalities = ("video",)
    higher_is_better = {"mse": False, "mae": False, "psnr": True, "ssim": True, "mse_vs_copy_last": False}

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        from zoo.video import check_predicts

        predictor = check_predicts(model)
        count = ctx.options.get("prediction.clips", ctx.num_samples)
        if not isinstance(count, int) or isinstance(count, bool) or count <= 0:
            raise UsageError(f"prediction.clips must be a positive integer, got {count!r}")
        test = ctx.raw_split("test")
        count = min(count, len(test))
        k, frames = predictor.context_frames, predictor.frames
        generator = ctx.generator()
        preds, trues, contexts = [], [], []
        for start in range(0, count, ctx.batch_size):
            clips = test.batch(torch.arange(start, min(start + ctx.batch_size, count)))["x"].float()
            with ctx.autocast():
                preds.append(predictor.predict(clips[:, :k].to(ctx.device), generator=generator, **ctx.conditions).float().clamp(0, 1).cpu())
            trues.append(clips[:, k:])
            contexts.append(clips[:, :k])
        pred, true, context = torch.cat(preds), torch.cat(trues), torch.cat(contexts)
        values = scores(pred, true)
        for name, base in baselines(context, frames - k).items():
            values.update({f"{name}_{key}": value for key, value in scores(base, true).items()})
        values["mse_vs_copy_last"] = values["mse"] / max(values["copy_last_mse"], 1e-12)
        data = ctx.config.data
        proto: dict[str, Any] = {"reference": f"{data.dataset}:test (first {count} clips)", "clips": count, "seed": ctx.seed,
                                 "frames": frames, "context_frames": k, "predicted_frames": frames - k,
                                 "size": list(true.shape[-3:]), "conditioning": f"first {k} true frames",
                                 "convention": "OpenSTL: MSE/MAE summed over a frame's pixels, averaged over frames and clips; "
                                               "PSNR/SSIM per frame (SSIM Gaussian 11×11 σ=1.5 valid)"}
        return MetricResult(values, proto)


prediction = Prediction()


class ClipRestoration(Metric):
    """`psnr`, `ssim` (per frame, averaged; BasicSR's convention as the image `translation` metric) of restored
    test clips whose frames were degraded one by one (`data.degrade`), beside the best classical per-frame
    filter's (`baseline_psnr`, `baseline_ssim`; each filter's PSNR as `baseline_psnr[name]`) and the degraded
    input's (`input_psnr`); `gain_db` = psnr - baseline_psnr."""

    name = "clip_restoration"
    version = "1"
    modalities = ("video",)
    higher_is_better = {"psnr": True, "ssim": True, "gain_db": True}

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        from zoo.metrics.translation import classical_baselines, restoration_scores
        from zoo.translation import degradation_of
        from zoo.video import RestoresClips

        if not isinstance(model, RestoresClips):
            raise UsageError(f"clip_restoration scores video restoration runs; the {type(model).__name__} family does not restore clips")
        degradation = degradation_of(ctx.config.data)
        count = ctx.options.get("clip_restoration.clips", ctx.num_samples)
        if not isinstance(count, int) or isinstance(count, bool) or count <= 0:
            raise UsageError(f"clip_restoration.clips must be a positive integer, got {count!r}")
        test = ctx.raw_split("test")
        count = min(count, len(test))
        generator = torch.Generator().manual_seed(ctx.seed)
        sources, outputs, targets = [], [], []
        for start in range(0, count, ctx.batch_size):
            clean = test.batch(torch.arange(start, min(start + ctx.batch_size, count)))["x"].float()
            degraded = degradation(clean.flatten(0, 1), generator).unflatten(0, clean.shape[:2])
            with ctx.autocast():
                outputs.append(model.translate_clips(degraded.to(ctx.device), generator=ctx.generator()).float().clamp(0, 1).cpu())
            sources.append(degraded)
            targets.append(clean)
        source, output, target = (torch.cat(v).flatten(0, 1) for v in (sources, outputs, targets))  # frames (N·T)×C×H×W
        p, s = restoration_scores(output, target)
        ip, _ = restoration_scores(source, target)
        values = {"psnr": float(p.mean()), "ssim": float(s.mean()), "input_psnr": float(ip.mean())}
        best = ("", -1.0, 0.0)
        for name, base in classical_baselines(degradation, source, target).items():
            bp, bs = restoration_scores(base, target)
            values[f"baseline_psnr[{name}]"] = float(bp.mean())
            if float(bp.mean()) > best[1]:
                best = (name, float(bp.mean()), float(bs.mean()))
        values.update(baseline_psnr=best[1], baseline_ssim=best[2], gain_db=values["psnr"] - best[1])
        frames = len(target) // count
        proto = {"reference": f"{ctx.config.data.dataset}:test (first {count} clips)", "clips": count, "frames": frames,
                 "size": list(target.shape[-3:]), "conditioning": f"per-frame {degradation}", "seed": ctx.seed, "baseline": best[0],
                 "convention": "per frame, averaged: BasicSR PSNR, SSIM Gaussian 11×11 σ=1.5 valid"}
        return MetricResult(values, proto)


clip_restoration = ClipRestoration()


def digit_windows(frames: Tensor, side: int) -> tuple[Tensor, Tensor]:
    """Where the digit is in each frame of one-digit clips: the side×side window centred on the frame's ink
    centroid (MNIST centres its digits by centre of mass), frames zero-padded so it never leaves them.
    Frames F×1×H×W -> (crops F×1×side×side, window corners F×2 as (row, column) in the unpadded frame)."""
    half = side // 2
    padded = F.pad(frames.float(), (half, half, half, half))
    corner = (centroids(frames) - (side - 1) / 2).round().long()  # F×2, may be negative near a border
    rows = corner[:, 0, None] + half + torch.arange(side)
    cols = corner[:, 1, None] + half + torch.arange(side)
    crops = padded[torch.arange(len(frames))[:, None, None], 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)
    return crops, corner


def centroids(frames: Tensor) -> Tensor:
    """Ink-weighted centre (row, column) of each frame F×1×H×W -> F×2 pixels."""
    h, w = frames.shape[-2:]
    ink = frames.float()[:, 0].clamp_min(0)
    total = ink.sum((1, 2)).clamp_min(1e-8)
    rows = (ink.sum(2) * torch.arange(h)).sum(1) / total
    cols = (ink.sum(1) * torch.arange(w)).sum(1) / total
    return torch.stack([rows, cols], 1)


INK = 0.1  # pixel value from which a pixel is ink; fainter is haze nobody sees (a sampler leaves 1-5/255 on the background)
READABLE = 0.9  # share of a frame's ink inside its digit window for the frame to count as showing one digit
DIGITS = 10  # classes of the MNIST domain network that reads the frames
MOVING = 0.5  # pixels per frame: slower is a digit standing still, which Moving MNIST never shows


def visible_ink(frames: Tensor) -> Tensor:
    """Frames with pixels below INK set to 0, so invisible haze neither moves the centroid nor counts as ink."""
    return torch.where(frames >= INK, frames, torch.zeros((), dtype=frames.dtype))


def ink_share(frames: Tensor, crops: Tensor) -> Tensor:
    """Per frame, the share of its ink inside the digit window (1 for a lone digit, ~window/frame area for noise)."""
    return crops.flatten(1).sum(1) / frames.flatten(1).sum(1).clamp_min(1e-8)


def motion_plausibility(clips: Tensor, side: int, tolerance: float = 1.5) -> float:
    """Share of consecutive steps, away from the borders, where the digit moves (at least MOVING px per frame) and
    its centroid velocity changes by at most `tolerance` pixels (constant velocity between bounces; integer
    placement moves it by up to ±1 px per axis)."""
    n, t = clips.shape[:2]
    frames = clips.flatten(0, 1)
    _, corner = digit_windows(frames, side)
    c = centroids(frames).view(n, t, 2)
    corner = corner.view(n, t, 2)
    free = clips.shape[-1] - side
    interior = ((corner > 1) & (corner < free - 1)).all(-1)  # N×T: the digit's box is clear of the borders
    v = c[:, 1:] - c[:, :-1]  # N×(T-1)×2
    change = (v[:, 1:] - v[:, :-1]).norm(dim=-1)  # N×(T-2)
    moving = (v.norm(dim=-1) >= MOVING)
    plausible = (change <= tolerance) & moving[:, 1:] & moving[:, :-1]
    ok = interior[:, :-2] & interior[:, 1:-1] & interior[:, 2:]
    return float(plausible[ok].double().mean()) if ok.any() else float("nan")


def global_shift(a: Tensor, b: Tensor) -> Tensor:
    """Frames a, b N×C×H×W with a zero background -> N×2 whole-pixel shifts (rows, columns) that move a onto b:
    the argmax of their linear cross-correlation (FFTs zero-padded to twice the size, so nothing wraps around)."""
    h, w = a.shape[-2:]
    size = (2 * h, 2 * w)
    fa, fb = (torch.fft.rfft2(f.float(), s=size) for f in (a, b))
    corr = torch.fft.irfft2(fa.conj() * fb, s=size).sum(1)  # N×2H×2W: corr[d] = Σ_y a(y)·b(y + d), circular over 2H×2W
    peak = corr.flatten(1).argmax(1)
    rows, cols = peak // size[1], peak % size[1]
    rows = torch.where(rows >= h, rows - size[0], rows)  # indices past the middle are negative shifts
    cols = torch.where(cols >= w, cols - size[1], cols)
    return torch.stack([rows, cols], 1)


def shift_frames(x: Tensor, shift: Tensor) -> Tensor:
    """Frames x N×C×H×W moved by whole-pixel shifts N×2 (rows, columns; positive: down, right); what enters from
    outside the frame is zero."""
    n, c, h, w = x.shape
    shift = shift.long().to(x.device)
    rows = torch.arange(h, device=x.device)[None] - shift[:, :1]  # N×H: the source row of each row
    cols = torch.arange(w, device=x.device)[None] - shift[:, 1:]  # N×W
    inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]  # N×H×W
    out = x.gather(2, rows.clamp(0, h - 1)[:, None, :, None].expand(n, c, h, w))
    out = out.gather(3, cols.clamp(0, w - 1)[:, None, None, :].expand(n, c, h, w))
    return out * inside[:, None].to(x.dtype)


def change_beyond_a_move(clips: Tensor) -> Tensor:
    """How much each frame of clips N×T×C×H×W in [0, 1] is more than the frame before moved: the visible ink that
    differs from that frame moved by its best whole-pixel shift, over the frame's visible ink -> N×(T-1). 0 for
    Moving MNIST's own clips, whose digits only move; a model that draws a digit again each frame scores more."""
    ink = visible_ink(clips.float())
    before, after = ink[:, :-1].flatten(0, 1), ink[:, 1:].flatten(0, 1)
    moved = shift_frames(before, global_shift(before, after))
    change = (moved - after).abs().flatten(1).sum(1) / after.flatten(1).sum(1).clamp_min(1e-8)
    return change.view(len(clips), -1)

def identity_consistency(labels: Tensor, classes: int) -> float:
    """Share of all frames read as their clip's commonest digit; labels N×T, -1 for an unread frame (never a
    clip's commonest digit, and never consistent)."""
    counts = F.one_hot(labels.clamp_min(0), classes) * (labels >= 0)[..., None]  # N×T×classes
    modal = counts.sum(1).argmax(1)  # N: the digit read most often in each clip
    return float(((labels == modal[:, None]) & (labels >= 0)).double().mean())


def read_digits(clips: Tensor, side: int, net: Any) -> tuple[Tensor, Tensor, Tensor]:
    """The digit the MNIST domain network `net` reads in each frame of one-digit clips N×T×1×H×W in [0, 1]:
    labels N×T (-1 where the frame is not one digit-sized blob: under READABLE of its visible ink in the
    side×side window), the top probability N×T (0 on unread frames), and the crops' features (N·T)×D."""
    n, t = clips.shape[:2]
    frames = visible_ink(clips.float()).flatten(0, 1)
    crops, _ = digit_windows(frames, side)
    readable = ink_share(frames, crops) >= READABLE
    features, logits = net(crops)
    probs = logits.softmax(1)
    labels = torch.where(readable, probs.argmax(1), -1).view(n, t)
    return labels, (probs.max(1).values * readable).view(n, t), features


class ClipQuality(Metric):
    """For one-digit clips (moving-mnist-small): each frame's digit (the window with the most ink, resized to the
    MNIST network's 28×28) read by the MNIST domain network, where the frame shows one digit-sized blob (at least
    READABLE of its visible ink, pixels of at least INK, in that window: `readable_frames`; other frames count as
    unread). `identity_consistency`:
    the share of frames read as their clip's commonest digit; `frame_confidence`: the network's mean top
    probability (0 on unread frames), and
    `confidence_ratio` = that over real test clips' value; `frame_fid`: Fréchet distance of the crops' features,
    samples vs real test clips; `motion_plausibility`: the share of steps between bounces with constant velocity
    (zoo.metrics.video.motion_plausibility). Every value has its real-clip counterpart (`real_...`)."""

    name = "clip_quality"
    version = "3"  # 2: a clip's commonest digit is counted among its read frames only; 3: ink is what is visible (INK)
    modalities = ("video",)
    higher_is_better = {"identity_consistency": True, "frame_confidence": True, "confidence_ratio": True, "frame_fid": False,
                        "motion_plausibility": True, "readable_frames": True}

    def compute(self, model: Family, ctx: EvalContext) -> MetricResult:
        from zoo.evaluation import CacheKey, MetricUnavailable
        from zoo.metrics.features import domain_features
        from zoo.metrics.frechet import feature_stats, frechet_distance_from_stats

        data = ctx.config.data
        if getattr(data, "digits", None) != 1:
            raise MetricUnavailable("clip_quality reads one digit per clip: it needs moving-mnist-small with data.digits=1")
        side = data.digit_size
        fake = ctx.samples(model).clips.float().cpu()
        real = ctx.raw_split("test").batch(torch.arange(min(len(fake), len(ctx.raw_split("test")))))["x"].float()
        net = ctx.cached(CacheKey("clip-quality-domain"), lambda: domain_features("mnist", ctx.device, ctx.data_dir))
        values: dict[str, float] = {}
        feats = {}
        for prefix, clips in (("", fake), ("real_", real)):
            labels, confidence, feats[prefix] = read_digits(clips, side, net)
            values[f"{prefix}readable_frames"] = float((labels >= 0).double().mean())
            values[f"{prefix}identity_consistency"] = identity_consistency(labels, DIGITS)
            values[f"{prefix}frame_confidence"] = float(confidence.double().mean())
            values[f"{prefix}motion_plausibility"] = motion_plausibility(visible_ink(clips), side)
        values["confidence_ratio"] = values["frame_confidence"] / max(values["real_frame_confidence"], 1e-12)
        values["frame_fid"] = frechet_distance_from_stats(*feature_stats(feats["real_"]), *feature_stats(feats[""])).value
        proto = {"reference": f"{data.dataset}:test (first {len(real)} clips)", "clips": len(fake), "frames": fake.shape[1],
                 "size": list(fake.shape[-3:]), "conditioning": "none (unconditional samples)", "seed": ctx.seed,
                 "features": net.name, "feature_checksum": net.checksum, "feature_test_accuracy": net.card["test_accuracy"],
                 "crops": f"the {side}×{side} window with the most ink per frame, resized to 28×28"}
        return MetricResult(values, proto)


clip_quality = ClipQuality()
