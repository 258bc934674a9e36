"""The plugin manager: entry points of the `zoo` group first, then any built-in not installed as one.

Built-ins are declared in the same entry-point group as third-party plugins; loading them by module
path as well keeps a source checkout working before `pip install -e .` has written its entry points.
Each plugin is validated on its own before it is registered: one that cannot be imported or whose
hooks do not match zoo/hookspecs.py is skipped with one warning line (and listed as failed by
`zoo plugins`), so one broken plugin never takes the other plugins or any command down with it.
"""
from __future__ import annotations

import contextlib
import difflib
import importlib
import importlib.metadata
import inspect
import os
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

import pluggy

from zoo import hookspecs
from zoo.provenance import zoo_version
from zoo.errors import UsageError, ZooError

# Built-in plugins: always loaded. Name -> module path.
BUILTIN_PLUGINS: dict[str, str] = {
    "data": "zoo.data.builtin",
    "metrics": "zoo.metrics.plugin",
    "gan": "zoo_gan",
    "vae": "zoo_vae",
    "diffusion": "zoo_diffusion",
    "text": "zoo_text",
    "audio": "zoo_audio",
    "music": "zoo_music",
    "translate": "zoo_translate",
    "video": "zoo_video",
    "tensorboard": "zoo_tensorboard",
    "mlflow": "zoo_mlflow",
    "wandb": "zoo_wandb",
}
ENV_ALLOW = "ZOO_LOAD_PLUGINS"  # comma-separated names of the external plugins to load; unset loads all
VERSIONS: dict[str, str] = {}  # plugin name -> distribution version, filled while loading
FAILED: dict[str, str] = {}  # plugin name -> why it was skipped, filled while loading


@lru_cache(maxsize=1)
def get_plugin_manager() -> pluggy.PluginManager:
    """Build the plugin manager once per process (`reset()` rebuilds it, for tests)."""
    pm = pluggy.PluginManager("zoo")
    pm.add_hookspecs(hookspecs)
    allowed = _allowed_external()
    installed: set[str] = set()
    for ep in importlib.metadata.entry_points(group="zoo"):
        installed.add(ep.name)
        if pm.has_plugin(ep.name) or ep.name in FAILED:
            continue
        if ep.name not in BUILTIN_PLUGINS and allowed is not None and ep.name not in allowed:
            continue
        VERSIONS[ep.name] = ep.dist.version if ep.dist is not None else "?"
        try:
            module = ep.load()
        except Exception as err:  # a broken third-party plugin must not take zoo down with it
            _skip(ep.name, f"failed to load: {type(err).__name__}: {err}")
            continue
        _register(pm, module, ep.name, external=ep.name not in BUILTIN_PLUGINS)
    for name, path in BUILTIN_PLUGINS.items():
        if not pm.has_plugin(name) and name not in FAILED:
            VERSIONS[name] = zoo_version()
            _register(pm, importlib.import_module(path), name, external=False)
    external = sorted(installed - set(BUILTIN_PLUGINS))
    for name in sorted((allowed or set()) - installed - set(BUILTIN_PLUGINS)):
        warnings.warn(f"{ENV_ALLOW} names {name!r}, which is not installed; installed plugins: {', '.join(external) or 'none besides the built-ins'}", stacklevel=2)
    return pm


def hook_names(pm: pluggy.PluginManager, plugin: Any) -> list[str]:
    """The hooks a registered plugin implements, for `zoo plugins`."""
    return sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])


def call_hook(name: str, **kwargs: Any) -> list[Any]:
    """Call an event hook (`on_log`, `on_evaluation`, ...) implementation by implementation; returns what
    they returned, None left out (`should_stop`'s reasons). One that raises is reported in one warning
    line naming its plugin and is unregistered, so training goes on."""
    pm = get_plugin_manager()
    results = []
    for impl in reversed(getattr(pm.hook, name).get_hookimpls()):  # pluggy's order: last registered first
        try:
            result = impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
        except Exception as err:  # a logger's bug must never stop a run
            FAILED[impl.plugin_name] = f"disabled: {name} raised {type(err).__name__}: {err}"
            warnings.warn(f"zoo plugin {impl.plugin_name!r} disabled: its {name} raised {type(err).__name__}: {err}", stacklevel=2)
            if pm.is_registered(impl.plugin):
                pm.unregister(impl.plugin)
        else:
            if result is not None:
                results.append(result)
    return results


def installed_loggers() -> dict[str, Any]:
    """Logger name -> its class (or "module:Class", imported when switched on), from `register_loggers`."""
    found: dict[str, Any] = {}
    owners: dict[str, str] = {}
    for impl in get_plugin_manager().hook.register_loggers.get_hookimpls():

        def register(name: str, target: Any, *, _plugin: str = impl.plugin_name) -> None:
            if name in found:
                raise ZooError(f"logger {name!r} is registered twice: by plugin {owners[name]!r} and by plugin {_plugin!r}")
            found[name], owners[name] = target, _plugin

        impl.function(register=register)
    return found


def check_loggers(names: list[str]) -> None:
    """A usage error naming the installed loggers when one of `names` is not among them."""
    installed = installed_loggers()
    for name in names:
        if name not in installed:
            raise _unknown_logger(name, installed)


def _unknown_logger(name: str, installed: dict[str, Any]) -> UsageError:
    return UsageError(f"unknown logger {name!r}; installed loggers: {', '.join(sorted(installed)) or 'none'}")


_ACTIVE: set[str] = set()  # run directories whose loggers are switched on in this process


