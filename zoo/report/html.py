"""HTML pieces shared by the report and the demo page. Everything is inline (data: URIs, one <style>),
so a page works from a file, offline, with no requests to anywhere."""
from __future__ import annotations

import base64
import html
import io
from typing import Any, Iterable

from zoo.samples import ImageSamples, Samples

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1180px; padding: 0 18px 40px; color: #1d1d1f; }
h1 { margin: 18px 0 4px; } h2 { border-bottom: 2px solid #e3e3e8; padding-bottom: 4px; margin-top: 36px; }
h3 { margin: 22px 0 8px; } .muted { color: #6e6e73; } .small { font-size: 12px; }
table { border-collapse: collapse; margin: 6px 0 12px; } td, th { border: 1px solid #dcdce0; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f5f5f7; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.facts td:first-child { color: #6e6e73; white-space: nowrap; }
.grid { display: flex; flex-wrap: wrap; gap: 10px; } .grid img.plot { width: 360px; height: auto; }
.strip { display: flex; gap: 8px; overflow-x: auto; padding-bottom: 6px; }
.strip figure { margin: 0; text-align: center; } .strip img { height: 150px; image-rendering: pixelated; }
img.samples { max-width: 100%; image-rendering: pixelated; }
.missing { background: #fff8e5; border: 1px solid #f0d98c; padding: 6px 10px; border-radius: 4px; margin: 6px 0; }
.error { background: #fdecec; border: 1px solid #f2b8b5; padding: 6px 10px; border-radius: 4px; margin: 6px 0; }
.met { color: #17803d; font-weight: 600; } .missed { color: #b3261e; font-weight: 600; } .not-comparable { color: #6e6e73; font-weight: 600; }
pre.config { background: #f5f5f7; padding: 8px; overflow-x: auto; font-size: 12px; }
nav a { margin-right: 12px; } h1.modality { background: #f5f5f7; padding: 6px 10px; margin-top: 44px; font-size: 24px; }
form.sample label { display: inline-block; margin: 4px 14px 4px 0; } form.sample input[type=number] { width: 7em; }
"""


def esc(value: Any) -> str:
    return html.escape(str(value))


def page(title: str, body: str) -> str:
    """A whole document; the empty icon keeps browsers from asking a server for /favicon.ico."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" href="data:,"><title>{esc(title)}</title><style>{STYLE}</style></head>'
        f"<body>{body}</body></html>\n"
    )


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def img(data: bytes, alt: str, mime: str = "image/png", cls: str = "", width: int | None = None) -> str:
    size = f' width="{width}"' if width else ""
    return f'<img class="{cls}" alt="{esc(alt)}"{size} src="{data_uri(data, mime)}">'


def table(headers: list[str], rows: Iterable[list[str]], cls: str = "", numeric_from: int | None = None) -> str:
    """Cells are HTML already (escape them first); columns from `numeric_from` on align right."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if numeric_from is not None and i >= numeric_from else f"<td>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def facts(pairs: list[tuple[str, str]]) -> str:
    """A two-column table of label -> value (values are HTML already)."""
    return '<table class="facts">' + "".join(f"<tr><td>{esc(k)}</td><td>{v}</td></tr>" for k, v in pairs) + "</table>"


def note(text: str, kind: str = "missing") -> str:
    return f'<div class="{kind}">{esc(text)}</div>'


def shown_width(png: bytes, target: int = 512) -> int:
    """Small grids drawn 2-4 times their size (pixels stay sharp), large ones as they are."""
    from PIL import Image

    width = Image.open(io.BytesIO(png)).width
    return width * max(1, min(4, target // max(1, width)))


def samples_html(samples: Samples) -> str:
    """Samples in their modality's form: an image grid, audio players with spectrograms, text excerpts."""
    if isinstance(samples, ImageSamples):
        grid = samples._repr_png_()
        return img(grid, f"{len(samples)} samples", cls="samples", width=shown_width(grid))
    return samples._repr_html_()
