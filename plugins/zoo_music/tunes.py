"""ABC tunes: O'Neill's collection cut into clean tunes for a character model, and the check that a
generated tune parses with a consistent metre (the folk model's sample metric).

A clean tune is what a small character model can learn in minutes: the headers that time and pitch
the notes (M metre, L unit length, K key, which ends the header; number and title are dropped) and
the body's notes, rests, bar lines, ties, tuplets and broken rhythms, without comments, free text,
quoted annotations (O'Neill's accents are written as ">" annotations, which music21's ABC reader
mis-times), grace notes, slurs and decorations, none of which changes a note's length.
"""
from __future__ import annotations

import contextlib
import io
import re
import warnings
from typing import Any

VERSION = 6  # bump when cleaning changes: the cached tunes are rebuilt
KEEP_HEADERS = ("M", "L", "K")
FIELD = re.compile(r"^([A-Za-z]):")
MODES = {"": "", "maj": "", "ion": "", "m": "m", "min": "m", "aeo": "m", "dor": "dor", "mix": "mix", "lyd": "lyd", "phr": "phr", "loc": "loc"}
SLIPS = 1  # short bars inside a section a consistent tune may have
ORNAMENTS = re.compile(r'"[^"\n]*"|![^!\n]*!|\{[^}\n]*\}|\((?!\d)|[^A-Ga-gzx^=_\',/0-9<>\-|:\[\]( ]')  # annotations, decorations, grace notes, slurs (not tuplets), any other sign


def clean_tune(block: str) -> tuple[str, str] | None:
    """(X number, cleaned tune) of one `X:` block; None when it has no key line or no notes."""
    number, head, body, in_body = None, [], [], False
    for line in (raw.rstrip() for raw in block.splitlines()):
        if not line or line.startswith("%"):
            continue
        field = FIELD.match(line)
        if not in_body:
            if field and field.group(1) == "X":
                number = line[2:].strip()
            if field and field.group(1) in KEEP_HEADERS:
                value = header_value(field.group(1), line[2:])
                if value is None:
                    return None
                head.append(f"{field.group(1)}:{value}")
            in_body = bool(field) and field.group(1) == "K"
        elif field and field.group(1) in KEEP_HEADERS:  # a change of key, length or metre
            value = header_value(field.group(1), line[2:])
            if value is None:
                return None
            body.append(f"{field.group(1)}:{value}")
        elif not field:  # free text (N:, W:, ...) is dropped
            notes = re.sub(r"  +", " ", ORNAMENTS.sub("", line)).strip()  # a continuation "\\" goes too: line breaks do not time notes
            if notes:
                body.append(notes)
    if number is None or not in_body or not body:
        return None
    return number, "\n".join(head + body)


def header_value(name: str, value: str) -> str | None:
    """A metre, unit length or key in one spelling (K:Ador, K:Em, M:6/8, M:C|, L:1/8); None for others (K:HP)."""
    value = value.strip()
    if name == "K":
        key = re.fullmatch(r"([A-G][#b]?)\s*([A-Za-z]*)", value)
        mode = key and MODES.get(key.group(2).lower()[:3])
        return None if mode is None else key.group(1) + mode
    return value if re.fullmatch(r"C\|?|\d+/\d+", value) else None


def collection(files: list[str]) -> list[tuple[str, str]]:
    """Every tune of the files' texts, the first version of each X number, ordered by number."""
    found: dict[str, str] = {}
    for text in files:
        for block in re.split(r"\n(?=X:)", "\n" + text):
            tune = clean_tune(block)
            if tune and tune[0] not in found:
                found[tune[0]] = tune[1]
    return sorted(found.items(), key=lambda item: (len(item[0]), item[0]))


def finished_tunes(text: str) -> list[str]:
    """The tunes a generated text holds whole: paragraphs with a key line and a body after it; the
    last paragraph counts only when the text went on past it (else generation stopped inside it)."""
    paragraphs = re.split(r"\n[ \t]*\n", text)
    if not re.search(r"\n[ \t]*\n\s*$", text):
        paragraphs = paragraphs[:-1]
    out = []
    for paragraph in paragraphs:
        lines = [line for line in paragraph.strip().splitlines() if line.strip()]
        key = next((i for i, line in enumerate(lines) if line.startswith("K:")), None)
        if key is not None and key + 1 < len(lines):
            out.append("\n".join(lines))
    return out


def parse(tune: str) -> Any:
    """music21's Score of an ABC tune, or None when music21 cannot read it (its doubts kept quiet)."""
    from music21 import converter

    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):  # music21's ABC reader prints its doubts
            warnings.simplefilter("ignore")
            score = converter.parse(tune, format="abc")
    except Exception:  # noqa: BLE001 - a generated tune may break music21 in any way
        return None
    return score if score.flatten().notes else None


def metre_consistent(tune: str) -> bool:
    """Whether music21 parses `tune` into bars that fit its metre: no bar longer than the time
    signature (music21 splits one, inventing a metre change the tune never declares), and short bars only where a section starts or ends (pickups, first/second endings),
    but for at most SLIPS of them (music21 mis-times some tuplets and grace notes; O'Neill's own
    transcriptions have such bars: docs/music.md gives the test tunes' rate)."""
    score = parse(tune)
    if score is None:
        return False
    part: Any = score.parts[0] if getattr(score, "parts", None) else score
    bars = list(part.getElementsByClass("Measure"))
    signature, slips = None, 0
    for i, bar in enumerate(bars):
        if bar.timeSignature is not None and signature is not None and tune.count("M:") < 2 and bar.timeSignature.ratioString != signature.ratioString:
            return False  # music21 holds an overfull bar by inventing a metre change
        signature = bar.timeSignature or signature
        if signature is None:
            return False
        full, length = signature.barDuration.quarterLength, bar.duration.quarterLength
        if length == 0:  # an empty bar between two bar lines ("| |"): nothing to time
            continue
        if length > full + 1e-6:
            return False
        edge = i in (0, len(bars) - 1) or bar.leftBarline is not None or bar.rightBarline is not None
        edge = edge or bars[i - 1].rightBarline is not None or (i + 1 < len(bars) and bars[i + 1].leftBarline is not None)
        slips += length < full - 1e-6 and not edge
    return bool(bars) and slips <= SLIPS
