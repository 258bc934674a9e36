"""FID against the number of sampler steps, per sampler, for trained diffusion runs: a JSON table and a
plot (docs/diffusion-steps.png). Each point is `zoo evaluate RUN --metrics fid --set sampler=S --set steps=N`.
Points already in the JSON table are kept and not measured again; the table is written after every point.

    .venv/bin/python bench/fid_vs_steps.py RUN [RUN...] --num-samples 1000 --out docs/diffusion-steps
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import zoo
from zoo.run import Run

SAMPLERS = {"flow": ["euler", "heun"], "eps": ["ddim", "ddpm", "euler"], "v": ["ddim", "ddpm", "euler"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--steps", default="5,10,20,50")
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--out", default="docs/diffusion-steps")
    args = parser.parse_args()
    table = Path(args.out + ".json")
    rows = json.loads(table.read_text()) if table.exists() else []
    done = {(r["preset"], r["sampler"], r["steps"], r["num_samples"]) for r in rows}
    for run_dir in args.runs:
        config = Run.open(run_dir).config
        for sampler in SAMPLERS[config.model.objective]:
            for steps in map(int, args.steps.split(",")):
                if (config.preset, sampler, steps, args.num_samples) in done:
                    continue
                started = time.perf_counter()
                fid = zoo.evaluate(run_dir, metrics=["fid"], num_samples=args.num_samples, options={"sampler": sampler, "steps": steps})["fid"]
                rows.append({"preset": config.preset, "sampler": sampler, "steps": steps, "fid": round(fid, 2),
                             "seconds": round(time.perf_counter() - started, 1), "num_samples": args.num_samples})
                print(json.dumps(rows[-1]), flush=True)
                table.write_text(json.dumps(rows, indent=1))
    plot(rows, Path(args.out + ".png"))


def plot(rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    rows = sorted(rows, key=lambda r: (r["preset"], r["sampler"], r["steps"]))
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for key in dict.fromkeys((r["preset"], r["sampler"]) for r in rows):
        points = [(r["steps"], r["fid"]) for r in rows if (r["preset"], r["sampler"]) == key]
        ax.plot(*zip(*points), marker="o", label=f"{key[0]} · {key[1]}")
    ax.set(xscale="log", yscale="log", xlabel="sampler steps", ylabel=f"FID (MNIST domain features, {rows[0]['num_samples']} samples)")
    ax.set_xticks(sorted({r["steps"] for r in rows}), labels=[str(s) for s in sorted({r["steps"] for r in rows})])
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks([2, 3, 4, 6, 8, 10, 15])
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main()
