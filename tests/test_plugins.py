"""Plugin discovery through real entry points, allow-listing, failures and duplicates."""
from __future__ import annotations

import importlib.metadata
import json
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, Callable

import pytest
from click.testing import CliRunner

from zoo import plugins
from zoo.cli import cli
from zoo.errors import ZooError
from zoo.hookspecs import hookimpl
from zoo.registry import get_catalog

FAKE = Path(__file__).parent / "fake_plugin"


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """Install the fake plugin packages the way pip does: a dist-info with entry_points.txt on sys.path."""

    def install(*names: str) -> None:
        for name in names:
            dist = tmp_path / f"zoo_{name}-1.2.3.dist-info"
            dist.mkdir()
            (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: zoo-{name}\nVersion: 1.2.3\n")
            (dist / "entry_points.txt").write_text(f"[zoo]\n{name} = zoo_{name}\n")
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.syspath_prepend(str(FAKE))
        plugins.reset()

    yield install
    for mod in [m for m in sys.modules if m.startswith("zoo_fake") or m.startswith("zoo_broken") or m.startswith("zoo_misspelled")]:
        del sys.modules[mod]
    plugins.reset()


def test_third_party_plugin_loads_through_its_entry_point(installed, monkeypatch):
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "fake")
    installed("fake")
    catalog = get_catalog()
    assert catalog.get("models", "fake").plugin == "fake"
    assert catalog.get("presets", "fake-mnist").plugin == "fake"
    assert plugins.VERSIONS["fake"] == "1.2.3"


def test_third_party_preset_trains(installed, monkeypatch, tmp_path):
    import zoo

    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "fake")
    installed("fake")
    run = zoo.train("fake-mnist", out=tmp_path / "run", device="cpu", quiet=True)
    assert run.summary()["status"] == "finished"


def test_allow_list_keeps_other_plugins_out(installed, monkeypatch):
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "")
    installed("fake")
    assert "fake" not in get_catalog().models
    assert "gan" in get_catalog().models  # built-ins always load


def test_broken_plugin_warns_once_and_zoo_keeps_working(installed, monkeypatch):
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "broken,fake")
    installed("broken", "fake")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        catalog = get_catalog()
    messages = [str(w.message) for w in caught]
    assert len([m for m in messages if "broken" in m]) == 1
    assert "needs a library that is not installed" in messages[0]
    assert "fake" in catalog.models and "gan" in catalog.models


def test_misspelled_hook_is_skipped_with_one_warning(installed, monkeypatch):
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "misspelled,fake")
    installed("misspelled", "fake")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        catalog = get_catalog()
    messages = [str(w.message) for w in caught]
    assert messages == ["zoo plugin 'misspelled' skipped: unknown hook 'register_model'; did you mean 'register_models'?"]
    assert "fake" in catalog.models and "gan" in catalog.models
    assert plugins.FAILED == {"misspelled": messages[0].split("skipped: ")[1]}


def test_duplicate_names_name_both_plugins():
    class Twin:
        @hookimpl
        def register_models(self, register):
            register("gan", object)

    plugins.reset()
    plugins.get_plugin_manager().register(Twin(), name="twin")
    try:
        with pytest.raises(ZooError, match="'gan'.*'gan'.*'twin'|registered twice: by plugin 'gan' and by plugin 'twin'"):
            get_catalog()
    finally:
        plugins.reset()


def test_plugins_command_lists_versions_and_registrations(installed, monkeypatch):
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "fake")
    installed("fake")
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["fake"]["version"] == "1.2.3"
    assert rows["fake"]["models"] == ["fake"] and rows["fake"]["presets"] == ["fake-mnist"]
    assert "gan" in rows["gan"]["models"]


@dataclass
class FakeEntryPoint:
    """What plugins.py reads from an importlib.metadata entry point."""

    name: str
    module: Any
    dist: Any = field(default_factory=lambda: SimpleNamespace(version="0.0.1"))

    def load(self) -> Any:
        return self.module


def plugin_module(name: str, *functions: Callable[..., Any]) -> ModuleType:
    """A plugin module as `import zoo_<name>` would give it, holding these functions as its own."""
    module = ModuleType(f"zoo_{name}")
    for function in functions:
        function.__module__ = module.__name__
        setattr(module, function.__name__, function)
    return module


