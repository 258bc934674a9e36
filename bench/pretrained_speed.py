"""SmolLM2-135M on this machine: generation tokens/s with the key/value cache, and training tokens/s and peak
memory of LoRA against full fine-tuning.

    .venv/bin/python bench/pretrained_speed.py [--tokens 128] [--steps 8]

Generation: `zoo chat smollm2`'s path (`zoo.chat.Session`, defaults temperature 0.7, top_p 0.9), one warm-up
answer, then the best of three answers to a fixed question, in generated tokens per second.
Training: `smollm2-lora-shakespeare` for `steps` steps in a subprocess per mode (LoRA, full), the trainer's
median items/s over steps 3.. times block_size tokens, and the subprocess's peak resident memory.
Prints one JSON line per measurement, with the load average: other work skews every number.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTION = "What is a generative adversarial network? Explain it in a short paragraph."


def generation(tokens: int) -> dict[str, float]:
    from zoo.chat import Session, open_chat

    with open_chat("smollm2") as model:
        session = Session(model, settings={"max_new_tokens": tokens})
        session.ask("Hello!")
        best = 0.0
        for _ in range(3):
            session.reset()
            pieces: list[str] = []
            started = time.perf_counter()
            answer = session.ask(QUESTION, stream=pieces.append).text
            seconds = time.perf_counter() - started
            count = len(model.tokenizer(answer, add_special_tokens=False)["input_ids"])
            best = max(best, count / seconds)
    return {"what": "generation", "tokens_per_s": round(best, 2), "new_tokens": count}


def training(mode: str, steps: int, root: Path) -> dict[str, float]:
    out = root / mode
    code = ("import zoo, resource; zoo.train('smollm2-lora-shakespeare', steps=%d, out=%r, quiet=True, overwrite=True, "
            "overrides={'model.finetune': %r, 'train.log_every': 1, 'train.checkpoint_every': 0}); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)") % (steps, str(out), mode)
    peak_kb = int(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()[-1])
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rates = [r["items_per_s"] for r in records if "items_per_s" in r and r.get("step", 0) >= 3]
    block = 256
    return {"what": f"training {mode}", "tokens_per_s": round(statistics.median(rates) * block, 1), "steps_timed": len(rates),
            "peak_rss_gb": round(peak_kb / 2**20, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="zoo-pretrained-speed-"))
    for result in (generation(args.tokens), training("lora", args.steps, root), training("full", args.steps, root)):
        print(json.dumps({**result, "load": os.getloadavg()}), flush=True)


if __name__ == "__main__":
    main()
