"""Regenerate docs/report.png and docs/report-run.png from real runs (the browser tests' runs are tiny).

    zoo train gan-mnist-quick --out runs/demo && zoo evaluate runs/demo                     # what `make demo` trains
    zoo train gan-mnist-quick --steps 300 --out runs/demo-300 && zoo evaluate runs/demo-300   # a shortened one beside it
    python bench/report_screenshots.py runs/demo runs/demo-300

`zoo report` writes the page; headless Chromium (Debian's chromium, driven by Playwright, as in
tests/tiny_runs.py) takes the top of the page (the comparison, 1800 pixels wide so that the table's
last column, the anchors, shows) as report.png and the first run's section (1200×1500) as
report-run.png. Every request leaving the machine is refused.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
CHROMIUM = "/usr/bin/chromium"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories; the first one's section becomes report-run.png")
    parser.add_argument("--samples", type=int, default=64, help="samples drawn per run")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from zoo.report.build import write_report

    with tempfile.TemporaryDirectory() as scratch:
        page_file = write_report(args.runs, Path(scratch) / "report.html", samples=args.samples)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            context = browser.new_context(viewport={"width": 1800, "height": 1300})
            context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("file://", "data:")) else route.abort())
            view = context.new_page()
            view.goto(page_file.resolve().as_uri())
            view.wait_for_load_state("load")
            view.screenshot(path=str(DOCS / "report.png"))
            view.set_viewport_size({"width": 1200, "height": 1500})
            view.evaluate("document.getElementById('run-0').scrollIntoView()")
            view.screenshot(path=str(DOCS / "report-run.png"))
            browser.close()
    print(f"wrote {DOCS / 'report.png'} and {DOCS / 'report-run.png'}")


if __name__ == "__main__":
    main()
