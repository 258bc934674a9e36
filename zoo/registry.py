"""The catalog: every model family, dataset, metric and preset that the loaded plugins registered.

Plugins register cheap references ("module:attribute" strings or objects), so listing presets never
imports torch; `load()` imports an entry only when it is used.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from zoo.config import suggest
from zoo.errors import UsageError, ZooError
from zoo.plugins import get_plugin_manager

KINDS = ("models", "datasets", "metrics", "presets", "constraints", "tokenizers")
BUILTIN_PRESETS = Path(__file__).with_name("registry.yaml")


@dataclass
class Entry:
    """One registered thing and the plugin that registered it."""

    name: str
    target: Any  # an object, or "module:attr" to import on first use
    plugin: str

    def load(self) -> Any:
        self.target = import_target(self.target)
        return self.target


def import_target(target: Any) -> Any:
    """Resolve a "module:attr" reference; anything else is returned as it is."""
    if isinstance(target, str) and ":" in target:
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)
    return target


@dataclass
class Catalog:
    models: dict[str, Entry] = field(default_factory=dict)
    datasets: dict[str, Entry] = field(default_factory=dict)
    metrics: dict[str, Entry] = field(default_factory=dict)
    presets: dict[str, Entry] = field(default_factory=dict)
    constraints: dict[str, Entry] = field(default_factory=dict)  # decoding constraints for token models
    tokenizers: dict[str, Entry] = field(default_factory=dict)  # tokenizers for text models beyond char and bpe

    def get(self, kind: str, name: str) -> Entry:
        table: dict[str, Entry] = getattr(self, kind)
        if name not in table:
            raise suggest(name, list(table), kind.rstrip("s").replace("model", "model family"))
        return table[name]

    def preset(self, name: str) -> dict[str, Any]:
        return self.get("presets", name).target

    def by_plugin(self) -> dict[str, dict[str, list[str]]]:
        """plugin name -> kind -> registered names, for `zoo plugins`."""
        out: dict[str, dict[str, list[str]]] = {}
        for kind in KINDS:
            for entry in getattr(self, kind).values():
                out.setdefault(entry.plugin, {k: [] for k in KINDS})[kind].append(entry.name)
        return out


def _add(table: dict[str, Entry], kind: str, name: str, target: Any, plugin: str) -> None:
    if name in table:
        raise ZooError(f"{kind} {name!r} is registered twice: by plugin {table[name].plugin!r} and by plugin {plugin!r}")
    table[name] = Entry(name, target, plugin)


def _read_presets(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ZooError(f"cannot read presets file {path}: {err}") from err
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ZooError(f"presets file {path} must map preset names to mappings")
    return data


@lru_cache(maxsize=1)
def get_catalog() -> Catalog:
    """Ask every plugin to register its things, once per process."""
    pm = get_plugin_manager()
    catalog = Catalog()
    for name, preset in _read_presets(BUILTIN_PRESETS).items():
        _add(catalog.presets, "preset", name, preset, "zoo")
    for kind in KINDS:
        hook = getattr(pm.hook, f"register_{kind}")
        for impl in hook.get_hookimpls():
            plugin = impl.plugin_name

            def register(name: Any, target: Any = None, *, _kind: str = kind, _plugin: str = plugin) -> None:
                if _kind == "presets" and target is None:  # register(path_to_yaml)
                    for preset_name, preset in _read_presets(Path(name)).items():
                        _add(catalog.presets, "preset", preset_name, preset, _plugin)
                    return
                if target is None:
                    raise UsageError(f"plugin {_plugin!r} called register({name!r}) without a target")
                _add(getattr(catalog, _kind), _kind.rstrip("s"), name, target, _plugin)

            impl.function(register=register)
    return catalog
