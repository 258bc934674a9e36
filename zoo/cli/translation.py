"""`zoo translate`: files in, the same file names out."""
from __future__ import annotations

import click

from zoo.cli.options import parse_sets


@click.command()
@click.argument("run_dir", type=click.Path())
@click.argument("inputs", nargs=-1, required=True)
@click.option("--out", required=True, type=click.Path(), help="Folder the outputs are written to, under the inputs' file names.")
@click.option("--seed", default=0, show_default=True, help="Same seed, same outputs (generative translators).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="A condition the family declares, e.g. steps=10 (`zoo info PRESET` lists them).")
@click.option("--resize", is_flag=True, help="Resize inputs whose size does not fit the run (bicubic) instead of refusing them.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--weights", type=click.Choice(["ema", "raw"]), default="ema", show_default=True)
def translate(run_dir: str, inputs: tuple[str, ...], out: str, seed: int, sets: tuple[str, ...], resize: bool, device: str, weights: str) -> None:
    """Translate files (or folders of them) with the translating run in RUN_DIR: images, or the family's
    own formats (audio clips, scores, videos)."""
    from zoo.api import translate_files

    written = translate_files(run_dir, list(inputs), out, seed=seed, device=device, weights=weights, resize=resize, **parse_sets(sets))  # type: ignore[arg-type]
    click.echo(f"wrote {len(written)} files to {out}")
