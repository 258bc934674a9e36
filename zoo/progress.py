"""Progress for one-off waits (a feature network's first training, parsing a corpus, decoding a folder).

On a terminal it is a tqdm bar. Anywhere else (a log file, CI, a notebook's captured stderr) a bar's
carriage-return updates would flood the log, so it prints a plain line every 10% of the work or every
30 seconds, whichever comes first, with an ETA:

    training the mnist feature network: 40% (750/1875 steps), ETA 1m10s
"""
from __future__ import annotations

import math
import sys
import time
from types import TracebackType
from typing import Any, Iterable, Iterator, TextIO, TypeVar

T = TypeVar("T")


def duration(seconds: float) -> str:
    """`75` -> "1m15s": short enough for a progress line."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Progress:
    """Counts work towards `total`; a context manager. `delay` seconds pass before anything is shown,
    so a wait that turns out short (a small folder) prints nothing."""

    def __init__(self, total: int, desc: str, unit: str = "steps", *, file: TextIO | None = None, disable: bool = False,
                 every_fraction: float = 0.1, every_seconds: float = 30.0, delay: float = 0.0) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.file = file if file is not None else sys.stderr
        self.disable = disable or total <= 0
        self.every_fraction, self.every_seconds, self.delay = every_fraction, every_seconds, delay
        self.done, self.lines = 0, 0
        self.started = self.last_line = time.perf_counter()
        self.next_fraction = every_fraction
        self.bar: Any = None
        if not self.disable and _isatty(self.file):
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit=unit, file=self.file, delay=delay, leave=False, dynamic_ncols=True)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.disable:
            return
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.perf_counter()
        fraction = self.done / self.total
        due = fraction >= self.next_fraction or now - self.last_line >= self.every_seconds
        if due and self.done < self.total and now - self.started >= self.delay:
            elapsed = now - self.started
            eta = elapsed / self.done * (self.total - self.done)
            self._print(f"{self.desc}: {100 * fraction:.0f}% ({self.done}/{self.total} {self.unit}), ETA {duration(eta)}")
            self.last_line = now
        if fraction >= self.next_fraction:
            self.next_fraction = (math.floor(fraction / self.every_fraction) + 1) * self.every_fraction

    def each(self, items: Iterable[T]) -> Iterator[T]:
        """`items` one by one, each counted as done when the loop asks for the next (so a `continue` counts too)."""
        for item in items:
            yield item
            self.update()

    def close(self) -> None:
        """Close the bar; in plain mode, a last line when earlier lines were printed (the log then says it ended)."""
        if self.bar is not None:
            self.bar.close()
        elif self.lines and self.done >= self.total:
            self._print(f"{self.desc}: done, {self.total} {self.unit} in {duration(time.perf_counter() - self.started)}")

    def _print(self, line: str) -> None:
        print(line, file=self.file, flush=True)
        self.lines += 1

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()


def _isatty(file: TextIO) -> bool:
    try:
        return file.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False
