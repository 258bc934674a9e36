"""The plugin manager: entry points of the `zoo` group first, then any built-in not installed as one.

Built-ins are declared in the same entry-point group as third-party plugins; loading them by module
path as well keeps a source checkout working before `pip install -e .` has written its entry points.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import os
import warnings
from functools import lru_cache

import pluggy

from zoo import hookspecs

# Built-in plugins: always loaded. Name -> module path.
BUILTIN_PLUGINS: dict[str, str] = {
    "data": "zoo.data.builtin",
    "metrics": "zoo.metrics.plugin",
    "gan": "zoo_gan",
    "vae": "zoo_vae",
    "text": "zoo_text",
    "audio": "zoo_audio",
}
ENV_ALLOW = "ZOO_LOAD_PLUGINS"  # comma-separated names of the external plugins to load; unset loads all
VERSIONS: dict[str, str] = {}  # plugin name -> distribution version, filled while loading


@lru_cache(maxsize=1)
def get_plugin_manager() -> pluggy.PluginManager:
    """Build the plugin manager once per process (`reset()` rebuilds it, for tests)."""
    pm = pluggy.PluginManager("zoo")
    pm.add_hookspecs(hookspecs)
    allowed = _allowed_external()
    for ep in importlib.metadata.entry_points(group="zoo"):
        if pm.has_plugin(ep.name):
            continue
        if ep.name not in BUILTIN_PLUGINS and allowed is not None and ep.name not in allowed:
            continue
        try:
            module = ep.load()
        except Exception as err:  # a broken third-party plugin must not take zoo down with it
            warnings.warn(f"zoo plugin {ep.name!r} failed to load: {type(err).__name__}: {err}", stacklevel=2)
            continue
        version = ep.dist.version if ep.dist is not None else "?"
        pm.register(module, name=ep.name)
        VERSIONS[ep.name] = version
    for name, path in BUILTIN_PLUGINS.items():
        if not pm.has_plugin(name):
            pm.register(importlib.import_module(path), name=name)
            VERSIONS[name] = _own_version()
    pm.check_pending()  # a misspelled hook implementation fails here, loudly
    return pm



def _allowed_external() -> set[str] | None:
    raw = os.environ.get(ENV_ALLOW)
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def _own_version() -> str:
    try:
        return importlib.metadata.version("genzoo")
    except importlib.metadata.PackageNotFoundError:
        return "dev"


def reset() -> None:
    """Forget the loaded plugins and the catalog built from them."""
    from zoo import registry

    get_plugin_manager.cache_clear()
    VERSIONS.clear()
    registry.get_catalog.cache_clear()
