"""Metre-aware decoding for ABC text: a tracker of bar durations, character by character, that says
which next characters keep every bar within its metre (`zoo sample RUN --set constrain=metre`).

The tracker reads what a cleaned O'Neill tune holds (zoo_music.tunes): header lines M:, L:, K: and a
body of notes and rests (A-G a-g z x with accidentals ^ = _, octave marks ' and , and lengths such as
2, 3/2, /, //), broken rhythms (> <), ties, tuplets ((3 abc: p notes in the time of q), bar lines
(| || |] |: :| :: with ending numbers |1 :|2 [1) and M:/L:/K: lines inside the body. It masks:

    a note, rest or length digit that would overfill the bar (ABC notes are lengthened digit by digit,
        so "A" then "2" is two decisions, each checked against what is left of the bar);
    a bar line that closes a bar early, unless the bar is a pickup (the tune's or a section's first bar)
        or the bar line is a section's end (|| |] :| ::, and |: after a short bar): the short bars
        `tunes.metre_consistent` accepts at a section's edges;
    characters that break the syntax the tracker times by (a stray ], a lone digit, an unknown header).

A blank line ends a tune (its last bar may be short, as a section's end) and the next one starts with
its headers. Chords ([ceg]) and inline fields are not in the cleaned tunes and are masked.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import regex
import torch
from torch import Tensor

NOTES = frozenset("ABCDEFGabcdefgzx")
PITCHES = frozenset("ABCDEFGabcdefg")
ACCIDENTALS = frozenset("^=_")
OCTAVES = frozenset("',")
DIGITS = frozenset("0123456789")
BAR_CHARS = frozenset("|:]")
DENOMINATORS = ("2", "4", "8", "16")  # A/2 ... A/16
FIELDS = {  # what a header line may say, as cleaned tunes spell it; partial matches let a line grow
    "M": regex.compile(r"M:(C\|?|[1-9][0-9]?/[1-9][0-9]?)"),
    "L": regex.compile(r"L:1/[1-9][0-9]?"),
    "K": regex.compile(r"K:[A-G][#b]?(m|dor|mix|lyd|phr|loc)?"),
}
HEADER_CHARS = frozenset("0123456789/:|#bCABDEFGmdorixlyphc")


def metre_length(value: str) -> Fraction:
    """A bar's length in whole notes: M:6/8 -> 3/4, M:C -> 1, M:C| -> 1."""
    return Fraction(1) if value.startswith("C") else Fraction(value)


def default_unit(full: Fraction) -> Fraction:
    """ABC's default unit note length: 1/16 below a metre of 3/4, else 1/8."""
    return Fraction(1, 16) if full < Fraction(3, 4) else Fraction(1, 8)


def tuplet_ratio(p: int, full: Fraction, metre: str) -> Fraction:
    """q/p of the tuplet (p: p notes in the time of q (ABC 2.1: q is 3 for 2, 4, 8; 2 for 3, 6; n for
    5, 7, 9 is 3 in compound metres, else 2)."""
    compound = "/" in metre and int(metre.split("/")[0]) % 3 == 0 and int(metre.split("/")[0]) > 3
    q = {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}.get(p, 3 if compound else 2)
    return Fraction(q, p)


@dataclass
class Note:
    """The note (or rest) being written: its length so far is base · num / den · broken."""

    base: Fraction
    num: str = ""
    den: str = ""
    slashes: int = 0
    broken: Fraction = Fraction(1)
    paired: bool = False  # the second note of a broken rhythm

    @property
    def length(self) -> Fraction:
        num = int(self.num) if self.num else 1
        den = int(self.den) if self.den else 2 ** self.slashes
        return self.base * num / den * self.broken

    def with_digit(self, d: str) -> "Note":
        num, den = (self.num, self.den + d) if self.slashes else (self.num + d, self.den)
        return Note(self.base, num, den, self.slashes, self.broken, self.paired)


