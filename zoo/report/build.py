"""The report page: per-modality comparisons (several runs), then one section per run.

Everything is embedded (PNG/SVG/WAV as data: URIs), so the single file opens offline in any browser.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import yaml

from zoo.errors import UsageError, ZooError
from zoo.metrics.anchors import Anchor
from zoo.metrics.compare import NOT_PROTOCOL
from zoo.report.collect import RunView, collect
from zoo.report.html import esc, facts, img, note, page, samples_html, shown_width, table
from zoo.samples import AudioSamples, TextSamples, atomic_write_bytes

DEFAULT_SAMPLES = {"image": 64, "audio": 6, "text": 4, "music": 4}
HISTORY = 12  # previews shown in an image run's history strip


def write_report(
    run_dirs: list[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    samples: int | None = None,
    seed: int = 0,
    mixed_protocols: bool = False,
    device: str = "cpu",
) -> Path:
    """Write the report on `run_dirs` to `out` (one HTML file); returns its path.

    `samples`: how many to draw from each run's latest checkpoint (default by modality; 0 shows the
    latest preview instead). `mixed_protocols`: as `zoo compare --mixed-protocols`."""
    if not run_dirs:
        raise UsageError("name at least one run directory to report on")
    if samples is not None and samples < 0:
        raise UsageError(f"--samples must be 0 or more, got {samples}")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("zoo report draws its curves with matplotlib, which is not installed; pip install 'genzoo[report]'") from None
    from zoo.report.sweep import is_sweep, sweep_section

    sweeps = [d for d in run_dirs if is_sweep(d)]  # a sweep folder: its trials table and plots
    views = [collect(d) for d in run_dirs if d not in sweeps]
    labels = run_labels(views)
    body = [f"<h1>zoo report</h1><p class=\"muted\">{len(views)} run{'s' * (len(views) != 1)} · written {time.strftime('%Y-%m-%d %H:%M')}</p>", nav(views, labels)]
    body += [sweep_section(i, d) for i, d in enumerate(sweeps)]
    groups = by_modality(views)
    for modality, group in groups.items():  # one section per modality when runs of several are mixed
        if len(groups) > 1:
            body.append(f'<h1 id="modality-{esc(modality)}" class="modality">{esc(modality.capitalize())} runs ({len(group)})</h1>')
        if len(group) > 1:
            body.append(comparison_section(modality, group, labels, mixed_protocols))
        body += [run_section(views.index(view), view, samples, seed, device) for view in group]
    body.append(footer())
    out = Path(out)
    atomic_write_bytes(out, page("zoo report: " + ", ".join([*(Path(d).name for d in sweeps), *(labels[id(v)] for v in views)]), "\n".join(body)).encode())
    return out


def run_labels(views: list[RunView]) -> dict[int, str]:
    """Short names for legends and headings: the folder name, or more of the path where names repeat."""
    names = [v.name for v in views]
    return {id(v): v.name if names.count(v.name) == 1 else str(v.path) for v in views}


def by_modality(views: list[RunView]) -> dict[str, list[RunView]]:
    groups: dict[str, list[RunView]] = {}
    for view in views:
        groups.setdefault(view.modality, []).append(view)
    return groups


def nav(views: list[RunView], labels: dict[int, str]) -> str:
    links = "".join(f'<a href="#run-{i}">{esc(labels[id(v)])}</a>' for i, v in enumerate(views))
    return f"<nav>{links}</nav>"


# ---- several runs ------------------------------------------------------------------------------
def comparison_section(modality: str, group: list[RunView], labels: dict[int, str], mixed_protocols: bool) -> str:
    from zoo.metrics.compare import compare
    from zoo.report.plots import curve_svg

    parts = [f'<h2 id="compare-{esc(modality)}">Comparison of {len(group)} {esc(modality)} runs</h2>']
    try:
        comparison = compare([str(v.path) for v in group], mixed_protocols)
    except ZooError as err:  # mixed protocols: refused as `zoo compare` refuses them
        parts.append(note(f"scores not compared: {err}", "error"))
    else:  # unevaluated runs are rows of dashes, with a footnote each
        headers, rows = comparison.rows()
        parts.append(table([esc(h) for h in headers], [[esc(c) for c in row] for row in rows], numeric_from=3))
        parts += [f'<p class="small muted">{esc(line.strip())}</p>' for line in comparison.footnotes()]
    charts = []
    for key in dict.fromkeys(k for v in group for k in v.scalars):
        charts.append(img(curve_svg(key, {labels[id(v)]: v.scalars[key] for v in group if key in v.scalars}), f"{key} over steps", "image/svg+xml", "plot"))
    for key in dict.fromkeys(k for v in group for k in v.evals):
        anchors = {}
        for v in group:
            anchor = v.anchor(key)
            if anchor is not None:
                anchors.setdefault((anchor.value, anchor.tolerance, anchor.higher_is_better), (f"{v.run.config.preset} ", anchor))
        lines = {labels[id(v)]: v.evals[key] for v in group if key in v.evals}
        charts.append(img(curve_svg(f"eval: {key}", lines, list(anchors.values()), markers=True), f"{key} over steps", "image/svg+xml", "plot"))
    if charts:
        parts.append('<h3>Curves, overlaid</h3><div class="grid">' + "".join(charts) + "</div>")
    return "\n".join(parts)


# ---- one run -----------------------------------------------------------------------------------
def run_section(index: int, view: RunView, samples: int | None, seed: int, device: str) -> str:
    config = view.run.config
    parts = [f'<h2 id="run-{index}">{esc(view.name)} <span class="muted">· {esc(config.preset)}</span></h2>']
    parts += [note(text) for text in view.missing]
    parts.append(facts(run_facts(view)))
    parts.append("<h3>Provenance</h3>" + provenance_html(view.summary.get("provenance")))
    parts.append(config_html(view))
    parts.append("<h3>Samples</h3>" + samples_block(view, samples, seed, device))
    if view.previews and view.previews[-1][1].suffix == ".png":
        parts.append("<h3>Preview history</h3>" + history_strip(view))
    parts.append("<h3>Evaluation</h3>" + evaluation_html(view))
    parts.append("<h3>Training curves</h3>" + training_curves(view))
    return "\n".join(parts)


def run_facts(view: RunView) -> list[tuple[str, str]]:
    config, summary = view.run.config, view.summary
    data = {k: v for k, v in vars(config.data).items() if k != "dataset" and v not in ("", None)}  # unset options say nothing
    steps = summary.get("step")
    total = summary.get("total_steps", config.train.steps)
    return [
        ("run", esc(view.path.resolve())),
        ("preset", esc(config.preset) + (f' <span class="muted">— {esc(config.description)}</span>' if config.description else "")),
        ("family", esc(config.family)),
        ("modality", esc(view.modality)),
        ("dataset", esc(config.data.dataset or "-") + f' <span class="muted small">{esc(", ".join(f"{k}={v}" for k, v in data.items()))}</span>'),
        ("status", esc(summary.get("status", "not recorded yet"))),
        ("steps", esc(f"{steps} of {total}" if steps is not None else f"none logged yet (of {total})")),
        ("training time", esc(duration(summary.get("train_seconds")))),
        ("seed", esc(config.seed)),
        ("checkpoint", esc(view.checkpoint.name if view.checkpoint else "none yet")),
        ("weights' EMA", esc(f"decay {config.train.ema_decay}" if config.train.ema_decay else "off")),
        ("loggers", esc(", ".join(config.train.loggers) or "none")),
        ("last updated", esc(summary.get("updated", "-"))),
    ]


def duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "not recorded yet"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s"


def provenance_html(prov: dict[str, Any] | None) -> str:
    if not prov:
        return note("not recorded: this run was trained by a zoo that did not record versions yet")
    plugins = ", ".join(f"{k} {v}" for k, v in (prov.get("plugins") or {}).items())
    return facts([
        ("zoo", esc(prov.get("zoo", "?"))), ("python", esc(prov.get("python", "?"))), ("torch", esc(prov.get("torch", "?"))),
        ("plugins", esc(plugins or "-")), ("git commit", esc(prov.get("git_commit", "not a git checkout"))),
    ])


def config_html(view: RunView) -> str:
    resolved = yaml.safe_dump(view.run.config.to_dict(), sort_keys=False)
    info = yaml.safe_dump({k: _short(v) for k, v in view.run.info.items()}, sort_keys=False) if view.run.info else "{}\n"
    return (
        f'<details><summary>Resolved config</summary><pre class="config">{esc(resolved)}</pre>'
        f'<p class="small muted">data info the model was built from</p><pre class="config">{esc(info)}</pre></details>'
    )


def _short(value: Any) -> Any:
    """Long lists (per-bin statistics) as a count, so the config stays readable."""
    return f"[{len(value)} values]" if isinstance(value, list) and len(value) > 16 else value


def samples_block(view: RunView, n: int | None, seed: int, device: str) -> str:
    """Fresh samples from the latest checkpoint; else the latest preview; else what is missing."""
    if view.checkpoint is not None and n != 0:
        from zoo.api import sample

        count = n or DEFAULT_SAMPLES.get(view.modality, 16)
        try:
            drawn = sample(view.path, count, seed=seed, device=device)
        except ZooError as err:
            return note(f"cannot draw samples: {err}", "error")
        except Exception as err:  # a family's bug: the rest of the report is still worth having
            return note(f"drawing samples failed: {type(err).__name__}: {err}", "error")
        what = f"{len(drawn) // 3} test items as source | output | target" if drawn.meta.get("mode") == "translate" else f"{len(drawn)} samples"
        caption = f"{what} from checkpoint step {drawn.meta.get('checkpoint_step')} ({drawn.meta.get('weights')} weights), seed {seed}"
        return f'<p class="small muted">{esc(caption)}</p>' + samples_html(drawn)
    if view.previews:
        step, file = view.previews[-1]
        return f'<p class="small muted">{esc(f"the latest preview, step {step} ({file.name})")}</p>' + preview_html(file, view.modality)
    return note("no samples: no checkpoint and no preview yet")


def preview_html(file: Path, modality: str) -> str:
    if file.suffix == ".png":  # image grids, music's piano rolls
        return img(file.read_bytes(), file.name, cls="samples", width=shown_width(file.read_bytes()))
    if file.suffix == ".gif":  # video previews: the clips tiled into one animation
        return img(file.read_bytes(), file.name, mime="image/gif", cls="samples")
    if modality == "audio":
        import torch
        from scipy.io import wavfile

        rate, pcm = wavfile.read(file)
        wave = torch.from_numpy(pcm.astype("float32") / 32768.0)  # the preview's clips, one after another
        return AudioSamples(wave[None], int(rate))._repr_html_()
    return TextSamples(file.read_text().split("\n\n" + "-" * 40 + "\n\n"))._repr_html_()


def history_strip(view: RunView) -> str:
    previews = view.previews
    if len(previews) > HISTORY:  # evenly spaced, always ending with the newest
        picks = sorted({round(i * (len(previews) - 1) / (HISTORY - 1)) for i in range(HISTORY)})
        previews = [previews[i] for i in picks]
    figures = "".join(f"<figure>{img(file.read_bytes(), f'preview at step {step}', mime='image/' + file.suffix.lstrip('.'))}<figcaption class=\"small\">step {step}</figcaption></figure>" for step, file in previews)
    more = f'<p class="small muted">{len(previews)} of {len(view.previews)} previews</p>' if len(previews) < len(view.previews) else ""
    return f'<div class="strip">{figures}</div>{more}'


def evaluation_html(view: RunView) -> str:
    from zoo.report.plots import curve_svg

    parts = []
    latest = view.latest
    if latest:
        verdicts = {v.anchor.key: v for v in view.verdicts}
        rows = []
        for key, value in latest.items():
            verdict = verdicts.get(key)
            rows.append([esc(key), f"{value:.4g}", protocol_html(view.protocols.get(key, {})), esc(anchor_text(verdict.anchor)) if verdict else "-", verdict_html(verdict.status) if verdict else "no anchor"])
        for verdict in (v for v in view.verdicts if v.anchor.key not in latest):
            rows.append([esc(verdict.anchor.key), "-", "-", esc(anchor_text(verdict.anchor)), verdict_html(verdict.status)])
        parts.append(f'<p class="small muted">latest evaluation: checkpoint step {esc(view.summary.get("eval_step", "?"))}</p>')
        parts.append(table(["value", "score", "protocol", "anchor", "--check"], rows))
    if view.verdicts and view.verdicts[0].reason:
        parts.append(f'<p>zoo evaluate --check: {verdict_html("not comparable")} ({esc(view.verdicts[0].reason)}): '
                     "the preset's anchors were measured on its own data and budget, so they are not checked</p>")
    elif view.verdicts and not latest:
        parts.append("<p>anchors to meet once evaluated: " + esc("; ".join(f"{v.anchor.key}: {anchor_text(v.anchor)}" for v in view.verdicts)) + "</p>")
    elif view.verdicts:
        misses = [v for v in view.verdicts if v.status != "met"]
        parts.append(
            f'<p>zoo evaluate --check: {verdict_html("missed")} {len(misses)} of {len(view.verdicts)} quality anchors</p>' if misses
            else f'<p>zoo evaluate --check: {verdict_html("met")} all {len(view.verdicts)} quality anchors</p>'
        )
    if view.anchor_error:
        parts.append(note(view.anchor_error, "error"))
    if not latest:
        parts.append(note("no evaluation yet"))
    charts = [
        img(curve_svg(f"eval: {key}", {view.name: points}, [("", a)] if (a := view.anchor(key)) else None, markers=True), f"{key} over steps", "image/svg+xml", "plot")
        for key, points in view.evals.items()
    ]
    if charts:
        parts.append('<div class="grid">' + "".join(charts) + "</div>")
    return "\n".join(parts)


def anchor_text(anchor: Anchor) -> str:
    bound = f">= {anchor.value - anchor.tolerance:g}" if anchor.higher_is_better else f"<= {anchor.value + anchor.tolerance:g}"
    return f"{anchor.value:g} ± {anchor.tolerance:g}, needs {bound}" + (f" (measured at {anchor.budget})" if anchor.budget else "")


def protocol_html(protocol: dict[str, Any]) -> str:
    shown = {k: v for k, v in protocol.items() if k not in NOT_PROTOCOL}
    return '<span class="small">' + esc("; ".join(f"{k}={v}" for k, v in shown.items()) or "-") + "</span>"


def verdict_html(status: str) -> str:
    css = {"met": "met", "not comparable": "not-comparable"}.get(status, "missed")
    return f'<span class="{css}">{esc(status)}</span>'


def training_curves(view: RunView) -> str:
    from zoo.report.plots import curve_svg

    if not view.scalars:
        return note("no training log lines yet")
    charts = [img(curve_svg(key, {view.name: points}), f"{key} over steps", "image/svg+xml", "plot") for key, points in view.scalars.items()]
    return '<div class="grid">' + "".join(charts) + "</div>"


def footer() -> str:
    from zoo.provenance import zoo_version

    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = "?"
    return f'<p class="small muted" style="margin-top:40px">written by zoo {esc(zoo_version())} (torch {esc(torch_version)}); this file needs no network and no server</p>'
