"""`zoo compare`: runs' latest evaluation side by side, one column per reported value.

Each value carries the protocol of the metric that produced it (summary.json "protocol"). Values go
in one column only when their protocols agree on everything but timing, unless mixing is asked for.
Any run may be listed: one not evaluated yet is a row of dashes with a footnote. Each row says what the
run trained on (the dataset, or the `--data` path) and for how many steps, and how it stands against
its preset's quality anchors (met, missed, or not comparable and why).
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
    data: str  # the registered dataset's name, or the path of the run's own data (`--data`)
    steps: int | None  # steps trained
    step: int | None  # the checkpoint step evaluated
    values: dict[str, float]  # empty: not evaluated yet
    protocols: dict[str, dict[str, Any]]  # value name -> its metric's protocol
    anchors: str = "-"  # how the scores stand against the preset's anchors (zoo.metrics.anchors.summarize)

    def protocol(self, key: str) -> dict[str, Any]:
        return {k: v for k, v in self.protocols.get(key, {}).items() if k not in NOT_PROTOCOL}


def _number(value: int | None) -> str:
    return "-" if value is None else str(value)


@dataclass
class Comparison:
    runs: list[RunScores]
    columns: list[str]
    mixed: dict[str, list[str]] = field(default_factory=dict)  # column -> protocol fields that differ

    FACTS = ("run", "preset", "data", "steps", "eval step")  # the columns before the scores; the first three are text

    def cell(self, run: RunScores, column: str) -> str:
        value = run.values.get(column)
        return "-" if value is None else f"{value:.4g}"

    @property
    def anchored(self) -> bool:
        """Whether any run's preset declares anchors (else the anchors column is left out)."""
        return any(r.anchors != "-" for r in self.runs)

    def rows(self) -> tuple[list[str], list[list[str]]]:
        headers = [*self.FACTS, *(f"{c}*" if c in self.mixed else c for c in self.columns)] + (["anchors"] if self.anchored else [])
        rows = [[r.path, r.preset, r.data, _number(r.steps), _number(r.step), *(self.cell(r, c) for c in self.columns)]
                + ([r.anchors] if self.anchored else []) for r in self.runs]
        return headers, rows

    def markdown(self) -> str:
        headers, rows = self.rows()
        text = {0, 1, 2, len(headers) - 1} if self.anchored else {0, 1, 2}
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" if i in text else "---:" for i in range(len(headers))) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines + self.footnotes())

    def footnotes(self) -> list[str]:
        notes = [f"\n* {c}: protocols differ in {', '.join(fields)}" for c, fields in self.mixed.items()]
        return notes + [f"\n{r.path} has no evaluation yet, so its scores are dashes: run `zoo evaluate {r.path}`" for r in self.runs if not r.values]

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "mixed_protocols": self.mixed,
            "runs": [{"run": r.path, "preset": r.preset, "data": r.data, "steps": r.steps, "step": r.step, "evaluated": bool(r.values),
                      "anchors": r.anchors, "eval": r.values, "protocol": {c: r.protocols.get(c, {}) for c in r.values}} for r in self.runs],
        }


def load_scores(run_dir: str | os.PathLike[str]) -> RunScores:
    """A run's latest evaluation from summary.json (none yet: no values), each value paired with its metric's protocol."""
    from zoo.metrics.anchors import run_verdicts, summarize

    run = Run.open(run_dir)
    summary = run.summary()
    values = {k: float(v) for k, v in (summary.get("eval") or {}).items()}
    protocols: dict[str, dict[str, Any]] = {}
    for metric, proto in (summary.get("protocol") or {}).items():
        for key in proto.get("values", [metric]):
            protocols[key] = proto
    try:
        anchors = summarize(run_verdicts(run.config, values, summary.get("eval_step")), evaluated=bool(values))
    except ZooError as err:  # a malformed anchor is the preset's problem; the scores still compare
        anchors = f"unreadable: {err}"
    return RunScores(str(run_dir), run.config.preset, run.config.data_source, summary.get("step"), summary.get("eval_step"), values, protocols, anchors)


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
