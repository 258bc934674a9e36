"""End to end, side by side: nanoGPT's own `train.py` with its documented CPU configuration against
`zoo train gpt-shakespeare`, alternating in one run (A B, then B A, ...) so that a drifting machine weighs
on both alike. Each wall time is the whole process: start-up, training, evaluations, checkpoints and,
for zoo, its previews. Afterwards (untimed) both final models are scored the same way: mean next-token
loss over every non-overlapping 64-token window of the validation split (the last 10% of the text).

    git clone https://github.com/karpathy/nanoGPT /tmp/nanogpt     # or any checkout; it is not copied here
    .venv/bin/python bench/nanogpt_vs_zoo.py --nanogpt /tmp/nanogpt --rounds 2

nanoGPT's data/shakespeare_char is prepared offline from data/tinyshakespeare/input.txt (its prepare.py
only downloads a missing input.txt). Run it on an otherwise idle machine: with other processes on the
cores, two-thread PyTorch runs slow down erratically. `--steps 50` is a smoke test of the script.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "tinyshakespeare" / "input.txt"
BLOCK = 64


def nanogpt_command(steps: int, out: Path) -> list[str]:
    """nanoGPT README's CPU command ("baby GPT" on a MacBook), writing into `out`."""
    return [
        sys.executable, "train.py", "config/train_shakespeare_char.py", "--device=cpu", "--compile=False", "--eval_iters=20",
        "--log_interval=1", f"--block_size={BLOCK}", "--batch_size=12", "--n_layer=4", "--n_head=4", "--n_embd=128",
        f"--max_iters={steps}", f"--lr_decay_iters={steps}", "--dropout=0.0", f"--out_dir={out}",
    ]


def zoo_command(steps: int, out: Path) -> list[str]:
    return [sys.executable, "-m", "zoo", "train", "gpt-shakespeare", "--steps", str(steps), "--out", str(out)]


def prepare_nanogpt(folder: Path) -> None:
    """train.bin / val.bin / meta.pkl with nanoGPT's own prepare.py, fed the local input.txt (no download)."""
    data = folder / "data" / "shakespeare_char"
    if (data / "train.bin").is_file() and (data / "val.bin").is_file():
        return
    shutil.copy(CORPUS, data / "input.txt")
    stub = "import runpy, sys, types; sys.modules['requests'] = types.ModuleType('requests'); runpy.run_path('prepare.py', run_name='__main__')"
    subprocess.run([sys.executable, "-c", stub], cwd=data, check=True, stdout=subprocess.DEVNULL)


def timed(command: list[str], cwd: Path, log: Path) -> float:
    """Wall seconds of `command`, its output kept in `log`."""
    started = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} failed (exit {done.returncode}); see {log}")
    return seconds