@dataclass
class MetreTracker:
    """One tune stream's state; `feed(char)` moves it on, `allowed()` lists the characters that may come next."""

    header: bool = True  # reading M:, L:, K: lines (a blank line starts the next tune here)
    line: str = ""  # the current line so far
    metre: str = ""
    full: Fraction = Fraction(0)  # bar length in whole notes (0: no M: yet)
    unit: Fraction | None = None
    fill: Fraction = Fraction(0)  # committed length of the current bar
    note: Note | None = None  # the note being written (its length may still grow)
    accidental: bool = False  # an accidental waits for its pitch
    tuplet_open: bool = False  # "(" waits for its number
    tuplet_left: int = 0
    tuplet: Fraction = Fraction(1)
    broken_next: Fraction = Fraction(1)
    barline: str = ""  # the bar line being written
    pickup: bool = True  # the current bar may be short: it starts the tune or a section
    short_close: bool = False  # a bar closed short with "|": only a section end (|| |] |:) may follow
    ending: bool = False  # "[" waits for an ending number
    masked_steps: int = field(default=0, compare=False)

    # ---- what the bar holds ---------------------------------------------------------------------
    @property
    def in_field(self) -> bool:
        """In a header line, or an M:, L: or K: line inside the body (no note is named M, L or K)."""
        return self.header or self.line[:1] in FIELDS

    @property
    def now(self) -> Fraction:
        return self.fill + (self.note.length if self.note else 0)

    def room(self, length: Fraction) -> bool:
        return self.now + length <= self.full

    def next_base(self) -> Fraction:
        return (self.unit or default_unit(self.full)) * (self.tuplet if self.tuplet_left else 1) * self.broken_next

    # ---- allowed next characters -----------------------------------------------------------------
    def allowed(self) -> set[str] | None:
        """The characters that keep the tune metrical; None: anything (no metre to keep)."""
        if self.in_field:
            return self.field_chars()
        if self.full == 0:
            return None
        if self.short_close:
            return {"|", "]", ":"} if self.line else {"\n"}  # a section's end (|| |] |:); a prompt's "|" + newline: the tune's
        if self.barline:
            return self.barline_chars()
        if self.tuplet_open:
            return {"2", "3", "4", "5", "6", "7", "9"}
        if self.ending:
            return {"1", "2"}
        if self.accidental:
            return set(ACCIDENTALS | PITCHES) if self.room(self.next_base() / 4) else set()
        if self.note is not None and self.now > self.full:  # a note too long as it stands: only shortening can save it
            return OCTAVES | ({"/"} if not self.note.den else set()) | ({d for d in DIGITS if self.digit_fits(d)} if self.note.slashes else set())
        out = {" ", "\n", "|", ":"}
        if not self.line:
            out |= {"M", "L", "K"}
        if self.fill == 0 and self.note is None:
            out.add("[")
        if self.room(self.next_base() / 4):  # a note may start where it fits shortened (A/ A//)
            out |= NOTES | ACCIDENTALS | {"("}
        if self.note is not None:
            out |= OCTAVES | {"-"} | ({"/"} if not self.note.den else set())  # A/ A// A/2, not A/2/
            out |= {d for d in DIGITS if self.digit_fits(d)}
            if not self.note.paired and self.note.broken == 1:  # no chains (a>b>c): music21 mis-times them
                length, nxt = self.note.length, self.next_base()
                if self.fill + length * Fraction(3, 2) + nxt / 8 <= self.full:  # the next note may be short (f/>e/)
                    out.add(">")
                if self.fill + length / 2 + nxt * Fraction(3, 8) <= self.full:
                    out.add("<")
        if self.broken_next != 1 and self.note is None and self.line[-1:] in "<>":
            out.add("-")  # a tie after a broken rhythm (d>-c)
        if (self.tuplet_left or self.broken_next != 1) and self.note is None:
            out -= {"|", ":", "\n", "["}  # a tuplet's notes, and a broken rhythm's pair, stay in one bar
        return out

    def digit_fits(self, d: str) -> bool:
        assert self.note is not None
        part = self.note.den if self.note.slashes else self.note.num
        if (not part and d in ("0", "1") and not self.note.slashes) or (not part and d == "0") or len(part) >= 2 or (self.note.slashes and (self.note.slashes > 1 or not any(q.startswith(part + d) for q in DENOMINATORS))):
            return False
        grown = self.note.with_digit(d)
        if self.note.slashes:  # a denominator: fits, or shortens a note still too long
            return self.fill + grown.length <= self.full or grown.length < self.note.length
        return self.fill + grown.length <= self.full  # strict, though B3/4 would fit: better "B" then "3/4" unasked than a note left to shorten

    def barline_chars(self) -> set[str]:
        out = {"|", "]", ":"} if len(self.barline) < 3 else set()
        if self.barline == ":":
            return {"|", ":"}
        if self.barline.endswith("|") and not any(c.isdigit() for c in self.barline):
            out |= {"1", "2"}
        if not self.barline.startswith(":") or "|" in self.barline or self.barline == "::":
            out |= {" ", "\n", "["} | NOTES | ACCIDENTALS | {"("}
        if any(c.isdigit() for c in self.barline):
            out = {" "} | NOTES | ACCIDENTALS | {"("}
        return out

    def field_chars(self) -> set[str]:
        """In a header or field line: what keeps it a prefix of a valid M:, L: or K: line (and ends it)."""
        if not self.line:
            if self.header:
                return ({"M"} if not self.metre else {"M", "L", "K"}) | ({"\n"} if not self.metre else set())
            return {"M", "L", "K"}
        pattern = FIELDS.get(self.line[0])
        if pattern is None:
            return set()
        out = {c for c in HEADER_CHARS if pattern.fullmatch(self.line + c, partial=True)}
        if pattern.fullmatch(self.line):
            out.add("\n")
        return out

    # ---- reading -----------------------------------------------------------------------------------
    def feed(self, c: str) -> None:
        """Move on by one character (any character: prompts are read as they are)."""
        if c == "\n":
            self.end_line()
            return
        if self.in_field or (not self.line and c in FIELDS):
            self.line += c
            return
        self.line += c
        if self.barline and (c in BAR_CHARS or (c in "12" and not any(ch.isdigit() for ch in self.barline))):
            self.barline += c
            self.short_close = False
            return
        if self.barline:
            self.end_barline()
        if c in ("|", ":"):
            self.close_bar(c)
        elif c == "[":
            self.commit()
            self.ending = True
        elif self.ending and c in DIGITS:
            self.ending, self.pickup = False, True
        elif self.tuplet_open and c in DIGITS:
            self.tuplet_open, self.tuplet_left = False, int(c)
            self.tuplet = tuplet_ratio(int(c), self.full, self.metre)
        elif c in ACCIDENTALS:
            if not self.accidental:
                self.commit()
            self.accidental = True
        elif c in NOTES:
            if not self.accidental:
                self.commit()
            self.accidental = False
            self.note = Note(self.next_base(), paired=self.broken_next != 1)
            self.broken_next = Fraction(1)
            self.tuplet_left = max(0, self.tuplet_left - 1)
        elif self.note is not None and c in DIGITS:
            self.note = self.note.with_digit(c)
        elif self.note is not None and c == "/":
            self.note = Note(self.note.base, self.note.num, self.note.den, self.note.slashes + 1, self.note.broken, self.note.paired)
        elif self.note is not None and c in "<>":
            self.note.broken = Fraction(3, 2) if c == ">" else Fraction(1, 2)
            self.broken_next = Fraction(1, 2) if c == ">" else Fraction(3, 2)
            self.commit()
        elif c == "(":
            self.commit()
            self.tuplet_open = True
        elif c not in OCTAVES and c != "-":
            self.commit()

    def commit(self) -> None:
        if self.note is not None:
            self.fill += self.note.length
            self.note = None

    def close_bar(self, c: str) -> None:
        """A bar line starts: an early close outside a pickup must become a section end."""
        self.commit()
        self.short_close = c == "|" and 0 < self.fill < self.full and not self.pickup
        self.barline = c

    def end_barline(self) -> None:
        """After a bar line: a new bar, which may be short when the bar line ended or started a section."""
        section = self.barline != "|"
        empty = self.fill == 0
        self.fill, self.short_close = Fraction(0), False
        self.pickup = section or (self.pickup and empty)
        self.barline = ""

    def end_line(self) -> None:
        if self.short_close and self.line:  # "|" then a line break closed a short bar: only the tune's end may follow
            self.line = ""
            return
        if self.in_field:
            self.read_field(self.line)
        elif not self.line and not self.header:  # a blank line: the tune is over
            self.__init__()  # type: ignore[misc]
            return
        else:
            if self.barline:
                self.end_barline()
            self.commit()
            self.accidental = False
        self.line = ""

    def read_field(self, line: str) -> None:
        if not line:
            return
        name, value = line[0], line[2:].strip()
        pattern = FIELDS.get(name)
        if pattern is None or not pattern.fullmatch(line.strip()):
            return
        if name == "M":
            self.metre, self.full = value, metre_length(value)
        elif name == "L":
            self.unit = Fraction(value)
        elif name == "K":
            self.header = False


