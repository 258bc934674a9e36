"""Translation throughput at default settings: images/s of `zoo.translate` on test sources, per preset.

    .venv/bin/python bench/translation_throughput.py [PRESET...] [--images 512] [--runs DIR]

Each preset is trained for one step into DIR (speed does not depend on the weights), then 512 of its test
sources go through `zoo.translate` in batches of 64, after one warm-up batch, with the family's default
conditions (the flow translator's default sampler and steps). Prints one JSON line per preset with the
machine's load average, since other work skews every number.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

PRESETS = ["sr4-fashion-l1", "denoise-fashion", "edges2fashion", "printed2mnist", "sr4-fashion"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*", default=PRESETS)
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--runs", default=None, help="where the one-step runs go (default: a temporary folder)")
    args = parser.parse_args()

    import zoo
    from zoo.translation import test_pairs

    root = Path(args.runs or tempfile.mkdtemp(prefix="zoo-translate-bench-"))
    for preset in args.presets:
        run = zoo.train(preset, steps=1, out=root / preset, device="cpu", quiet=True, overwrite=True).path
        model = zoo.load(run)
        source, _, _ = test_pairs(model, args.images, torch.Generator().manual_seed(0))
        zoo.translate(run, source[:64])  # warm-up: first-call allocations and kernel choices
        started = time.perf_counter()
        out = zoo.translate(run, source)
        seconds = time.perf_counter() - started
        print(json.dumps({"preset": preset, "family": type(model).__name__, "source": list(source.shape[1:]), "output": list(out.shape[1:]), "images": len(source),
                          "seconds": round(seconds, 3), "images_per_s": round(len(source) / seconds, 1),
                          "threads": torch.get_num_threads(), "load": os.getloadavg()}), flush=True)


if __name__ == "__main__":
    main()
