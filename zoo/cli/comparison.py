"""`zoo compare`: runs' metrics side by side, refusing to mix evaluation protocols in a column."""
from __future__ import annotations

import json

import click


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path())
@click.option("--markdown", is_flag=True, help="A markdown table.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output, protocols included.")
@click.option("--mixed-protocols", is_flag=True, help="Put scores with different protocols in one column anyway (marked with *).")
def compare(run_dirs: tuple[str, ...], markdown: bool, as_json: bool, mixed_protocols: bool) -> None:
    """One table of the runs' latest evaluation (summary.json), one row per run: its data, steps
    trained, the step evaluated, the scores, and how they stand against the preset's anchors.

    Scores go in one column only when their protocols match: feature network and checksum,
    reference split, real and generated sample counts, seed and metric version. A run not
    evaluated yet is a row of dashes with a note.
    """
    from zoo.cli.catalog import table
    from zoo.metrics.compare import compare as compare_runs

    comparison = compare_runs(list(run_dirs), mixed_protocols)
    if as_json:
        click.echo(json.dumps(comparison.to_json(), indent=2))
    elif markdown:
        click.echo(comparison.markdown())
    else:
        headers, rows = comparison.rows()
        click.echo("\n".join([table(rows, headers)] + comparison.footnotes()))
