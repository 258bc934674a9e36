"""`zoo export`: a run's model as a standalone transformers folder."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import click


@click.command()
@click.argument("run_dir", type=click.Path())
@click.option("--merged", "folder", type=click.Path(), required=True, help="The folder to write: weights with any LoRA adapters merged in, config, tokenizer, chat template.")
@click.option("--weights", type=click.Choice(["ema", "raw"]), default="ema", show_default=True, help="The trainer's EMA of the weights (when the run kept one) or the raw weights.")
def export(run_dir: str, folder: str, weights: str) -> None:
    """Write RUN_DIR's model as a folder that transformers' AutoModelForCausalLM.from_pretrained(DIR) loads.

    \b
    zoo export runs/chat --merged exported/    then AutoModelForCausalLM.from_pretrained("exported/")
    """
    from zoo.api import load
    from zoo.capabilities import ExportsMerged
    from zoo.errors import UsageError

    out = Path(folder)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"--merged {out} already exists and is not an empty folder; choose a new one")
    model = load(run_dir, "cpu", weights=weights)  # type: ignore[arg-type]
    if not isinstance(model, ExportsMerged):
        raise UsageError(f"{run_dir} is a {model.modality} run; --merged exports text models (a transformers causal language model)")
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        model.export_merged(partial)
        if out.exists():
            out.rmdir()
        os.replace(partial, out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    click.echo(f"wrote {out}: AutoModelForCausalLM.from_pretrained({str(out)!r}) loads it")