def check_tune(text: str) -> list[str]:
    """The characters of `text` the tracker would have masked, in order (none: it keeps its metre)."""
    tracker, masked = MetreTracker(), []
    for c in text:
        allowed = tracker.allowed()
        if allowed is not None and c not in allowed:
            masked.append(c)
        tracker.feed(c)
    return masked


class MetreRule:
    """`zoo.nn.gpt.Steered`'s rule over a character vocabulary: one tracker per sample."""

    def __init__(self, vocab: list[str], n: int) -> None:
        self.vocab = vocab
        self.index = {c: i for i, c in enumerate(vocab) if len(c) == 1}
        self.trackers = [MetreTracker() for _ in range(n)]

    def observe(self, ids: Tensor) -> None:
        """Feed tokens N×k (the prompt, then each new token) to the trackers."""
        for tracker, row in zip(self.trackers, ids.tolist()):
            for i in row:
                for c in self.vocab[i]:
                    tracker.feed(c)

    def allowed(self, device: torch.device) -> Tensor:
        """N×V bool: the tokens each sample may take next (all, where a tracker allows nothing it knows)."""
        mask = torch.zeros(len(self.trackers), len(self.vocab), dtype=torch.bool)
        for row, tracker in enumerate(self.trackers):
            chars = tracker.allowed()
            ids = [self.index[c] for c in chars if c in self.index] if chars is not None else None
            if ids:
                mask[row, ids] = True
            else:
                mask[row] = True
        return mask.to(device)


def metre_rule(vocab: list[str], n: int) -> MetreRule:
    return MetreRule(vocab, n)
