"""`zoo compare`: runs' latest evaluation side by side, one column per reported value.

Each value carries the protocol of the metric that produced it (summary.json "protocol"). Values go
in one column only when their protocols agree on everything but timing, unless mixing is asked for.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import UsageError, ZooError
from zoo.run import Run

# Protocol entries that describe how long or how well a computation went, not what it measured.
NOT_PROTOCOL = ("seconds", "values", "regularized")


@dataclass
class RunScores:
    path: str
    preset: str
    step: int | None
    values: dict[str, float]
    protocols: dict[str, dict[str, Any]]  # value name -> its metric's protocol

    def protocol(self, key: str) -> dict[str, Any]:
        return {k: v for k, v in self.protocols.get(key, {}).items() if k not in NOT_PROTOCOL}


@dataclass
class Comparison:
    runs: list[RunScores]
    columns: list[str]
    mixed: dict[str, list[str]] = field(default_factory=dict)  # column -> protocol fields that differ

    def cell(self, run: RunScores, column: str) -> str:
        value = run.values.get(column)
        return "-" if value is None else f"{value:.4g}"

    def rows(self) -> tuple[list[str], list[list[str]]]:
        headers = ["run", "preset", "step"] + [f"{c}*" if c in self.mixed else c for c in self.columns]
        rows = [[r.path, r.preset, "-" if r.step is None else str(r.step)] + [self.cell(r, c) for c in self.columns] for r in self.runs]
        return headers, rows

    def markdown(self) -> str:
        headers, rows = self.rows()
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" if i < 2 else "---:" for i in range(len(headers))) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines + self.footnotes())

    def footnotes(self) -> list[str]:
        return [f"\n* {c}: protocols differ in {', '.join(fields)}" for c, fields in self.mixed.items()]

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "mixed_protocols": self.mixed,
            "runs": [{"run": r.path, "preset": r.preset, "step": r.step, "eval": r.values, "protocol": {c: r.protocols.get(c, {}) for c in r.values}} for r in self.runs],
        }


def load_scores(run_dir: str | os.PathLike[str]) -> RunScores:
    """A run's latest evaluation from summary.json, each value paired with its metric's protocol."""
    run = Run.open(run_dir)
    summary = run.summary()
    values = summary.get("eval") or {}
    if not values:
        raise ZooError(f"{run_dir} has no evaluation yet", hint=f"run `zoo evaluate {run_dir}` first")
    protocols: dict[str, dict[str, Any]] = {}
    for metric, proto in (summary.get("protocol") or {}).items():
        for key in proto.get("values", [metric]):
            protocols[key] = proto
    return RunScores(str(run_dir), run.config.preset, summary.get("eval_step"), {k: float(v) for k, v in values.items()}, protocols)


def differing_fields(protocols: list[dict[str, Any]]) -> list[str]:
    keys = sorted({k for p in protocols for k in p})
    return [k for k in keys if len({repr(p.get(k)) for p in protocols}) > 1]


def compare(run_dirs: list[str | os.PathLike[str]], mixed_protocols: bool = False) -> Comparison:
    """Line up the runs' values; refuse a column whose protocols differ unless `mixed_protocols`."""
    if not run_dirs:
        raise UsageError("name at least one run directory to compare")
    runs = [load_scores(d) for d in run_dirs]
    columns = list(dict.fromkeys(k for r in runs for k in r.values))
    comparison = Comparison(runs, columns)
    for column in columns:
        having = [r for r in runs if column in r.values]
        fields = differing_fields([r.protocol(column) for r in having])
        if not fields:
            continue
        if not mixed_protocols:
            example = fields[0]
            seen = ", ".join(f"{Path(r.path).name}: {r.protocol(column).get(example, 'absent')}" for r in having)
            raise UsageError(
                f"cannot put {column!r} in one column: its protocols differ in {', '.join(fields)} ({example}: {seen}); "
                "evaluate the runs the same way or pass --mixed-protocols"
            )
        comparison.mixed[column] = fields
    return comparison
