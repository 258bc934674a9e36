"""`zoo sample`."""
from __future__ import annotations

import inspect
import sys

import click

from zoo.cli.options import parse_sets
from zoo.errors import UsageError

# Modality-specific sampling options; each is passed to the family's `sample` only when given.
EXTRA = ("mode", "prompt", "max_new_tokens", "temperature", "top_k", "top_p")


@click.command()
@click.argument("run_dir", type=click.Path())
@click.option("-n", "n", default=64, show_default=True, help="How many samples.")
@click.option("--seed", default=0, show_default=True, help="Same seed, same samples.")
@click.option("--out", type=click.Path(), help="NAME.png: a grid; NAME.npz: raw arrays; a folder: one file per sample (text prints when omitted).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="A condition, e.g. label=7.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--mode", help="Image models that reconstruct: sample, reconstruct or interpolate.")
@click.option("--prompt", help="Text models: the text to continue.")
@click.option("--max-new-tokens", type=int, help="Text models: tokens to generate.")
@click.option("--temperature", type=float, help="Text models: softmax temperature.")
@click.option("--top-k", type=int, help="Text models: sample among the k most likely tokens.")
@click.option("--top-p", type=float, help="Text models: nucleus sampling mass.")
def sample(run_dir: str, n: int, seed: int, out: str | None, sets: tuple[str, ...], device: str, **extra: object) -> None:
    """Draw samples from the run in RUN_DIR."""
    from zoo.api import load, sample as sample_run

    conditions = {**parse_sets(sets), **{k: v for k, v in extra.items() if v is not None}}
    if out is None:
        model = load(run_dir, device)
        if model.modality != "text":
            raise UsageError("--out is required: a .png grid, an .npz file or a folder")
        if "stream" in inspect.signature(model.sample).parameters and n == 1:
            conditions["stream"] = lambda piece: (sys.stdout.write(piece), sys.stdout.flush())
    samples = sample_run(run_dir, n, seed=seed, device=device, **conditions)
    if out is None:
        if "stream" not in conditions:
            click.echo(("\n" + "-" * 40 + "\n").join(samples.texts))
        else:
            click.echo()
        return
    written = samples.save(out)
    click.echo(f"wrote {len(samples)} samples to {out}" + (f" ({len(written)} files)" if len(written) > 1 else ""))
