"""`zoo evaluate`."""
from __future__ import annotations

import json

import click


@click.command()
@click.argument("run_dir", type=click.Path())
@click.option("--metrics", help="Comma-separated metric names (default: the preset's eval.metrics).")
@click.option("--num-samples", type=int, help="Generated samples for sample-based metrics.")
@click.option("--seed", type=int, help="Evaluation seed (default: the preset's eval.seed).")
@click.option("--device", default="auto", show_default=True)
@click.option("--data-dir", type=click.Path(), help="Look for the dataset here first.")
@click.option("--json", "as_json", is_flag=True)
def evaluate(run_dir: str, metrics: str | None, num_samples: int | None, seed: int | None, device: str, data_dir: str | None, as_json: bool) -> None:
    """Evaluate the latest checkpoint of RUN_DIR; results go to its metrics.jsonl and summary.json."""
    from zoo.api import evaluate as evaluate_run

    names = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
    values = evaluate_run(run_dir, metrics=names, num_samples=num_samples, seed=seed, device=device, data_dir=data_dir)
    if as_json:
        click.echo(json.dumps(values, indent=2))
    else:
        for key, value in values.items():
            click.echo(f"{key:<24} {value:.6g}")