@contextlib.contextmanager
def loggers_for(run: Any, *, strict: bool = False) -> Iterator[None]:
    """Switch on the run's `train.loggers` for the block: one instance each, registered as a plugin.

    `strict` (training): an unknown or broken logger is an error before any work. Otherwise (evaluating,
    sampling a run) it is a warning and the rest goes on. Nested blocks for the same run are no-ops."""
    from zoo.registry import import_target

    key = str(Path(run.path).resolve())
    names = list(run.config.train.loggers)
    if key in _ACTIVE or not names:
        yield
        return
    pm, installed, started = get_plugin_manager(), installed_loggers(), []
    _ACTIVE.add(key)
    try:
        for name in names:
            try:
                if name not in installed:
                    raise _unknown_logger(name, installed)
                instance = import_target(installed[name])()
            except Exception as err:  # a missing optional package, a broken third-party logger
                problem = err if isinstance(err, ZooError) else ZooError(f"logger {name!r} could not start: {type(err).__name__}: {err}")
                if strict:
                    raise problem from None
                warnings.warn(f"not logging to {name!r}: {problem}", stacklevel=3)
                continue
            _register(pm, instance, f"logger:{name}", external=True)
            if pm.is_registered(instance):
                started.append(instance)
        yield
    finally:
        _ACTIVE.discard(key)
        for instance in started:
            if pm.is_registered(instance):
                pm.unregister(instance)


def _register(pm: pluggy.PluginManager, plugin: Any, name: str, *, external: bool) -> None:
    """Register one plugin, or skip it with one warning line if its hooks do not match the specs."""
    specs = _specs(pm)
    problem = _invalid_hook(pm, plugin, specs)
    if problem is None:
        try:
            pm.register(plugin, name=name)
        except pluggy.PluginValidationError as err:  # whatever pluggy checks beyond names and arguments
            problem = "; ".join(line.strip() for line in str(err).splitlines() if line.strip())
    if problem is not None:
        _skip(name, problem)
        return
    if external:  # built-ins are checked by their own tests; helpers there may share hook-like names
        for message in _unmarked_hooks(pm, plugin, specs):
            warnings.warn(f"zoo plugin {name!r}: {message}", stacklevel=3)


def _skip(name: str, reason: str) -> None:
    FAILED[name] = reason
    warnings.warn(f"zoo plugin {name!r} skipped: {reason}", stacklevel=3)


def _specs(pm: pluggy.PluginManager) -> dict[str, tuple[str, ...]]:
    """hook name -> the argument names zoo passes it."""
    callers = vars(pm.hook).values()
    return {c.name: tuple(c.spec.argnames) for c in callers if isinstance(c, pluggy.HookCaller) and c.spec is not None}


def _closest(name: str, choices: dict[str, Any]) -> str:
    return difflib.get_close_matches(name, list(choices), n=1, cutoff=0.0)[0]


def _required_args(function: Callable[..., Any]) -> list[str]:
    """Positional parameters without defaults: the ones pluggy matches against the hookspec."""
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in inspect.signature(function).parameters.values() if p.kind in kinds and p.default is p.empty]


def _invalid_hook(pm: pluggy.PluginManager, plugin: Any, specs: dict[str, tuple[str, ...]]) -> str | None:
    """The first @hookimpl that names no hook or asks for an argument the hook does not pass."""
    for attr in dir(plugin):
        opts = pm.parse_hookimpl_opts(plugin, attr)
        if opts is None:
            continue
        hook = opts.get("specname") or attr
        if hook not in specs:
            if opts.get("optionalhook"):
                continue
            return f"unknown hook {hook!r}; did you mean {_closest(hook, specs)!r}?"
        extra = [arg for arg in _required_args(getattr(plugin, attr)) if arg not in specs[hook]]
        if extra:
            close = _closest(extra[0], dict.fromkeys(specs[hook]))
            return f"hook {hook!r} asks for argument(s) {', '.join(extra)} that zoo does not pass; did you mean {close!r}? ({hook} takes {', '.join(specs[hook])})"
    return None


def _unmarked_hooks(pm: pluggy.PluginManager, plugin: Any, specs: dict[str, tuple[str, ...]]) -> Iterator[str]:
    """Functions named like a hook (or nearly) that lack @hookimpl: pluggy ignores them silently."""
    for attr in dir(plugin):
        if attr.startswith("_") or pm.parse_hookimpl_opts(plugin, attr) is not None:
            continue
        value = inspect.getattr_static(plugin, attr, None)
        if not inspect.isfunction(value) or (inspect.ismodule(plugin) and value.__module__ != plugin.__name__):
            continue  # only the plugin's own functions, not ones it imported
        close = difflib.get_close_matches(attr, list(specs), n=1, cutoff=0.8)
        # a near name counts only if its arguments fit the hook, so a helper like register_model(name, cls) does not
        if attr in specs or (close and set(_required_args(getattr(plugin, attr))) <= set(specs[close[0]])):
            hook = attr if attr in specs else close[0]
            yield f"function {attr!r} looks like hook {hook!r} but lacks @hookimpl, so zoo never calls it"


def _allowed_external() -> set[str] | None:
    raw = os.environ.get(ENV_ALLOW)
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def reset() -> None:
    """Forget the loaded plugins, their failures and the catalog built from them."""
    from zoo import registry

    get_plugin_manager.cache_clear()
    VERSIONS.clear()
    FAILED.clear()
    registry.get_catalog.cache_clear()
