"""Data-parallel scaling through torchrun (gloo on CPU, NCCL on GPUs): the trainer's steady-state
throughput with one process and with N processes over the same global batch.

    .venv/bin/python bench/ddp_scaling.py                          # vae-mnist, gpt-shakespeare, gan-mnist-quick; 2 processes
    .venv/bin/python bench/ddp_scaling.py --presets vae-mnist --procs 4 --steps 500

Rows: one process with torch's default thread count, one process on one thread, and N processes on
one thread each (on a CPU they share the cores one process already uses, so expect far from N×).
Each number is the median of the run's per-window items/s log, first window dropped.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def rate(preset: str, steps: int, procs: int, threads: int | None, out: Path) -> float:
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"] if procs > 1 else [sys.executable]
    cmd = launcher + ["-m", "zoo", "train", preset, "--steps", str(steps), "--out", str(out), "--quiet",
                      "--set", "train.log_every=25", "--set", "train.sample_every=0", "--set", "train.checkpoint_every=0"]
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    logs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return statistics.median(r["items_per_s"] for r in logs[1:] if "items_per_s" in r)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="vae-mnist,gpt-shakespeare,gan-mnist-quick")
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    print(f"| preset | 1 process (default threads) | 1 process, 1 thread | {args.procs} processes, 1 thread each | speed-up vs best single |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets.split(","):
            one = rate(preset, args.steps, 1, None, Path(tmp) / f"{preset}-1")
            one_thread = rate(preset, args.steps, 1, 1, Path(tmp) / f"{preset}-1t")
            many = rate(preset, args.steps, args.procs, 1, Path(tmp) / f"{preset}-{args.procs}")
            print(f"| {preset} | {one:.0f} | {one_thread:.0f} | {many:.0f} | {many / max(one, one_thread):.2f}× |", flush=True)


if __name__ == "__main__":
    main()
