"""Commands that describe what is installed: presets, datasets, plugins."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import click

from zoo.cli.options import parse_sets
from zoo.registry import KINDS, get_catalog


def table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths))]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


@click.command("list")
@click.option("--family", help="Only presets of this model family.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_presets(family: str | None, as_json: bool) -> None:
    """List the named presets."""
    catalog = get_catalog()
    if family is not None and family not in catalog.models:
        from zoo.config import suggest

        raise suggest(family, list(catalog.models), "model family")
    rows = [
        {"name": e.name, "family": e.target.get("family"), "dataset": (e.target.get("data") or {}).get("dataset"), "plugin": e.plugin, "description": e.target.get("description", "")}
        for e in catalog.presets.values()
        if family is None or e.target.get("family") == family
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(table([[r["name"], r["family"], r["dataset"], r["description"]] for r in rows], ["preset", "family", "dataset", "description"]))


@click.command()
@click.argument("name")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a config value, e.g. model.ngf=32.")
@click.option("--data", "data", type=click.Path(), help="Your own files, as for `zoo train --data`: also say what they hold and what the step budget means in epochs over them.")
@click.option("--data-dir", type=click.Path(), help="Look for the dataset here first.")
@click.option("--json", "as_json", is_flag=True)
def info(name: str, sets: tuple[str, ...], data: str | None, data_dir: str | None, as_json: bool) -> None:
    """Show a preset: resolved config, parameter counts, and where its data was found (with --data: what your data is)."""
    import yaml

    from zoo.api import _own_data, build
    from zoo.data import get_spec, load_dataset, resolve
    from zoo.data.describe import describe_data
    from zoo.presets import resolve as resolve_config
    from zoo.run import Run

    overrides = parse_sets(sets)
    if data is not None:
        overrides.update(_own_data(name, data, overrides))
    config = resolve_config(name, overrides)
    folder = config.data.path if data is not None else resolve(get_spec(config.data.dataset), data_dir)  # type: ignore[attr-defined]
    family = get_catalog().get("models", config.family).load()
    train = load_dataset(config.data, "train", data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        run = Run(Path(tmp), config, family.setup(config.model, train, Path(tmp) / "assets"))
        model = build(run, data_dir=data_dir)
    params = {name: sum(p.numel() for p in ps) for name, ps in model.param_groups().items()}
    out = {**config.to_dict(), "parameters": params, "capabilities": capabilities(model),
           "conditions": {c.name: c.describe() for c in model.conditions}, "data_found_at": str(folder)}
    summary = describe_data(config, train, data_dir) if data is not None else None
    if as_json:
        click.echo(json.dumps({**out, **({"your_data": summary.to_dict()} if summary else {})}, indent=2))
    else:
        click.echo(yaml.safe_dump(out, sort_keys=False).rstrip())
        if summary:
            click.echo("\n".join(summary.lines()))


def capabilities(model: Any) -> list[str]:
    """The capability protocols (zoo.capabilities) this model instance implements."""
    from zoo import capabilities as caps

    found = [name for name, proto in [("reconstructs", caps.Reconstructs), ("log_likelihood", caps.LogLikelihood), ("restores", caps.Restores)] if isinstance(model, proto)]
    return (["conditional"] if caps.num_classes(model) else []) + found


@click.command()
@click.option("--data-dir", type=click.Path(), help="Look here first.")
@click.option("--json", "as_json", is_flag=True)
def datasets(data_dir: str | None, as_json: bool) -> None:
    """List registered datasets and where each was found, and the sources that read your own files (--data)."""
    from zoo.data.spec import find_folder

    rows = []
    for entry in get_catalog().datasets.values():
        spec = entry.load()
        if spec.source:
            folder: object = "your files: zoo train PRESET --data PATH"
        elif not spec.files:  # e.g. music21's bundled corpus: nothing to find or download
            folder = f"no files needed (plugin {entry.plugin} reads it)"
        else:
            folder = find_folder(spec, data_dir)
        rows.append({"name": spec.name, "modality": spec.modality, "found": str(folder) if folder else None, "plugin": entry.plugin, "description": spec.description, "license": spec.license})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(table([[r["name"], r["modality"], r["found"] or "missing (downloads on first use)", r["description"]] for r in rows], ["dataset", "modality", "found at", "description"]))


@click.command()
@click.option("--json", "as_json", is_flag=True)
def plugins(as_json: bool) -> None:
    """List plugins: version, status, the hooks each implements and what each registered."""
    from zoo.plugins import FAILED, VERSIONS, get_plugin_manager, hook_names

    pm = get_plugin_manager()
    registered = get_catalog().by_plugin()
    empty: dict[str, list[str]] = {kind: [] for kind in KINDS}
    rows = [
        {"name": name, "version": VERSIONS.get(name, "?"), "status": "ok", "reason": None, "hooks": hook_names(pm, plugin), **registered.get(name, empty)}
        for name, plugin in pm.list_name_plugin()
    ]
    rows += [{"name": name, "version": VERSIONS.get(name, "?"), "status": "failed", "reason": reason, "hooks": [], **empty} for name, reason in FAILED.items()]
    if "zoo" in registered:
        rows.insert(0, {"name": "zoo (registry.yaml)", "version": VERSIONS.get("data", "?"), "status": "ok", "reason": None, "hooks": [], **registered["zoo"]})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        if row["status"] == "failed":
            click.echo(f"{row['name']} {row['version']}  failed: {row['reason']}")
            continue
        parts = [f"{kind}: {', '.join(row[kind])}" for kind in KINDS if row[kind]]
        if row["name"] != "zoo (registry.yaml)":
            parts.insert(0, f"hooks: {', '.join(row['hooks']) or 'none'}")
        click.echo(f"{row['name']} {row['version']}" + "".join(f"\n  {p}" for p in parts))