def median_step_ms(name: str, out: Path, log: Path) -> float:
    """The run's median training step from its own log (nanoGPT: per-iteration times, evaluations
    excluded; zoo: items/s per logged window), to tell a slow machine from a slow program."""
    if name == "nanoGPT":
        times = [float(t) for i, t in re.findall(r"iter (\d+): loss [\d.]+, time ([\d.]+)ms", log.read_text()) if int(i) % 250]
        return statistics.median(times)
    rates = [r["items_per_s"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "items_per_s" in r]
    return 1000 * 12 / statistics.median(rates)  # batch 12


def score(logits_fn, val: torch.Tensor) -> float:
    """Mean next-token cross-entropy over every non-overlapping BLOCK-token window of `val` (zoo's protocol)."""
    starts = torch.arange(0, len(val) - BLOCK, BLOCK)
    total = 0.0
    with torch.no_grad():
        for chunk in starts.split(256):
            w = val[chunk[:, None] + torch.arange(BLOCK + 1)]
            total += F.cross_entropy(logits_fn(w[:, :-1]).flatten(0, 1), w[:, 1:].flatten(), reduction="sum").item()
    return total / (len(starts) * BLOCK)


def score_nanogpt(folder: Path, out: Path) -> float | None:
    """nanoGPT's checkpoint (its best evaluation, written only at evaluations after step 0) scored by `score`."""
    if not (out / "ckpt.pt").is_file():
        return None
    sys.path.insert(0, str(folder))
    from model import GPT, GPTConfig  # nanoGPT's model.py

    ckpt = torch.load(out / "ckpt.pt", map_location="cpu", weights_only=True)
    model = GPT(GPTConfig(**ckpt["model_args"]))
    model.load_state_dict({k.removeprefix("_orig_mod."): v for k, v in ckpt["model"].items()})
    model.eval()
    text = CORPUS.read_text(encoding="utf-8")
    stoi = {c: i for i, c in enumerate(sorted(set(text)))}  # nanoGPT's prepare.py vocabulary (its meta.pkl is not unpickled)
    val = torch.tensor([stoi[c] for c in text[int(len(text) * 0.9):]])

    return score(lambda x: model(x, targets=x.contiguous())[0], val)  # given targets, nanoGPT returns every position's logits


def score_zoo(run: Path) -> float:
    import zoo

    return zoo.evaluate(run, device="cpu", metrics=[])["val_loss"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nanogpt", type=Path, default=Path(os.environ.get("NANOGPT", "/tmp/nanogpt")), help="a nanoGPT checkout")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of one run each, the order alternating")
    parser.add_argument("--steps", type=int, default=2000, help="training steps of both (the documented config: 2000)")
    parser.add_argument("--keep", type=Path, help="keep the runs and their logs in this folder")
    args = parser.parse_args()
    if not (args.nanogpt / "train.py").is_file():
        raise SystemExit(f"no nanoGPT checkout at {args.nanogpt}: git clone https://github.com/karpathy/nanoGPT {args.nanogpt}")
    prepare_nanogpt(args.nanogpt)
    work = Path(tempfile.mkdtemp(prefix="nanogpt-vs-zoo-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; torch threads: {torch.get_num_threads()}; runs in {work}", flush=True)
    walls: dict[str, list[float]] = {"nanoGPT": [], "zoo": []}
    steps: dict[str, list[float]] = {"nanoGPT": [], "zoo": []}
    last: dict[str, Path] = {}
    print("| round | first | nanoGPT s | zoo s | nanoGPT step ms | zoo step ms |\n|---|---|---:|---:|---:|---:|", flush=True)
    for r in range(args.rounds):
        order = ["nanoGPT", "zoo"] if r % 2 == 0 else ["zoo", "nanoGPT"]
        for name in order:
            out = work / f"{name}-{r}"
            shutil.rmtree(out, ignore_errors=True)
            log = work / f"{name}-{r}.log"
            if name == "nanoGPT":
                walls[name].append(timed(nanogpt_command(args.steps, out), args.nanogpt, log))
            else:
                walls[name].append(timed(zoo_command(args.steps, out), ROOT, log))
            steps[name].append(median_step_ms(name, out, log))
            last[name] = out
        print(f"| {r} | {order[0]} | {walls['nanoGPT'][-1]:.1f} | {walls['zoo'][-1]:.1f} | {steps['nanoGPT'][-1]:.1f} | {steps['zoo'][-1]:.1f} |", flush=True)
    med = {k: statistics.median(v) for k, v in walls.items()}
    print(f"| median | | {med['nanoGPT']:.1f} | {med['zoo']:.1f} | {statistics.median(steps['nanoGPT']):.1f} | {statistics.median(steps['zoo']):.1f} |")
    print(f"zoo / nanoGPT wall time: {med['zoo'] / med['nanoGPT']:.3f}; load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    nano, ours = score_nanogpt(args.nanogpt, last["nanoGPT"]), score_zoo(last["zoo"])
    shown = f"{nano:.4f}" if nano is not None else "n/a (nanoGPT saves only at evaluations after step 0, every 250 steps)"
    print(f"val loss, every non-overlapping {BLOCK}-token window of the validation split (last round): nanoGPT {shown}, zoo {ours:.4f}")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
