"""Plugin discovery through real entry points, allow-listing, failures and duplicates."""
from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import pluggy
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


def test_misspelled_hook_fails_loudly(installed, monkeypatch):
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "misspelled")
    installed("misspelled")
    with pytest.raises(pluggy.PluginValidationError, match="register_model"):
        get_catalog()


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
