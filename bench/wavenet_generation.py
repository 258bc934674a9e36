"""WaveNet generation speed: cached (fast-wavenet queues) against recomputing the receptive field.

    .venv/bin/python bench/wavenet_generation.py [--run RUN_DIR] [--batch 16] [--samples 8000]

Times cached generation of `batch` clips of `samples` samples (8000 = one second at 8 kHz), and the
uncached path (`generate(cached=False)`, a forward pass over the last receptive field per sample)
for R and R + K steps: their difference is its steady per-sample cost, extrapolated to the same
length. The uncached path is timed with 1 thread and with torch's default, and the faster counts.
Weights are the wavenet-digits preset's, untrained unless --run (speed does not depend on them);
generation uses the model's default guidance, as `zoo sample` does (guidance doubles the rows).
Prints one JSON line; the machine's load average is in it, since other work skews every number.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch


def timed(fn):
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a wavenet run directory (default: the preset, untrained)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--samples", type=int, default=8000)
    parser.add_argument("--extra-steps", type=int, default=256, help="uncached steps timed past the receptive field")
    args = parser.parse_args()

    import zoo
    from zoo.contract import FamilyContext
    from zoo.presets import resolve
    from zoo_audio.wavenet import WaveNet

    if args.run:
        model = zoo.load(args.run)
    else:
        torch.manual_seed(0)
        config = resolve("wavenet-digits")
        info = {"num_classes": 10, "sample_rate": 8000, "clip_samples": config.data.clip_samples}
        model = WaveNet(config.model, info, FamilyContext(Path("unused"), config.data)).eval()
    y = torch.arange(args.batch) % 10
    R, K = model.receptive_field, args.extra_steps

    def generate(length: int, cached: bool) -> torch.Tensor:
        return model.generate(args.batch, length, y, torch.Generator().manual_seed(0), cached=cached, guidance=model.config.guidance)

    cached_s, cached_out = timed(lambda: generate(args.samples, True))
    uncached = {}
    default_threads = torch.get_num_threads()
    for threads in sorted({1, default_threads}):
        torch.set_num_threads(threads)
        short_s, _ = timed(lambda: generate(R, False))
        long_s, long_out = timed(lambda: generate(R + K, False))
        step_s = (long_s - short_s) / K
        uncached[threads] = {"first_R_steps_s": round(short_s, 2), "step_ms": round(step_s * 1000, 2), "total_s": round(long_s + (args.samples - R - K) * step_s, 1)}
    torch.set_num_threads(default_threads)
    best = min(uncached.values(), key=lambda u: u["total_s"])
    print(json.dumps({
        "batch": args.batch,
        "samples_per_clip": args.samples,
        "receptive_field": R,
        "parameters": sum(p.numel() for p in model.parameters()),
        "guidance": model.config.guidance,
        "cached_seconds": round(cached_s, 2),
        "cached_samples_per_s": round(args.batch * args.samples / cached_s),
        "cached_ms_per_step": round(cached_s / args.samples * 1000, 3),
        "uncached_by_threads": uncached,
        "uncached_seconds_extrapolated": best["total_s"],
        "uncached_samples_per_s": round(args.batch * args.samples / best["total_s"]),
        "speedup": round(best["total_s"] / cached_s, 1),
        "same_samples": bool(torch.equal(cached_out[:, : R + K], long_out)),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
