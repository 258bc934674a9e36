"""`zoo report`: one self-contained HTML page per set of runs, to look at instead of reading files.

    collect.py  what a run directory holds (logs, evaluations, previews, anchors), read without plotting
    plots.py    matplotlib curves as SVG images (the only module that imports matplotlib)
    html.py     page pieces shared with `zoo serve`: escaping, tables, samples as <img>/<audio>/<pre>
    build.py    the page: per-run sections, per-modality comparisons, written as one file
    sweep.py    a sweep folder's section: trials table, Optuna's importance and history plots (PNG)

Entry point: `zoo.report.build.write_report(run_dirs, out)`. Importing this package imports nothing
heavy, so `zoo serve` can use html.py without matplotlib.
"""
