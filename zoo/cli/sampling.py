"""`zoo sample`."""
from __future__ import annotations

import sys

import click

from zoo.cli.options import parse_sets
from zoo.errors import UsageError


@click.command()
@click.argument("run_dir", type=click.Path())
@click.option("-n", "n", default=64, show_default=True, help="How many samples.")
@click.option("--seed", default=0, show_default=True, help="Same seed, same samples.")
@click.option("--out", type=click.Path(), help="NAME.png or NAME.jpg: a grid (video: a frame sheet); NAME.gif or NAME.mp4: clips; NAME.npz: raw arrays; a folder: one file per sample (text prints when omitted).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="A condition the family declares, e.g. label=7 (`zoo info PRESET` lists them).")
@click.option("--device", default="cpu", show_default=True)
@click.option("--weights", type=click.Choice(["ema", "raw"]), default="ema", show_default=True, help="The trainer's EMA of the weights (when the run kept one) or the raw weights.")
@click.option("--data-dir", type=click.Path(), help="Where to look for the run's dataset, for modes that show data (reconstructions, inpainting).")
@click.option("--mode", help="Shorthand for --set mode=...: reconstruct or interpolate (VAEs); inpaint (models that restore images, e.g. diffusion: --set mask=center|left|random); translate (translating runs: source | output | target rows from the test split); predict (video predictors: continue --context CLIP).")
@click.option("--context", type=click.Path(), help="Shorthand for --set context=...: with --mode predict, the clip (.gif, .mp4 or a folder of frames) whose first frames are continued.")
@click.option("--prompt", help="Shorthand for --set prompt=...: text models continue this text.")
@click.option("--max-new-tokens", type=int, help="Shorthand for --set max_new_tokens=N (text models).")
@click.option("--temperature", type=float, help="Shorthand for --set temperature=T (text models).")
@click.option("--top-k", type=int, help="Shorthand for --set top_k=K (text models).")
@click.option("--top-p", type=float, help="Shorthand for --set top_p=P (text models).")
def sample(run_dir: str, n: int, seed: int, out: str | None, sets: tuple[str, ...], device: str, weights: str, data_dir: str | None, **shorthands: object) -> None:
    """Draw samples from the run in RUN_DIR."""
    from zoo.api import load, sample as sample_run

    conditions = {**parse_sets(sets), **{k: v for k, v in shorthands.items() if v is not None}}
    if out is None:
        model = load(run_dir, device, weights=weights, data_dir=data_dir)  # type: ignore[arg-type]
        if model.modality != "text":
            raise UsageError("--out is required: a .png or .jpg grid, an .npz file or a folder")
        if n == 1 and any(c.name == "stream" for c in model.conditions):
            conditions["stream"] = lambda piece: (sys.stdout.write(piece), sys.stdout.flush())
    samples = sample_run(run_dir, n, seed=seed, device=device, weights=weights, data_dir=data_dir, **conditions)  # type: ignore[arg-type]
    if out is None:
        if "stream" not in conditions:
            click.echo(("\n" + "-" * 40 + "\n").join(samples.texts))
        else:
            click.echo()
        return
    written = samples.save(out)
    from zoo.plugins import call_hook, loggers_for
    from zoo.run import Run

    run = Run.open(run_dir)
    with loggers_for(run):
        call_hook("on_samples", run=run, step=samples.meta["checkpoint_step"], samples=samples, paths=written)
    click.echo(f"wrote {len(samples)} samples to {out}" + (f" ({len(written)} files)" if len(written) > 1 else ""))
