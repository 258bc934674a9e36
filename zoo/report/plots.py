"""Curves drawn with matplotlib (headless Agg), returned as SVG bytes for <img> data URIs.

Each chart is its own SVG document, so the ids matplotlib writes never clash inside one page.
"""
from __future__ import annotations

import io

from zoo.metrics.anchors import Anchor
from zoo.report.collect import Series

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    matplotlib.rcParams["svg.hashsalt"] = "zoo"  # the same run gives the same file
    import matplotlib.pyplot as plt

    return plt


def curve_svg(title: str, lines: dict[str, Series], anchors: list[tuple[str, Anchor]] | None = None, *, markers: bool = False) -> bytes:
    """One chart: a line per entry of `lines` (label -> (step, value) pairs); each anchor as a dashed
    line at its value and a dotted one at the bound `zoo evaluate --check` applies."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(4.8, 2.9), dpi=100)
    try:
        for i, (label, points) in enumerate(lines.items()):
            steps = [s for s, _ in points]
            values = [v for _, v in points]
            style = "o-" if markers or len(points) == 1 else "-"
            ax.plot(steps, values, style, color=COLORS[i % len(COLORS)], label=label, linewidth=1.4, markersize=4)
        for j, (label, anchor) in enumerate(anchors or []):
            bound = anchor.value - anchor.tolerance if anchor.higher_is_better else anchor.value + anchor.tolerance
            color = "#555555" if j == 0 else COLORS[(j + 3) % len(COLORS)]
            ax.axhline(anchor.value, color=color, linestyle="--", linewidth=1, label=f"{label}anchor {anchor.value:g}")
            ax.axhline(bound, color=color, linestyle=":", linewidth=1, label=f"{label}{'≥' if anchor.higher_is_better else '≤'} {bound:g} passes")
        ax.set_title(title, fontsize=10)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if len(lines) > 1 or anchors:
            ax.legend(fontsize=6, loc="best")
        fig.subplots_adjust(left=0.17, right=0.97, top=0.9, bottom=0.16)  # fixed margins: tight_layout doubles the cost
        buf = io.BytesIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
        return buf.getvalue()
    finally:
        plt.close(fig)
