"""`zoo translate`: image files in, the same file names out."""
from __future__ import annotations

from pathlib import Path

import click

from zoo.cli.options import parse_sets
from zoo.errors import UsageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


def collect(inputs: tuple[str, ...]) -> list[tuple[Path, Path]]:
    """(file, name to write it under) for each input: a file keeps its name, a folder's images keep their
    paths relative to it."""
    found: list[tuple[Path, Path]] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files = sorted(f for f in item.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise UsageError(f"{item} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            found += [(f, f.relative_to(item)) for f in files]
        elif item.is_file():
            found.append((item, Path(item.name)))
        else:
            raise UsageError(f"{item}: no such file or folder")
    names = [name for _, name in found]
    clashes = sorted({str(n) for n in names if names.count(n) > 1})
    if clashes:
        raise UsageError(f"two inputs would be written as {', '.join(clashes[:3])}; translate them in separate calls")
    return found


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
    """Translate image files (or folders of them) with the translating run in RUN_DIR."""
    from zoo.api import translate as translate_files
    from zoo.translation import write_images

    found = collect(inputs)
    folder = Path(out)
    if any(folder.resolve() == f.resolve().parent for f, _ in found):
        raise UsageError(f"--out {out} is where inputs are; choose another folder so no input is overwritten")
    outputs = translate_files(run_dir, [f for f, _ in found], seed=seed, device=device, weights=weights, resize=resize, **parse_sets(sets))  # type: ignore[arg-type]
    targets = [folder / name for _, name in found]
    for target in {t.parent for t in targets}:
        target.mkdir(parents=True, exist_ok=True)
    write_images(outputs, targets)
    click.echo(f"wrote {len(targets)} images to {folder}")