@pytest.fixture
def entry_points(monkeypatch):
    """Fake installed plugins: entry points of the `zoo` group beside the real ones."""
    real = importlib.metadata.entry_points

    def install(**modules: Any) -> None:
        fake = [FakeEntryPoint(name, module) for name, module in modules.items()]
        monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [*real(group=group), *(fake if group == "zoo" else [])])
        monkeypatch.setenv("ZOO_LOAD_PLUGINS", ",".join(modules))
        plugins.reset()

    yield install
    plugins.reset()


def load_warnings() -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        get_catalog()
    return [str(w.message) for w in caught]


def logger_module() -> ModuleType:
    @hookimpl
    def on_log(run, step, logs):
        pass

    return plugin_module("logger", on_log)


def test_unknown_hook_skips_only_that_plugin(entry_points):
    @hookimpl
    def on_log_record(run, step, logs):
        pass

    entry_points(typo=plugin_module("typo", on_log_record), logger=logger_module())
    assert load_warnings() == ["zoo plugin 'typo' skipped: unknown hook 'on_log_record'; did you mean 'on_log'?"]
    pm = plugins.get_plugin_manager()
    assert not pm.has_plugin("typo") and pm.has_plugin("logger") and pm.has_plugin("gan")
    assert plugins.hook_names(pm, pm.get_plugin("logger")) == ["on_log"]
    assert "gan" in get_catalog().models


def test_wrong_argument_name_skips_only_that_plugin(entry_points):
    class Plugin:  # a class-based plugin: methods, with self
        @hookimpl
        def register_models(self, registr):
            registr("never", object)

    entry_points(wrongargs=Plugin(), logger=logger_module())
    (message,) = load_warnings()
    assert message.startswith("zoo plugin 'wrongargs' skipped: hook 'register_models' asks for argument(s) registr")
    assert "did you mean 'register'?" in message and "\n" not in message
    assert "never" not in get_catalog().models and plugins.get_plugin_manager().has_plugin("logger")


def test_function_without_hookimpl_warns(entry_points):
    def on_run_end(run, summary):  # forgot @hookimpl
        pass

    def register_model(name, cls):  # a helper with a hook-like name: its arguments do not fit, no warning
        pass

    def register_preset(register):  # a near name whose arguments fit: most likely a forgotten hook
        pass

    entry_points(forgetful=plugin_module("forgetful", on_run_end, register_model, register_preset))
    assert load_warnings() == [
        "zoo plugin 'forgetful': function 'on_run_end' looks like hook 'on_run_end' but lacks @hookimpl, so zoo never calls it",
        "zoo plugin 'forgetful': function 'register_preset' looks like hook 'register_presets' but lacks @hookimpl, so zoo never calls it",
    ]
    assert plugins.get_plugin_manager().has_plugin("forgetful") and plugins.FAILED == {}


def test_builtins_load_without_warnings():
    plugins.reset()
    assert load_warnings() == []


def test_allow_list_naming_an_uninstalled_plugin_warns_with_installed_names(entry_points, monkeypatch):
    entry_points(logger=logger_module())
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "loger,gan")  # a built-in name is fine: it is installed
    assert load_warnings() == ["ZOO_LOAD_PLUGINS names 'loger', which is not installed; installed plugins: logger"]


def test_plugins_command_shows_failures_and_hooks(entry_points):
    @hookimpl
    def on_log_record(run, step, logs):
        pass

    entry_points(typo=plugin_module("typo", on_log_record), logger=logger_module())
    with pytest.warns(UserWarning, match="zoo plugin 'typo' skipped"):
        result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["typo"]["status"] == "failed" and "unknown hook 'on_log_record'" in rows["typo"]["reason"]
    assert rows["logger"]["status"] == "ok" and rows["logger"]["hooks"] == ["on_log"]
    assert rows["gan"]["hooks"] == ["register_models"]

    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert "typo 0.0.1  failed: unknown hook 'on_log_record'; did you mean 'on_log'?" in result.stdout
    assert "logger 0.0.1\n  hooks: on_log\n" in result.stdout
    assert CliRunner().invoke(cli, ["list"]).exit_code == 0
