"""What a run directory holds, gathered for the report: facts, logged scalars, evaluations over steps,
the latest scores with their protocols and anchor verdicts, previews. Missing pieces are recorded as
such (`missing`), never raised, except that a folder which is not a run at all is a usage error."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo import checkpoint
from zoo.errors import ZooError
from zoo.metrics.anchors import Anchor, Verdict
from zoo.registry import get_catalog
from zoo.run import Run
from zoo.samples import PREVIEW_SUFFIX

Series = list[tuple[int, float]]  # (step, value), in log order


@dataclass
class RunView:
    path: Path
    run: Run
    summary: dict[str, Any]
    modality: str
    scalars: dict[str, Series]  # training log keys (losses, lr, throughput)
    evals: dict[str, Series]  # evaluated value name -> its values over steps
    protocols: dict[str, dict[str, Any]]  # latest evaluation: value name -> its metric's protocol
    verdicts: list[Verdict]
    anchor_error: str | None
    previews: list[tuple[int, Path]]
    checkpoint: Path | None
    missing: list[str] = field(default_factory=list)  # what the run does not have yet, with what to do

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def latest(self) -> dict[str, float]:
        return {k: float(v) for k, v in (self.summary.get("eval") or {}).items()}

    def anchor(self, key: str) -> Anchor | None:
        return next((v.anchor for v in self.verdicts if v.anchor.key == key), None)


def collect(run_dir: str | os.PathLike[str]) -> RunView:
    """Read one run directory; raises UsageError only when `run_dir` is not a run."""
    run = Run.open(run_dir)
    summary = run.summary()
    modality = get_catalog().get("models", run.config.family).load().modality  # Run.open checked the family is installed
    scalars, evals = series(run.read_metrics())
    folder = checkpoint.latest(run.path)
    view = RunView(Path(run_dir), run, summary, modality, scalars, evals, latest_protocols(summary), [], None, list_previews(run.path, modality), folder)
    view.verdicts, view.anchor_error = verdicts(run, view.latest, summary.get("eval_step"))
    where = str(run_dir)
    if not summary:
        view.missing.append("no summary.json: training has not finished, or was stopped before its first log line")
    if folder is None:
        view.missing.append(f"no checkpoint yet: samples cannot be drawn (train it, or wait for its first checkpoint: `zoo train --resume {where}`)")
    if not scalars:
        view.missing.append("no training log lines yet (metrics.jsonl is empty)")
    if not view.latest:
        view.missing.append(f"no evaluation yet: run `zoo evaluate {where}`")
    return view


def series(records: list[dict[str, Any]]) -> tuple[dict[str, Series], dict[str, Series]]:
    """Training scalars and evaluated values over steps, from metrics.jsonl records."""
    scalars: dict[str, Series] = {}
    evals: dict[str, Series] = {}
    for record in records:
        step = record.get("step")
        if not isinstance(step, int):
            continue
        if isinstance(record.get("eval"), dict):  # an evaluation with its protocols (training and zoo evaluate)
            for key, value in record["eval"].items():
                if _number(value):
                    evals.setdefault(key, []).append((step, float(value)))
            continue
        for key, value in record.items():  # "eval/..." keys repeat an evaluation in the training log
            if key != "step" and not key.startswith("eval/") and _number(value):
                scalars.setdefault(key, []).append((step, float(value)))
    return scalars, evals


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def latest_protocols(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Value name -> the protocol of the metric that produced it (a metric may report several values)."""
    out: dict[str, dict[str, Any]] = {}
    for metric, proto in (summary.get("protocol") or {}).items():
        for key in proto.get("values", [metric]):
            out[key] = proto
    return out


def verdicts(run: Run, values: dict[str, float], step: int | None) -> tuple[list[Verdict], str | None]:
    """The preset's anchors checked against `values` (scores at `step`), or why they could not be read."""
    from zoo.metrics.anchors import run_verdicts

    try:
        return run_verdicts(run.config, values, step), None
    except ZooError as err:
        return [], f"the preset's anchors cannot be checked: {err}"


def list_previews(path: Path, modality: str) -> list[tuple[int, Path]]:
    """(step, file) of the periodic previews under samples/, oldest first."""
    found = []
    for file in (path / "samples").glob("step_*"):
        stem = file.stem.removeprefix("step_")
        if file.suffix == PREVIEW_SUFFIX.get(modality) and stem.isdigit():
            found.append((int(stem), file))
    return sorted(found)
