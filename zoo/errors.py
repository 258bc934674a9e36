"""User-facing errors. Only the CLI turns these into click errors; library callers catch them."""
from __future__ import annotations


class ZooError(Exception):
    """Something a user can fix, outside their command line: missing data, a corrupted checkpoint.

    The message is one line that names the problem and, where there is one, the fix.
    The CLI exits with `exit_code` and prints no traceback.
    """

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)


class UsageError(ZooError):
    """The command itself is wrong: unknown preset, bad override, bad option value. Exit code 2."""

    exit_code = 2


class Skipped(UsageError):
    """One input of many that cannot be used (a clip too short or silent): a batch job skips it and counts
    it, and fails with this message only when nothing else was usable."""
