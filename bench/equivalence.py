"""Do the same seed and config give the same training numbers as an earlier checkout of zoo?

    .venv/bin/python bench/equivalence.py OLD_CHECKOUT --steps 30 [PRESET ...]

Trains each preset (its real config, `--steps` steps, logged every step) with this checkout and with
OLD_CHECKOUT (a `git worktree` of an earlier commit, run with the same interpreter), then compares the
logged losses step by step and the final weights tensor by tensor (matched by shape and value, since
a refactor may rename modules). A preset whose numbers match trains exactly as before, so its
full-budget anchors still describe it.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file

HERE = Path(__file__).resolve().parents[1]


def train(checkout: Path, preset: str, steps: int, out: Path) -> None:
    env = {**os.environ, "PYTHONPATH": f"{checkout}:{checkout / 'plugins'}", "ZOO_LOAD_PLUGINS": ""}
    sets = ["--set", "train.log_every=1", "--set", "train.sample_every=0", "--set", "train.eval_every=0", "--set", "train.checkpoint_every=0"]
    cmd = [sys.executable, "-m", "zoo", "train", preset, "--steps", str(steps), "--device", "cpu", "--quiet", "--out", str(out), *sets]
    subprocess.run(cmd, env=env, check=True, cwd=checkout, capture_output=True)


def losses(run: Path) -> list[dict[str, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k.startswith("loss") or k in ("recon", "kl", "prior_loss")} for r in rows if "eval" not in r]


def weights(run: Path) -> list[torch.Tensor]:
    folder = run / "checkpoints" / (run / "checkpoints" / "latest").read_text().strip()
    return list(load_file(folder / "model.safetensors").values())


def unmatched(old: list[torch.Tensor], new: list[torch.Tensor]) -> int:
    """How many of the old run's tensors have no bit-identical tensor in the new run."""
    pool = list(new)
    missing = 0
    for tensor in old:
        hit = next((i for i, t in enumerate(pool) if t.shape == tensor.shape and torch.equal(t, tensor)), None)
        if hit is None:
            missing += 1
        else:
            pool.pop(hit)
    return missing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", type=Path)
    parser.add_argument("presets", nargs="*")
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_intermixed_args()
    print("| preset | steps | losses equal | old tensors without an identical new one |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            runs = {}
            for name, checkout in (("old", args.old.resolve()), ("new", HERE)):
                runs[name] = Path(tmp) / f"{preset}-{name}"
                train(checkout, preset, args.steps, runs[name])
            a, b = losses(runs["old"]), losses(runs["new"])
            same = a == b or [sorted(r.values()) for r in a] == [sorted(r.values()) for r in b]
            missing = unmatched(weights(runs["old"]), weights(runs["new"]))
            print(f"| {preset} | {args.steps} | {'yes' if same else 'NO'} | {missing} of {len(weights(runs['old']))} |", flush=True)


if __name__ == "__main__":
    main()
