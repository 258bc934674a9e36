"""`zoo report`: runs as one self-contained HTML page."""
from __future__ import annotations

import click


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path())
@click.option("--out", type=click.Path(), default="report.html", show_default=True, help="The HTML file to write (everything embedded: opens offline).")
@click.option("--samples", "n", type=int, help="Samples to draw from each run's latest checkpoint (default: 64 images, 6 clips, 4 texts; 0: show the latest preview).")
@click.option("--seed", default=0, show_default=True, help="Seed for the drawn samples.")
@click.option("--mixed-protocols", is_flag=True, help="Compare scores whose protocols differ anyway (marked *), as zoo compare does.")
@click.option("--device", default="cpu", show_default=True, help="Where to draw samples.")
def report(run_dirs: tuple[str, ...], out: str, n: int | None, seed: int, mixed_protocols: bool, device: str) -> None:
    """Write an HTML report on RUN_DIRS: facts, provenance, config, samples, curves, scores and anchors.

    \b
    zoo report runs/gan --out gan.html
    zoo report runs/gan runs/cgan runs/specgan     comparison per modality, then each run
    """
    from zoo.report.build import write_report

    path = write_report(list(run_dirs), out, samples=n, seed=seed, mixed_protocols=mixed_protocols, device=device)
    click.echo(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB, {len(run_dirs)} run{'s' * (len(run_dirs) != 1)})")
