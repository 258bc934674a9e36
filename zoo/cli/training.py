"""`zoo train`."""
from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import click

from zoo.cli.options import parse_sets


@click.command()
@click.argument("name", required=False)
@click.option("--steps", type=int, help="Total optimisation steps (overrides the preset's train.steps).")
@click.option("--epochs", type=int, help="Train for this many passes over the data instead of --steps.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--precision", default="auto", show_default=True, type=click.Choice(["auto", "fp32", "bf16", "fp16"]),
              help="auto: the preset's train.precision (itself auto: bf16 on GPUs that have it, else fp32).")
@click.option("--seed", type=int, help="Seed for weights, data order and noise (default: the preset's).")
@click.option("--out", type=click.Path(), help="Run directory to create (default runs/NAME-TIMESTAMP).")
@click.option("--data", "data", type=click.Path(), help="Train on YOUR files instead of the preset's dataset: a folder of images or clips, a .txt file or folder (docs/data.md).")
@click.option("--data-dir", type=click.Path(), help="Where to look for the preset's registered dataset first (the dataset stays the preset's; for your own files use --data).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a config value, e.g. train.lr=1e-4 (repeatable).")
@click.option("--resume", type=click.Path(), help="Continue the run in this directory exactly where it stopped.")
@click.option("--overwrite", is_flag=True, help="Replace the run already in --out.")
@click.option("--quiet", is_flag=True, help="No progress bar or log lines.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model's submodules.")
@click.option("--logger", "loggers", multiple=True, metavar="NAME", help="Log to a logger plugin too, e.g. tensorboard (repeatable; adds to train.loggers).")
def train(name: str | None, steps: int | None, epochs: int | None, device: str, precision: str, seed: int | None, out: str | None,
          data: str | None, data_dir: str | None, sets: tuple[str, ...], resume: str | None, overwrite: bool, quiet: bool, compile_: bool, loggers: tuple[str, ...]) -> None:
    """Train preset NAME (see `zoo list`), or continue a run with --resume RUN_DIR."""
    from zoo.api import train as train_run

    signal.signal(signal.SIGTERM, _interrupt)  # before training starts, TERM stops like Ctrl-C; the trainer then takes both
    try:
        run = train_run(name, steps=steps, epochs=epochs, device=device, precision=precision, seed=seed, out=out, data_dir=data_dir, data=data,
                        overrides=parse_sets(sets), resume=resume, overwrite=overwrite, quiet=quiet, compile=compile_, loggers=list(loggers))
    except KeyboardInterrupt as err:
        from zoo.checkpoint import latest
        from zoo.trainer import Interrupted

        target = err.run_path if isinstance(err, Interrupted) else resume or out
        folder = latest(Path(target)) if target and Path(target, "checkpoints").is_dir() else None
        saved = f"checkpoint {folder.name} is saved: continue with `zoo train --resume {target}`" if folder else "no checkpoint was written yet"
        raise click.ClickException(f"interrupted; {saved}") from None
    from zoo.distributed import world

    if not world().is_main:
        return
    summary = run.summary()
    click.echo(f"run {run.path}: {summary.get('status')} at step {summary.get('step')} in {summary.get('train_seconds')} s")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
