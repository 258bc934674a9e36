"""A sweep folder's part of the report: the trials table, the best trial, and Optuna's parameter-importance
and optimisation-history plots (optuna.visualization.matplotlib, as PNG)."""
from __future__ import annotations

import io
import os
from pathlib import Path

from zoo.report.html import esc, facts, img, note, table
from zoo.sweep import SWEEP_FILE, Sweep, redact


def is_sweep(folder: str | os.PathLike[str]) -> bool:
    return (Path(folder) / SWEEP_FILE).is_file()


def sweep_plots(study: object) -> dict[str, bytes]:
    """{"importance": PNG, "history": PNG}; importance needs two complete trials, so it may be missing."""
    import warnings

    import optuna.visualization.matplotlib as ovm
    from optuna.exceptions import ExperimentalWarning

    from zoo.report.plots import _pyplot

    plt = _pyplot()
    out = {}
    for name, draw in (("history", ovm.plot_optimization_history), ("importance", ovm.plot_param_importances)):
        try:
            with warnings.catch_warnings(), plt.rc_context():  # optuna switches to its ggplot style: only for this plot
                warnings.simplefilter("ignore", ExperimentalWarning)  # experimental since Optuna 2.2; stable enough to show
                ax = draw(study)
        except (ValueError, RuntimeError):  # too few complete trials to rank parameters
            continue
        fig = ax.figure
        fig.set_size_inches(6.4, 3.6)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
        plt.close(fig)
        out[name] = buf.getvalue()
    return out


def sweep_section(index: int, folder: str | os.PathLike[str]) -> str:
    """One sweep: what it searches, its trials and best trial, and the two plots."""
    sweep = Sweep.open(folder)
    study = sweep.study()
    attrs = study.user_attrs.get("zoo", {})
    best = sweep.best()
    headers, rows = sweep.rows()
    parts = [f'<h2 id="sweep-{index}">{esc(sweep.path.name)} <span class="muted">· sweep of {esc(attrs.get("preset", "?"))}</span></h2>']
    parts.append(facts([
        ("folder", esc(sweep.path.resolve())),
        ("study", esc(f"{sweep.study_name} in {redact(sweep.storage)}")),
        ("objective", esc(f"{study.direction.name.lower()} {attrs.get('metric', '?')}")),
        ("search space", esc(", ".join(f"{k} ~ {v}" for k, v in attrs.get("space", {}).items()))),
        ("fixed overrides", esc(", ".join(f"{k}={v}" for k, v in attrs.get("overrides", {}).items()) or "none")),
        ("best", esc(f"trial {best.number}: {best.value:.4g} ({', '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}' for k, v in best.params.items())}), run {best.user_attrs.get('run')}") if best else "no trial has completed yet"),
    ]))
    parts.append("<h3>Trials</h3>" + table([esc(h) for h in headers], [[esc(c) for c in row] for row in rows], numeric_from=2))
    plots = sweep_plots(study)
    if "importance" not in plots:
        parts.append(note("parameter importance needs at least two complete trials"))
    parts.append('<div class="grid">' + "".join(img(png, f"{name} plot", width=480) for name, png in plots.items()) + "</div>")
    return "\n".join(parts)
