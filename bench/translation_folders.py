"""Real folders for the own-data translation recipes (docs/translation.md):

- `OUT/pairs/source/...` and `OUT/pairs/target/...`: a paired folder made from the emoji folder
  (bench/emoji_folder.py): each emoji's grey version as the source, the colour original as the target
  (colorization), under the same relative file names;
- `OUT/printed/` and `OUT/handwritten/`: two unpaired domain folders, N printed digits (zoo's
  printed-digits dataset) and N MNIST training digits, as PNGs in class folders.

Usage: python bench/translation_folders.py EMOJI_FOLDER OUT [--count N]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from zoo.data import load_dataset
from zoo.data.spec import ImageDataConfig


def paired_from(emoji: Path, out: Path) -> int:
    files = sorted(emoji.rglob("*.png"))
    for file in files:
        rel = file.relative_to(emoji)
        for side in ("source", "target"):
            (out / side / rel.parent).mkdir(parents=True, exist_ok=True)
        with Image.open(file) as image:
            colour = image.convert("RGB")
        colour.save(out / "target" / rel)
        colour.convert("L").save(out / "source" / rel)
    return len(files)


def domain_folder(dataset: str, out: Path, count: int) -> None:
    data = load_dataset(ImageDataConfig(dataset=dataset, image_size=28), "train")
    x, y = data.fields["x"][:count], data.fields["y"][:count]
    for i, (image, label) in enumerate(zip(x, y)):
        folder = out / str(int(label))
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[0].numpy()).save(folder / f"{i:05d}.png")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("emoji")
    parser.add_argument("out")
    parser.add_argument("--count", type=int, default=2000)
    opts = parser.parse_args()
    out = Path(opts.out)
    print(f"{paired_from(Path(opts.emoji), out / 'pairs')} pairs in {out / 'pairs'}")
    domain_folder("printed-digits", out / "printed", opts.count)
    domain_folder("mnist", out / "handwritten", opts.count)
    print(f"{opts.count} printed and {opts.count} handwritten digits in {out / 'printed'} and {out / 'handwritten'}")


if __name__ == "__main__":
    main()
