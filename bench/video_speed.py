"""Video speed for docs/performance.md: the decode rate of an own-video folder, and sampling seconds per clip.

    .venv/bin/python bench/video_speed.py [--clips 200] [--folder DIR]

1. Decode: writes `--clips` test clips of moving-mnist (64×64, 20 frames) as MP4 and as many as GIF into
   DIR, then times `load_dataset` of the video-folder dataset at 64×64, 16 frames, into an empty cache
   (ZOO_CACHE_DIR pointed at a fresh folder): the one-time decode a user's first run pays. A second load
   from the cache is timed beside it.
2. Sampling: each video preset trained for one step (speed does not depend on the weights), then
   seconds per clip of `zoo.sample` (16 clips, after a warm-up) at the preset's default sampler and steps.
Training clips/s and frames/s come from `zoo bench` (its train_per_s is frames/s for video presets).
Prints one JSON line per measurement with the machine's load average.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

PRESETS = ["convlstm-mmnist", "predict-mmnist", "flow-mmnist", "denoise-mmnist"]


def emit(row: dict) -> None:
    print(json.dumps({**row, "threads": torch.get_num_threads(), "load": os.getloadavg()}), flush=True)


def decode_rate(folder: Path, clips: int) -> None:
    from zoo.data import load_dataset
    from zoo.data.moving_mnist import MovingMNISTConfig
    from zoo.data.video_folder import VideoFolderConfig
    from zoo.video import gif_bytes, mp4_bytes

    test = load_dataset(MovingMNISTConfig(dataset="moving-mnist", test_sequences=clips), "test")
    x = test.batch(torch.arange(clips))["x"]  # N×T×1×64×64 in [0, 1]
    folder.mkdir(parents=True, exist_ok=True)
    for i, clip in enumerate(x):
        (folder / f"clip{i:04d}.mp4").write_bytes(mp4_bytes(clip))
        (folder / f"clip{i:04d}.gif").write_bytes(gif_bytes(clip))
    os.environ["ZOO_CACHE_DIR"] = tempfile.mkdtemp(prefix="zoo-video-cache-")
    config = VideoFolderConfig(dataset="video-folder", path=str(folder), image_size=64, channels=1, frames=16)
    for attempt in ("first (decode)", "second (cache)"):
        started = time.perf_counter()
        n = sum(len(load_dataset(config, split)) for split in ("train", "test"))
        seconds = time.perf_counter() - started
        emit({"decode": attempt, "files": 2 * clips, "clips": n, "frames": 16 * n, "seconds": round(seconds, 2),
              "clips_per_s": round(n / seconds, 1), "frames_per_s": round(16 * n / seconds, 1)})


def sampling_seconds(presets: list[str]) -> None:
    import zoo

    root = Path(tempfile.mkdtemp(prefix="zoo-video-speed-"))
    for preset in presets:
        run = zoo.train(preset, steps=1, out=root / preset, device="cpu", quiet=True, overwrite=True).path
        zoo.sample(run, 2, seed=0)  # warm-up
        started = time.perf_counter()
        samples = zoo.sample(run, 16, seed=1)
        seconds = time.perf_counter() - started
        emit({"preset": preset, "clips": 16, "shape": list(samples.clips.shape[1:]), "seconds_per_clip": round(seconds / 16, 4)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--folder", default=None, help="where the MP4/GIF clips go (default: a temporary folder)")
    parser.add_argument("presets", nargs="*", default=PRESETS)
    args = parser.parse_args()
    decode_rate(Path(args.folder or tempfile.mkdtemp(prefix="zoo-video-folder-")), args.clips)
    sampling_seconds(args.presets)


if __name__ == "__main__":
    main()
