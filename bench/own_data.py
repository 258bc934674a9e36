"""Your own data, measured: MNIST exported as 70,000 PNGs (train/LABEL/, test/LABEL/), then
1. the first run's decode throughput (files/s) into the prepared cache, in a fresh cache folder;
2. the second run's time from the command to the end of its first training step (`zoo train --steps 1`,
   Python and torch start-up included), beside the same command on the built-in `mnist` dataset;
3. gan-mnist's training throughput (`zoo bench`, the zoo trainer's median) on that folder read in memory
   and streamed from the memory-mapped cache (`data.memory_limit_mb=0`).

Run alone (no other torch job on the machine): python bench/own_data.py [--folder /tmp/mnist-png] [--out docs/own-data-bench.json]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def export(folder: Path) -> int:
    """MNIST's two splits as PNG files in class folders (skipped when the folder is already complete)."""
    from zoo.data.idx import SPLIT_FILES, read_idx
    from zoo.data import get_spec
    from zoo.data.spec import find_folder

    done = folder / ".complete"
    if done.is_file():
        return int(done.read_text())
    source = find_folder(get_spec("mnist"))
    if source is None:
        raise SystemExit("MNIST's files were not found (see docs/data.md)")
    n = 0
    for split, names in SPLIT_FILES.items():
        images, labels = (read_idx(source / name) for name in names)
        for label in np.unique(labels):
            (folder / split / str(label)).mkdir(parents=True, exist_ok=True)
        for i, (image, label) in enumerate(zip(images, labels)):
            Image.fromarray(image).save(folder / split / str(label) / f"{i:05d}.png")
        n += len(images)
    done.write_text(str(n))
    return n


def first_step_seconds(args: list[str], env: dict[str, str]) -> float:
    """Wall seconds of `zoo train ... --steps 1` (start-up, data, setup and one step)."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "zoo", "train", *args, "--steps", "1", "--out", f"{tmp}/run", "--quiet",
               "--set", "train.sample_every=0", "--set", "train.checkpoint_every=0"]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", default="/tmp/mnist-png")
    parser.add_argument("--out", default=None)
    parser.add_argument("--steps", type=int, default=50)
    opts = parser.parse_args()
    folder = Path(opts.folder)
    files = export(folder)

    from zoo.bench import bench
    from zoo.data import load_dataset
    from zoo.data.own import ImageFolderConfig

    result: dict[str, object] = {"files": files, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "ZOO_CACHE_DIR": cache}
        os.environ["ZOO_CACHE_DIR"] = cache
        cfg = ImageFolderConfig(dataset="image-folder", path=str(folder), image_size=28, channels=1)
        start = time.perf_counter()
        train = load_dataset(cfg, "train")
        test = load_dataset(cfg, "test")
        seconds = time.perf_counter() - start
        result["decode"] = {"seconds": round(seconds, 1), "files_per_s": round((len(train) + len(test)) / seconds)}
        own = ["gan-mnist", "--data", str(folder)]
        first_step_seconds(own, env)  # the run's other caches (none for a GAN) warm, as on any second run
        result["second_run_first_step_s"] = round(min(first_step_seconds(own, env) for _ in range(3)), 2)
        first_step_seconds(["gan-mnist"], env)  # built-in MNIST decodes into this cache once
        result["builtin_mnist_first_step_s"] = round(min(first_step_seconds(["gan-mnist"], env) for _ in range(3)), 2)
        rates = {}
        for name, limit in (("in_memory", None), ("streaming", 0)):
            overrides = {"data.dataset": "image-folder", "data.path": str(folder), "data.memory_limit_mb": limit}
            rates[name] = bench("gan-mnist", steps=opts.steps, repeats=3, overrides=overrides)["train_per_s"]
        result["gan_mnist_items_per_s"] = rates
        result["streaming_over_in_memory"] = round(rates["streaming"] / rates["in_memory"], 3)
    text = json.dumps(result, indent=2)
    print(text)
    if opts.out:
        Path(opts.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
