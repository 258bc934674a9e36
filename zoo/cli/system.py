"""`zoo env` and `zoo bench`: what this machine offers, and how fast the zoo runs on it."""
from __future__ import annotations

import json

import click

from zoo.cli.options import parse_sets


@click.command()
@click.option("--json", "as_json", is_flag=True)
def env(as_json: bool) -> None:
    """Devices, precisions, compile support and library versions of this machine."""
    from zoo.device import describe

    info = describe()
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    for d in info["devices"]:
        extra = f" ({', '.join(d['gpus'])})" if d.get("gpus") else ""
        click.echo(f"{d['device']}{extra}: precisions {', '.join(d['precisions'])}; torch.compile: {d['compile']}")
    click.echo(f"CPU threads: {info['threads']}")
    click.echo("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))


@click.command()
@click.argument("names", nargs=-1, required=True)
@click.option("--steps", default=20, show_default=True, help="Steps per timed window.")
@click.option("--repeats", default=3, show_default=True, help="Timed windows (after one warm-up window); the median is reported.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--precision", default="auto", show_default=True, type=click.Choice(["auto", "fp32", "bf16", "fp16"]), help="auto: the preset's train.precision.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE")
@click.option("--time-to-quality", "quality", is_flag=True, help="Also train until the preset's eval.quality target is reached.")
@click.option("--json", "as_json", is_flag=True)
def bench(names: tuple[str, ...], steps: int, repeats: int, device: str, precision: str, sets: tuple[str, ...], quality: bool, as_json: bool) -> None:
    """Training throughput (zoo trainer vs a bare loop), sampling throughput, peak memory and time-to-quality of presets."""
    from zoo.bench import bench as run_bench
    from zoo.errors import UsageError

    if steps <= 0 or repeats <= 0:
        raise UsageError("--steps and --repeats must be positive integers")
    rows = [run_bench(name, steps, repeats, device, precision, parse_sets(sets), quality) for name in names]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    keys = ["preset", "device", "precision", "batch_size", "unit", "train_per_s", "bare_per_s", "zoo_vs_bare", "sample_items_per_s", "peak_memory_mb"]
    if quality:
        keys += ["quality", "quality_value", "steps_to_quality", "train_s_to_quality", "wall_s_with_evals"]
    click.echo("| " + " | ".join(keys) + " |")
    click.echo("|" + "---|" * len(keys))
    for row in rows:
        click.echo("| " + " | ".join(str(row[k]) for k in keys) + " |")
