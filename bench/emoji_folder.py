"""A real folder of RGB images for the own-data recipe (docs/data.md): every single-code-point emoji of
the Noto Color Emoji font (Debian: `apt-get install fonts-noto-color-emoji`) drawn at 72×72 on white,
one PNG per emoji in a folder per Unicode block (the classes).

Usage: python bench/emoji_folder.py OUT_FOLDER [--font PATH]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
BLOCKS = {  # Unicode blocks holding emoji, by name (the class folders)
    "pictographs": (0x1F300, 0x1F5FF),
    "emoticons": (0x1F600, 0x1F64F),
    "transport": (0x1F680, 0x1F6FF),
    "supplemental": (0x1F900, 0x1F9FF),
}
SIZE = 72
SKIN_TONES = range(0x1F3FB, 0x1F400)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--font", default=FONT)
    opts = parser.parse_args()
    font = ImageFont.truetype(opts.font, 109)  # the one size a CBDT colour-bitmap font holds
    count = 0
    for block, (first, last) in BLOCKS.items():
        folder = Path(opts.out) / block
        folder.mkdir(parents=True, exist_ok=True)
        for code in range(first, last + 1):
            if code in SKIN_TONES:
                continue  # modifiers, drawn as bare colour swatches
            char = chr(code)
            if not font.getmask(char).getbbox():
                continue  # no glyph for this code point
            canvas = Image.new("RGB", (136, 128), "white")
            ImageDraw.Draw(canvas).text((0, 0), char, font=font, embedded_color=True)
            box = Image.eval(canvas.convert("L"), lambda v: 255 - v).getbbox()
            if box is None:
                continue
            glyph = canvas.crop(box)
            side = max(glyph.size)
            square = Image.new("RGB", (side, side), "white")
            square.paste(glyph, ((side - glyph.width) // 2, (side - glyph.height) // 2))
            square.resize((SIZE, SIZE), Image.LANCZOS).save(folder / f"u{code:05x}.png")
            count += 1
    print(f"{count} emoji in {len(BLOCKS)} class folders under {opts.out}")


if __name__ == "__main__":
    main()
