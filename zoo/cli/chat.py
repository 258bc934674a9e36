"""`zoo chat`: talk to a chat model in the terminal, or answer one message for a script."""
from __future__ import annotations

import sys

import click

from zoo.cli.options import parse_sets


@click.command()
@click.argument("target", metavar="RUN_OR_PRESET")
@click.option("-m", "--message", help="Answer this one message, print the answer and exit (for scripts).")
@click.option("--system", help="A system message opening the conversation (kept when older turns are dropped).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="temperature, top_p, top_k or max_new_tokens, e.g. --set temperature=0.3.")
@click.option("--seed", default=0, show_default=True, help="Seed of the sampling.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--weights", type=click.Choice(["ema", "raw"]), default="ema", show_default=True, help="The trainer's EMA of a run's weights (when it kept one) or the raw weights.")
def chat(target: str, message: str | None, system: str | None, sets: tuple[str, ...], seed: int, device: str, weights: str) -> None:
    """Chat with RUN_OR_PRESET: a text run whose model has a chat template, or a preset's starting point (zoo chat smollm2).

    \b
    /reset  start a new conversation      /exit  leave (Ctrl-D too)
    Ctrl-C  stop the answer being written; the session goes on
    """
    from zoo.chat import Session, open_chat
    from zoo.errors import UsageError

    with open_chat(target, device, weights) as model:
        session = Session(model, system, parse_sets(sets), seed)
        if message is not None:
            respond(session, message)
            return
        click.echo(f"chatting with {target} (context window {model.window} tokens): /reset starts over, /exit leaves, Ctrl-C stops an answer", err=True)
        while True:
            try:
                text = input("> ").strip()
            except EOFError:
                click.echo(err=True)
                return
            except KeyboardInterrupt:
                click.echo("\n(/exit leaves)", err=True)
                continue
            if text == "/exit":
                return
            if text == "/reset":
                session.reset()
                click.echo("(a new conversation)", err=True)
            elif text.startswith("/"):
                click.echo(f"(unknown command {text.split()[0]}; /reset or /exit)", err=True)
            elif text:
                try:
                    respond(session, text)
                except UsageError as err:  # a message too long for the context: the session goes on
                    click.echo(f"Error: {err}", err=True)


def respond(session: object, text: str) -> None:
    """Stream the answer to stdout, then say what was dropped or stopped."""
    answer = session.ask(text, stream=lambda piece: (sys.stdout.write(piece), sys.stdout.flush()))  # type: ignore[attr-defined]
    click.echo()
    if answer.stopped:
        click.echo("(stopped)", err=True)
    if answer.dropped:
        click.echo(f"(dropped the {answer.dropped} oldest message{'s' * (answer.dropped != 1)} to stay within the context window)", err=True)
