"""Option parsing shared by commands."""
from __future__ import annotations

from typing import Any

from zoo.config import parse_override


def parse_sets(values: tuple[str, ...]) -> dict[str, Any]:
    """Repeated `--set key=value` options as a dict (values parsed as YAML scalars)."""
    return dict(parse_override(v) for v in values)
