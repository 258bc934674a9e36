"""The `zoo` command. Subcommands live in modules by group and are imported only when run,
so `zoo --help` never imports torch. User errors (zoo.errors) become one-line click errors here,
and only here."""
from __future__ import annotations

import importlib
import warnings
from typing import Any

import click

from zoo.errors import ZooError

COMMANDS = {
    "list": "zoo.cli.catalog:list_presets",
    "info": "zoo.cli.catalog:info",
    "datasets": "zoo.cli.catalog:datasets",
    "plugins": "zoo.cli.catalog:plugins",
    "train": "zoo.cli.training:train",
    "sample": "zoo.cli.sampling:sample",
    "translate": "zoo.cli.translation:translate",
    "evaluate": "zoo.cli.evaluation:evaluate",
    "compare": "zoo.cli.comparison:compare",
    "report": "zoo.cli.report:report",
    "serve": "zoo.cli.serve:serve",
    "chat": "zoo.cli.chat:chat",
    "export": "zoo.cli.export:export",
    "env": "zoo.cli.system:env",
    "bench": "zoo.cli.system:bench",
    "sweep": "zoo.cli.sweep:sweep",
}


class CliError(click.ClickException):
    """A ZooError shown as `Error: <one line>` with the error's exit code (2 for usage errors)."""

    def __init__(self, error: ZooError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, _, attr = COMMANDS[name].partition(":")
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ZooError as err:
            raise CliError(err) from None


def _one_line_warning(message: Any, category: Any, filename: str, lineno: int, line: str | None = None) -> str:
    return f"warning: {message}\n"


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="genzoo")
def cli() -> None:
    """zoo: train, sample, evaluate and compare generative models.

    \b
    zoo list                      presets you can train
    zoo train gan-mnist           train one (writes a run directory)
    zoo sample RUN -n 64 --out grid.png
    zoo evaluate RUN
    zoo report RUN --out report.html
    """
    warnings.formatwarning = _one_line_warning


def main() -> None:
    cli()
