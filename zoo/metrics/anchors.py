"""Quality anchors: expected metric values a preset declares, checked by `zoo evaluate RUN --check`.

    eval:
      anchors:
        fid: {value: 12.0, tolerance: 3.0, budget: "2000 steps, batch 64, CPU"}

An anchor is one-sided: a lower-is-better value (fid, kid) misses when it exceeds value + tolerance,
a higher-is-better one (precision, inception_score) when it falls below value - tolerance. The
direction comes from the metric's declared `higher_is_better` (zoo.evaluation.Metric), or from the
anchor's own `higher_is_better: true|false` (needed for a family's own numbers, such as test_elbo).

An anchor holds only for what it was measured on: the preset's data, model and training budget. A run
on `--data`, a shortened one, or one whose overrides change the model or data is "not comparable"
(`not_comparable` says why): `--check`, `zoo report` and `zoo compare` show that instead of a miss.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zoo.errors import UsageError, ZooError

if TYPE_CHECKING:
    from zoo.presets import RunConfig

ANCHOR_KEYS = ("value", "tolerance", "budget", "higher_is_better")
# Training settings that change how a run is watched or how fast it goes, not what it learns.
UNSCORED_TRAIN = ("log_every", "sample_every", "eval_every", "checkpoint_every", "keep_checkpoints", "num_preview", "loggers",
                  "stop_on_nan", "fused_optimizer", "find_unused_parameters")
SHOWN_CHANGES = 3  # overrides named in a reason; the rest are counted


@dataclass(frozen=True)
class Anchor:
    key: str  # a value name, as `zoo evaluate` prints it (fid, kid, precision, ...)
    value: float
    tolerance: float
    budget: str
    higher_is_better: bool

    def misses(self, got: float) -> bool:
        if not math.isfinite(got):
            return True
        return got < self.value - self.tolerance if self.higher_is_better else got > self.value + self.tolerance

    def describe(self, got: float | None) -> str:
        if got is None:
            return f"{self.key} was not computed (its anchor is {self.value:g}; add its metric to --metrics)"
        bound = f">= {self.value - self.tolerance:g}" if self.higher_is_better else f"<= {self.value + self.tolerance:g}"
        budget = f", measured at {self.budget}" if self.budget else ""
        return f"{self.key} = {got:.4g}, anchor {self.value:g} ± {self.tolerance:g} needs {bound}{budget}"


def metric_directions(metric_names: list[str]) -> dict[str, bool]:
    """Value name -> higher is better, from the registered metrics' declared `higher_is_better`."""
    from zoo.evaluation import load_metric

    out: dict[str, bool] = {}
    for name in metric_names:
        out.update(load_metric(name).directions())
    return out


def parse_anchors(raw: dict[str, Any], directions: dict[str, bool], preset: str = "?") -> list[Anchor]:
    """Check a preset's `eval.anchors` mapping; a malformed anchor is one usage error naming it."""
    anchors = []
    for key, spec in raw.items():
        where = f"preset {preset!r} eval.anchors.{key}"
        if not isinstance(spec, dict):
            raise UsageError(f"{where} must be a mapping {{value, tolerance, budget}}, got {spec!r}")
        unknown = sorted(set(spec) - set(ANCHOR_KEYS))
        if unknown:
            raise UsageError(f"{where} has unknown keys {unknown}; valid: {', '.join(ANCHOR_KEYS)}")
        value, tolerance = spec.get("value"), spec.get("tolerance", 0.0)
        for field, number in (("value", value), ("tolerance", tolerance)):
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
                raise UsageError(f"{where}.{field} must be a number, got {number!r}")
        if tolerance < 0:
            raise UsageError(f"{where}.tolerance must be >= 0, got {tolerance}")
        higher = spec.get("higher_is_better", directions.get(key))
        if not isinstance(higher, bool):
            raise UsageError(f"{where}: no metric says whether higher {key} is better; add higher_is_better: true or false to the anchor")
        anchors.append(Anchor(key, float(value), float(tolerance), str(spec.get("budget", "")), higher))
    return anchors


def check_anchors(anchors: list[Anchor], values: dict[str, float]) -> list[str]:
    """One line per anchor the values miss (an anchored value that was not computed misses too)."""
    return [a.describe(values.get(a.key)) for a in anchors if a.key not in values or a.misses(values[a.key])]


def run_anchors(config: "RunConfig", metrics: list[str] | None = None) -> list[Anchor]:
    """The anchors a run's preset declares, their directions from its metrics (and `metrics`, asked for now)."""
    if not config.eval.anchors:
        return []
    directions = metric_directions(list(dict.fromkeys([*config.eval.metrics, *(metrics or [])])))
    return parse_anchors(config.eval.anchors, directions, config.preset)


def not_comparable(config: "RunConfig", step: int | None = None) -> str | None:
    """Why the preset's anchors do not apply to this run (own data, another budget, overrides that change
    the model or data, an evaluation before the last step), or None when they do. `step`: the step evaluated."""
    from zoo.config import to_dict
    from zoo.presets import resolve

    try:
        preset = resolve(config.preset)
    except ZooError:
        return f"preset {config.preset!r} is not installed here"
    reasons = []
    own = bool(getattr(config.data, "path", "")) or config.data.dataset != preset.data.dataset
    if own:
        reasons.append("own data")
    if config.train.steps != preset.train.steps:
        reasons.append(f"{'shortened' if config.train.steps < preset.train.steps else 'lengthened'}: {config.train.steps} of the preset's {preset.train.steps} steps")
    elif step is not None and config.train.epochs is None and step < config.train.steps:
        reasons.append(f"evaluated at step {step} of {config.train.steps}")
    changed = []
    for section in ("model", "train") if own else ("model", "data", "train"):
        ours, theirs = to_dict(getattr(config, section)), to_dict(getattr(preset, section))
        changed += [f"{section}.{key}={value} (preset {theirs.get(key)})" for key, value in ours.items()
                    if value != theirs.get(key) and key != "steps" and not (section == "train" and key in UNSCORED_TRAIN)]
    if changed:
        more = f" and {len(changed) - SHOWN_CHANGES} more" if len(changed) > SHOWN_CHANGES else ""
        reasons.append("overrides " + ", ".join(changed[:SHOWN_CHANGES]) + more)
    return "; ".join(reasons) or None


@dataclass(frozen=True)
class Verdict:
    """One anchor checked against a run's latest scores, as `zoo evaluate --check` checks it."""

    anchor: Anchor
    got: float | None
    reason: str | None = None  # why the anchor does not apply to the run (not_comparable)

    @property
    def status(self) -> str:
        if self.reason:
            return "not comparable"
        if self.got is None:
            return "not computed"
        return "missed" if self.anchor.misses(self.got) else "met"


def run_verdicts(config: "RunConfig", values: dict[str, float], step: int | None = None) -> list[Verdict]:
    """Each of the preset's anchors against `values` (scores of the checkpoint at `step`)."""
    anchors = run_anchors(config)
    reason = not_comparable(config, step) if anchors else None
    return [Verdict(a, values.get(a.key), reason) for a in anchors]


def summarize(verdicts: list[Verdict], evaluated: bool = True) -> str:
    """One table cell for a run's anchors: met / missed counts, or why they do not apply."""
    if not verdicts or not evaluated:
        return "-"
    if verdicts[0].reason:
        return f"not comparable ({verdicts[0].reason})"
    missed = sum(v.status != "met" for v in verdicts)
    return f"missed {missed} of {len(verdicts)}" if missed else f"met {len(verdicts)} of {len(verdicts)}"
