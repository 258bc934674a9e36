"""`zoo serve`: a local page to draw samples from runs."""
from __future__ import annotations

import ipaddress

import click


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path())
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; the default is reachable from this machine only.")
@click.option("--device", default="cpu", show_default=True, help="Where to sample.")
def serve(run_dirs: tuple[str, ...], port: int, host: str, device: str) -> None:
    """Serve a page for drawing samples from RUN_DIRS: seed, n and each run's declared conditions as a form.

    \b
    zoo serve runs/gan runs/cspecgan --port 8000    then open http://127.0.0.1:8000/
    """
    from zoo.serve import serve as serve_runs

    if not _loopback(host):
        click.echo(f"warning: --host {host} makes the page reachable from other machines; it has no authentication", err=True)
    serve_runs(list(run_dirs), host, port, device, ready=lambda url: click.echo(f"serving {len(run_dirs)} run{'s' * (len(run_dirs) != 1)} at {url} (Ctrl-C to stop)"))


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
