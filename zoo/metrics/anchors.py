"""Quality anchors: expected metric values a preset declares, checked by `zoo evaluate RUN --check`.

    eval:
      anchors:
        fid: {value: 12.0, tolerance: 3.0, budget: "2000 steps, batch 64, CPU"}

An anchor is one-sided: a lower-is-better value (fid, kid) misses when it exceeds value + tolerance,
a higher-is-better one (precision, inception_score) when it falls below value - tolerance. The
direction comes from the metric's declared `higher_is_better` (zoo.evaluation.Metric), or from the
anchor's own `higher_is_better: true|false` (needed for a family's own numbers, such as test_elbo).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from zoo.errors import UsageError

ANCHOR_KEYS = ("value", "tolerance", "budget", "higher_is_better")


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
