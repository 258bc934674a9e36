"""`zoo sweep`."""
from __future__ import annotations

import signal
from typing import Any

import click

from zoo.cli.options import parse_sets
from zoo.errors import UsageError


@click.command()
@click.argument("preset", required=False)
@click.option("--param", "params", multiple=True, metavar="KEY=DIST",
              help="A searched key and its distribution: loguniform:LOW:HIGH, uniform:LOW:HIGH, int:LOW:HIGH or choice:A,B,C (repeatable).")
@click.option("--space", "space_file", type=click.Path(), help="A YAML file of KEY: DIST (a list is a choice), instead of or besides --param.")
@click.option("--metric", help="The value to optimise: any value the preset's evaluations record (fid, val_loss, ...).")
@click.option("--direction", type=click.Choice(["minimize", "maximize"]), help="Only for a family's own value whose direction no metric declares.")
@click.option("--trials", type=int, help="Trials to finish in the study, all workers together (an interrupted trial does not count).")
@click.option("--timeout", type=float, help="Start no trial after this many seconds (this worker).")
@click.option("--sampler", default="tpe", show_default=True, type=click.Choice(["tpe", "random", "grid"]), help="Optuna's sampler.")
@click.option("--pruner", default="median", show_default=True, type=click.Choice(["median", "hyperband", "none"]),
              help="Stops trials from the evaluations they make in training (train.eval_every).")
@click.option("--out", type=click.Path(), help="The sweep folder: trial runs and study.db (default sweeps/PRESET).")
@click.option("--storage", metavar="URL", help="A shared study, e.g. postgresql://user@host/db, so several workers split one search.")
@click.option("--study", help="The study's name (default: the sweep folder's name); a new name starts another study.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="A fixed override for every trial, e.g. train.eval_every=100 (repeatable).")
@click.option("--data", type=click.Path(), help="Train every trial on your own files (as zoo train --data).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--seed", type=int, help="The sampler's seed (one worker: the same sweep again).")
@click.option("--quiet", is_flag=True, help="No line per trial.")
@click.option("--show", "show_dir", type=click.Path(), metavar="DIR", help="Print DIR's trials table and best trial, and run nothing.")
def sweep(preset: str | None, params: tuple[str, ...], space_file: str | None, metric: str | None, direction: str | None, trials: int | None,
          timeout: float | None, sampler: str, pruner: str, out: str | None, storage: str | None, study: str | None, sets: tuple[str, ...],
          data: str | None, device: str, seed: int | None, quiet: bool, show_dir: str | None) -> None:
    """Search PRESET's hyperparameters with Optuna; each trial is a run folder in the sweep folder.

    \b
    zoo sweep gan-mnist-quick --param train.lr=loguniform:1e-4:1e-2 --param model.ngf=choice:16,32 \\
        --metric fid --trials 20 --set train.eval_every=200
    zoo sweep --show sweeps/gan-mnist-quick
    The same command continues a stopped sweep; several workers share one with --storage postgresql://...
    """
    from zoo import sweep as sweeps

    if show_dir is not None:
        for line in sweeps.show(show_dir, study):
            click.echo(line)
        return
    if preset is None:
        raise UsageError("name a preset to sweep (see `zoo list`), or --show DIR")
    if metric is None:
        raise UsageError("--metric is required: the value to optimise, e.g. --metric fid")
    signal.signal(signal.SIGTERM, _interrupt)  # TERM stops like Ctrl-C: the trial is marked failed, the sweep can continue
    sweeps.sweep(preset, list(params), metric=metric, space_file=space_file, direction=direction, trials=trials, timeout=timeout,
                 sampler=sampler, pruner=pruner, out=out, storage=storage, study=study, overrides=parse_sets(sets), data=data,
                 device=device, seed=seed, quiet=quiet)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
